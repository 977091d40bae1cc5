// One self-configuring plan per dataset, made once by `unetpp plan` at the dataset's first unit and
// kept as WORK/<dataset>/plan.json; every unit of the dataset trains with it. A copy goes to the
// results folder (results/<dataset>/plan.json) so that the report can describe the setup.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPlan, type DatasetPlan } from '../../src/plan/index.js';
import { datasetFolder } from './data.js';
import { PLAN_BUDGET, SMOKE, type DatasetKey } from './settings.js';
import type { Context } from './unit.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Spawned { code: number | null; stdout: string; stderr: string }

/** `unetpp <args>` in a child process; its lines go to log, its output is kept for parsing. */
export function unetpp(args: string[], log: (l: string) => void): Promise<Spawned> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    const lines = (chunk: Buffer, keep: (s: string) => void) => {
      const s = chunk.toString();
      keep(s);
      for (const l of s.split('\n')) if (l.trim()) log(l);
    };
    child.stdout.on('data', (b: Buffer) => lines(b, (s) => (stdout += s)));
    child.stderr.on('data', (b: Buffer) => lines(b, (s) => (stderr += s)));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

export interface DatasetSetup { ds: DatasetKey; data: string; planFile: string; plan: DatasetPlan }

export const planFileOf = (work: string, ds: DatasetKey) => join(work, ds, 'plan.json');
export const planBudgetOf = (ds: DatasetKey, smoke: boolean) => (smoke ? SMOKE.planBudget : PLAN_BUDGET[ds]);

/** The copy of a dataset's plan beside its result files. */
export function publishPlan(c: Context, ds: DatasetKey): void {
  const from = planFileOf(c.work, ds);
  if (!existsSync(from)) return;
  mkdirSync(join(c.results, ds), { recursive: true });
  copyFileSync(from, join(c.results, ds, 'plan.json'));
}

// per process and dataset: planned (or read) once, whatever the number of units
const setups = new Map<string, Promise<DatasetSetup>>();

/** The dataset's folder and plan, planning it now if WORK has no plan yet (`unetpp plan` writes it atomically). */
export function datasetSetup(c: Context, ds: DatasetKey): Promise<DatasetSetup> {
  const key = JSON.stringify([c.work, ds]);
  if (!setups.has(key)) setups.set(key, makeSetup(c, ds));
  return setups.get(key)!;
}

async function makeSetup(c: Context, ds: DatasetKey): Promise<DatasetSetup> {
  const data = await datasetFolder(c.dataRoot, c.work, ds, c.smoke);
  const planFile = planFileOf(c.work, ds);
  if (!existsSync(planFile)) {
    mkdirSync(join(c.work, ds), { recursive: true });
    const budget = planBudgetOf(ds, c.smoke);
    c.log(`${ds}: planning (unetpp plan, time budget ${budget}) ...`);
    const r = await unetpp(['plan', '-d', data, '-o', planFile, '--time-budget', budget, '--backend', c.backend.name],
      (l) => c.log(`${ds}: ${l}`));
    if (r.code !== 0 || !existsSync(planFile))
      throw new Error(`unetpp plan on ${data} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  }
  publishPlan(c, ds);
  return { ds, data, planFile, plan: await readPlan(planFile) };
}
