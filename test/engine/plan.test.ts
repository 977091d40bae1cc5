// Plan behaviour on the reference backend: buffer reuse, feed validation, NaN detection, and
// the errors graph builders raise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, ShapeError, Value } from '../../src/engine/graph.js';
import { gradients } from '../../src/engine/autodiff.js';
import { Plan, NonFiniteError } from '../../src/engine/plan.js';
import { ParamStore } from '../../src/engine/params.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { rng, uniform, uniform32 } from '../helpers/gradcheck.js';

/** A graph with many same-sized intermediates (so buffers get reused), its loss and gradients. */
function smallNet() {
  const g = new Graph();
  const ps = new ParamStore();
  const rand = rng(5);
  const x = g.input('x', [2, 2, 6, 6]);
  const w1 = g.param('w1', [2, 2, 3, 3]), w2 = g.param('w2', [2, 4, 3, 3]), w3 = g.param('w3', [2, 2, 1, 1]);
  ps.set('w1', [2, 2, 3, 3], uniform32(36, rand));
  ps.set('w2', [2, 4, 3, 3], uniform32(72, rand));
  ps.set('w3', [2, 2, 1, 1], uniform32(4, rand));
  const a = g.conv(x, w1, null, { pad: 1, relu: true });
  const b = g.sigmoid(g.conv(a, w1, null, { pad: 1 }));
  const up = g.upsample2x(g.maxPool(b));
  const c = g.conv(g.concat([a, up]), w2, null, { pad: 1 });
  const logits = g.conv(g.add(c, g.scale(b, 0.5)), w3, null);
  // The target input is created after the model: its buffer must not alias an intermediate.
  const target = g.input('target', [2, 2, 6, 6]);
  const loss = g.loss(logits, target, 'bce_dice');
  const grads = gradients(g, loss, [x, w1, w2, w3]);
  return { g, ps, loss, logits, grads: grads as Value[] };
}

function feedsFor(seed: number) {
  const rand = rng(seed);
  return { x: uniform(144, rand), target: Float64Array.from(uniform(144, rand, 0, 1), (v) => (v > 0.5 ? 1 : 0)) };
}

for (const dtype of ['float32', 'float64'] as const) {
  test(`plan (${dtype}): reused buffers give the same results as fresh plans, run after run`, () => {
    const net = smallNet();
    const be = new ReferenceBackend({ dtype });
    const outs = [net.loss, net.logits, ...net.grads];
    const plan = new Plan(net.g, be, net.ps, outs);
    for (const seed of [1, 2, 1, 3]) {
      const got = plan.runToHost(feedsFor(seed)).map((a) => Array.from(a));
      const fresh = new Plan(net.g, be, net.ps, outs).runToHost(feedsFor(seed)).map((a) => Array.from(a));
      assert.deepEqual(got, fresh, `seed ${seed}`);
    }
    // And a plan that keeps every value alive (no reuse at all) agrees too.
    const everything = net.g.nodes.filter((n) => n.op !== 'param').flatMap((n) => n.shapes.map((_, i) => net.g.out(n, i)));
    const noReuse = new Plan(net.g, be, net.ps, everything).runToHost(feedsFor(3));
    const reused = plan.runToHost(feedsFor(3));
    outs.forEach((v, k) => assert.deepEqual(Array.from(reused[k]), Array.from(noReuse[everything.findIndex((e) => e.node === v.node && e.index === v.index)])));
  });
}

test('plan: a missing or wrong-sized input is named in the error', () => {
  const net = smallNet();
  const plan = new Plan(net.g, new ReferenceBackend(), net.ps, [net.loss]);
  const f = feedsFor(1);
  assert.throws(() => plan.run({ x: f.x }), /missing input 'target' \[2,2,6,6\]/);
  assert.throws(() => plan.run({ x: f.x.subarray(1), target: f.target }), /input 'x': 143 values, expected \[2,2,6,6\] = 144/);
});

test('plan: a param missing from the store, or of the wrong shape, is named', () => {
  const net = smallNet();
  const ps = new ParamStore();
  ps.set('w1', [2, 2, 3, 3], new Float32Array(36));
  assert.throws(() => new Plan(net.g, new ReferenceBackend(), ps, [net.loss]).run(feedsFor(1)), /param 'w[23]' is not in the store/);
  ps.set('w2', [4, 2, 3, 3], new Float32Array(72));
  ps.set('w3', [2, 2, 1, 1], new Float32Array(4));
  assert.throws(() => new Plan(net.g, new ReferenceBackend(), ps, [net.loss]).run(feedsFor(1)), /param 'w2' has shape \[4,2,3,3\], graph expects \[2,4,3,3\]/);
});

