// Shared by the ONNX export tests (images and volumes): run bytes in onnxruntime-node, and our
// engine's probabilities for the same mode (reference backend, float64).
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { toOnnx, type OnnxMode } from '../../src/io/onnx.js';
import { Graph } from '../../src/engine/graph.js';
import { Plan } from '../../src/engine/plan.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import type { SegModel } from '../../src/models/model.js';

export const FIX = new URL('../../../test/fixtures/', import.meta.url).pathname;
export const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export async function runOnnx(bytes: Uint8Array, x: Float32Array, shape: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const s = await ort.InferenceSession.create(bytes);
  const r = await s.run({ input: new ort.Tensor('float32', x, shape) });
  return { data: r.output.data as Float32Array, dims: r.output.dims };
}

/** Our engine's probabilities for the same mode. */
export function ours(model: SegModel, mode: OnnxMode, x: Float32Array, shape: number[]): Float64Array | Float32Array {
  const m = mode.kind === 'pruned' ? model.prune(mode.level) : model;
  const g = new Graph();
  const heads = m.forward(g, g.input('x', shape), { training: false });
  const p = m.probabilities(g, heads, mode.kind === 'pruned' ? { kind: 'fast' } : mode);
  return new Plan(g, new ReferenceBackend({ dtype: 'float64' }), m.params, [p]).runToHost({ x })[0];
}

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Exports the model in each mode, runs it in onnxruntime-node on x and checks its output's dims and that it is
 *  within 1e-5 of the engine's probabilities. */
export async function checkOnnxModes(model: SegModel, x: Float32Array, shape: number[], modes: OnnxMode[], dims: number[]) {
  for (const mode of modes) {
    const out = await runOnnx(toOnnx(model, { mode }), x, shape);
    assert.deepEqual(out.dims, dims);
    const d = maxDiff(out.data, ours(model, mode, x, shape));
    assert.ok(d <= 1e-5, `${JSON.stringify(mode)}: ${d}`);
  }
}
