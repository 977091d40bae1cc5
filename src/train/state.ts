// The `last` checkpoint: last.safetensors is an ordinary model checkpoint (loadModel reads it,
// with its meta) whose extra metadata also holds the training state as JSON; the optimiser's
// moments go to a file named after the epoch, written first, so the pair switches over with one atomic rename of
// last.safetensors (a kill between the two writes leaves the previous pair valid).
import { readdirSync, unlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { saveModel, loadModelWithMeta } from '../io/checkpoint.js';
import { readSafetensors, writeSafetensors, type TensorIn } from '../io/safetensors.js';
import type { SegModel } from '../models/model.js';
import type { OptimState } from '../optim/types.js';
import type { LoaderState } from '../data/loaders/loader.js';
import type { EarlyStopState } from './early-stop.js';
import type { EpochRecord } from './record.js';
import type { CheckpointMeta } from '../io/checkpoint-meta.js';

export const LAST = 'last.safetensors';
export const BEST = 'best.safetensors';
const OPTIM_RE = /^last-optim\.e(\d+)\.safetensors$/;

export interface TrainState {
  version: 1;
  /** Epochs completed. */
  epoch: number;
  globalStep: number;
  loader: LoaderState;
  /** Run counters of the train plans by input shape (the dropout step). */
  planSteps: Record<string, number>;
  optimizer: Omit<OptimState, 'slots'>;
  schedule: { kind: string; state: Record<string, number> };
  early: EarlyStopState;
  history: EpochRecord[];
  optimFile: string;
  /** Epochs re-planned to a time limit (TrainOptions.fitEpochsToTime), kept across a resume. */
  epochs?: number;
}

export function saveLast(dir: string, model: SegModel, state: Omit<TrainState, 'optimFile' | 'optimizer'>, optim: OptimState,
                         meta: CheckpointMeta): void {
  const optimFile = `last-optim.e${state.epoch}.safetensors`;
  const tensors: Record<string, TensorIn> = {};
  for (const [k, a] of Object.entries(optim.slots)) tensors[k] = { dtype: 'F32', shape: [a.length], data: a };
  writeSafetensors(join(dir, optimFile), tensors, { format: 'unetpp-optimizer', epoch: String(state.epoch) });
  const { slots: _slots, ...scalars } = optim;
  saveModel(join(dir, LAST), model, meta, { train_state: JSON.stringify({ ...state, optimizer: scalars, optimFile }) });
  for (const f of readdirSync(dir)) if (OPTIM_RE.test(f) && f !== optimFile) unlinkSync(join(dir, f));
}

export interface Resumed { model: SegModel; state: TrainState; optim: OptimState }

export function loadLast(dir: string): Resumed {
  const path = join(dir, LAST);
  if (!existsSync(path)) throw new Error(`resume: no ${LAST} in ${dir} (nothing to resume; train without resume first)`);
  const { model, extra } = loadModelWithMeta(path);
  if (!extra.train_state) throw new Error(`resume: ${path} has no training state (a model-only checkpoint cannot resume training)`);
  const state = JSON.parse(extra.train_state) as TrainState;
  if (state.version !== 1) throw new Error(`resume: ${path}: unknown training-state version ${state.version}`);
  const optFile = readSafetensors(join(dir, state.optimFile));
  if (optFile.metadata.epoch !== String(state.epoch)) throw new Error(`resume: ${state.optimFile} is for epoch ${optFile.metadata.epoch}, ${LAST} for ${state.epoch}`);
  const slots: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(optFile.tensors)) slots[k] = t.data as Float32Array;
  return { model, state, optim: { ...state.optimizer, slots } };
}
