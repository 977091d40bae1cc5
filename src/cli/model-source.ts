// Where a command's model comes from: our checkpoint (--model) or a PyTorch state_dict
// (--pytorch), plus the preprocessing the trainer recorded in the checkpoint's metadata.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { loadModelWithMeta } from '../io/checkpoint.js';
import { importPyTorch } from '../io/pytorch.js';
import type { SegModel } from '../models/model.js';
import type { Normalize } from '../data/transforms.js';
import { CliError } from './common.js';

export function addModelSource(cmd: Command): Command {
  return cmd
    .option('-m, --model <file>', 'unetpp checkpoint (.safetensors written by train)')
    .option('--pytorch <file>', 'PyTorch NestedUNet state_dict (.safetensors) instead of --model');
}

export interface LoadedModel {
  model: SegModel;
  metadata: Record<string, string>;
  /** From metadata "normalize" (JSON), when training recorded it. */
  normalize?: Normalize;
  /** From metadata "classNames" (JSON array). */
  classNames?: string[];
  /** From metadata "inputSize" ("HxW" or N): the size training resized images to. */
  inputSize?: [number, number];
}

export function loadModelSource(opts: { model?: string; pytorch?: string }): LoadedModel {
  if (!opts.model === !opts.pytorch) throw new CliError('give exactly one of --model <checkpoint> or --pytorch <state_dict>');
  const path = (opts.model ?? opts.pytorch)!;
  const flag = opts.model ? '--model' : '--pytorch';
  if (!existsSync(path)) throw new CliError(`${flag} ${path}: no such file`);
  if (opts.pytorch) return { model: importPyTorch(path), metadata: {} };
  const { model, metadata } = loadModelWithMeta(path);
  const json = <T>(key: string): T | undefined => {
    if (metadata[key] === undefined) return undefined;
    try { return JSON.parse(metadata[key]) as T; } catch { throw new CliError(`${path}: metadata "${key}" is not valid JSON`); }
  };
  let inputSize: [number, number] | undefined;
  if (metadata.inputSize) {
    const m = /^(\d+)(?:x(\d+))?$/.exec(metadata.inputSize);
    if (m) inputSize = [Number(m[1]), Number(m[2] ?? m[1])];
  }
  return { model, metadata, normalize: json<Normalize>('normalize'), classNames: json<string[]>('classNames'), inputSize };
}
