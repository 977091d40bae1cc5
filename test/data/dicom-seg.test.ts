// DICOM SEG output (issue 17 part 2): a prediction on a DICOM series written as SEG that
// references the series; dcmdump reads it; the frames hold the right voxels at the right places.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import dicomParser from 'dicom-parser';
import { readDicomFolder } from '../../src/data/formats/dicom.js';
import { writeDicomSeg, writeDicomSegForVolume } from '../../src/data/formats/dicom-seg.js';
import { BRATS_REGIONS } from '../../src/data/labels.js';
import { tempDir } from './util.js';
import { writeSeries } from './dicom-writer.js';

const hasDcmdump = spawnSync('dcmdump', ['--version']).error === undefined;

test('a BraTS-style prediction on a series as DICOM SEG: overlapping segments, referenced series, frames at the slice positions', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeSeries(join(dir, 'ct'), {
      uid: '1.2.826.0.1.3680043.2.1125.77', dims: [8, 6, 5], f: (x, y, z) => x + y + z, origin: [10, -20, 30],
      row: [1, 0, 0], col: [0, 1, 0], spacing: [0.5, 0.5, 2],
    });
    const [v] = await readDicomFolder(join(dir, 'ct'));
    // label 2 (oedema) on slices 1-2, label 4 (enhancing) on slice 2 only
    const labels = new Uint8Array(8 * 6 * 5);
    for (let z = 1; z <= 2; z++) for (let y = 1; y < 4; y++) for (let x = 2; x < 6; x++) labels[(z * 6 + y) * 8 + x] = z === 2 && x === 3 ? 4 : 2;
    const out = join(dir, 'seg.dcm');
    await writeDicomSeg(out, labels, BRATS_REGIONS, v);
    const ds = dicomParser.parseDicom(new Uint8Array(await readFile(out)));
    assert.equal(ds.string('x00080060'), 'SEG');
    assert.equal(ds.string('x00080016'), '1.2.840.10008.5.1.4.1.1.66.4');
    // whole tumour: 2 frames; tumour core: 1 (label 4 is in it); enhancing: 1
    assert.equal(ds.intString('x00280008'), 4);
    const segs = ds.elements.x00620002.items!.map((i) => i.dataSet!.string('x00620005'));
    assert.deepEqual(segs, ['whole tumour', 'tumour core', 'enhancing tumour']);
    const refSeries = ds.elements.x00081115.items![0].dataSet!;
    assert.equal(refSeries.string('x0020000e'), v.seriesUid);
    const frames = ds.elements.x52009230.items!.map((f) => {
      const pos = f.dataSet!.elements.x00209113.items![0].dataSet!;
      const segNo = f.dataSet!.elements.x0062000a.items![0].dataSet!.uint16('x0062000b');
      return [segNo, [0, 1, 2].map((i) => pos.floatString('x00200032', i))];
    });
    assert.deepEqual(frames, [[1, [10, -20, 32]], [1, [10, -20, 34]], [2, [10, -20, 34]], [3, [10, -20, 34]]]);
    // each frame derives from the slice at its position (the writer numbers instances out of order: z=1 is 3, z=2 is 5)
    const source = ds.elements.x52009230.items!.map((f) => f.dataSet!.elements.x00089124.items![0].dataSet!.elements.x00082112.items![0].dataSet!.string('x00081155'));
    assert.deepEqual(source, ['.3', '.5', '.5', '.5'].map((s) => v.seriesUid + s));
    // bit-packed frames, 48 pixels each: frame 0 (whole tumour, z = 1) has 12 voxels set
    const px = ds.elements.x7fe00010;
    const bits = (frame: number) => { let n = 0; for (let i = 0; i < 48; i++) { const b = frame * 48 + i; n += (ds.byteArray[px.dataOffset + (b >> 3)] >> (b & 7)) & 1; } return n; };
    assert.deepEqual([0, 1, 2, 3].map(bits), [12, 12, 3, 3]);
    // the same labels stored with rows flipped (as on dcm2niix's grid) give the same SEG frames
    const flipped = Float32Array.from({ length: labels.length }, (_, i) => { const x = i % 8, y = Math.floor(i / 8) % 6, z = Math.floor(i / 48); return labels[(z * 6 + (5 - y)) * 8 + x]; });
    const a = v.affine;
    const fa = a.map((row) => [row[0], -row[1], row[2], row[3] + 5 * row[1]]);
    await writeDicomSegForVolume(join(dir, 'seg2.dcm'), { dims: v.dims, spacing: v.spacing, affine: fa, data: flipped }, BRATS_REGIONS, v);
    const ds2 = dicomParser.parseDicom(new Uint8Array(await readFile(join(dir, 'seg2.dcm'))));
    const px2 = ds2.elements.x7fe00010;
    assert.deepEqual(Array.from(ds2.byteArray.subarray(px2.dataOffset, px2.dataOffset + px2.length)), Array.from(ds.byteArray.subarray(px.dataOffset, px.dataOffset + px.length)));
    if (hasDcmdump) {
      const r = spawnSync('dcmdump', [out], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /\(0008,0060\) CS \[SEG\]/);
      assert.match(r.stdout, /SegmentLabel.*|\(0062,0005\) LO \[enhancing tumour\]/);
    }
  } finally {
    await cleanup();
  }
});
