// Connected components of label maps (2D and 3D, face and full connectivity) against known
// shapes and a plain flood fill; keepLargest / removeSmall per value and per set of values;
// the rules as a checkpoint records them (applyPostprocess).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectedComponents, keepLargest, removeSmall, type Connectivity } from '../../src/infer/components.js';
import { applyPostprocess, describeRule } from '../../src/infer/postprocess.js';

/** Rows of digits, top row first: a 2D map [H, W] with dims [W, H]. */
function map2d(rows: string[]): { labels: Uint8Array; dims: number[] } {
  return { labels: Uint8Array.from(rows.join(''), (ch) => Number(ch)), dims: [rows[0].length, rows.length] };
}

/** Component count and sorted sizes by a queue-based flood fill over explicit coordinates. */
function floodFill(labels: Uint8Array, dims: number[], inSet: (v: number) => boolean, conn: Connectivity): number[] {
  const rank = dims.length, n = labels.length, seen = new Uint8Array(n), sizes: number[] = [];
  const coordOf = (i: number) => dims.map((_, a) => Math.floor(i / dims.slice(0, a).reduce((x, y) => x * y, 1)) % dims[a]);
  const indexOf = (c: number[]) => c.reduce((s, v, a) => s + v * dims.slice(0, a).reduce((x, y) => x * y, 1), 0);
  const steps: number[][] = [];
  for (let code = 0; code < 3 ** rank; code++) {
    const d = dims.map((_, a) => (Math.floor(code / 3 ** a) % 3) - 1);
    const nz = d.filter((x) => x !== 0).length;
    if (nz && (conn === 'full' || nz === 1)) steps.push(d);
  }
  for (let s = 0; s < n; s++) {
    if (seen[s] || !inSet(labels[s])) continue;
    let size = 0;
    const queue = [s];
    seen[s] = 1;
    while (queue.length) {
      const c = coordOf(queue.pop()!);
      size++;
      for (const d of steps) {
        const nc = c.map((v, a) => v + d[a]);
        if (nc.some((v, a) => v < 0 || v >= dims[a])) continue;
        const j = indexOf(nc);
        if (!seen[j] && inSet(labels[j])) { seen[j] = 1; queue.push(j); }
      }
    }
    sizes.push(size);
  }
  return sizes.sort((a, b) => a - b);
}

const sortedSizes = (s: Int32Array) => [...s.subarray(1)].sort((a, b) => a - b);

test('2D: two blobs; diagonal neighbours are apart under face connectivity, together under full', () => {
  const { labels, dims } = map2d([
    '11000',
    '11000',
    '00100',
    '00011',
    '00011',
  ]);
  const face = connectedComponents(labels, dims);
  assert.equal(face.count, 3);
  assert.deepEqual([...face.sizes], [0, 4, 1, 4]);
  assert.deepEqual([...face.ids], [1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 3, 3]);
  const full = connectedComponents(labels, dims, { connectivity: 'full' });
  assert.equal(full.count, 1);
  assert.deepEqual([...full.sizes], [0, 9]);
  // a U shape joins two arms met only at the bottom: union of labels found earlier
  const u = map2d(['101', '101', '111']);
  assert.equal(connectedComponents(u.labels, u.dims).count, 1);
  // a staircase that merges several provisional labels into one, smallest root wins
  const w = map2d(['10101', '11111']);
  const c = connectedComponents(w.labels, w.dims);
  assert.equal(c.count, 1);
  assert.equal(c.sizes[1], 8);
});

test('3D: blobs in different slices, touching only at an edge or a corner; dims [X, Y, Z] with x fastest', () => {
  const [X, Y, Z] = [4, 3, 3];
  const labels = new Uint8Array(X * Y * Z);
  const at = (x: number, y: number, z: number) => x + X * (y + Y * z);
  labels[at(0, 0, 0)] = 1; labels[at(1, 0, 0)] = 1;     // a 2-voxel bar in z = 0
  labels[at(1, 0, 1)] = 1;                              // face neighbour of it in z = 1: same component
  labels[at(2, 1, 2)] = 1;                              // only a corner touches (1, 0, 1)
  labels[at(3, 2, 0)] = 2;                              // another value, alone
  const face = connectedComponents(labels, [X, Y, Z]);
  assert.equal(face.count, 3);
  assert.deepEqual(sortedSizes(face.sizes), [1, 1, 3]);
  assert.equal(connectedComponents(labels, [X, Y, Z], { connectivity: 'full' }).count, 2); // the corner joins
  // only value 2, only value 1
  assert.equal(connectedComponents(labels, [X, Y, Z], { values: [2] }).count, 1);
  assert.deepEqual(sortedSizes(connectedComponents(labels, [X, Y, Z], { values: [1] }).sizes), [1, 3]);
  // the axis order matters: the same bytes read as [Z, Y, X] dims are another shape
  const bar = new Uint8Array(X * Y * Z);
  bar[at(3, 0, 0)] = 1; bar[at(0, 1, 0)] = 1;           // consecutive in memory, not neighbours in x
  assert.equal(connectedComponents(bar, [X, Y, Z]).count, 2);
});

