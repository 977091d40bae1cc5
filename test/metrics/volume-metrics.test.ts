// Volume metrics (issue 17 part 5): N-D distance transform, HD95 and average symmetric surface
// distance in mm, per class, against brute-force computations on small volumes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { edtSquared, boundary, hd95, assd } from '../../src/metrics/distance.js';
import { percentile } from '../../src/data/percentile.js';
import { labelMapScores, multiClassScores, perClassRow, binaryScores } from '../../src/metrics/segmentation.js';
import { summarize, rowsToCsv, summaryToMarkdown } from '../../src/metrics/summary.js';
import { Rng } from '../../src/data/rng.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNifti, writeNifti } from '../../src/data/formats/nifti.js';
import { scoreLabelFiles, scoreLabelVolumes } from '../../src/metrics/volume.js';
import { BRATS_REGIONS, toLabelMap } from '../../src/data/labels.js';
import { sharedData, skipUnless } from '../data/util.js';

const DIMS = [7, 6, 5]; // x, y, z
const SP = [0.8, 1.1, 2.5];
const N = DIMS[0] * DIMS[1] * DIMS[2];
const xyz = (i: number) => [i % DIMS[0], Math.floor(i / DIMS[0]) % DIMS[1], Math.floor(i / (DIMS[0] * DIMS[1]))];
const dist = (i: number, j: number) => Math.hypot(...xyz(i).map((v, a) => (v - xyz(j)[a]) * SP[a]));

function randomMask(rng: Rng, p: number): Uint8Array {
  return Uint8Array.from({ length: N }, () => (rng.bool(p) ? 1 : 0));
}

/** Surface by definition: in the set, and a face neighbour outside it or outside the volume. */
function bruteBoundary(m: Uint8Array): Uint8Array {
  return Uint8Array.from(m, (v, i) => {
    if (!v) return 0;
    const c = xyz(i);
    for (let a = 0; a < 3; a++) for (const s of [-1, 1]) {
      const q = [...c];
      q[a] += s;
      if (q[a] < 0 || q[a] >= DIMS[a]) return 1;
      if (!m[q[0] + DIMS[0] * (q[1] + DIMS[1] * q[2])]) return 1;
    }
    return 0;
  });
}

function bruteDirected(a: Uint8Array, b: Uint8Array): number[] {
  const ba = bruteBoundary(a), bb = bruteBoundary(b);
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    if (!ba[i]) continue;
    let best = Infinity;
    for (let j = 0; j < N; j++) if (bb[j]) best = Math.min(best, dist(i, j));
    out.push(best);
  }
  return out;
}

test('N-D exact EDT equals brute force on a 3D volume with anisotropic spacing', () => {
  const rng = new Rng(1);
  for (let trial = 0; trial < 5; trial++) {
    const f = randomMask(rng, 0.05 + 0.1 * trial);
    const d = edtSquared(f, DIMS, SP);
    for (let i = 0; i < N; i++) {
      let best = Infinity;
      for (let j = 0; j < N; j++) if (f[j]) best = Math.min(best, dist(i, j) ** 2);
      if (best === Infinity) continue;
      assert.ok(Math.abs(d[i] - best) < 1e-9, `voxel ${i}: ${d[i]} vs ${best}`);
    }
  }
});

test('3D boundary, HD95 and ASSD (mm) equal brute force', () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 6; trial++) {
    const a = randomMask(rng, 0.3 + 0.05 * trial);
    const b = randomMask(rng, 0.4);
    assert.deepEqual(Array.from(boundary(a, DIMS)), Array.from(bruteBoundary(a)));
    const ab = bruteDirected(a, b), ba = bruteDirected(b, a);
    const hd = percentile([...ab, ...ba], 95);
    const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
    assert.ok(Math.abs(hd95(a, b, DIMS, SP)! - hd) < 1e-9);
    assert.ok(Math.abs(assd(a, b, DIMS, SP)! - (mean(ab) + mean(ba)) / 2) < 1e-9);
    const s = binaryScores(a, b, DIMS, { spacing: SP, asd: true });
    assert.ok(Math.abs(s.hd95! - hd) < 1e-9 && Math.abs(s.asd! - (mean(ab) + mean(ba)) / 2) < 1e-9);
  }
  assert.equal(hd95(new Uint8Array(N), randomMask(rng, 0.5), DIMS), undefined);
});

test('a cube shifted by 2 slices along z: HD95 = 2 x z spacing; Dice, IoU, precision, recall by counting', () => {
  const [X, Y, Z] = [10, 10, 12];
  const cube = (z0: number) => Uint8Array.from({ length: X * Y * Z }, (_, i) => {
    const x = i % X, y = Math.floor(i / X) % Y, z = Math.floor(i / (X * Y));
    return x >= 2 && x < 7 && y >= 2 && y < 7 && z >= z0 && z < z0 + 5 ? 1 : 0;
  });
  const s = binaryScores(cube(2), cube(4), [X, Y, Z], { spacing: [1, 1, 3], asd: true });
  assert.equal(s.dice, (2 * 75) / 250);
  assert.equal(s.iou, 75 / 175);
  assert.equal(s.precision, 0.6);
  assert.equal(s.recall, 0.6);
  assert.equal(s.hd95, 6);
  assert.ok(s.asd! > 0 && s.asd! < 6);
  // 2D results keep their shape: no asd key unless asked
  assert.equal('asd' in binaryScores(new Uint8Array(4), new Uint8Array(4), [2, 2]), false);
});

