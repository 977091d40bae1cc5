// The report's PNG plots, drawn from the result files alone: the pruning trade-off over seeds
// (Dice and ms against the level, with the mean +- one SE band), and for the earlier single-seed
// runs their pruning IoU, inference time and validation curves.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeChartsPng, type LineChart, type Series } from '../../src/train/plot.js';
import type { Rgb } from '../../src/train/font.js';
import type { PruningResult, RunResult } from './legacy-results.js';
import type { PruningSummary } from './analysis.js';
import { MODELS, type DatasetKey, type ModelKey } from './settings.js';

const SHORT: Record<DatasetKey, string> = { 'dsb2018': 'DSB', 'isbi2012-em': 'EM', 'hippocampus-msd': 'HIPPO' };
// Plot legends use the pixel font's letters only (no '+').
const LEGEND: Record<ModelKey, [string, Rgb]> = {
  'unet': ['UNET', [31, 119, 180]], 'wide-unet': ['WIDE', [255, 127, 14]], 'unetpp': ['PP', [44, 160, 44]], 'unetpp-ds': ['PP DS', [214, 39, 40]],
};

export interface Plot { file: string; caption: string }

export async function writeLegacyPlots(dir: string, runs: RunResult[], pruning: PruningResult[]): Promise<Plot[]> {
  if (runs.length || pruning.length) mkdirSync(dir, { recursive: true });
  const plots: Plot[] = [];
  if (pruning.length) {
    const levelCharts = (title: string, pick: (p: PruningResult) => Series[]): LineChart[] => pruning.map((p) => {
      const levels = p.rows.filter((r) => r.level !== 'accurate').map((r) => r.level as number);
      return { title: `${SHORT[p.dataset]} ${title}`, xLabel: 'LEVEL', x: levels, series: pick(p) };
    });
    const fast = (p: PruningResult) => p.rows.filter((r) => r.level !== 'accurate');
    const acc = (p: PruningResult) => p.rows.find((r) => r.level === 'accurate')!;
    // accurate first so that the fast line is drawn over it; the y range fits the values
    // (levels often differ by tenths of a point: a 0..1 axis would hide them)
    await writeChartsPng(join(dir, 'pruning-iou.png'), levelCharts('IOU', (p) => [
      { label: 'ACCURATE', color: [214, 39, 40], values: fast(p).map(() => acc(p).iou.mean) },
      { label: 'FAST', color: [31, 119, 180], values: fast(p).map((r) => r.iou.mean) },
    ]).map((c) => {
      const v = c.series.flatMap((s) => s.values);
      return { ...c, yRange: [Math.max(0, Math.floor((Math.min(...v) - 0.01) * 50) / 50), Math.min(1, Math.ceil((Math.max(...v) + 0.01) * 50) / 50)] as [number, number] };
    }));
    plots.push({ file: 'pruning-iou.png', caption: 'Test IoU of the pruned UNet++ L1..L4 (fast mode) against the level; the flat line is the full network in accurate mode.' });
    await writeChartsPng(join(dir, 'pruning-time.png'), levelCharts('MS', (p) => [
      { label: 'BATCH 1', color: [31, 119, 180], values: fast(p).map((r) => r.msBatch1) },
      { label: 'BATCH 16', color: [44, 160, 44], values: fast(p).map((r) => r.msBatch16) },
    ]));
    plots.push({ file: 'pruning-time.png', caption: 'Inference time per 96x96 image (ms, median, native backend) against the pruning level, at batch 1 and batch 16.' });
  }
  for (const ds of [...new Set(runs.map((r) => r.dataset))]) {
    const mine = MODELS.map((m) => runs.find((r) => r.dataset === ds && r.model === m)).filter((r): r is RunResult => !!r);
    const last = Math.max(...mine.map((r) => r.curves.epoch[r.curves.epoch.length - 1] ?? 1));
    const x = Array.from({ length: last }, (_, i) => i + 1);
    const series = (pick: (r: RunResult) => number[]) => mine.map((r) => ({ label: LEGEND[r.model][0], color: LEGEND[r.model][1], values: pick(r), x: r.curves.epoch }));
    await writeChartsPng(join(dir, `curves-${ds}.png`), [
      { title: `${SHORT[ds]} LOSS`, xLabel: 'EPOCH', x, series: series((r) => r.curves.trainLoss) },
      { title: `${SHORT[ds]} IOU`, xLabel: 'EPOCH', x, yRange: [0, 1], series: series((r) => r.curves.valIou) },
    ]);
    plots.push({ file: `curves-${ds}.png`, caption: `${ds}: training loss and validation IoU per epoch (UNET = U-Net, WIDE = wide U-Net, PP = UNet++ without DS, PP DS = with DS).` });
  }
  return plots;
}

const BLUE: Rgb = [31, 119, 180], LIGHT: Rgb = [158, 202, 225], RED: Rgb = [214, 39, 40], GREEN: Rgb = [44, 160, 44];

/** Dice and ms per input against the pruning level, per dataset: mean over seeds and the mean +- SE band. */
export async function writePruningPlots(dir: string, pruning: PruningSummary[]): Promise<Plot[]> {
  if (!pruning.length) return [];
  mkdirSync(dir, { recursive: true });
  const fast = (p: PruningSummary) => p.rows.filter((r) => r.level !== 'accurate');
  const se = (x: number) => (Number.isFinite(x) ? x : 0);
  const dice: LineChart[] = pruning.map((p) => {
    const acc = p.rows.find((r) => r.level === 'accurate')!;
    const f = fast(p);
    const series: Series[] = [
      { label: 'ACCURATE', color: RED, values: f.map(() => acc.dice.mean) },
      { label: 'MINUS SE', color: LIGHT, values: f.map((r) => r.dice.mean - se(r.dice.se)) },
      { label: 'PLUS SE', color: LIGHT, values: f.map((r) => r.dice.mean + se(r.dice.se)) },
      { label: 'FAST', color: BLUE, values: f.map((r) => r.dice.mean) },
    ];
    const v = series.flatMap((s) => s.values);
    const yRange: [number, number] = [
      Math.max(0, Math.floor((Math.min(...v) - 0.01) * 50) / 50), Math.min(1, Math.ceil((Math.max(...v) + 0.01) * 50) / 50),
    ];
    return { title: `${SHORT[p.dataset]} DICE`, xLabel: 'LEVEL', x: f.map((r) => r.level as number), series, yRange };
  });
  await writeChartsPng(join(dir, 'seeds-pruning-dice.png'), dice);
  await writeChartsPng(join(dir, 'seeds-pruning-ms.png'), pruning.map((p) => ({
    title: `${SHORT[p.dataset]} MS`, xLabel: 'LEVEL', x: fast(p).map((r) => r.level as number), series: [
      { label: 'BATCH 1', color: BLUE, values: fast(p).map((r) => r.msBatch1.mean) },
      { label: 'BATCHED', color: GREEN, values: fast(p).map((r) => r.msBatched.mean) },
    ],
  })));
  return [
    {
      file: 'seeds-pruning-dice.png',
      caption: 'Test Dice of the pruned UNet++ L1..Ld (fast mode) against the level: mean over seeds (FAST) between mean - SE ' +
        'and mean + SE; the flat line is the full network in accurate mode.',
    },
    {
      file: 'seeds-pruning-ms.png',
      caption: 'Inference time per input (ms, median of the timed runs, mean over seeds) against the pruning level, at batch 1 and batched.',
    },
  ];
}
