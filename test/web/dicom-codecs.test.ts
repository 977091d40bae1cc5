// Compressed DICOM series in the volume page (Debian's headless Chromium): the page shares
// src/data/formats/dicom-codecs.ts with Node, its WebAssembly codecs are separate files fetched on first
// use. A small CT series, uncompressed and compressed by dcmtk / GDCM (RLE, JPEG lossless SV1,
// JPEG-LS, JPEG 2000, deflated, 8-bit JPEG baseline), is opened as a DICOM folder with a tiny
// one-modality 3D model: every lossless copy gives the uncompressed series' mask byte for byte and
// the same grid, the JPEG copy the mask of dcmdjpeg's decompression of it; an unsupported syntax
// gets its one-line message in the page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SegModel } from '../../src/models/model.js';
import { writeWebBundle } from '../../src/io/web-bundle.js';
import { readNifti } from '../../src/data/formats/nifti.js';
import { writeSeries, type SeriesSpec } from '../data/dicom-writer.js';
import { browserSkip, openSite, type Site } from '../helpers/browser.js';

const found = (cmd: string) => spawnSync(cmd, ['--version']).error === undefined;
const skip = browserSkip || (!found('dcmcjpeg') ? 'dcmtk not found: apt-get install -y dcmtk (scripts/setup.sh installs it)' : false);
const hasGdcm = found('gdcmconv');

