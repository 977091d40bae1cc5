// In-place concatenation (src/engine/concat-views.ts): which rows the planner shares, that it
// refuses unsafe or unsupported cases, and that native plans give the same results with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, type Node, type Shape } from '../../src/engine/graph.js';
import { concatRows, type ViewSupport } from '../../src/engine/concat-views.js';
import { Plan } from '../../src/engine/plan.js';
import { NativeBackend, nativeAvailable, bf16Support, loadAddon } from '../../src/engine/backends/native.js';
import { acceptsView } from '../../src/engine/backends/native/kernels.js';
import { SegModel } from '../../src/models/model.js';
import { trainGraph } from '../../src/bench/model.js';

const blocked16: ViewSupport = { viewable: (s: Shape) => s.length === 4 && s[1] % 16 === 0, acceptsView };
const small = (arch: 'unetpp' | 'unet' = 'unetpp', filters = [16, 32, 64, 128, 256]) =>
  new SegModel({ preset: 'bn', arch, inChannels: 3, deepSupervision: arch === 'unetpp', filters });

function inferGraph(model: SegModel, n = 2, size = 32) {
  const g = new Graph();
  const y = model.probabilities(g, model.forward(g, g.input('x', [n, 3, size, size]), { training: false, fuseBn: true }));
  return { g, y };
}

test('concat views: UNet++ rows 0-3 each share one buffer, nodes at their channel offsets, concats as prefixes', () => {
  const { g, y } = inferGraph(small());
  const rows = concatRows(g.nodes, new Set([`${y.node.id}:0`]), blocked16);
  // row i holds X(i,0..J-1) and its concats; the last up-sampling (2C channels) ends at (J+2)C
  assert.deepEqual(rows.map((r) => r.shape), [[2, 96, 32, 32], [2, 160, 16, 16], [2, 256, 8, 8], [2, 384, 4, 4]]);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  rows.forEach((r, i) => {
    const C = 16 << i, J = 4 - i;
    const members = [...r.members].map(([k, off]) => ({ node: byId.get(Number(k.split(':')[0]))!, off }));
    const parts = members.filter((m) => m.node.op !== 'concat_up');
    const concats = members.filter((m) => m.node.op === 'concat_up');
    assert.equal(concats.length, J, `row ${i}: every concat of the row`);
    assert.ok(concats.every((m) => m.off === 0));
    assert.deepEqual(parts.map((m) => m.off), Array.from({ length: J }, (_, k) => k * C), `row ${i}: X(i,0..${J - 1}) side by side`);
    // each concat's parts are exactly the row's leading members, in order
    for (const c of concats) {
      const ids = c.node.inputs.slice(0, -1).map((v) => v.node.id);
      assert.deepEqual(ids, parts.slice(0, ids.length).map((m) => m.node.id));
    }
  });
});

test('concat views: U-Net skips are written straight into the decoder concats', () => {
  const { g, y } = inferGraph(small('unet'));
  const rows = concatRows(g.nodes, new Set([`${y.node.id}:0`]), blocked16);
  assert.deepEqual(rows.map((r) => r.shape[1]), [384, 192, 96, 48]);  // decoder order
  assert.ok(rows.every((r) => r.members.size === 2));
});

test('concat views: none in training graphs, where unsupported, or for values that are returned', () => {
  const model = small();
  const { g, loss } = trainGraph(model, 2, 32);
  assert.equal(concatRows(g.nodes, new Set([`${loss.node.id}:0`]), blocked16).length, 0, 'batch-norm producers take no views');
  const inf = inferGraph(model);
  const none: ViewSupport = { viewable: blocked16.viewable, acceptsView: (n: Node, io, i) => n.op !== 'maxpool' && acceptsView(n, io, i) };
  assert.deepEqual(concatRows(inf.g.nodes, new Set([`${inf.y.node.id}:0`]), none).length, 0, 'each X(i,0) is pooled: no row without pooling views');
  const narrow: ViewSupport = { viewable: (s) => blocked16.viewable(s) && s[1] !== 16, acceptsView };
  assert.deepEqual(concatRows(inf.g.nodes, new Set([`${inf.y.node.id}:0`]), narrow).map((r) => r.shape[1]), [160, 256, 384], 'row 0 has 16 channels: not viewable');
  const x01 = inf.g.nodes.find((n) => n.name.includes('conv0_1') && n.op === 'conv_bn' && n.inputs[0].node.op !== 'concat_up')!;
  assert.deepEqual(concatRows(inf.g.nodes, new Set([`${inf.y.node.id}:0`, `${x01.id}:0`]), blocked16).map((r) => r.shape[1]), [160, 256, 384], 'a returned X(0,1) stays dense');
});

