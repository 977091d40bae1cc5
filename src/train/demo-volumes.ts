// `unetpp demo --dims 3`: no download, no data. Seeded synthetic volumes (blobby lesions on an
// uneven background: data/volumes/synthetic-volumes.ts), a small 3D UNet++ (instance norm, deep
// supervision) trained on random patches for a couple of minutes; prints the test volumes'
// Dice and writes one predicted label volume as NIfTI next to the checkpoints.
import { join } from 'node:path';
import { syntheticVolumes } from '../data/volumes/synthetic-volumes.js';
import { MemoryVolumes } from '../data/volumes/volume-store.js';
import { writeCasePrediction } from '../data/volumes/volume-dataset.js';
import type { LabelSpec } from '../data/labels.js';
import { SegModel } from '../models/model.js';
import type { ModelConfig } from '../models/config.js';
import { createPredictor } from '../infer/predict.js';
import { labelMap } from '../data/labels.js';
import { loadModel } from '../io/checkpoint.js';
import { resolveBackend, type BackendChoice } from './backend.js';
import { trainVolumes, volumeDice } from './volumes.js';
import type { TrainResult } from './trainer.js';
import type { Precision } from '../engine/backend.js';

export interface VolumeDemoOptions {
  outDir: string;
  seed?: number;
  /** Training time budget (default 2): training stops after the epoch that crosses it. */
  minutes?: number;
  backend?: BackendChoice;
  /** bf16 activations and convolutions (native backend with AVX512_BF16/AMX), default fp32. */
  precision?: Precision;
  log?: ((line: string) => void) | null;
  progress?: boolean;
}

export interface VolumeDemoResult { dice: number; iou: number; epochs: number; seconds: number; stepMs: number; prediction: string; train: TrainResult }

export const VOLUME_DEMO = {
  size: 32,
  volumes: 16, // 10 train, 3 val, 3 test
  patch: [32, 32, 32] as [number, number, number],
  model: { arch: 'unetpp', preset: 'bn', dims: 3, norm: 'instance', filters: [8, 16, 32], inChannels: 1, classes: 1, deepSupervision: true } as Partial<ModelConfig>,
  labels: { kind: 'binary' } as LabelSpec,
  batchSize: 2,
  lr: 3e-3,
  maxEpochs: 40,
  minEpochs: 6,
};

export async function runVolumeDemo(o: VolumeDemoOptions): Promise<VolumeDemoResult> {
  const seed = o.seed ?? 0, D = VOLUME_DEMO;
  const log = o.log === undefined ? (s: string) => console.log(s) : o.log;
  const t0 = Date.now();
  const vols = syntheticVolumes({ count: D.volumes, dims: [D.size, D.size, D.size], seed, labels: D.labels, splitFractions: [10 / 16, 3 / 16, 3 / 16] });
  const of = (split: string) => vols.filter((v) => v.split === split);
  const model = new SegModel({ ...D.model, seed });
  const backend = await resolveBackend(o.backend ?? 'auto', o.precision ?? 'fp32', 3);
  log?.(`demo --dims 3: ${of('train').length} train / ${of('val').length} val / ${of('test').length} test synthetic volumes ${D.size}^3; ` +
    `3D UNet++ (instance norm) filters ${D.model.filters!.join(',')}, ${model.params.count().toLocaleString('en')} params; backend ${backend.name} ${backend.precision}`);
  const r = await trainVolumes(model, { train: new MemoryVolumes(of('train'), D.labels), val: new MemoryVolumes(of('val'), D.labels) }, {
    outDir: o.outDir, patch: D.patch, epochs: D.maxEpochs, batchSize: D.batchSize, samplesPerEpoch: of('train').length, backend, seed,
    optimizer: { kind: 'adam', lr: D.lr }, schedule: { kind: 'plateau', factor: 0.5, patience: 3, minLr: 1e-4 },
    augment3d: { flip: true, rotate90: true }, patience: 8, timeLimitSeconds: (o.minutes ?? 2) * 60, minEpochs: D.minEpochs, monitor: 'dice',
    log, progress: o.progress,
  });
  // The best checkpoint, reloaded, through the prediction API on the held-out test volumes.
  const predictor = createPredictor(loadModel(r.bestPath), { backend, mode: 'accurate' });
  let dice = 0, iou = 0;
  let prediction = '';
  for (const v of of('test')) {
    const [X, Y, Z] = v.dims;
    const p = predictor.predict({ data: v.image, channels: 1, sizes: [Z, Y, X] });
    const s = volumeDice(p, v, D.labels);
    dice += s.dice / of('test').length;
    iou += s.iou / of('test').length;
    if (!prediction) await writeCasePrediction((prediction = join(o.outDir, `${v.id}_pred.nii.gz`)), labelMap(p), v);
  }
  const seconds = (Date.now() - t0) / 1000;
  log?.(`demo --dims 3: test Dice ${dice.toFixed(4)}, IoU ${iou.toFixed(4)} (best epoch ${r.bestEpoch} of ${r.epochs}); ` +
    `${seconds.toFixed(0)} s, ${r.stepMs.toFixed(0)} ms/step; wrote ${prediction}`);
  return { dice, iou, epochs: r.epochs, seconds, stepMs: r.stepMs, prediction, train: r };
}
