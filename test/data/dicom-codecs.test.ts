// Compressed DICOM transfer syntaxes (issue 17 part 2). A small CT series is written uncompressed,
// then compressed by dcmtk and GDCM into each syntax: every lossless copy must read back with the
// same voxels and the same geometry, and dcm2niix must decode the same files to the same values;
// lossy copies must match the tools' own decompression. python3-pydicom's compressed samples
// read as their uncompressed twins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import dicomParser from 'dicom-parser';
import { listDicomSeries, readDicomFolder, type DicomVolume } from '../../src/data/formats/dicom.js';
import { decodeRle, parseDicomAsync, readFrame, type FrameFormat } from '../../src/data/formats/dicom-codecs.js';
import { readNifti } from '../../src/data/formats/nifti.js';
import { tempDir } from './util.js';
import { writeSeries, type SeriesSpec } from './dicom-writer.js';
import { compareWithDcm2niix, hasDcm2niix } from './dicom-check.js';

const found = (cmd: string) => spawnSync(cmd, ['--version']).error === undefined;
const hasDcmtk = found('dcmcjpeg') && found('dcmcrle') && found('dcmcjpls');
const hasGdcm = found('gdcmconv');
const skipDcmtk = hasDcmtk ? false : 'dcmtk not found: apt-get install -y dcmtk (scripts/setup.sh installs it)';
const skipGdcm = hasGdcm ? false : 'gdcmconv not found: apt-get install -y libgdcm-tools (scripts/setup.sh installs it)';
const pydicom = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const skipPydicom = existsSync(pydicom) ? false : `${pydicom} not found: apt-get install -y python3-pydicom (scripts/setup.sh installs it)`;

const TS = {
  rle: '1.2.840.10008.1.2.5', jpegLossless: '1.2.840.10008.1.2.4.57', jpegSv1: '1.2.840.10008.1.2.4.70', jpegBaseline: '1.2.840.10008.1.2.4.50', jpegExtended: '1.2.840.10008.1.2.4.51',
  jpegLs: '1.2.840.10008.1.2.4.80', jpegLsNear: '1.2.840.10008.1.2.4.81', j2kLossless: '1.2.840.10008.1.2.4.90', j2k: '1.2.840.10008.1.2.4.91',
  deflated: '1.2.840.10008.1.2.1.99',
};

/** A deterministic hash in [0, 1). */
const noise = (x: number, y: number, z: number) => {
  let h = Math.imul(x * 73856093 ^ y * 19349663 ^ z * 83492791, 0x9e3779b1);
  h ^= h >>> 15;
  return ((Math.imul(h, 0x85ebca6b) >>> 0) % 10007) / 10007;
};
/** CT-like content: air around an elliptic body, tissue with noise, a bone blob; oblique slices. */
function ct(uid: string, over: Partial<SeriesSpec> = {}, range: [number, number] = [-2000, 3000]): SeriesSpec {
  const [lo, hi] = range;
  const th = (15 * Math.PI) / 180;
  return {
    uid, dims: [64, 48, 5], origin: [-20, 15, 30], row: [Math.cos(th), Math.sin(th), 0], col: [-Math.sin(th), Math.cos(th), 0],
    spacing: [0.8, 0.8, 2.5], slope: 1, intercept: 0,
    f: (x, y, z) => {
      const inside = ((x - 32) / 28) ** 2 + ((y - 24) / 20) ** 2 < 1;
      const bone = (x - 40) ** 2 + (y - 20) ** 2 + (z - 2) ** 2 * 4 < 36;
      const v = !inside ? lo + 40 * noise(x, y, z) : bone ? hi - 500 * noise(x, y, z) : lo + 0.4 * (hi - lo) + 120 * noise(x, y, z) + 8 * x;
      return Math.round(Math.min(hi, Math.max(lo, v)));
    },
    ...over,
  };
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
}

/** Runs a file-to-file converter on every file of a folder into another folder (same names). */
async function convert(src: string, dst: string, cmd: string, opts: string[], outFirst = false): Promise<string> {
  await mkdir(dst, { recursive: true });
  for (const f of (await readdir(src)).sort()) run(cmd, outFirst ? [...opts, join(dst, f), join(src, f)] : [...opts, join(src, f), join(dst, f)]);
  return dst;
}

