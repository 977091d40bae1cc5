// Train and eval graphs of a SegModel, compiled to one Plan per batch shape and cached.
// Train plan outputs: [total loss, ...param gradients]; eval plan: [probabilities, mean head loss].
import { Graph, Value, LossKind, type DiceOptions } from '../engine/graph.js';
import { gradients } from '../engine/autodiff.js';
import { Plan } from '../engine/plan.js';
import type { Backend } from '../engine/backend.js';
import type { SegModel } from '../models/model.js';
import { lossMaskFeeds, lossMaskInputs, maskedLoss } from './masked-loss.js';

export interface LossSpec extends DiceOptions {
  kind: LossKind;
  bceWeight: number;
  /** Weight of each head; the loss is sum(w L) / sum(w). Default: equal (the mean over heads). */
  headWeights?: number[];
}

export interface TrainPlan {
  plan: Plan;
  /** Trainable param names, in the order of the gradient outputs after the loss. */
  gradNames: string[];
}

/** Weighted mean of the per-head losses, as one [1] value; masked: ignored voxels left out (masked-loss.ts). */
function headLoss(g: Graph, heads: Value[], target: Value, spec: LossSpec, masked = false): Value {
  const w = spec.headWeights ?? heads.map(() => 1);
  if (w.length !== heads.length) throw new Error(`loss option headWeights: ${w.length} weights for ${heads.length} heads`);
  const sum = w.reduce((a, b) => a + b, 0);
  if (!(sum > 0) || w.some((x) => !(x >= 0))) throw new Error(`loss option headWeights: must be >= 0 with a positive sum, got ${w}`);
  const m = masked ? lossMaskInputs(g, target.shape, spec.kind) : null;
  const dice = { diceBackground: spec.diceBackground, batchDice: spec.batchDice };
  const one = (h: Value) => (m ? maskedLoss(g, h, target, spec.kind, spec.bceWeight, m, dice)
    : g.loss(h, target, spec.kind, spec.bceWeight, dice));
  const terms = heads.flatMap((h, i) => (w[i] === 0 ? [] : [g.scale(one(h), w[i] / sum)]));
  return g.addN(terms);
}

/** The training graph of one batch shape: outputs [total loss, ...param gradients]. Exported so
 *  that planning can size it (Plan sizeOnly) exactly as training will run it. */
export function trainGraph(model: SegModel, x: readonly number[], target: readonly number[], loss: LossSpec, masked = false):
  { g: Graph; outs: Value[]; gradNames: string[] } {
  const g = new Graph();
  const heads = model.forward(g, g.input('x', x), { training: true });
  const total = headLoss(g, heads, g.input('target', target), loss, masked);
  const names = model.params.trainableNames().filter((n) => g.params.has(n));
  const grads = gradients(g, total, names.map((n) => g.params.get(n)!));
  const gradNames = names.filter((_, i) => grads[i] !== null);
  return { g, outs: [total, ...grads.filter((v): v is Value => v !== null)], gradNames };
}

export const shapeKey = (s: readonly number[]) => s.join('x');

/** Caches plans by input shape; each plan keeps its own run counter (the dropout step). */
export class PlanCache {
  private train = new Map<string, TrainPlan>();
  private evals = new Map<string, Plan>();
  private pendingSteps: Record<string, number> = {};

  constructor(private model: SegModel, private backend: Backend, private loss: LossSpec, private checkFinite: boolean) {}

  /** masked: the loss leaves out voxels marked in an ignore mask (fed by maskFeeds). */
  trainPlan(x: readonly number[], target: readonly number[], masked = false): TrainPlan {
    const key = shapeKey(x) + (masked ? ' masked' : '');
    let tp = this.train.get(key);
    if (tp) return tp;
    tp = this.buildTrain(x, target, masked, false);
    if (key in this.pendingSteps) setPlanStep(tp.plan, this.pendingSteps[key]);
    this.train.set(key, tp);
    return tp;
  }

  /** Bytes a train plan of this shape would hold (sized, nothing allocated). */
  trainBytes(x: readonly number[], target: readonly number[]): number {
    return this.buildTrain(x, target, false, true).plan.arenaBytes;
  }

  private buildTrain(x: readonly number[], target: readonly number[], masked: boolean, sizeOnly: boolean): TrainPlan {
    const { g, outs, gradNames } = trainGraph(this.model, x, target, this.loss, masked);
    return { plan: new Plan(g, this.backend, this.model.params, outs, { checkFinite: this.checkFinite, sizeOnly }), gradNames };
  }

  /** The extra feeds of a masked train plan, from an ignore mask [N, ...spatial] (1 = ignored). */
  maskFeeds(ignore: Uint8Array, n: number, k: number): Record<string, Float32Array> {
    return lossMaskFeeds(ignore, n, k, this.loss.kind);
  }

  evalPlan(x: readonly number[], target: readonly number[]): Plan {
    const key = shapeKey(x);
    let p = this.evals.get(key);
    if (p) return p;
    p = this.buildEval(x, target, false);
    this.evals.set(key, p);
    return p;
  }

  /** Bytes an eval plan of this shape would hold (sized, nothing allocated). */
  evalBytes(x: readonly number[], target: readonly number[]): number {
    return this.evals.get(shapeKey(x))?.arenaBytes ?? this.buildEval(x, target, true).arenaBytes;
  }

  /** Frees the cached eval plans (images of many sizes would otherwise hold one arena each). */
  releaseEval(): void {
    for (const p of this.evals.values()) p.dispose();
    this.evals.clear();
  }

  private buildEval(x: readonly number[], target: readonly number[], sizeOnly: boolean): Plan {
    const g = new Graph();
    const heads = this.model.forward(g, g.input('x', x), { training: false });
    const probs = this.model.probabilities(g, heads, { kind: 'accurate' });
    const loss = headLoss(g, heads, g.input('target', target), this.loss);
    return new Plan(g, this.backend, this.model.params, [probs, loss], { sizeOnly });
  }

  /** Run counters of the train plans, by shape (they seed the dropout masks: saved for resume). */
  trainSteps(): Record<string, number> {
    return { ...this.pendingSteps, ...Object.fromEntries([...this.train].map(([k, tp]) => [k, planStep(tp.plan)])) };
  }

  /** Resume: continue these counters, now for built plans, at creation for the others. */
  restoreSteps(steps: Record<string, number>): void {
    this.pendingSteps = { ...steps };
    for (const [k, tp] of this.train) if (k in steps) setPlanStep(tp.plan, steps[k]);
  }
}

export const planStep = (p: Plan): number => p.runCount;
export const setPlanStep = (p: Plan, n: number): void => { p.runCount = n; };
