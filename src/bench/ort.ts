// onnxruntime-node as a second inference peer: the bench's model, exported by our own ONNX
// exporter (accurate mode, the timed batch's sides fixed), run by onnxruntime's CPU provider with
// as many intra-op threads as ours, on the same input batch, and timed as our inference plan is
// (warm-up, then batch by batch). Always float32: onnxruntime has no bf16 convs on CPU.
import * as ort from 'onnxruntime-node';
import { toOnnx } from '../io/onnx.js';
import type { SegModel } from '../models/model.js';

/** The largest |onnxruntime - ours| over the probabilities for both to count as the same computation. */
export const ORT_TOLERANCE = 1e-3;

export class OrtPeer {
  private constructor(private session: ort.InferenceSession, private feeds: Record<string, ort.Tensor>, readonly onnxBytes: number) {}

  /** x: one batch of `shape` [N, C, ...sides] (all sides equal, as the bench's). */
  static async create(model: SegModel, x: Float32Array, shape: number[], threads: number): Promise<OrtPeer> {
    const bytes = toOnnx(model, { mode: { kind: 'accurate' }, dynamicSize: false, size: shape[2] });
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
    });
    return new OrtPeer(session, { input: new ort.Tensor('float32', x, shape) }, bytes.length);
  }

  static version = ort.env.versions.node;

  async probabilities(): Promise<Float32Array> {
    return (await this.session.run(this.feeds)).output.data as Float32Array;
  }

  /** k batches, ms each. */
  async time(k: number): Promise<number[]> {
    const ms: number[] = [];
    for (let i = 0; i < k; i++) {
      const t = process.hrtime.bigint();
      await this.session.run(this.feeds);
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return ms;
  }

  release(): Promise<void> { return this.session.release(); }
}

/** max |a[i] - b[i]| (a and b of the same length). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths ${a.length} and ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}