async function transferSyntaxes(dir: string): Promise<string[]> {
  return [...new Set((await listDicomSeries(dir)).flatMap((s) => s.slices.map((x) => x.transferSyntax)))];
}

/** The most pixel-data fragments of any file in the folder. */
async function maxFragments(dir: string): Promise<number> {
  let most = 0;
  for (const f of await readdir(dir)) {
    const ds = dicomParser.parseDicom(new Uint8Array(await readFile(join(dir, f))));
    most = Math.max(most, ds.elements.x7fe00010.fragments?.length ?? 0);
  }
  return most;
}

function sameGeometry(a: DicomVolume, b: DicomVolume): void {
  assert.deepEqual(a.dims, b.dims);
  assert.deepEqual(a.spacing, b.spacing);
  assert.deepEqual(a.affine, b.affine);
  assert.equal(a.seriesUid, b.seriesUid);
  assert.deepEqual(a.files.map((f) => f.split('/').pop()), b.files.map((f) => f.split('/').pop()));
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('RLE decoder: literal and replicate runs, no-op bytes, byte planes most significant first, sign from BitsStored', () => {
  const fmt: FrameFormat = { rows: 2, columns: 3, bitsAllocated: 16, bitsStored: 12, samples: 1, signed: true };
  // values 0x0ffe (-2 in 12 bits), 1, 1, 0x0800 (-2048), 0x07ff, 0: high bytes 0f 00 00 08 07 00, low fe 01 01 00 ff 00
  const seg0 = [0x80, 0x00, 0x0f, 0xff, 0x00, 0x02, 0x08, 0x07, 0x00]; // no-op; literal 0f; 00 twice; literal 08 07 00
  const low = [0x00, 0xfe, 0xff, 0x01, 0x01, 0x00, 0xff, 0x00, 0x00]; // literal fe; 01 twice; literal 00 ff; literal 00
  const frame = new Uint8Array(64 + seg0.length + low.length + 1);
  const head = new DataView(frame.buffer);
  head.setUint32(0, 2, true);
  head.setUint32(4, 64, true);
  head.setUint32(8, 64 + seg0.length, true);
  frame.set(seg0, 64);
  frame.set(low, 64 + seg0.length);
  assert.deepEqual(Array.from(decodeRle(frame, fmt)), [-2, 1, 1, -2048, 2047, 0]);
  assert.deepEqual(Array.from(decodeRle(frame, { ...fmt, signed: false })), [0x0ffe, 1, 1, 0x0800, 0x07ff, 0]);
  assert.throws(() => decodeRle(frame, { ...fmt, bitsAllocated: 8, bitsStored: 8 }), /RLE header lists 2 segments, 8-bit data with 1 sample\(s\) needs 1/);
  assert.throws(() => decodeRle(frame.subarray(0, 64 + seg0.length + 4), fmt), /RLE segment 2 ends after 3 of 6 pixels/);
  assert.throws(() => decodeRle(frame.subarray(0, 64 + seg0.length + 3), fmt), /RLE segment 2 ends after 1 of 6 pixels/);
});

test('lossless syntaxes from dcmtk (RLE, JPEG lossless SV1 and predictors 1-7, JPEG-LS, deflated): same voxels and geometry; dcm2niix agrees', { skip: skipDcmtk }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const cases: [string, string[], string][] = [
      ['rle', ['dcmcrle'], TS.rle],
      ['rle-fragments', ['dcmcrle', '+fs', '1'], TS.rle],
      ['jpeg-sv1', ['dcmcjpeg', '+e1', '+fs', '1'], TS.jpegSv1],
      ...[2, 3, 4, 5, 6, 7].map((sv): [string, string[], string] => [`jpeg-sv${sv}`, ['dcmcjpeg', '+el', '+sv', String(sv)], TS.jpegLossless]),
      ['jpeg-ls', ['dcmcjpls', '+el', '+fs', '1'], TS.jpegLs],
      ['deflated', ['dcmconv', '+td'], TS.deflated],
    ];
    for (const [label, bits, range] of [['signed16', undefined, undefined], ['unsigned12', { allocated: 16, stored: 12, signed: false }, [0, 4095]]] as const) {
      const src = join(dir, label, 'raw');
      await writeSeries(src, ct(`1.2.3.17.${label.length}`, { bits, intercept: bits ? -1024 : 0 }, range as [number, number] | undefined));
      const [raw] = await readDicomFolder(src);
      for (const [name, [cmd, ...opts], ts] of cases) {
        const out = await convert(src, join(dir, label, name), cmd, opts);
        assert.deepEqual(await transferSyntaxes(out), [ts], `${label} ${name}`);
        if (opts.includes('+fs')) assert.ok((await maxFragments(out)) > 1, `${label} ${name}: one fragment per frame, wanted several`);
        const [v] = await readDicomFolder(out);
        sameGeometry(v, raw);
        assert.deepEqual(Array.from(v.data), Array.from(raw.data), `${label} ${name}: voxels differ`);
        // dcm2niix reads single-fragment frames only, and no deflated files
        if (hasDcm2niix && ['rle', 'jpeg-sv5', 'jpeg-sv7'].includes(name)) await compareWithDcm2niix(out, join(dir, label, `${name}-nii`));
      }
    }
  } finally {
    await cleanup();
  }
});

