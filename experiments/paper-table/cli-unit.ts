// A unit trained and scored through the command line, as a user would: `unetpp train` with the
// dataset's plan plus the model's flags and the seeds (recipe.ts), `unetpp eval --split test` for
// the per-case scores (each pruned level too), then forward timings of the checkpoint in-process.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeModel } from '../../src/models/info.js';
import { loadModel, readCheckpointMeta } from '../../src/io/checkpoint.js';
import { LAST, type TrainState } from '../../src/train/state.js';
import type { EpochRecord } from '../../src/train/record.js';
import type { ModelConfig } from '../../src/models/config.js';
import type { DatasetPlan } from '../../src/plan/index.js';
import { epochEstimate, unitDir, unitName, type UnitKey } from './budget.js';
import { randomInput, timeModel } from './scoring.js';
import { curvesOf, machineInfo, r5, writeJson, type CaseScores, type LevelResult, type SeedRun } from './results.js';
import { planFacts, unitFlags, unitModelConfig } from './recipe.js';
import { unetpp, type DatasetSetup, type Spawned } from './plans.js';
import { SMOKE_TIMING, TIMING, type ModelKey } from './settings.js';
import { checkFingerprint, publish, type Context, type UnitOutcome } from './unit.js';

/** FLOPs of a configuration on an input of `shape`: per voxel (convolutions are linear in it) x voxels. */
function flopsOn(cfg: Partial<ModelConfig>, shape: number[]) {
  const info = describeModel(cfg, { size: 4 * 2 ** ((cfg.filters?.length ?? 5) - 1) });
  const per = (g: number) => (g * shape.reduce((a, b) => a * b, 1)) / info.voxels;
  return { gflops: per(info.gflops), trainGflops: per(info.trainGflops), levels: info.levels.map((l) => per(l.gflops)) };
}

/** Timings are per image or volume: the plan's median case, rounded up to what the network takes (2^depth). */
export function timingShape(plan: DatasetPlan): number[] {
  const m = 2 ** plan.network.depth;
  return plan.medianShape.map((v) => Math.ceil(v / m) * m);
}

/** The checkpoint's history (the authoritative one; log.jsonl may lag an epoch behind). */
export function savedHistory(dir: string): EpochRecord[] {
  if (!existsSync(join(dir, LAST))) return [];
  return (JSON.parse(readCheckpointMeta(join(dir, LAST)).extra.train_state) as TrainState).history;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
};

/** metrics.csv of `unetpp eval`: per case, the foreground mean and each class's Dice and IoU. */
export function readMetricsCsv(path: string): CaseScores {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = head.split(',');
  const rows = lines.map((l) => l.split(','));
  const col = (name: string) => {
    const i = cols.indexOf(name);
    return r5(rows.map((r) => (r[i] === '' ? NaN : Number(r[i]))));
  };
  const classes = cols.filter((h) => h.startsWith('dice:')).map((h) => h.slice(5));
  return {
    ids: rows.map((r) => r[0]), dice: col('dice'), iou: col('iou'),
    ...(classes.length
      ? { perClass: Object.fromEntries(classes.map((k) => [k, { dice: col(`dice:${k}`), iou: col(`iou:${k}`) }])) } : {}),
  };
}

