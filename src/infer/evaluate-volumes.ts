// Evaluation of a 3D model on a volume dataset: every case of a split predicted by the same
// predictor as `predict`, turned into labels as `predict` writes them, and scored per volume and
// per class in millimetres (Dice, IoU, precision, recall, HD95, average surface distance);
// CSV and Markdown as for images.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Predictor } from './predict.js';
import { labelsFromPlanes } from './volume-files.js';
import { openVolumes, type VolumePipeline } from '../data/volume-dataset.js';
import type { SplitName } from '../data/split-csv.js';
import { scoreLabelVolumes, scoredClassNames } from '../metrics/volume.js';
import { perClassRow } from '../metrics/segmentation.js';
import { summarize, rowsToCsv, summaryToCsv, summaryToMarkdown, rowsToMarkdown, writeTable, type MetricRow, type MetricSummary } from '../metrics/summary.js';

export interface VolumeEvaluation { rows: MetricRow[]; summary: MetricSummary[]; classes: string[]; files: string[] }

export async function evaluateVolumes(predictor: Predictor, dir: string, pipeline: VolumePipeline,
                                      o: { split?: SplitName; outDir?: string; threshold?: number; hd95?: boolean; onCase?: (r: MetricRow, i: number, n: number) => void } = {}): Promise<VolumeEvaluation> {
  // The checkpoint's pipeline prepares the cases (labels, spacing, normalisation per modality).
  const vd = await openVolumes(dir, { labels: pipeline.labels, spacing: pipeline.spacing, normalize: pipeline.normalize });
  if (vd.dataset.modalities.length !== pipeline.modalities.length)
    throw new Error(`${dir}: ${vd.dataset.modalities.length} modalities (${vd.dataset.modalities.join(', ')}), the model was trained on ${pipeline.modalities.length} (${pipeline.modalities.join(', ')})`);
  const split = o.split ?? 'test';
  const store = vd.splits[split];
  if (!store) throw new Error(`${dir}: no cases in split "${split}"`);
  const names = scoredClassNames(pipeline.labels);
  const rows: MetricRow[] = [];
  for (let i = 0; i < store.length; i++) {
    const v = await store.get(i);
    if (!v.labels) throw new Error(`${store.nameOf(i)}: no label volume to score against`);
    const [X, Y, Z] = v.dims;
    const p = predictor.predict({ data: v.image, channels: v.channels, depth: Z, height: Y, width: X });
    const pred = labelsFromPlanes(p, pipeline.labels, o.threshold);
    const scores = scoreLabelVolumes(pred, v.labels, pipeline.labels, v.dims, v.spacing, { hd95: o.hd95 !== false });
    const row = perClassRow(v.id, scores, names);
    rows.push(row);
    o.onCase?.(row, i, store.length);
  }
  const metrics = Object.keys(rows[0].values);
  const summary = summarize(rows, metrics);
  const files: string[] = [];
  if (o.outDir) {
    await mkdir(o.outDir, { recursive: true });
    const write = async (name: string, text: string) => { const p = join(o.outDir!, name); await writeTable(p, text); files.push(p); };
    await write('metrics.csv', rowsToCsv(rows, metrics));
    await write('summary.csv', summaryToCsv(summary));
    const title = `# Evaluation of ${dir} (split ${split})\n\n${rows.length} volumes; classes ${names.join(', ')}; ` +
      'HD95 and average surface distance in mm, undefined where a mask is empty (left out of the mean, counted).\n\n';
    await write('metrics.md', `${title}## Summary\n\n${summaryToMarkdown(summary)}\n## Per volume\n\n${rowsToMarkdown(rows, metrics)}`);
  }
  return { rows, summary, classes: names, files };
}
