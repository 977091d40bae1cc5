// DICOM series -> volumes (issue 17 part 2), checked against Debian's dcm2niix on the same files:
// same voxels at the same world positions, same spacing and orientation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listDicomSeries, readDicomFolder } from '../../src/data/formats/dicom.js';
import { readNifti, writeNifti } from '../../src/data/formats/nifti.js';
import { scanVolumes } from '../../src/data/volumes/volume-layout.js';
import { loadCase } from '../../src/data/volumes/volume-load.js';
import { alignToGrid } from '../../src/data/volumes/reorient.js';
import { tempDir } from './util.js';
import { writeSeries, type SeriesSpec } from './dicom-writer.js';
import { apply, compareWithDcm2niix, hasDcm2niix, skipNoDcm2niix } from './dicom-check.js';

const th = (20 * Math.PI) / 180;
/** An oblique series: rows turned 20 degrees about z, then tilted; anisotropic spacing; rescaled. */
const oblique = (uid: string, over: Partial<SeriesSpec> = {}): SeriesSpec => ({
  uid, dims: [9, 7, 6], f: (x, y, z) => x + 10 * y + 100 * z - 200,
  origin: [-12.5, 30, 4], row: [Math.cos(th), Math.sin(th), 0], col: [-Math.sin(th) * 0.8, Math.cos(th) * 0.8, 0.6],
  spacing: [0.7, 0.9, 2.5], slope: 2, intercept: -1024, ...over,
});

test('a series reads as a volume: sorted by position, rescaled, spacing and RAS affine from the headers', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeSeries(join(dir, 'a'), oblique('1.2.3.4.1'));
    await writeSeries(join(dir, 'b'), { ...oblique('1.2.3.4.2'), dims: [4, 5, 3], f: () => 7, transferSyntax: '1.2.840.10008.1.2' });
    await writeFile(join(dir, 'README.txt'), 'not dicom');
    const series = await listDicomSeries(dir);
    assert.deepEqual(series.map((s) => [s.uid, s.slices.length]).sort(), [['1.2.3.4.1', 6], ['1.2.3.4.2', 3]]);
    const [v] = await readDicomFolder(dir, '1.2.3.4.1');
    assert.deepEqual(v.dims, [9, 7, 6]);
    v.spacing.forEach((s, i) => assert.ok(Math.abs(s - [0.7, 0.9, 2.5][i]) < 1e-6));
    const at = (x: number, y: number, z: number) => v.data[z * 63 + y * 9 + x];
    assert.equal(at(3, 2, 4), (3 + 20 + 400 - 200) * 2 - 1024);
    // world position of voxel (x, y, z): origin + row*x*dx + col*y*dy + normal*z*dz, in RAS
    const w = apply(v.affine, [3, 2, 4]);
    const s = oblique('');
    const n = [s.row[1] * s.col[2] - s.row[2] * s.col[1], s.row[2] * s.col[0] - s.row[0] * s.col[2], s.row[0] * s.col[1] - s.row[1] * s.col[0]];
    const lps = [0, 1, 2].map((a) => s.origin[a] + s.row[a] * 3 * 0.7 + s.col[a] * 2 * 0.9 + n[a] * 4 * 2.5);
    assert.ok(Math.hypot(w[0] + lps[0], w[1] + lps[1], w[2] - lps[2]) < 1e-4);
    const [implicit] = await readDicomFolder(dir, '1.2.3.4.2');
    assert.ok(implicit.data.every((x) => x === 7 * 2 - 1024));
  } finally {
    await cleanup();
  }
});

