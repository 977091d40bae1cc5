// Child process of memory.test.ts: a few real training steps (src/train/trainer.ts, native backend)
// of one network on synthetic batches; prints its peak RSS as JSON. argv[2]: the case as JSON.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SegModel } from '../../src/models/model.js';
import type { ModelConfig } from '../../src/models/config.js';
import { train, type TrainLoader } from '../../src/train/trainer.js';
import type { LoaderState } from '../../src/data/loaders/loader.js';
import { peakRss } from '../../src/plan/step-probe.js';

const spec = JSON.parse(process.argv[2]) as { config: Partial<ModelConfig>; batch: number; patch: number[]; steps: number };
const model = new SegModel(spec.config);
const { inChannels: C, classes: K } = model.config;
const plane = spec.patch.reduce((a, b) => a * b, 1);
const [d, h, w] = spec.patch.length === 3 ? spec.patch : [undefined, ...spec.patch];
let state: LoaderState = { seed: 0, epoch: 0, batch: 0 };
const loader: TrainLoader = {
  length: spec.steps,
  getState: () => ({ ...state }),
  setState: (s) => { state = { ...s }; },
  async *epoch() {
    for (let i = 0; i < spec.steps; i++) {
      const x = new Float32Array(spec.batch * C * plane).map((_, j) => Math.sin(j * 0.37));
      const y = new Float32Array(spec.batch * K * plane);
      for (let b = 0; b < spec.batch; b++)
        for (let j = 0; j < plane; j++) y[(b * K + ((j >> 4) % K)) * plane + j] = K === 1 ? (j % 3 === 0 ? 1 : 0) : 1;
      state.batch++;
      yield { x, y, n: spec.batch, c: C, k: K, h: h!, w: w!, ...(d === undefined ? {} : { d }) };
    }
    state = { ...state, epoch: state.epoch + 1, batch: 0 };
  },
};
const out = mkdtempSync(join(tmpdir(), 'unetpp-step-'));
try {
  await train(model, { train: [], val: [], loader }, {
    outDir: out, epochs: 1, batchSize: spec.batch, backend: 'native', loss: { kind: K > 1 ? 'ce_dice' : 'bce_dice' },
    validate: () => ({ dice: 0, iou: 0, valLoss: 0, images: 1 }), plot: false, log: null, progress: false, patience: false,
  });
  process.stdout.write(JSON.stringify({ peakRssBytes: peakRss() }) + '\n');
} finally {
  rmSync(out, { recursive: true, force: true });
}
