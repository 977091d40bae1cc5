// One (dataset, model, seed) run as a resumable unit in WORK/<dataset>/<model>-seed<k>/:
// result.json there marks it finished (and is copied to the results folder); a checkpoint
// without it is a run interrupted mid-way, continued only with --resume. The dataset's plan
// (plans.ts) is made before its first unit trains and shared by all of them.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Backend } from '../../src/engine/backend.js';
import { LAST } from '../../src/train/state.js';
import { Budget, unitDir, unitName, type UnitKey } from './budget.js';
import { readJson, seedRunFile, writeJson } from './results.js';
import { runCliUnit } from './cli-unit.js';
import { datasetSetup, planFileOf, publishPlan, type DatasetSetup } from './plans.js';

export interface Context {
  smoke: boolean;
  work: string;
  results: string;
  dataRoot: string;
  backend: Backend;
  budget: Budget;
  /** Continue runs interrupted mid-way (else they are an error). */
  resume: boolean;
  command: string;
  log: (line: string) => void;
}

/** failed: the run cannot go on (e.g. the CLI rejected its flags); the error is in the unit's error.txt (planning: logged). */
export type UnitOutcome = 'finished' | 'skipped' | 'stopped' | 'failed';

export type UnitState = 'done' | 'partial' | 'new';

export function unitState(work: string, k: UnitKey): UnitState {
  const dir = unitDir(work, k);
  return existsSync(join(dir, 'result.json')) ? 'done' : existsSync(join(dir, LAST)) ? 'partial' : 'new';
}

/** Settings a unit was started with: resuming a checkpoint under other settings is refused. */
export function checkFingerprint(dir: string, value: object): void {
  const path = join(dir, 'unit.json');
  const prev = readJson<object>(path);
  const trained = existsSync(join(dir, LAST)); // a run that failed before its first epoch takes the new settings
  if (trained && prev && JSON.stringify(prev) !== JSON.stringify(value))
    throw new Error(`${dir} was started with other settings (${path}); use another --work folder or delete that one`);
  if (!trained || !prev) writeJson(path, value);
}

export function publish(c: Context, k: UnitKey): void {
  const to = join(c.results, seedRunFile(k.ds, k.model, k.seed));
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(join(unitDir(c.work, k), 'result.json'), to);
}

export async function runUnit(c: Context, k: UnitKey): Promise<UnitOutcome> {
  if (unitState(c.work, k) === 'done') { publish(c, k); publishPlan(c, k.ds); return 'skipped'; }
  // planning takes a minute or two: not when the budget is (nearly) spent
  if (!existsSync(planFileOf(c.work, k.ds)) && !c.budget.allows(120)) {
    c.log(`${unitName(k)}: not started: no time left to plan`);
    return 'stopped';
  }
  let setup: DatasetSetup;
  try {
    setup = await datasetSetup(c, k.ds);
  } catch (e) {
    c.log(`${unitName(k)}: ${(e as Error).message}`);
    return 'failed';
  }
  return runCliUnit(c, k, setup);
}
