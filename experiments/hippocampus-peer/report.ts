// The time-to-accuracy table of unetpp against the PyTorch peer on MSD Hippocampus, from
// results/*.json alone (validate.ts writes them): per engine and precision, the training time
// to validation Dice 0.80 and 0.85 and the Dice after 30 and 60 minutes of training, with the
// time a step, the step-1 losses and the CT prediction times (ct-predict.ts). Prints the markdown; --write puts it into docs/status.md
// between the markers <!-- hippocampus-peer --> and <!-- /hippocampus-peer --> (added before
// "## Missing" the first time).
//   npm run build && node dist/experiments/hippocampus-peer/report.js [--write] [--out DIR]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OUT, RUNS, here } from './setup.js';

export interface CurvePoint { epoch: number; steps: number; seconds: number; trainLoss: number; dice: number }
export interface RunResult {
  name: string; engine: string; precision: string; backendPrecision?: string; curve: CurvePoint[];
}
type Step1 = Record<string, { ours: number; peer: number | null }>;
interface CtRow { engine: string; size: string; precision: string; threads: number; seconds: number | null; caseSeconds: number | null }

/** Training seconds of the first snapshot at or above the Dice, or null (never within the run). */
export function timeTo(curve: CurvePoint[], dice: number): number | null {
  return curve.find((p) => p.dice >= dice)?.seconds ?? null;
}

/** Dice of the last snapshot within the first `seconds` of training; null when the run stopped before then. */
export function diceAt(curve: CurvePoint[], seconds: number): number | null {
  const last = curve[curve.length - 1];
  if (!last || last.seconds < seconds * 0.98) return null; // a run that ended well short of the mark has no value there
  const within = curve.filter((p) => p.seconds <= seconds);
  return within.length ? within[within.length - 1].dice : null;
}

const min = (s: number | null) => (s === null ? 'not reached' : `${(s / 60).toFixed(1)} min`);
const dice = (d: number | null) => (d === null ? '-' : d.toFixed(3));
const read = <T>(path: string): T | null => (existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null);
const engineName = (e: string) => (e === 'pytorch' ? 'PyTorch peer' : 'unetpp');

const ABOUT = 'One plan (`unetpp plan --time-budget 1h`: patch 40x56x40, UNet++ 16..128, instance norm, deep supervision, ' +
  'batch 2, Adam 3e-4 constant, ce_dice over background/Anterior/Posterior) trained by unetpp (`unetpp train --plan`, ' +
  'no validation inside the run) and by the PyTorch peer (torch 1.13, 2 threads) on the same dumped batches (our ' +
  'loader\'s stream, augmentation applied) from the same initial weights. Snapshots after every epoch carry the ' +
  'cumulative training seconds; all are validated afterwards by our trainer\'s validation function (20 validation ' +
  'cases, mean Dice of the two classes), outside both engines\' time. Times: training wall time to the first snapshot ' +
  'at or above the Dice (resolution: one epoch); s/step: training seconds over steps (data and checkpoints included).';

export function hippocampusPeerSection(dir: string): string[] {
  const runs = RUNS.map((n) => read<RunResult>(join(dir, `${n}.json`))).filter((r): r is RunResult => r !== null);
  const step1 = read<{ losses: Step1 }>(join(dir, 'step1.json'))?.losses ?? null;
  const ct = read<CtRow[]>(join(dir, 'ct-predict.json')) ?? [];
  const out = ['### Time to accuracy against the PyTorch peer: MSD Hippocampus (issue 27)', ''];
  if (!runs.length) out.push('pending (no validated run yet): experiments/hippocampus-peer/README.md', '');
  else {
    out.push(ABOUT, '',
      '| engine | precision | s/step | to Dice 0.80 | to Dice 0.85 | Dice at 30 min | Dice at 60 min | best Dice (min) |',
      '|---|---|---|---|---|---|---|---|');
    for (const r of runs) {
      const c = r.curve, last = c[c.length - 1];
      const best = c.reduce((b, p) => (p.dice > b.dice ? p : b), c[0]);
      out.push(`| ${engineName(r.engine)} | ${r.precision} | ${(last.seconds / last.steps).toFixed(3)} | ` +
        `${min(timeTo(c, 0.8))} | ${min(timeTo(c, 0.85))} | ${dice(diceAt(c, 1800))} | ${dice(diceAt(c, 3600))} | ` +
        `${best.dice.toFixed(3)} (${(best.seconds / 60).toFixed(0)}) |`);
    }
    out.push('');
  }
  if (step1) {
    const peer = (x: number | null) => (x === null ? '(not run)' : x.toPrecision(8));
    const parts = Object.entries(step1).map(([p, s]) => `${p} ours ${s.ours.toPrecision(8)} / the peer's ${peer(s.peer)}`);
    out.push(`Step 1 (the initial weights, epoch 1's first batch): loss ${parts.join('; ')}.`, '');
  }
  if (ct.length) {
    out.push('CT prediction (`ct-predict.js`: default volume model, random weights, windows 64^3, overlap 0.25; ' +
      'ours the whole `unetpp predict` command and its case time, the peer its sliding window and its process):', '',
      '| engine | size | precision | threads | case s | process s |', '|---|---|---|---|---|---|');
    const s = (x: number | null) => (x === null ? '-' : x.toFixed(0));
    for (const r of ct) out.push(`| ${engineName(r.engine)} | ${r.size} | ${r.precision} | ${r.threads} | ${s(r.caseSeconds)} | ${s(r.seconds)} |`);
    out.push('');
  }
  return out;
}

if (process.argv[1]?.endsWith('report.js')) {
  const md = hippocampusPeerSection(join(OUT, 'results')).join('\n');
  if (!process.argv.includes('--write')) console.log(md);
  else {
    const status = join(here, '..', '..', 'docs', 'status.md');
    const [open, close] = ['<!-- hippocampus-peer -->', '<!-- /hippocampus-peer -->'];
    let text = readFileSync(status, 'utf8');
    const block = `${open}\n${md}\n${close}`;
    if (text.includes(open))
      text = text.slice(0, text.indexOf(open)) + block + text.slice(text.indexOf(close) + close.length);
    else text = text.replace('\n## Missing', `\n${block}\n\n## Missing`);
    writeFileSync(status, text);
    console.log(`report: ${status} updated`);
  }
}