export async function runCliUnit(c: Context, k: UnitKey, setup: DatasetSetup): Promise<UnitOutcome> {
  const dir = unitDir(c.work, k), name = unitName(k);
  const log = (l: string) => c.log(`${name}: ${l}`);
  mkdirSync(dir, { recursive: true });
  const { data, plan, planFile } = setup;
  const flags = unitFlags(plan, planFile, k.model, k.seed, c.smoke);
  // a new plan (same file name, other content) must not continue a checkpoint trained on the old one
  const planId = { made: plan.created.at, stamp: plan.created.fingerprintStamp };
  checkFingerprint(dir, { dataset: k.ds, model: k.model, seed: k.seed, data, plan: planId, flags });
  writeJson(join(dir, 'train.json'), flags);
  const t = c.smoke ? SMOKE_TIMING : TIMING, shape = timingShape(plan);
  const cost = (m: ModelKey) =>
    flopsOn(unitModelConfig(plan, unitFlags(plan, planFile, m, k.seed, c.smoke)), plan.patch).trainGflops;
  const depth = plan.network.depth;
  // The test evaluation of a run is about an epoch; with the pruned levels one per level more.
  const evalEpochs = k.model === 'unetpp-ds' ? 1 + depth : 1;
  const e = epochEstimate(c.work, k, cost);
  if (!c.budget.allows(e === null ? null : (1 + evalEpochs) * e)) {
    const need = e === null ? 'no time left' : `an epoch and the evaluation need ~${(1.2 * (1 + evalEpochs) * e).toFixed(0)} s`;
    log(`not started: ${need}`);
    return 'stopped';
  }
  // the trainer stops after the epoch during which the limit passed (leave an epoch and the evaluation);
  // its limit counts the epochs before a resume too
  const left = c.budget.remaining();
  const before = savedHistory(dir).reduce((s, r) => s + r.seconds, 0);
  const limit = Number.isFinite(left) ? before + Math.max(1, left - 1.2 * (1 + evalEpochs) * (e ?? 0)) : undefined;
  const trained = await unetpp([
    'train', '-d', data, '--config', join(dir, 'train.json'), '-o', dir, '--backend', c.backend.name,
    '--no-progress', '--no-plot',
    ...(existsSync(join(dir, LAST)) ? ['--resume'] : []), ...(limit === undefined ? [] : ['--time-limit', limit.toFixed(0)]),
  ], log);
  if (trained.code !== 0) return failed(dir, log, 'unetpp train', trained);
  appendFileSync(join(dir, 'train-output.txt'), trained.stdout);
  const done = /done: (\d+) epochs \(([\w-]+)\)/.exec(trained.stdout);
  if (!done) return failed(dir, log, 'unetpp train (no "done:" line)', trained);
  if (done[2] === 'time') {
    log('stopped by the time budget; re-run the same command with --resume to continue');
    return 'stopped';
  }
  if (!c.budget.allows(evalEpochs * (epochEstimate(c.work, k, cost) ?? 0))) {
    log('trained; not evaluated: the time budget is spent');
    return 'stopped';
  }

  const best = join(dir, 'best.safetensors');
  const score = async (tag: string, extra: string[]) => {
    const out = join(dir, `eval-${tag}`);
    // --no-postprocess: the networks are compared as they are (post-processing chosen on validation is
    // the pipeline's, not the architecture's, and the pruned levels have none of their own)
    const args = ['eval', '-d', data, '-m', best, '--split', 'test', '--no-hd95', '--no-postprocess', '--backend',
      c.backend.name, '-o', out, ...extra];
    const r = await unetpp(args, () => {});
    if (r.code !== 0) throw Object.assign(new Error(`unetpp eval ${extra.join(' ')}`), { spawned: r });
    return readMetricsCsv(join(out, 'metrics.csv'));
  };
  let test: CaseScores;
  const levels: CaseScores[] = [];
  try {
    test = await score('accurate', []);
    if (k.model === 'unetpp-ds')
      for (let d = 1; d <= depth; d++) levels.push(await score(`L${d}`, ['--mode', 'fast', '--level', String(d)]));
  } catch (err) {
    return failed(dir, log, (err as Error).message, (err as { spawned: Spawned }).spawned);
  }
  const model = loadModel(best);
  const input = (b: number) => randomInput(b, model.config.inChannels, shape);
  const timing = timeModel(model, c.backend, { kind: 'accurate' }, shape, input, t);
  const flops = flopsOn(model.config, shape);
  const gf = (x: number) => Number(x.toFixed(4));
  const pruning: LevelResult[] | undefined = k.model === 'unetpp-ds' ? [
    ...levels.map((sc, i) => {
      const pruned = model.prune(i + 1);
      const tm = timeModel(pruned, c.backend, { kind: 'fast' }, shape, input, t);
      return {
        level: i + 1, params: pruned.params.count(), gflops: gf(flops.levels[i]), timing: tm, dice: sc.dice, iou: sc.iou,
      };
    }),
    { level: 'accurate', params: model.params.count(), gflops: gf(flops.gflops), timing, dice: test.dice, iou: test.iou },
  ] : undefined;
  const h = savedHistory(dir);
  const seconds = h.reduce((a, x) => a + x.seconds, 0);
  const { arch, preset, filters: f, deepSupervision, inChannels } = model.config;
  const result: SeedRun = {
    schema: 2, dataset: k.ds, model: k.model, seed: k.seed, smoke: c.smoke, engine: 'plan',
    config: { arch, preset, filters: f, deepSupervision, inChannels, dims: model.config.dims },
    params: model.params.count(), gflops: gf(flops.gflops),
    trainGflopsPerStep: Number((flopsOn(model.config, plan.patch).trainGflops * plan.batchSize).toFixed(3)),
    test, timing, ...(pruning ? { pruning } : {}),
    training: {
      epochs: h.length ? h[h.length - 1].epoch : 0, bestEpoch: Math.max(0, ...h.filter((x) => x.best).map((x) => x.epoch)),
      stoppedBy: done[2], seconds: Math.round(seconds),
      medianEpochSeconds: Number(median(h.map((x) => x.seconds)).toFixed(1)), stepMs: lastStepMs(dir),
    },
    settings: {
      plan: planFacts(plan, planFile), flags, evaluation: 'unetpp eval --split test --no-postprocess (per case)',
    },
    curves: curvesOf(h), machine: machineInfo(c.backend.name),
    date: new Date().toISOString(), command: c.command,
  };
  writeJson(join(dir, 'result.json'), result); // written last: marks the unit finished
  publish(c, k);
  log(`test Dice ${avg(test.dice).toFixed(4)}, IoU ${avg(test.iou).toFixed(4)} (${test.ids.length} cases); ` +
    `${result.training.epochs} epochs, ${result.training.seconds} s`);
  return 'finished';
}

/** The median step of the last invocation that trained (one resumed after training reports NaN). */
function lastStepMs(dir: string): number | null {
  const all = [...readFileSync(join(dir, 'train-output.txt'), 'utf8').matchAll(/done: .*?(\d+) ms\/step/g)];
  return all.length ? Number(all[all.length - 1][1]) : null;
}

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function failed(dir: string, log: (l: string) => void, what: string, r: Spawned | undefined): UnitOutcome {
  const tail = (r?.stderr || r?.stdout || '').trim().split('\n').slice(-3).join(' | ');
  const message = `${what} failed (exit ${r?.code}): ${tail}`;
  writeFileSync(join(dir, 'error.txt'), message + '\n');
  log(message);
  return 'failed';
}