function convert(src: string, dst: string, cmd: string, opts: string[]): string {
  mkdirSync(dst, { recursive: true });
  for (const f of readdirSync(src)) {
    const r = spawnSync(cmd, [...opts, join(src, f), join(dst, f)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${cmd} ${opts.join(' ')}: ${r.stdout}${r.stderr}`);
  }
  return dst;
}

test('volume page: compressed DICOM series (RLE, JPEG lossless, JPEG-LS, JPEG 2000, deflated, JPEG baseline) read as in Node', { skip, timeout: 600_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'unetpp-webdcm-'));
  const log = (t: string) => console.log(`# ${t}`);
  let site: Site | null = null;
  let ok = false;
  try {
    const ct = new SegModel({ arch: 'unetpp', preset: 'bn', dims: 3, norm: 'instance', filters: [4, 8, 16], inChannels: 1, classes: 2, multiclass: 'sigmoid', deepSupervision: false, seed: 2 });
    const bundle = join(tmp, 'bundle');
    writeWebBundle(bundle, ct, { tile: 16, overlap: 0.25, classNames: ['bone', 'soft'], volume: { modalities: ['ct'], normalize: 'zscore' } });
    site = await openSite(tmp, bundle, { swiftshader: true });
    const { page } = site;
    const wasm = readdirSync(join(site.dir, 'assets')).filter((f) => f.endsWith('.wasm'));
    assert.equal(wasm.length, 3, `the codecs' .wasm files in the build: ${wasm}`);

    // the series: oblique, signed 16-bit with air at -1000..; and an 8-bit one for JPEG baseline
    const n = Math.SQRT1_2;
    const spec = (uid: string, over: Partial<SeriesSpec> = {}): SeriesSpec => ({
      uid, dims: [30, 26, 12], origin: [-20, 14, 33], row: [n, n, 0], col: [0, 0, -1], spacing: [0.8, 1.1, 2.2], slope: 1, intercept: -1024,
      f: (x, y, z) => Math.round(600 * Math.exp(-((x - 15) ** 2 + (y - 12) ** 2 + 3 * (z - 6) ** 2) / 60) - 200 + 30 * Math.sin(x * y + z)), ...over,
    });
    const raw = join(tmp, 'raw');
    await writeSeries(raw, spec('1.2.826.0.1.3680043.2.1125.17'));
    const raw8 = join(tmp, 'raw8');
    await writeSeries(raw8, spec('1.2.826.0.1.3680043.2.1125.18', { bits: { allocated: 8, stored: 8, signed: false }, slope: 4, f: (x, y, z) => Math.round(120 + 100 * Math.exp(-((x - 15) ** 2 + (y - 12) ** 2 + 3 * (z - 6) ** 2) / 60) + 20 * Math.sin(x * y + z)) }));
    const lossless: [string, string][] = [
      ['rle', convert(raw, join(tmp, 'rle'), 'dcmcrle', [])],
      ['jpeg-sv1 (fragments)', convert(raw, join(tmp, 'jpeg-sv1'), 'dcmcjpeg', ['+e1', '+fs', '1'])],
      ['jpeg-ls', convert(raw, join(tmp, 'jpeg-ls'), 'dcmcjpls', ['+el'])],
      ['deflated', convert(raw, join(tmp, 'deflated'), 'dcmconv', ['+td'])],
      ...(hasGdcm ? [['jpeg2000', convert(raw, join(tmp, 'j2k'), 'gdcmconv', ['-K'])] as [string, string]] : []),
    ];
    const jpeg = convert(raw8, join(tmp, 'jpeg'), 'dcmcjpeg', ['+eb']);
    const jpegBack = convert(jpeg, join(tmp, 'jpeg-decompressed'), 'dcmdjpeg', []);
    const unsupported = join(tmp, 'jpegxl');
    await writeSeries(unsupported, spec('1.2.826.0.1.3680043.2.1125.19', { dims: [8, 6, 2], transferSyntax: '1.2.840.10008.1.2.4.110' }));

    const fetched: string[] = [];
    page.on('request', (r) => { if (r.url().endsWith('.wasm') && !r.url().includes('/ort/')) fetched.push(r.url().split('/').pop()!); });
    const state = () => page.evaluate(() => document.body.dataset.state);
    const status = async () => (await page.textContent('#status')) ?? '';
    await page.goto(`${site.url}volume.html`);
    await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 60_000 });
    assert.equal(await state(), 'ready', await status());

    /** Opens a folder; the saved mask's bytes and affine, and what the page says about the volume. */
    const open = async (dir: string): Promise<{ mask: Uint8Array; affine: number[][]; info: string; ms: number }> => {
      const runs = Number(await page.evaluate(() => document.body.dataset.runs ?? 0));
      const t0 = performance.now();
      await page.setInputFiles('#dicom-folder', dir);
      await page.waitForFunction((r) => document.body.dataset.runs === String(r + 1) || document.body.dataset.state === 'error', runs, { timeout: 300_000 });
      const ms = performance.now() - t0;
      assert.equal(await state(), 'done', `${dir}: ${await status()}`);
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
      const out = join(tmp, `mask-${dir.split('/').pop()}.nii.gz`);
      await dl.saveAs(out);
      const m = await readNifti(out);
      return { mask: Uint8Array.from(m.data), affine: m.affine, info: ((await page.textContent('#volume-info')) ?? '').replace(/^[^:]*: /, ''), ms };
    };

    assert.deepEqual(fetched, [], 'a codec was fetched before any compressed series');
    const ref = await open(raw);
    assert.deepEqual(fetched, [], 'an uncompressed series fetched a codec');
    const fg = ref.mask.filter((v) => v).length / ref.mask.length;
    assert.ok(fg > 0.01 && fg < 0.99, `the random model marks ${fg} of the voxels: not a meaningful comparison`);
    log(`uncompressed: ${ref.info.split(';')[0]}, ${ref.mask.length} voxels (${ref.ms.toFixed(0)} ms to read and segment)`);
    for (const [name, dir] of lossless) {
      const got = await open(dir);
      assert.equal(got.info, ref.info, name);
      assert.deepEqual(got.affine, ref.affine, name);
      assert.ok(got.mask.every((v, i) => v === ref.mask[i]), `${name}: the mask differs from the uncompressed series'`);
      log(`${name}: same mask and grid (${got.ms.toFixed(0)} ms)`);
    }
    const [a, b] = [await open(jpeg), await open(jpegBack)];
    assert.equal(a.info, b.info);
    assert.ok(a.mask.every((v, i) => v === b.mask[i]), 'JPEG baseline: the mask differs from the one of dcmdjpeg\'s decompression');
    log(`jpeg baseline: same mask as dcmdjpeg's decompression; codec files fetched: ${fetched.join(', ')}`);
    assert.equal(new Set(fetched).size, fetched.length, 'a codec was fetched twice');

    await page.setInputFiles('#dicom-folder', unsupported);
    await page.waitForFunction(() => document.body.dataset.state === 'error', null, { timeout: 60_000 });
    assert.match(await status(), /^IM\d+_\d\.dcm: transfer syntax JPEG XL lossless \(1\.2\.840\.10008\.1\.2\.4\.110\) is not supported: decompress the series first \(gdcmconv --raw/);
    ok = true;
  } finally {
    await site?.close(ok ? undefined : 'compressed DICOM page test');
    rmSync(tmp, { recursive: true, force: true });
  }
});