test('plan: checkFinite names the node that first produced a NaN or Inf', () => {
  const g = new Graph();
  const x = g.input('x', [1, 1, 2, 2]);
  const sq = g.within('block3', () => g.mul(x, x));
  const out = g.meanAll(g.relu(sq));
  const feeds = { x: Float64Array.from([1, 2, 1e200, 3]) };
  const plan = new Plan(g, new ReferenceBackend({ dtype: 'float64' }), new ParamStore(), [out], { checkFinite: true });
  assert.throws(() => plan.run(feeds), (e: unknown) => {
    assert.ok(e instanceof NonFiniteError);
    assert.equal(e.node, sq.node);
    assert.match(e.message, /block3\/mul#\d+ \(op mul\)/);
    return true;
  });
  // Without the option the run completes and the Inf reaches the output.
  const plain = new Plan(g, new ReferenceBackend({ dtype: 'float64' }), new ParamStore(), [out]);
  assert.equal(plain.runToHost(feeds)[0][0], Infinity);
  // NaN from 0 * Inf passes through ReLU rather than being clamped away.
  const g2 = new Graph();
  const a = g2.input('a', [1, 1, 1, 2]);
  const nan = g2.relu(g2.mul(a, g2.scale(a, 0)));
  assert.ok(Number.isNaN(new Plan(g2, new ReferenceBackend({ dtype: 'float64' }), new ParamStore(), [nan]).runToHost({ a: Float64Array.from([Infinity, 1]) })[0][0]));
});

test('graph builders: shape errors name the op and the shapes', () => {
  const g = new Graph();
  const x = g.input('x', [2, 3, 8, 8]);
  const w = g.param('w', [4, 5, 3, 3]);
  assert.throws(() => g.within('conv0_0', () => g.conv(x, w, null)),
    (e: unknown) => e instanceof ShapeError && /conv0_0\/conv: input \[2,3,8,8\] has 3 channels but weight \[4,5,3,3\] expects 5/.test(e.message));
  assert.throws(() => g.conv(x, g.param('w2', [4, 3, 3, 3]), g.param('b', [3])), /conv: bias \[3\] does not match 4 output channels/);
  assert.throws(() => g.conv(g.input('tiny', [1, 3, 2, 2]), g.param('w3', [1, 3, 3, 3]), null), /conv: input \[1,3,2,2\] is smaller than kernel 3x3/);
  assert.throws(() => g.concat([x, g.input('y', [2, 3, 4, 4])]), /concat: inputs differ outside the channel axis: \[2,3,8,8\] vs \[2,3,4,4\]/);
  assert.throws(() => g.concatUp([x], g.input('lo', [2, 5, 4, 3])),
    /concat_up: inputs \[2,3,8,8\] must be \[2,\*,8,6\]: the batch and twice the spatial size of the up-sampled input \[2,5,4,3\]/);
  assert.throws(() => g.concatUp([x], g.input('lo3', [2, 5, 4])), /concat_up: low input must have rank 4 \[N,C,H,W\] or 5 \[N,C,D,H,W\], got \[2,5,4\]/);
  assert.throws(() => g.concatUp([x], g.input('lo4', [2, 5, 4, 4]), 'bicubic' as 'nearest'), /concat_up: mode must be bilinear or nearest, got 'bicubic'/);
  assert.deepEqual(g.concatUp([x, x], g.input('lo5', [2, 5, 4, 4]), 'nearest', false).shape, [2, 11, 8, 8]);
  assert.throws(() => g.add(x, g.input('z', [2, 3, 8, 7])), /add: shapes differ: \[2,3,8,8\] vs \[2,3,8,7\]/);
  assert.throws(() => g.batchNorm(x, g.param('g', [4]), g.param('be', [3]), 'rm', 'rv', { training: true }), /batchnorm: weight \[4\] does not match 3 channels of \[2,3,8,8\]/);
  assert.throws(() => g.maxPool(g.input('one', [1, 1, 1, 4])), /maxpool: input \[1,1,1,4\] is smaller than 2x2/);
  assert.throws(() => g.loss(x, g.input('t', [2, 1, 8, 8]), 'bce'), /loss: shapes differ: \[2,3,8,8\] vs \[2,1,8,8\]/);
  assert.throws(() => g.param('w', [4, 5, 1, 1]), /param 'w' used with shapes \[4,5,3,3\] and \[4,5,1,1\]/);
});

// Params are bound once and rebound only when the store's Param changes: a param replaced in the
// store (params.set, e.g. a checkpoint load) or changed in place must show in the next run, on
// backends that share the storage (native) and on those that copy it (reference).
import { NativeBackend, nativeAvailable } from '../../src/engine/backends/native.js';
const nat = nativeAvailable();
for (const [name, make] of [['reference', () => new ReferenceBackend({ dtype: 'float32' })], ['native', () => new NativeBackend()]] as const)
  test(`plan (${name}): params replaced in the store or changed in place reach the next run`, { skip: name === 'native' && !nat.ok ? nat.reason : false }, () => {
    const { g, ps, logits } = smallNet();
    const plan = new Plan(g, make(), ps, [logits]);
    const fresh = () => new Plan(g, make(), ps, [logits]).runToHost(feedsFor(1))[0];
    const first = plan.runToHost(feedsFor(1))[0];
    assert.deepEqual(Array.from(first), Array.from(fresh()));
    ps.set('w3', [2, 2, 1, 1], uniform32(4, rng(8)));  // a new Param object and array
    const replaced = plan.runToHost(feedsFor(1))[0];
    assert.notDeepEqual(Array.from(replaced), Array.from(first));
    assert.deepEqual(Array.from(replaced), Array.from(fresh()));
    ps.get('w3').data[0] += 1;  // in place
    const changed = plan.runToHost(feedsFor(1))[0];
    assert.notDeepEqual(Array.from(changed), Array.from(replaced));
    assert.deepEqual(Array.from(changed), Array.from(fresh()));
  });