test('lossless syntaxes from GDCM (JPEG 2000 whole and split in fragments, JPEG-LS, JPEG lossless, RLE): same voxels and geometry; dcm2niix agrees', { skip: skipGdcm }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, 'raw');
    await writeSeries(src, ct('1.2.3.17.20'));
    const [raw] = await readDicomFolder(src);
    const cases: [string, string[], string, string?][] = [
      ['j2k', ['-K'], TS.j2kLossless],
      ['j2k-fragments', ['-S', '1024'], TS.j2kLossless, 'j2k'], // gdcmconv splits compressed files only
      ['jpeg-ls', ['-L'], TS.jpegLs],
      ['jpeg', ['-J'], TS.jpegSv1],
      ['rle', ['-R'], TS.rle],
    ];
    for (const [name, opts, ts, from] of cases) {
      const out = await convert(from ? join(dir, from) : src, join(dir, name), 'gdcmconv', opts);
      assert.deepEqual(await transferSyntaxes(out), [ts], name);
      if (opts.includes('-S')) assert.ok((await maxFragments(out)) > 1, `${name}: one fragment per frame, wanted several`);
      const [v] = await readDicomFolder(out);
      sameGeometry(v, raw);
      assert.deepEqual(Array.from(v.data), Array.from(raw.data), `${name}: voxels differ`);
      if (hasDcm2niix && name === 'j2k') await compareWithDcm2niix(out, join(dir, `${name}-nii`));
    }
  } finally {
    await cleanup();
  }
});

test('lossy syntaxes: JPEG-LS near-lossless, JPEG 2000 irreversible, 8-bit JPEG baseline and extended read as the tools decompress them', { skip: skipDcmtk || skipGdcm }, async (t) => {
  const { dir, cleanup } = await tempDir();
  try {
    const src16 = join(dir, 'raw16');
    await writeSeries(src16, ct('1.2.3.17.30'));
    const src12 = join(dir, 'raw12'); // dcmcjpls' near-lossless mode takes unsigned data only
    await writeSeries(src12, ct('1.2.3.17.32', { bits: { allocated: 16, stored: 12, signed: false }, intercept: -1024 }, [0, 4095]));
    const src8 = join(dir, 'raw8');
    await writeSeries(src8, ct('1.2.3.17.31', { bits: { allocated: 8, stored: 8, signed: false }, slope: 4, intercept: -1024 }, [0, 255]));
    const cases: [string, string, string, string[], string, string[], number][] = [
      // name, source, encoder, options, syntax, decoder (to explicit VR little endian), tolerance against it
      ['jpeg-ls-near', src12, 'dcmcjpls', ['+en', '+md', '3'], TS.jpegLsNear, ['dcmdjpls'], 0],
      ['j2k-lossy', src16, 'gdcmconv', ['-K', '-Y', '--irreversible', '-q', '30'], TS.j2k, ['gdcmconv', '--raw'], 0],
      ['jpeg-baseline', src8, 'dcmcjpeg', ['+eb', '+q', '70'], TS.jpegBaseline, ['dcmdjpeg'], 0],
      ['jpeg-extended-8', src8, 'dcmcjpeg', ['+ee', '+q', '70'], TS.jpegExtended, ['dcmdjpeg'], 0],
    ];
    for (const [name, src, enc, opts, ts, [dec, ...decOpts], tol] of cases) {
      const out = await convert(src, join(dir, name), enc, opts);
      assert.deepEqual(await transferSyntaxes(out), [ts], name);
      const back = await convert(out, join(dir, `${name}-decoded`), dec, decOpts);
      const [[v], [ref], [orig]] = await Promise.all([out, back, src].map((d) => readDicomFolder(d)));
      sameGeometry(v, orig);
      const d = maxDiff(v.data, ref.data);
      assert.ok(d <= tol, `${name}: differs from ${dec}'s decompression by up to ${d}`);
      const lossy = maxDiff(v.data, orig.data);
      t.diagnostic(`${name}: largest difference ${d} from ${dec}'s decompression, ${lossy} from the original`);
      assert.ok(lossy > 0, `${name}: expected a lossy copy`);
      if (name === 'jpeg-ls-near') assert.ok(lossy <= 3, `near-lossless NEAR=3 error ${lossy}`);
    }
  } finally {
    await cleanup();
  }
});