test('same voxels, spacing and orientation as dcm2niix', { skip: skipNoDcm2niix }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeSeries(join(dir, 'dcm'), oblique('1.2.3.9'));
    const { ours: v, ref } = await compareWithDcm2niix(join(dir, 'dcm'), dir);
    // a label made on dcm2niix's output (rows flipped) trains with the DICOM series as its image
    const label = { ...ref, data: ref.data.map((x) => (x > 0 ? 1 : 0)) };
    await mkdir(join(dir, 'ds', 'labels'), { recursive: true });
    await writeNifti(join(dir, 'ds', 'labels', 'case1.nii.gz'), label);
    await writeSeries(join(dir, 'ds', 'images', 'case1'), oblique('1.2.3.9'));
    const ds = await scanVolumes(join(dir, 'ds'), { splitOf: () => 'train' });
    assert.deepEqual(ds.cases.map((c) => c.id), ['case1']);
    const c = await loadCase(ds.cases[0], { normalize: 'none' });
    assert.deepEqual(Array.from(c.labels!), Array.from(v.data, (x) => (x > 0 ? 1 : 0)));
    // written as NIfTI, our volume lands where dcm2niix's does
    await writeNifti(join(dir, 'ours.nii'), v, { datatype: 'int16' });
    const back = await readNifti(join(dir, 'ours.nii'));
    assert.ok(back.affine.flat().every((a, i) => Math.abs(a - v.affine.flat()[i]) < 1e-4));
  } finally {
    await cleanup();
  }
});

test('alignToGrid: flipped and permuted axes of the same grid are reordered; other grids are not', () => {
  const dims = [3, 2, 2];
  const data = Float32Array.from({ length: 12 }, (_, i) => i);
  const to = { dims, affine: [[1, 0, 0, 5], [0, 2, 0, 0], [0, 0, 3, 0], [0, 0, 0, 1]] };
  // y flipped: index j in `from` is 1 - j in `to`; origin moves to the last row
  const flippedData = Float32Array.from({ length: 12 }, (_, i) => { const x = i % 3, y = Math.floor(i / 3) % 2, z = Math.floor(i / 6); return data[z * 6 + (1 - y) * 3 + x]; });
  const from = { dims, affine: [[1, 0, 0, 5], [0, -2, 0, 2], [0, 0, 3, 0], [0, 0, 0, 1]] };
  assert.deepEqual(Array.from(alignToGrid(flippedData, from, to)!), Array.from(data));
  // x and z swapped
  const swapped = Float32Array.from({ length: 12 }, (_, i) => { const a = i % 2, y = Math.floor(i / 2) % 2, c = Math.floor(i / 4); return data[a * 6 + y * 3 + c]; });
  const sw = { dims: [2, 2, 3], affine: [[0, 0, 1, 5], [0, 2, 0, 0], [3, 0, 0, 0], [0, 0, 0, 1]] };
  assert.deepEqual(Array.from(alignToGrid(swapped, sw, to)!), Array.from(data));
  assert.equal(alignToGrid(data, { dims, affine: [[1, 0, 0, 5.5], [0, 2, 0, 0], [0, 0, 3, 0], [0, 0, 0, 1]] }, to), null);
  assert.equal(alignToGrid(data, { dims, affine: [[1, 0, 0, 5], [0, 2, 0, 0], [0, 0, 1.5, 0], [0, 0, 0, 1]] }, to), null);
});

test('bad series: a missing slice, uneven spacing, an unsupported transfer syntax, one line naming the file', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const expect = async (name: string, spec: Partial<SeriesSpec>, re: RegExp) => {
      await writeSeries(join(dir, name), oblique(`1.2.3.${name.length}`, spec));
      await assert.rejects(readDicomFolder(join(dir, name)), (e: Error) => { assert.match(e.message, re); assert.ok(!e.message.includes('\n')); return true; });
    };
    await expect('missing', { skip: [3] }, /missing\/IM\d+_4\.dcm: 1 slice missing before it \(gap 5\.000 mm after .*_2\.dcm, slices are 2\.500 mm apart\): copy the whole series/);
    await expect('uneven', { jitter: { 4: 0.7 } }, /uneven\/IM\d+_4\.dcm: uneven slice spacing: 3\.200 mm after .*_3\.dcm, 2\.500 mm elsewhere/);
    await expect('jpegxl', { transferSyntax: '1.2.840.10008.1.2.4.110' }, /jpegxl\/IM\d+_\d\.dcm: transfer syntax JPEG XL lossless \(1\.2\.840\.10008\.1\.2\.4\.110\) is not supported: decompress the series first \(gdcmconv --raw in\.dcm out\.dcm, or dcmtk's dcmdjpeg \/ dcmdjpls \/ dcmdrle\) or convert it with dcm2niix$/);
    await expect('madeup', { transferSyntax: '1.2.3.4.5' }, /madeup\/IM\d+_\d\.dcm: transfer syntax unknown \(1\.2\.3\.4\.5\) is not supported: decompress the series first/);
    // a compressed syntax over native (not encapsulated) pixel data
    await expect('jpeg2000', { transferSyntax: '1.2.840.10008.1.2.4.90' }, /jpeg2000\/IM\d+_\d\.dcm: transfer syntax JPEG 2000 lossless \(1\.2\.840\.10008\.1\.2\.4\.90\) needs encapsulated pixel data \(fragments\), the file has none: it is damaged/);
    await assert.rejects(readDicomFolder(join(dir, 'nothing-here')), /no such file|ENOENT/);
  } finally {
    await cleanup();
  }
});