test('edge cases: a 1-voxel volume, an empty map, a full map, a map of zero voxels, a size mismatch', () => {
  assert.deepEqual({ ...connectedComponents(Uint8Array.of(1), [1, 1, 1]), ids: [...connectedComponents(Uint8Array.of(1), [1, 1, 1]).ids] },
    { ids: [1], count: 1, sizes: Int32Array.of(0, 1) });
  assert.equal(connectedComponents(Uint8Array.of(0), [1, 1, 1]).count, 0);
  const empty = connectedComponents(new Uint8Array(60), [5, 4, 3]);
  assert.equal(empty.count, 0);
  assert.ok(empty.ids.every((v) => v === 0));
  const full = connectedComponents(new Uint8Array(60).fill(3), [5, 4, 3]);
  assert.equal(full.count, 1);
  assert.equal(full.sizes[1], 60);
  assert.equal(connectedComponents(new Uint8Array(0), [0, 0, 0]).count, 0);
  assert.throws(() => connectedComponents(new Uint8Array(5), [2, 2]), /5 voxels for dims 2x2/);
  assert.throws(() => connectedComponents(new Uint8Array(4), [2, 2], { values: [0] }), /label value 0/);
});

test('random maps (1D to 4D, face and full): the same components as a flood fill; many provisional labels', () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const shapes = [[50], [13, 11], [9, 7, 6], [5, 4, 3, 4], [64, 64]];
  for (const dims of shapes) {
    for (const density of [0.2, 0.45, 0.7]) {
      const n = dims.reduce((a, b) => a * b, 1);
      const labels = Uint8Array.from({ length: n }, () => (rand() < density ? 1 + Math.floor(rand() * 3) : 0));
      for (const conn of ['face', 'full'] as Connectivity[]) {
        for (const values of [undefined, [2], [1, 3]]) {
          const inSet = (v: number) => (values ? values.includes(v) : v !== 0);
          const c = connectedComponents(labels, dims, { values, connectivity: conn });
          const want = floodFill(labels, dims, inSet, conn);
          const where = `${dims.join('x')} density ${density} ${conn} values ${values ?? 'all'}`;
          assert.deepEqual(sortedSizes(c.sizes), want, where);
          // ids: 1..count in order of first appearance, every voxel of the set labelled
          let next = 1;
          for (let i = 0; i < n; i++) {
            assert.equal(c.ids[i] !== 0, inSet(labels[i]), where);
            if (c.ids[i] === next) next++;
            else assert.ok(c.ids[i] < next, where);
          }
        }
      }
    }
  }
});

test('keepLargest and removeSmall: per value, per set of values, removed voxels become background', () => {
  const { labels, dims } = map2d([
    '1100022',
    '1100022',
    '0000000',
    '2000101',
  ]);
  const a = labels.slice();
  assert.equal(keepLargest(a, dims, { values: [1] }), 2);   // the 4-voxel 1 stays, two single 1s go
  assert.deepEqual([...a], [...map2d(['1100022', '1100022', '0000000', '2000000']).labels]);
  const b = labels.slice();
  assert.equal(keepLargest(b, dims), 7);                    // the whole foreground: the first of two 4-voxel blobs
  assert.deepEqual([...b], [...map2d(['1100000', '1100000', '0000000', '0000000']).labels]);
  const c = labels.slice();
  assert.equal(removeSmall(c, dims, 2, { values: [2] }), 1); // the lone 2; the 1s untouched
  assert.deepEqual([...c], [...map2d(['1100022', '1100022', '0000000', '0000101']).labels]);
  const d = labels.slice();
  assert.equal(removeSmall(d, dims, 5), 11);                // every component is smaller than 5
  assert.ok(d.every((v) => v === 0));
  assert.equal(removeSmall(labels.slice(), dims, 1), 0);    // nothing is below one voxel
  assert.equal(keepLargest(new Uint8Array(28), dims), 0);   // empty: nothing to do
});

test('applyPostprocess: rules in order, in place; no rules, no change; describeRule', () => {
  const { labels, dims } = map2d(['1100022', '1100022', '0000000', '2000101']);
  const out = applyPostprocess(labels, dims, [{ values: [2], keep: 'min-size', minVoxels: 2 }, { values: [1, 2], keep: 'largest' }]);
  assert.equal(out, labels);
  assert.deepEqual([...labels], [...map2d(['1100000', '1100000', '0000000', '0000000']).labels]);
  const same = Uint8Array.of(1, 0, 1);
  assert.deepEqual([...applyPostprocess(same, [3], undefined)], [1, 0, 1]);
  assert.deepEqual([...applyPostprocess(same, [3], [])], [1, 0, 1]);
  assert.equal(describeRule({ values: [1, 2, 3, 5], keep: 'largest' }, 'foreground'), 'keep the largest component of foreground (1-3,5)');
  assert.equal(describeRule({ values: [4], keep: 'min-size', minVoxels: 30 }), 'drop components under 30 voxels of 4');
});
