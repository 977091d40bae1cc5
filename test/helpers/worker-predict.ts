// Run in a worker thread by test/engine/worker-threads.test.ts: predicts once on the native
// backend, posts the probabilities and exits (the exit is what used to crash).
import { parentPort, workerData } from 'node:worker_threads';
import { SegModel } from '../../src/models/model.js';
import { createPredictor } from '../../src/infer/predict.js';
import { getBackend } from '../../src/engine/backends/select.js';

const { image, size } = workerData as { image: Float32Array; size: number };
const model = new SegModel({ inChannels: 1, classes: 1, filters: [4, 8, 16], deepSupervision: true, seed: 3 });
const p = createPredictor(model, { backend: getBackend('native') }).predict({ data: image, channels: 1, sizes: [size, size] });
parentPort!.postMessage(p.data);
