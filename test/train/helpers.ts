// Tiny seeded problems for trainer tests: 32x32 synthetic nuclei and a 3-level UNet++.
import { syntheticNuclei } from '../../src/data/images/synthetic.js';
import { SegModel } from '../../src/models/model.js';
import type { ModelConfig } from '../../src/models/config.js';
import type { TrainData } from '../../src/train/trainer.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tinyData(count = 24, seed = 1): TrainData {
  const s = syntheticNuclei({ count, width: 32, height: 32, seed, channels: 1 });
  return { train: s.filter((x) => x.split === 'train'), val: s.filter((x) => x.split !== 'train') };
}

export const tinyModel = (over: Partial<ModelConfig> = {}) =>
  new SegModel({ preset: 'bn', filters: [4, 8, 16], inChannels: 1, deepSupervision: true, seed: 3, ...over });

const made: string[] = [];
process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

/** A fresh temp directory, removed when the test process exits. */
export const tmp = (name: string) => {
  const d = mkdtempSync(join(tmpdir(), `unetpp-${name}-`));
  made.push(d);
  return d;
};