const pydicom = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
test('real sample files (python3-pydicom): CT_small and MR_small read with their rescale and geometry', { skip: existsSync(pydicom) ? false : `${pydicom} not found: apt-get install -y python3-pydicom` }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (const f of ['CT_small.dcm', 'MR_small.dcm', 'MR_small_bigendian.dcm']) {
      const sub = join(dir, f);
      await mkdir(sub);
      await writeFile(join(sub, f), await readFile(join(pydicom, f)));
      const [v] = await readDicomFolder(sub);
      assert.deepEqual(v.dims.slice(0, 2), f.startsWith('CT') ? [128, 128] : [64, 64]);
      assert.ok(v.data.some((x) => x !== 0));
      if (f === 'MR_small_bigendian.dcm') {
        const [le] = await readDicomFolder(join(dir, 'MR_small.dcm'));
        assert.deepEqual(Array.from(v.data), Array.from(le.data));
      }
    }
    const ct = (await readDicomFolder(join(dir, 'CT_small.dcm')))[0];
    assert.equal(ct.modality, 'CT');
    assert.ok(Math.min(...ct.data) < -100, 'CT rescale intercept applied (Hounsfield units)');
    if (hasDcm2niix) for (const f of ['CT_small.dcm', 'MR_small.dcm']) await compareWithDcm2niix(join(dir, f), join(dir, f + '-nii'));
  } finally {
    await cleanup();
  }
});

test('written NIfTI carries the affine as a qform too (oblique, left-handed), and only the sform when sheared', async () => {
  const { qformFromAffine } = await import('../../src/data/formats/qform.js');
  const nifti = await import('nifti-reader-js');
  const { dir, cleanup } = await tempDir();
  try {
    await writeSeries(join(dir, 'dcm'), oblique('1.2.3.10'));
    const [v] = await readDicomFolder(join(dir, 'dcm'));
    const affines = [v.affine, [[-0.7, 0, 0, 3], [0, 0.9, 0, -4], [0, 0, 2.5, 5], [0, 0, 0, 1]], [[0, 0, 1.5, 1], [0, -1, 0, 2], [-2, 0, 0, 3], [0, 0, 0, 1]]];
    for (const affine of affines) {
      const sp = [0, 1, 2].map((j) => Math.hypot(affine[0][j], affine[1][j], affine[2][j])) as [number, number, number];
      await writeNifti(join(dir, 'q.nii'), { dims: [2, 2, 2], spacing: sp, affine, data: new Float32Array(8) });
      const buf = await readFile(join(dir, 'q.nii'));
      const h = nifti.readHeader(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer) as InstanceType<typeof nifti.NIFTI1>;
      assert.equal(h.qform_code, 1);
      const q = h.convertNiftiQFormToNiftiSForm(h.quatern_b, h.quatern_c, h.quatern_d, h.qoffset_x, h.qoffset_y, h.qoffset_z, h.pixDims[1], h.pixDims[2], h.pixDims[3], h.pixDims[0]);
      for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) assert.ok(Math.abs(q[r][c] - affine[r][c]) < 1e-4, `${r},${c}: ${q[r][c]} vs ${affine[r][c]}`);
    }
    assert.equal(qformFromAffine([[1, 0.3, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), null);
  } finally {
    await cleanup();
  }
});
