// SegModel: a config plus its parameters. Emits forward graphs, converts logits to
// probabilities in accurate or fast mode, and prunes UNet++ to L^d by keeping only the
// params the pruned graph still reads (shared arrays: outputs equal head d of the full model).
import { Graph, Value } from '../engine/graph.js';
import { ParamStore } from '../engine/params.js';
import { ModelConfig, makeConfig, depthOf, sizeMultiple } from './config.js';
import { buildForward, headNames, type BuildOptions } from './build.js';
import { initParam, seededUniform } from './init.js';

export type InferenceMode = { kind: 'accurate' } | { kind: 'fast'; head?: number };

/**
 * A UNet++ (or U-Net, by `arch`) for images or volumes (`dims`): its config and parameters. Builds forward
 * graphs on a {@link Graph}, turns logits into probabilities (accurate: all heads averaged; fast: one head)
 * and prunes to a depth (`prune(level)`).
 */
export class SegModel {
  readonly config: ModelConfig;
  readonly params: ParamStore;

  constructor(config: Partial<ModelConfig>, params?: ParamStore) {
    this.config = makeConfig(config);
    this.params = params ?? new ParamStore();
    if (!params) this.initialize(this.config.seed);
  }

  /** Param names and shapes of this architecture, in graph order. */
  paramSpecs(): { name: string; shape: number[]; trainable: boolean }[] {
    const g = new Graph();
    // Sides twice the size multiple: the bottom level keeps 2 positions per axis (instance norm needs > 1).
    const sides = sizeMultiple(this.config).map((m) => 2 * m);
    buildForward(g, g.input('x', [1, this.config.inChannels, ...sides]), this.config, { training: false });
    return [...g.params.entries()].map(([name, v]) => ({ name, shape: [...v.shape], trainable: !/running_(mean|var)$/.test(name) }));
  }

  initialize(seed: number): void {
    const u = seededUniform(seed);
    const specs = this.paramSpecs();
    const weightShapes = new Map(specs.filter((s) => s.name.endsWith('.weight')).map((s) => [s.name, s.shape]));
    for (const s of specs) this.params.set(s.name, s.shape, initParam(s.name, s.shape, this.config.preset, u, weightShapes), s.trainable);
  }

  headNames(): string[] { return headNames(this.config); }

  /** Logits of every head for input x [N, inChannels, H, W] (or [N, inChannels, D, H, W] with
   *  dims 3); the sides multiples of 2^level. */
  forward(g: Graph, x: Value, opts: BuildOptions): Value[] {
    return buildForward(g, x, this.config, opts);
  }

  /** Probabilities: accurate = mean of the heads' probabilities, fast = one head (default the last). */
  probabilities(g: Graph, heads: Value[], mode: InferenceMode = { kind: 'accurate' }): Value {
    const act = (z: Value) => (this.config.classes > 1 && this.config.multiclass === 'softmax' ? g.softmax(z) : g.sigmoid(z));
    if (mode.kind === 'fast') {
      const names = this.headNames();
      const j = mode.head === undefined ? heads.length - 1 : names.indexOf(`final${mode.head}`);
      if (j < 0) throw new Error(`fast mode: head ${mode.head} does not exist; heads are ${names.join(', ')}`);
      return act(heads[j]);
    }
    if (heads.length === 1) return act(heads[0]);
    return g.scale(g.addN(heads.map(act)), 1 / heads.length);
  }

  /** UNet++ L^d: nodes i + j <= d and head d, sharing this model's arrays. */
  prune(level: number): SegModel {
    if (this.config.arch !== 'unetpp') throw new Error('prune: only UNet++ can be pruned');
    if (!this.config.deepSupervision) throw new Error('prune: the model needs deep supervision (a trained head at every level)');
    const cfg = { ...this.config, level };
    if (!Number.isInteger(level) || level < 1 || level > depthOf(this.config))
      throw new Error(`prune: level must be 1..${depthOf(this.config)}, got ${level}`);
    const pruned = new ParamStore();
    const probe = new SegModel(cfg, pruned); // empty store: only used for its specs
    for (const s of probe.paramSpecs()) {
      const p = this.params.get(s.name);
      pruned.set(s.name, p.shape, p.data, p.trainable);
    }
    return probe;
  }
}
