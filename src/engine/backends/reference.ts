// The reference backend: plain TypeScript loops over NCHW / NCDHW data, float32 or float64. It is the
// oracle the native backend and the autodiff rules are tested against, so it favours clarity.
import { kernelOf, type Backend, type BTensor, type Kernel, type KernelTable, type OpKernel } from '../backend.js';
import type { KernelOp } from '../ops.js';
import type { Layout, Shape } from '../graph.js';
import { numel, fmt } from '../graph.js';
import * as conv from './reference/conv.js';
import * as pool from './reference/pool.js';
import * as resample from './reference/resample.js';
import * as norm from './reference/norm.js';
import * as ew from './reference/elementwise.js';
import * as lossK from './reference/loss.js';

/** Eval-mode conv_bn, by definition: conv, then batchnorm with the running statistics. */
const convBn: OpKernel<'conv_bn'> = (ins, outs, node, rt) => {
  const [x, w, gamma, beta, rm, rv, b] = ins;
  const { stride, pad, eps, relu } = node.attrs;
  const z = { shape: outs[0].shape, data: new (outs[0].data.constructor as Float64ArrayConstructor)(outs[0].data.length) };
  conv.conv(b ? [x, w, b] : [x, w], [z], { ...node, op: 'conv', attrs: { stride, pad, relu: false } }, rt);
  norm.batchnorm([z, gamma, beta, rm, rv], outs,
    { ...node, op: 'batchnorm', attrs: { training: false, eps, relu, momentum: 0, runningMean: '', runningVar: '' } }, rt);
};

const kernels: KernelTable = {
  ones: ew.ones,
  conv: conv.conv,
  conv_grad_input: conv.convGradInput,
  conv_grad_weight: conv.convGradWeight,
  conv_transpose: conv.convTranspose,
  conv_transpose_grad_input: conv.convTransposeGradInput,
  conv_transpose_grad_weight: conv.convTransposeGradWeight,
  maxpool: pool.maxpool,
  maxpool_grad: pool.maxpoolGrad,
  upsample2x: resample.upsample2x,
  upsample2x_grad: resample.upsample2xGrad,
  concat_up: resample.concatUp,
  concat_up_grad: resample.concatUpGrad,
  concat: ew.concat,
  split_channels: ew.splitChannels,
  batchnorm: norm.batchnorm,
  conv_bn: convBn,
  batchnorm_grad: norm.batchnormGrad,
  instancenorm: norm.instancenorm,
  instancenorm_grad: norm.instancenormGrad,
  relu: ew.relu,
  relu_grad: ew.reluGrad,
  leaky_relu: ew.leakyRelu,
  leaky_relu_grad: ew.leakyReluGrad,
  sigmoid: ew.sigmoid,
  sigmoid_grad: ew.sigmoidGrad,
  softmax: ew.softmax,
  softmax_grad: ew.softmaxGrad,
  dropout: ew.dropout,
  scale: ew.scale,
  add: ew.add,
  mul: ew.mul,
  add_n: ew.addN,
  mean_all: ew.meanAll,
  fill_grad: ew.fillGrad,
  loss: lossK.loss,
  loss_grad: lossK.lossGrad,
};

export interface ReferenceOptions { dtype?: 'float32' | 'float64' }

export class ReferenceBackend implements Backend {
  readonly name = 'reference';
  readonly dtype: 'float32' | 'float64';
  readonly precision = 'fp32' as const;

  constructor(options: ReferenceOptions = {}) {
    this.dtype = options.dtype ?? 'float32';
    if (this.dtype !== 'float32' && this.dtype !== 'float64') throw new Error(`reference backend: dtype must be float32 or float64, got ${String(this.dtype)}`);
  }

  private array(n: number): Float32Array | Float64Array {
    return this.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  }

  alloc(shape: Shape, _layout: Layout): BTensor {
    return { shape, data: this.array(numel(shape)) };
  }

  bytesPerValue(_shape: Shape, _layout: Layout): number {
    return this.dtype === 'float64' ? 8 : 4;
  }

  upload(host: Float32Array | Float64Array, t: BTensor, _layout: Layout): void {
    if (host.length !== t.data.length) throw new Error(`reference upload: ${host.length} values into a tensor of shape ${fmt(t.shape)}`);
    t.data.set(host);
  }

  bindParam(host: Float32Array, shape: Shape): BTensor {
    // float32 shares the store's memory (in-place running-stat updates land there directly);
    // float64 works on a copy, which Plan writes back for non-trainable params.
    if (this.dtype === 'float32') return { shape, data: host };
    return { shape, data: Float64Array.from(host) };
  }

  download(t: BTensor, _layout: Layout): Float32Array | Float64Array {
    return (t.data as Float32Array | Float64Array).slice();
  }

  kernel(op: KernelOp): Kernel {
    return kernelOf(kernels, op);
  }
}