test('concat views: no chain where a node would overwrite an up-sampling still to be read', () => {
  const build = (lateRead: boolean, oneConv = false) => {
    const g = new Graph();
    const conv = (x: ReturnType<Graph['input']>, name: string) => g.conv(x, g.param(name, [16, x.shape[1], 3, 3]), null, { pad: 1, relu: true });
    const x0 = conv(g.input('x', [1, 16, 8, 8]), 'w0');
    const low1 = g.input('l1', [1, 32, 4, 4]), low2 = g.input('l2', [1, 32, 4, 4]);
    const y1 = g.concatUp([x0], low1);
    const x1 = oneConv ? conv(y1, 'w1') : conv(conv(y1, 'w1'), 'w1b');  // written over y1's up-sampling in a shared row
    const y2 = g.concatUp([x0, x1], low2);
    let out = conv(y2, 'w3');
    if (lateRead) out = g.add(out, conv(y1, 'w2'));  // y1 read after x1 was written
    return { g, out, ids: [x0, x1, y1, y2].map((v) => `${v.node.id}:0`) };
  };
  const safe = build(false);
  const rows = concatRows(safe.g.nodes, new Set([`${safe.out.node.id}:0`]), blocked16);
  assert.deepEqual(rows.map((r) => r.shape), [[1, 64, 8, 8]]);
  assert.deepEqual(safe.ids.map((k) => rows[0].members.get(k)), [0, 16, 0, 0]);
  // y2 may not join; x0 would then be a view that y2 copies from: no row at all
  for (const late of [build(true), build(false, true)])  // also: one conv reading y1 while writing x1 over it
    assert.equal(concatRows(late.g.nodes, new Set([`${late.out.node.id}:0`]), blocked16).length, 0);
});

const avail = nativeAvailable();
const skip = avail.ok ? false : `native addon not built (${avail.reason}): run node scripts/build-native.mjs`;
const b = bf16Support();

// unetpp8: row 0 has 8 channels (no views), rows 2-3 are shared: row 1's dense concats read
// row 2's nodes as strided up-sampling inputs.
for (const precision of ['fp32', 'bf16'] as const)
  for (const arch of ['unetpp', 'unet', 'unetpp8'] as const)
    test(`native ${precision} ${arch}: in-place concatenation gives the very same probabilities as copies`, { skip: skip || (precision === 'bf16' && !b.ok ? b.reason : false) }, () => {
      const model = arch === 'unetpp8' ? small('unetpp', [8, 16, 32, 64, 128]) : small(arch);
      const x = new Float32Array(2 * 3 * 32 * 32).map((_, i) => Math.sin(i * 0.37));
      const run = (inPlace: boolean) => {
        const { g, y } = inferGraph(model);
        const plan = new Plan(g, new NativeBackend({ precision, layout: 'blocked', viewMin: 0 }), model.params, [y], { concatInPlace: inPlace });
        const strided = [...(plan as any).tensors.values()].filter((t: any) => t.imageStride).length;
        return { out: plan.runToHost({ x })[0], strided };
      };
      const a = run(false), v = run(true);
      assert.equal(a.strided, 0);
      assert.ok(v.strided >= { unetpp: 20, unet: 8, unetpp8: 5 }[arch], `views in use (${v.strided})`);
      assert.deepEqual(v.out, a.out);
    });

test('native: strided views that do not fit are refused with the argument named', { skip }, () => {
  const A = loadAddon();
  const x = A.alignedArray(0, 2 * 32 * 4 * 4 + 16 * 16), y = A.alignedArray(0, 2 * 16 * 4 * 4), w = new Float32Array(16 * 32 * 9);
  const geo = { n: 2, c: 32, o: 16, size: [4, 4], kernel: [3, 3], stride: 1, pad: 1, layout: 'blocked' as const };
  assert.throws(() => A.convFwd(x.subarray(0, 2 * 32 * 16), w, null, y, geo, false, 16 * 16, 0), /convFwd: x's image stride 256 is below its image size 512/);
  assert.throws(() => A.convFwd(x, w, null, y, geo, false, 32 * 16 + 128, 0), /convFwd: x \(argument 0\) has 1280 values, expected 1152/);
  assert.throws(() => A.maxpoolFwd(x, y, 4, 16, [4, 4], 3, 600), /maxpoolFwd: groups must divide the number of images, got 3/);
  assert.throws(() => A.concatUpFwd([], y.subarray(0, 128), x, 2, 16, [2, 2], false, true, 'blocked', 8, 0, 0),
    /concatUpFwd: in-place or strided concat_up needs the blocked layout/);
  assert.throws(() => A.concatUpFwd([], y.subarray(0, 128), x, 2, 16, [2, 2], false, true, 'nchw' as 'nhwc'),
    /concatUpFwd: argument 8 \(layout\) must be the activation layout 'nhwc' or 'blocked'/);
});
