// Native kernels of batch norm (oneDNN's) and instance norm (ours), images and volumes.
import { numel } from '../../../graph.js';
import { flat4, type Ctx, type Impls } from './context.js';

type F = Float32Array;
type NormOp = 'batchnorm' | 'batchnorm_grad' | 'instancenorm' | 'instancenorm_grad';

export function normKernels({ A, layout }: Ctx): Impls<NormOp> {
  return {
    batchnorm: ([x, gamma, beta, rm, rv], [y], node, rt) => {
      const [n, c, h, w] = flat4(node.inputs[0].shape);
      const { training, eps, momentum, relu } = node.attrs;
      if (!training) return A.bnFwdEval(x, gamma, beta, rm, rv, y, n, c, h, w, eps, !!relu, layout());
      const s = rt.saved(node);
      if (!s.mean) {  // batch statistics and the fused-ReLU mask, for the backward kernel
        s.mean = new Float32Array(c);
        s.variance = new Float32Array(c);
        s.ws = relu ? new Uint8Array(A.bnWorkspaceBytes(n, c, h, w, eps, true, layout(), x instanceof Uint16Array)) : null;
      }
      A.bnFwdTrain(x, gamma, beta, y, s.mean, s.variance, s.ws, n, c, h, w, eps, !!relu, layout());
      const runM = rt.param(node.attrs.runningMean).data as F, runV = rt.param(node.attrs.runningVar).data as F;
      A.bnUpdateRunning(runM, runV, s.mean, s.variance, momentum, n * h * w);
    },
    batchnorm_grad: ([x, gamma, rm, rv, dy, y], [dx, dgamma, dbeta], node, rt) => {
      const [n, c, h, w] = flat4(node.inputs[0].shape);
      const { training, eps, relu } = node.attrs;
      if (!training) return A.bnBwdEval(x, gamma, rm, rv, dy, y, dx, dgamma, dbeta, n, c, h, w, eps, !!relu, layout());
      const s = rt.saved(node.attrs.fwd);
      if (!s.mean) throw new Error('the forward batchnorm has not run in this plan');
      A.bnBwdTrain(x, gamma, s.mean, s.variance, dy, s.ws, dx, dgamma, dbeta, n, c, h, w, eps, !!relu, layout());
    },

    instancenorm: ([x, gamma, beta], [y], node, rt) => {
      const [n, c] = node.inputs[0].shape, s = rt.saved(node);
      if (!s.mean) { s.mean = new Float32Array(n * c); s.rstd = new Float32Array(n * c); }
      const sp = numel(node.inputs[0].shape) / (n * c);
      A.instnormFwd(x, gamma, beta, y, s.mean, s.rstd, n, c, sp, node.attrs.eps ?? 1e-5, !!node.attrs.relu, layout());
    },
    instancenorm_grad: ([x, gamma, beta, dy, y], [dx, dgamma, dbeta], node, rt) => {
      const shape = node.inputs[0].shape, [n, c] = shape, sp = numel(shape) / (n * c);
      // The forward's statistics: its node is the producer of y (inputs[4]); a plan that did not
      // run it (or another graph shape) recomputes them into dx, which is overwritten below.
      const fwd = node.inputs[4].node;
      let s = fwd.op === 'instancenorm' ? rt.saved(fwd) : undefined;
      if (!s?.mean) {
        s = rt.saved(node);
        if (!s.mean) { s.mean = new Float32Array(n * c); s.rstd = new Float32Array(n * c); }
        A.instnormFwd(x, gamma, beta, dx, s.mean, s.rstd, n, c, sp, node.attrs.eps ?? 1e-5, false, layout());
      }
      A.instnormBwd(x, gamma, s.mean, s.rstd, dy, y, dx, dgamma, dbeta, n, c, sp, !!node.attrs.relu, layout());
    },
  };
}
