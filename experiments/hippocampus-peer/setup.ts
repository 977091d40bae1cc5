// What the Hippocampus time-to-accuracy scripts share: where the data, the plan, the patches and
// the runs are, and the run itself, built by `unetpp train`'s own code (trainSetup: flags and
// plan; volumeTrainingSetup: model, cases, loader and loss options) so that the dump, our run
// and the scoring cannot drift from what `unetpp train -d DATA --plan PLAN` does.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trainSetup } from '../../src/cli/commands/train.js';
import { volumeTrainingSetup, type VolumeTrainingSetup } from '../../src/cli/commands/train-volumes.js';

/** This folder in the sources (also when run from dist/). */
export const here = dirname(fileURLToPath(import.meta.url)).replace(`${'/dist'}/experiments`, '/experiments');
export const arg = (k: string): string | undefined => {
  const i = process.argv.indexOf(k);
  return i > 0 ? process.argv[i + 1] : undefined;
};
export const DATA = resolve(arg('--data') ?? process.env.HIPPO_DATA ?? join(here, '../../../shared/data/hippocampus-msd'));
/** Where runs/ and results/ go: --out DIR or $HIPPO_PEER_OUT (smoke tests), else this folder. */
export const OUT = resolve(arg('--out') ?? process.env.HIPPO_PEER_OUT ?? here);
/** The plan both engines follow (`unetpp plan -d DATA --time-budget 1h -o PLAN.json`). */
export const PLAN = resolve(arg('--plan') ?? join(OUT, 'PLAN.json'));
export const PATCHES = resolve(arg('--patches') ?? '/tmp/hippocampus-patches');
export const runDir = (name: string) => join(OUT, 'runs', name);
export const RUNS = ['ours-fp32', 'peer-fp32', 'ours-bf16', 'peer-bf16'] as const;

/**
 * The run `unetpp train -d DATA --plan PLAN -o dir ...flags` would make: its seeded model, its
 * train and validation cases and trainVolumes' options (the patch loader's and the loss's among them).
 */
export async function planRun(dir: string, flags: string[] = []): Promise<VolumeTrainingSetup> {
  if (!existsSync(PLAN))
    throw new Error(`${PLAN}: no plan; make one with unetpp plan -d ${DATA} --time-budget 1h -o ${PLAN} (README.md)`);
  const s = await trainSetup(['-d', DATA, '--plan', PLAN, '-o', dir, '--no-progress', '--no-plot', ...flags]);
  return volumeTrainingSetup(s.dataDir, s.opts, s.common, s.batchGiven);
}

/** One saved snapshot of a run (both engines write these lines in snapshots.jsonl). */
export interface Snapshot { epoch: number; steps: number; seconds: number; trainLoss: number; file: string }

export const readJsonl = <T>(path: string): T[] =>
  existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as T) : [];
