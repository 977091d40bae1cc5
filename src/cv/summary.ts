// Per-fold and mean metrics of a cross-validation, as JSON and a markdown table.
import { join } from 'node:path';
import { writeFileAtomic } from '../data/atomic.js';
import type { FoldResult } from './fold.js';

export interface CvSummary {
  folds: FoldResult[];
  mean: { iou: number; dice: number };
  sd: { iou: number; dice: number };
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const sd = (v: number[]) => (v.length > 1 ? Math.sqrt(v.reduce((a, x) => a + (x - mean(v)) ** 2, 0) / (v.length - 1)) : 0);

export function summarize(folds: FoldResult[]): CvSummary {
  const iou = folds.map((f) => f.metrics.iou), dice = folds.map((f) => f.metrics.dice);
  return { folds: [...folds].sort((a, b) => a.fold - b.fold), mean: { iou: mean(iou), dice: mean(dice) }, sd: { iou: sd(iou), dice: sd(dice) } };
}

export function summaryMarkdown(s: CvSummary): string {
  const rows = s.folds.map((f) => `| ${f.fold} | ${f.train} | ${f.val} | ${f.bestEpoch}/${f.epochs} | ${f.metrics.iou.toFixed(4)} | ${f.metrics.dice.toFixed(4)} |`);
  return ['| fold | train | val | best epoch | IoU | Dice |', '|---|---|---|---|---|---|', ...rows,
    `| mean ± sd | | | | ${s.mean.iou.toFixed(4)} ± ${s.sd.iou.toFixed(4)} | ${s.mean.dice.toFixed(4)} ± ${s.sd.dice.toFixed(4)} |`].join('\n') + '\n';
}

export async function writeSummary(cvDir: string, s: CvSummary): Promise<void> {
  await writeFileAtomic(join(cvDir, 'summary.json'), JSON.stringify(s, null, 1) + '\n');
  await writeFileAtomic(join(cvDir, 'summary.md'), summaryMarkdown(s));
}