test('python3-pydicom samples: MR_small as RLE, JPEG 2000 and JPEG-LS, 32-bit RLE dose, deflated, JPEG 2000 with a pixel representation mismatch', { skip: skipPydicom }, async () => {
  const frameOf = async (f: string) => readFrame(await parseDicomAsync(new Uint8Array(await readFile(join(pydicom, f)))));
  const mr = Array.from(await frameOf('MR_small.dcm'));
  for (const f of ['MR_small_RLE.dcm', 'MR_small_jp2klossless.dcm', 'MR_small_jpeg_ls_lossless.dcm']) assert.deepEqual(Array.from(await frameOf(f)), mr, f);
  assert.deepEqual(Array.from(await frameOf('rtdose_rle_1frame.dcm')), Array.from(await frameOf('rtdose_1frame.dcm')));
  // the deflated sample, inflated by DecompressionStream (the browser's way) and through the Node reader's zlib
  const dfl = await frameOf('image_dfl.dcm');
  assert.equal(dfl.length, 512 * 512);
  assert.ok(dfl.some((x) => x !== dfl[0]));
  // PixelRepresentation 1, 13 bits stored, the J2K codestream says unsigned: sign-extended from
  // BitsStored, CT padding is -2000 (dcm2niix and gdcmconv keep the codestream's 0..8191)
  const mismatch = await frameOf('J2K_pixelrep_mismatch.dcm');
  assert.equal(mismatch[0], -2000);
  assert.ok(mismatch.every((v) => v >= -2000 && v < 4096));
  if (hasDcm2niix) {
    const { dir, cleanup } = await tempDir();
    try {
      for (const f of ['MR_small_RLE.dcm', 'MR_small_jp2klossless.dcm', 'J2K_pixelrep_mismatch.dcm']) {
        await mkdir(join(dir, f));
        await writeFile(join(dir, f, f), await readFile(join(pydicom, f)));
        if (f !== 'J2K_pixelrep_mismatch.dcm') { await compareWithDcm2niix(join(dir, f), join(dir, `${f}-nii`)); continue; }
        const r = spawnSync('dcm2niix', ['-z', 'n', '-b', 'n', '-f', 'ref', '-o', join(dir, f), join(dir, f)], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        const ref = await readNifti(join(dir, f, 'ref.nii'));
        const [ours] = await readDicomFolder(join(dir, f));
        // dcm2niix flips rows; ours sign-extends what it reads as unsigned
        const [X, Y] = ours.dims;
        for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) {
          const u = ref.data[(Y - 1 - y) * X + x];
          assert.equal(ours.data[y * X + x], u >= 4096 ? u - 8192 : u);
        }
      }
    } finally {
      await cleanup();
    }
  }
});

