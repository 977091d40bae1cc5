// The network `unetpp bench --dims 3` times until the model builder (src/models) emits volumes:
// the peer's NestedUNet (torch_unetpp.py --dims 3 --norm instance|batch) on the graph builders,
// with its parameter names and PyTorch's default init. Conv3d 3x3x3 + norm + ReLU twice per
// node, max-pool 2x2x2, trilinear x2 (align_corners) fused into concat_up, 1x1x1 heads.
import { Graph, Value } from '../engine/graph.js';
import { ParamStore } from '../engine/params.js';
import { numel, type Shape } from '../engine/graph.js';

export interface VolumeNetOptions { filters: number[]; inChannels: number; ds: boolean; norm: 'batch' | 'instance'; seed?: number }

/** The same interface as SegModel where the bench uses it. */
export class VolumeNet {
  readonly params = new ParamStore();
  readonly config: { inChannels: number; classes: number };
  constructor(readonly o: VolumeNetOptions) {
    this.config = { inChannels: o.inChannels, classes: 1 };
    // Declare the params by building once on a small input (shapes come from the wiring).
    const m = 2 ** o.filters.length;  // the deepest level keeps 2x2x2 (instance norm needs > 1 position)
    const g = new Graph();
    this.forward(g, g.input('x', [1, o.inChannels, m, m, m]), { training: true });
    let s = (o.seed ?? 1) >>> 0;
    const u = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32 * 2 - 1; };
    for (const [name, v] of g.params) {
      const n = numel(v.shape);
      let data: Float32Array;
      if (/running_var$|bn\d\.weight$/.test(name)) data = new Float32Array(n).fill(1);
      else if (/running_mean$|bn\d\.bias$/.test(name)) data = new Float32Array(n);
      else {  // PyTorch's default conv init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), weights and biases
        const fanIn = numel(g.params.get(name.replace(/bias$/, 'weight'))!.shape.slice(1) as Shape);
        data = Float32Array.from({ length: n }, () => u() / Math.sqrt(fanIn));
      }
      this.params.set(name, v.shape, data, !/running_(mean|var)$/.test(name));
    }
  }

  /** Heads' logits (final1..final{L} with deep supervision, else final). */
  forward(g: Graph, x: Value, opts: { training: boolean; fuseBn?: boolean }): Value[] {
    const f = this.o.filters, L = f.length - 1;
    const p = (name: string, shape: Shape) => g.param(name, shape);
    const block = (name: string, x: Value, o: number) => {
      let h = x;
      for (const k of [1, 2]) {
        const w = p(`${name}.conv${k}.weight`, [o, h.shape[1], 3, 3, 3]), b = p(`${name}.conv${k}.bias`, [o]);
        const gamma = p(`${name}.bn${k}.weight`, [o]), beta = p(`${name}.bn${k}.bias`, [o]);
        if (this.o.norm === 'instance') h = g.instanceNorm(g.conv(h, w, b, { pad: 1 }), gamma, beta, { relu: true });
        else if (opts.fuseBn && !opts.training)
          h = g.convBnEval(h, w, b, gamma, beta, `${name}.bn${k}.running_mean`, `${name}.bn${k}.running_var`, { pad: 1, relu: true });
        else h = g.batchNorm(g.conv(h, w, b, { pad: 1 }), gamma, beta, `${name}.bn${k}.running_mean`, `${name}.bn${k}.running_var`,
          { training: opts.training, relu: true });
      }
      return h;
    };
    const X: Value[][] = Array.from({ length: L + 1 }, () => []);
    g.within('conv0_0', () => { X[0][0] = block('conv0_0', x, f[0]); });
    for (let i = 1; i <= L; i++) X[i][0] = g.within(`conv${i}_0`, () => block(`conv${i}_0`, g.maxPool(X[i - 1][0]), f[i]));
    for (let j = 1; j <= L; j++)
      for (let i = 0; i + j <= L; i++)
        X[i][j] = g.within(`conv${i}_${j}`, () => block(`conv${i}_${j}`, g.concatUp(X[i].slice(0, j), X[i + 1][j - 1], 'bilinear', true), f[i]));
    const head = (name: string, v: Value) => g.conv(v, p(`${name}.weight`, [1, f[0], 1, 1, 1]), p(`${name}.bias`, [1]));
    return this.o.ds ? Array.from({ length: L }, (_, j) => head(`final${j + 1}`, X[0][j + 1])) : [head('final', X[0][L])];
  }

  /** Accurate mode: the mean of the heads' probabilities. */
  probabilities(g: Graph, heads: Value[]): Value {
    const ps = heads.map((h) => g.sigmoid(h));
    return ps.length === 1 ? ps[0] : g.scale(g.addN(ps), 1 / ps.length);
  }
}