test('per class on volumes: label values and overlapping regions, rows and summaries', () => {
  const dims = [4, 3, 2];
  const truth = Float32Array.from([0, 1, 1, 2, 4, 4, 0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const pred = Float32Array.from([0, 1, 2, 2, 4, 0, 0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
  const s = labelMapScores(pred, truth, [1, 2, 4], dims, { spacing: [1, 1, 2], asd: true });
  assert.deepEqual(s.perClass.map((c) => c.dice), [2 / 3, 6 / 7, 1 / 2]);
  assert.ok(Math.abs(s.mean.dice - (2 / 3 + 6 / 7 + 1 / 2) / 3) < 1e-12);
  // sigmoid regions [K, Z, Y, X]: region 0 = any tumour, region 1 = value 4
  const n = 24;
  const planes = (m: Float32Array) => Float32Array.from({ length: 2 * n }, (_, i) => (i < n ? (m[i] > 0 ? 1 : 0) : m[i - n] === 4 ? 1 : 0));
  const r = multiClassScores(planes(pred), planes(truth), 2, dims, { spacing: [1, 1, 2] });
  assert.equal(r.perClass[0].dice, (2 * 6) / (7 + 7));
  const rows = [perClassRow('case1', s, ['necrosis', 'oedema', 'enhancing']), perClassRow('case2', s, ['necrosis', 'oedema', 'enhancing'])];
  assert.equal(rows[0].values['dice:oedema'], 6 / 7);
  const csv = rowsToCsv(rows, ['dice', 'dice:oedema', 'hd95:enhancing', 'asd']);
  assert.match(csv, /^id,dice,dice:oedema,hd95:enhancing,asd\ncase1,/);
  const sum = summarize(rows, ['dice:necrosis', 'hd95:enhancing']);
  assert.equal(sum[0].n, 2);
  assert.match(summaryToMarkdown(sum), /\| dice:necrosis \| 0\.6667 \| 0\.0000 \| 2 \| 0 \|/);
});

test('label files scored per BraTS region in mm; a prediction with flipped rows still lines up', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unetpp-metrics-'));
  try {
    const [X, Y, Z] = [12, 10, 8];
    const lab = (shift: number) => Float32Array.from({ length: X * Y * Z }, (_, i) => {
      const x = i % X, y = Math.floor(i / X) % Y, z = Math.floor(i / (X * Y));
      const r = Math.hypot(x - 6 - shift, y - 5, z - 4);
      return r <= 1.5 ? 4 : r <= 3 ? 2 : 0;
    });
    const affine = [[1, 0, 0, 0], [0, 1.5, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]];
    await writeNifti(join(dir, 'truth.nii.gz'), { dims: [X, Y, Z], spacing: [1, 1.5, 2], affine, data: lab(0) });
    // the prediction, shifted by one voxel in x, stored with its rows flipped
    const shifted = lab(1);
    const flipped = Float32Array.from(shifted, (_, i) => { const x = i % X, y = Math.floor(i / X) % Y, z = Math.floor(i / (X * Y)); return shifted[(z * Y + (Y - 1 - y)) * X + x]; });
    await writeNifti(join(dir, 'pred.nii.gz'), { dims: [X, Y, Z], spacing: [1, 1.5, 2], affine: [[1, 0, 0, 0], [0, -1.5, 0, 13.5], [0, 0, 2, 0], [0, 0, 0, 1]], data: flipped });
    const { scores, row } = await scoreLabelFiles(join(dir, 'pred.nii.gz'), join(dir, 'truth.nii.gz'), BRATS_REGIONS, 'case1');
    const direct = scoreLabelVolumes(Uint8Array.from(shifted), Uint8Array.from(lab(0)), BRATS_REGIONS, [X, Y, Z], [1, 1.5, 2]);
    assert.deepEqual(scores, direct);
    assert.equal(scores.perClass[0].hd95, 1); // shifted by one voxel of 1 mm in x
    assert.ok(scores.perClass[2].dice < scores.perClass[0].dice);
    assert.ok('dice:enhancing tumour' in row.values && 'asd:whole tumour' in row.values);
    assert.equal(row.id, 'case1');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('real data: a BraTS label scored against itself and against a one-voxel shift, per region in mm', { skip: skipUnless(join(sharedData, 'brats2015-6cases')) }, async () => {
  const path = join(sharedData, 'brats2015-6cases', 'labels', 'brats_pat0001_test.nii.gz');
  const { scores } = await scoreLabelFiles(path, path, BRATS_REGIONS, 'pat0001');
  assert.ok(scores.perClass.every((c) => c.dice === 1 && c.hd95 === 0 && c.asd === 0));
  const v = await readNifti(path);
  const t = toLabelMap(v.data, path, v.dims);
  const shifted = new Uint8Array(t.length);
  shifted.set(t.subarray(240 * 240), 0); // one slice (1 mm) down in z
  const s = scoreLabelVolumes(shifted, t, BRATS_REGIONS, v.dims, v.spacing);
  assert.ok(s.perClass.every((c) => c.hd95 === 1 && c.dice > 0.5 && c.dice < 1), JSON.stringify(s.perClass));
});