test('errors: one line naming the transfer syntax and, from the reader, the file (12-bit JPEG, colour, damaged codestreams)', { skip: skipPydicom || skipDcmtk }, async (t) => {
  const { dir, cleanup } = await tempDir();
  const oneLine = (re: RegExp) => (e: Error) => { assert.match(e.message, re); assert.ok(!e.message.includes('\n'), e.message); return true; };
  try {
    const frameOf = async (f: string) => readFrame(await parseDicomAsync(new Uint8Array(await readFile(join(pydicom, f)))));
    await assert.rejects(frameOf('JPEG-lossy.dcm'), oneLine(/^JPEG extended \(12-bit\) \(1\.2\.840\.10008\.1\.2\.4\.51\) with 12-bit samples is not supported \(8-bit only\): decompress the series first \(gdcmconv --raw/));
    await assert.rejects(frameOf('SC_rgb_jpeg_gdcm.dcm'), oneLine(/^has 3 samples per pixel: only greyscale \(1\) slices make a volume$/));
    // a 12-bit JPEG extended series (dcmcjpeg +ee): the reader names the file
    const src12 = join(dir, 'raw12');
    await writeSeries(src12, ct('1.2.3.17.41', { dims: [16, 12, 2], bits: { allocated: 16, stored: 12, signed: false } }, [0, 4095]));
    const ext12 = await convert(src12, join(dir, 'jpeg-extended-12'), 'dcmcjpeg', ['+ee']);
    await assert.rejects(readDicomFolder(ext12), oneLine(/jpeg-extended-12\/IM\d+_\d\.dcm: JPEG extended \(12-bit\) \(1\.2\.840\.10008\.1\.2\.4\.51\) with 12-bit samples is not supported \(8-bit only\): decompress the series first \(gdcmconv --raw in\.dcm out\.dcm, or dcmtk's dcmdjpeg/));
    // a JPEG-LS series whose first codestream lost its start marker; an RLE one with a bad header
    const src = join(dir, 'raw');
    await writeSeries(src, ct('1.2.3.17.40', { dims: [16, 12, 3] }));
    for (const [name, cmd, opts, damage, re] of [
      ['jpeg-ls', 'dcmcjpls', ['+el'], (b: Uint8Array, at: number) => { b[at] = 0; b[at + 1] = 0; }, /jpeg-ls\/IM\d+_\d\.dcm: JPEG-LS \(CharLS\) cannot decode the frame: /],
      ['rle', 'dcmcrle', [], (b: Uint8Array, at: number) => { b[at] = 3; }, /rle\/IM\d+_\d\.dcm: RLE header lists 3 segments, 16-bit data with 1 sample\(s\) needs 2/],
    ] as const) {
      const out = await convert(src, join(dir, name), cmd, [...opts]);
      const f = join(out, (await readdir(out)).sort()[0]);
      const bytes = new Uint8Array(await readFile(f));
      const el = dicomParser.parseDicom(bytes).elements.x7fe00010;
      damage(bytes, el.fragments![0].position);
      await writeFile(f, bytes);
      await assert.rejects(readDicomFolder(out), (e: Error) => { t.diagnostic(e.message); return oneLine(re)(e); });
    }
    // after a failed decode the codec still works
    const ok = await convert(src, join(dir, 'jpeg-ls-ok'), 'dcmcjpls', ['+el']);
    const [[a], [b]] = await Promise.all([readDicomFolder(ok), readDicomFolder(src)]);
    assert.deepEqual(Array.from(a.data), Array.from(b.data));
  } finally {
    await cleanup();
  }
});

test('codecs load on first use: an uncompressed series loads none, a JPEG-LS one only CharLS', { skip: skipDcmtk }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, 'raw');
    await writeSeries(src, ct('1.2.3.17.50', { dims: [16, 12, 2] }));
    const jls = await convert(src, join(dir, 'jpeg-ls'), 'dcmcjpls', ['+el']);
    const reader = new URL('../../src/data/formats/dicom.js', import.meta.url).href;
    /** The codec packages a fresh Node loads to read the folder (their glue is CommonJS: NODE_DEBUG=module lists it). */
    const loaded = (folder: string) => {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { readDicomFolder } from ${JSON.stringify(reader)}; await readDicomFolder(${JSON.stringify(folder)});`],
        { encoding: 'utf8', env: { ...process.env, NODE_DEBUG: 'module' } });
      assert.equal(r.status, 0, r.stderr.slice(-2000));
      return [...new Set(r.stderr.match(/@cornerstonejs\/[\w-]+/g) ?? [])];
    };
    assert.deepEqual(loaded(src), []);
    assert.deepEqual(loaded(jls), ['@cornerstonejs/codec-charls']);
  } finally {
    await cleanup();
  }
});
