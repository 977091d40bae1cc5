// The volume page end to end in Debian's headless Chromium: a tiny 3D UNet++ (two modalities,
// softmax over background and two classes; fixed random weights) exported with --web's code,
// a synthetic two-file NIfTI case with an oblique affine, segmented in the page's worker by
// sliding windows and saved as NIfTI: the saved mask has the input's affine and equals
// Node's prediction of the same model (Dice >= 0.99 per class). The page survives a corrupt
// file, a case with the wrong number of modalities and one past the memory limit (a message
// each), cancels a run, reads a DICOM folder, runs a 2D model slice by slice, and writes a
// region model's masks in the dataset's label values after cropping and resampling as Node does.
// UNETPP_WEB_BIG=1 also measures a 256x256x160 volume (time in the tab, Chromium's memory).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SegModel } from '../../src/models/model.js';
import { resolveBackend } from '../../src/train/backend.js';
import { writeWebBundle } from '../../src/io/web-bundle.js';
import { createPredictor } from '../../src/infer/predict.js';
import { readNifti, writeNifti } from '../../src/data/formats/nifti.js';
import { normalizeChannel, type VolumeNorm } from '../../src/data/volumes/intensity.js';
import { readDicomFolder } from '../../src/data/formats/dicom.js';
import type { Volume } from '../../src/data/formats/nifti.js';
import { writeSeries } from '../data/dicom-writer.js';
import { browserSkip, openSite, profileOf, type Site } from '../helpers/browser.js';
import { predictCase } from '../../src/infer/volume-files.js';
import { BRATS_REGIONS, labelMap, planeNames, planeValues } from '../../src/data/labels.js';
import type { VolumePipeline } from '../../src/data/volumes/volume-dataset.js';

const skip = browserSkip;
const TILE = 16;
const OVERLAP = 0.25;
const MODALITIES = ['t1', 'flair'];
const NORMS: VolumeNorm[] = ['zscore', 'mri'];
// an oblique grid: rotated about z, anisotropic voxels, an offset
const [c, s] = [Math.cos(0.3), Math.sin(0.3)];
const AFFINE = [[1.2 * c, -0.9 * s, 0, -30.5], [1.2 * s, 0.9 * c, 0, 12.25], [0, 0, 2.5, -40], [0, 0, 0, 1]];
const SPACING: [number, number, number] = [1.2, 0.9, 2.5];

/** Two smooth modalities with blobs (x fastest), so that a random network gives coherent regions. */
function syntheticCase(X: number, Y: number, Z: number): Float32Array[] {
  const a = new Float32Array(X * Y * Z), b = new Float32Array(X * Y * Z);
  const blobs = [[0.3, 0.4, 0.5, 0.22], [0.7, 0.6, 0.4, 0.18], [0.5, 0.2, 0.7, 0.12]];
  for (let z = 0, i = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++, i++) {
    const p = [x / X, y / Y, z / Z];
    let v = 0;
    for (const [bx, by, bz, r] of blobs) v += Math.exp(-((p[0] - bx) ** 2 + (p[1] - by) ** 2 + (p[2] - bz) ** 2) / (r * r));
    a[i] = 100 + 400 * v + 20 * Math.sin(i * 0.37);
    b[i] = x < 2 ? 0 : 50 + 300 * Math.exp(-((p[0] - 0.6) ** 2 + (p[1] - 0.5) ** 2) / 0.05) + 10 * Math.cos(i * 0.11);
  }
  return [a, b];
}

function dice(a: Uint8Array, b: Uint8Array, value: number): number {
  let inter = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { const x = a[i] === value, y = b[i] === value; if (x) na++; if (y) nb++; if (x && y) inter++; }
  return na + nb ? (2 * inter) / (na + nb) : 1;
}

/** Node's labels for the case's files (normalised as the page does), and the time of a second
 *  (warm: plans compiled) run, comparable to the page's run time (its model load is apart). */
async function nodePrediction(model: SegModel, files: string[] | Volume[], tile: number, norms = NORMS): Promise<{ labels: Uint8Array; ms: number }> {
  const backend = await resolveBackend('auto');
  const vols = await Promise.all(files.map((f) => (typeof f === 'string' ? readNifti(f) : f)));
  const [X, Y, Z] = vols[0].dims, V = X * Y * Z, input = new Float32Array(files.length * V);
  vols.forEach((v, k) => { const ch = v.data.slice(); normalizeChannel(ch, norms[k]); input.set(ch, k * V); });
  const predictor = createPredictor(model, { backend, mode: 'accurate', tile, overlap: OVERLAP, batch: 1 });
  const img = { data: input, channels: files.length, sizes: [Z, Y, X] };
  predictor.predict(img);
  const t0 = performance.now();
  const labels = labelMap(predictor.predict(img), model.config.multiclass);
  return { labels, ms: performance.now() - t0 };
}

/** Resident memory (MiB) of the Chromium started with this profile and all its descendants. */
function chromiumRssMiB(profile: string): number {
  try {
    const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,rss=,args='], { encoding: 'utf8', maxBuffer: 1 << 24 }).split('\n').filter(Boolean)
      .map((l) => { const [pid, ppid, rss, ...args] = l.trim().split(/\s+/); return { pid: +pid, ppid: +ppid, rss: +rss, args: args.join(' ') }; });
    const tree = new Set(rows.filter((r) => r.args.includes(profile)).map((r) => r.pid));
    for (let grew = true; grew;) { grew = false; for (const r of rows) if (!tree.has(r.pid) && tree.has(r.ppid)) { tree.add(r.pid); grew = true; } }
    return rows.filter((r) => tree.has(r.pid)).reduce((t, r) => t + r.rss, 0) / 1024;
  } catch { return NaN; }
}

test('volume page: 3D UNet++ in a worker equals Node (Dice >= 0.99 per class), mask keeps the affine, bad inputs get a message', { skip, timeout: 900_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'unetpp-webvol-'));
  const log = (t: string) => console.log(`# ${t}`);
  let site: Site | null = null;
  let ok = false;
  try {
    const model = new SegModel({ arch: 'unetpp', preset: 'bn', dims: 3, norm: 'instance', filters: [4, 8, 16], inChannels: 2, classes: 3, deepSupervision: true, seed: 2 });
    const bundle = join(tmp, 'bundle');
    const manifest = writeWebBundle(bundle, model, { tile: TILE, overlap: OVERLAP, classNames: ['background', 'lesion', 'core'], volume: { modalities: MODALITIES, normalize: NORMS } });
    assert.equal(manifest.volume?.dims, 3);
    site = await openSite(tmp, bundle, { swiftshader: true });
    const { page, browser } = site;

    // the case: two modalities on an oblique grid, sizes not multiples of the window or of 2^depth
    const [X, Y, Z] = [42, 37, 21];
    const planes = syntheticCase(X, Y, Z);
    const files = MODALITIES.map((m) => join(tmp, `case01_${m}.nii.gz`));
    for (const [k, f] of files.entries()) await writeNifti(f, { dims: [X, Y, Z], spacing: SPACING, affine: AFFINE, data: planes[k] }, { datatype: 'float32' });

    // Node: the same files, normalised per modality, the same windows
    const { labels: node, ms: nodeMs } = await nodePrediction(model, files, TILE);
    const share = [1, 2].map((v) => node.filter((l) => l === v).length / node.length);
    log(`Node: ${X}x${Y}x${Z} in ${nodeMs.toFixed(0)} ms (warm); class shares ${share.map((f) => (100 * f).toFixed(1) + '%').join(', ')}`);
    assert.ok(share.every((f) => f > 0.01 && f < 0.9), `the random model's classes cover ${share}: not a meaningful comparison`);

    const profile = profileOf(tmp);
    const state = () => page.evaluate(() => document.body.dataset.state);
    const status = async () => (await page.textContent('#status')) ?? '';
    const settle = (runs?: number) => page.waitForFunction((n) => (n !== undefined && document.body.dataset.runs === String(n)) ||
      ['error', ...(n === undefined ? ['done', 'ready'] : [])].includes(document.body.dataset.state ?? ''), runs, { timeout: 300_000 });
    /** Save mask (NIfTI): the page's download, read back. */
    const savedMask = async (name: string) => {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
      await download.saveAs(join(tmp, `${name}.nii.gz`));
      return readNifti(join(tmp, `${name}.nii.gz`));
    };
    /** Choose a bundle folder; the page must be ready after it. */
    const openBundle = async (dir: string) => {
      await page.setInputFiles('#bundle-folder', dir);
      await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''));
      assert.equal(await state(), 'ready', await status());
    };
    /** Give the page files (the input's selector) and wait for the run they start to be done. */
    const segment = async (input: string, files: string | string[]) => {
      const runs = Number(await page.evaluate(() => document.body.dataset.runs));
      await page.setInputFiles(input, files);
      await settle(runs + 1);
      assert.equal(await state(), 'done', await status());
    };
    await page.goto(`${site.url}volume.html`);
    await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 60_000 });
    assert.equal(await state(), 'ready', await status());
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'page is not cross-origin isolated (COOP/COEP)');
    log(`viewer: ${await page.evaluate(() => document.body.dataset.viewer)} ${await page.textContent('#viewer-note')}`);

    // 1. a corrupt file, then one modality of two: a message each, no crash
    const corrupt = join(tmp, 'corrupt.nii.gz');
    writeFileSync(corrupt, Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    await page.setInputFiles('#volume-input', corrupt);
    await settle();
    assert.equal(await state(), 'error');
    assert.match(await status(), /corrupt\.nii\.gz: corrupt gzip/);
    await page.setInputFiles('#volume-input', files[0]);
    await settle();
    assert.equal(await state(), 'error');
    assert.match(await status(), /takes 2 modalities \(t1, flair\).*hold 1/);

    // 2. the case (files given in the other order: matched by name), segmented on opening
    await page.setInputFiles('#volume-input', [files[1], files[0]]);
    await settle(1);
    assert.equal(await state(), 'done', await status());
    const pageMs = Number(await page.evaluate(() => document.body.dataset.lastMs));
    const mask = await savedMask('mask');
    assert.deepEqual(mask.dims, [X, Y, Z]);
    const maxAffineDiff = Math.max(...mask.affine.flat().map((v, i) => Math.abs(v - AFFINE.flat()[i])));
    assert.ok(maxAffineDiff < 1e-4, `saved affine differs by ${maxAffineDiff}: ${JSON.stringify(mask.affine)}`);
    const web = Uint8Array.from(mask.data);
    const scores = [1, 2].map((v) => dice(web, node, v));
    const ml = await page.$$eval('#classes td.ml', (tds) => tds.map((t) => Number(t.textContent)));
    const voxelMl = (SPACING[0] * SPACING[1] * SPACING[2]) / 1000;
    [1, 2].forEach((v, k) => assert.ok(Math.abs(ml[k] - web.filter((l) => l === v).length * voxelMl) < 0.01, `class ${v}: ${ml[k]} ml shown`));
    log(`page (WASM x2): ${X}x${Y}x${Z}, ${TILE}^3 windows, ${pageMs.toFixed(0)} ms vs Node ${nodeMs.toFixed(0)} ms; Dice per class ${scores.map((d) => d.toFixed(4)).join(', ')}; ml ${ml.join(', ')}`);
    scores.forEach((d, k) => assert.ok(d >= 0.99, `class ${k + 1}: Dice page vs Node ${d}`));

    const shot = process.env.UNETPP_WEB_VOLUME_SCREENSHOT;
    if (shot) { await page.screenshot({ path: shot }); log(`screenshot: ${shot}`); }

    // 3. cancel: a run stopped midway leaves the page ready to run again
    await page.click('#run');
    const running = await state();
    // A DOM click, which does not wait: on a quiet machine this small run may already be over
    // (the button disabled again), and then there is nothing to cancel.
    await page.$eval('#cancel', (b) => (b as HTMLButtonElement).click());
    await page.waitForFunction(() => ['ready', 'done'].includes(document.body.dataset.state ?? ''), null, { timeout: 60_000 });
    if (running === 'running' && (await state()) === 'ready') {
      assert.match(await status(), /cancelled/);
      await page.click('#run');
      await settle(2);
      assert.equal(await state(), 'done', await status());
    }

    // past the tab's memory limit (lowered to 1 MiB here): a message, nothing allocated
    const small = await browser.newPage();
    await small.goto(`${site.url}volume.html?limitMiB=1`);
    await small.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 60_000 });
    await small.setInputFiles('#volume-input', files);
    await small.waitForFunction(() => document.body.dataset.state === 'error', null, { timeout: 60_000 });
    assert.match(await small.textContent('#status') ?? '', /need about 3 MiB to segment here, more than this tab's limit \(1 MiB\): crop or resample/);
    await small.close();

    // 4. a DICOM folder (an oblique CT series, slices not in file order) with a one-modality model
    const ct = new SegModel({ arch: 'unetpp', preset: 'bn', dims: 3, norm: 'instance', filters: [4, 8, 16], inChannels: 1, classes: 2, multiclass: 'sigmoid', deepSupervision: false, seed: 2 });
    const ctBundle = join(tmp, 'bundle-ct');
    writeWebBundle(ctBundle, ct, { tile: TILE, overlap: OVERLAP, classNames: ['bone', 'soft'], volume: { modalities: ['ct'], normalize: 'zscore' } });
    await openBundle(ctBundle);
    const series = join(tmp, 'series');
    const n = Math.SQRT1_2;
    await writeSeries(series, { uid: '1.2.826.0.1.3680043.2.1125.9', dims: [30, 26, 12], origin: [-20, 14, 33], row: [n, n, 0], col: [0, 0, -1], spacing: [0.8, 1.1, 2.2],
      f: (x, y, z) => Math.round(600 * Math.exp(-((x - 15) ** 2 + (y - 12) ** 2 + 3 * (z - 6) ** 2) / 60) - 200 + 30 * Math.sin(x * y + z)), slope: 1, intercept: -1024 });
    const [dcm] = await readDicomFolder(series);
    await segment('#dicom-folder', series);
    const ctMask = await savedMask('ct-mask');
    assert.deepEqual(ctMask.dims, dcm.dims);
    const ctAffine = Math.max(...ctMask.affine.flat().map((v, i) => Math.abs(v - dcm.affine.flat()[i])));
    assert.ok(ctAffine < 1e-4, `DICOM mask affine differs from Node's reading of the series by ${ctAffine}`);
    const ctNode = await nodePrediction(ct, [dcm], TILE, ['zscore']);
    const ctWeb = Uint8Array.from(ctMask.data);
    const ctScores = [1, 2].map((v) => dice(ctWeb, ctNode.labels, v));
    log(`DICOM ${dcm.dims.join('x')} series: Dice per class ${ctScores.map((d) => d.toFixed(4)).join(', ')}; shares ${[1, 2].map((v) => (100 * ctNode.labels.filter((l) => l === v).length / ctNode.labels.length).toFixed(1) + '%').join(', ')}`);
    ctScores.forEach((d, k) => assert.ok(d >= 0.99, `DICOM class ${k + 1}: Dice page vs Node ${d}`));

    // 5. a 2D model meant for volumes, slice by slice, on the same series
    const flat = new SegModel({ arch: 'unetpp', preset: 'bn', norm: 'instance', filters: [4, 8], inChannels: 1, classes: 1, deepSupervision: false, seed: 2 });
    const flatBundle = join(tmp, 'bundle-2d');
    writeWebBundle(flatBundle, flat, { tile: 16, overlap: OVERLAP, volume: { modalities: ['ct'], normalize: 'zscore' } });
    await openBundle(flatBundle);
    await segment('#dicom-folder', series);
    const sliced = Uint8Array.from((await savedMask('slices-mask')).data);
    const [sx, sy, sz] = dcm.dims, plane = sx * sy, norm = dcm.data.slice();
    normalizeChannel(norm, 'zscore');
    const flatPredictor = createPredictor(flat, { backend: await resolveBackend('auto'), mode: 'accurate', tile: 16, overlap: OVERLAP, batch: 1 });
    const bySlice = new Uint8Array(plane * sz);
    for (let z = 0; z < sz; z++)
      bySlice.set(labelMap(flatPredictor.predict({ data: norm.subarray(z * plane, (z + 1) * plane), channels: 1, sizes: [sy, sx] }), 'sigmoid'), z * plane);
    const sliceDice = dice(sliced, bySlice, 1);
    log(`2D model slice by slice on the series: Dice ${sliceDice.toFixed(4)} (foreground ${(100 * bySlice.filter((l) => l).length / bySlice.length).toFixed(1)}%)`);
    const sliceFg = bySlice.filter((l) => l).length / bySlice.length;
    assert.ok(sliceFg > 0.01 && sliceFg < 0.99, `the random 2D model marks ${sliceFg} of the voxels: not a meaningful comparison`);
    assert.ok(sliceDice >= 0.99, `2D model slice by slice: Dice page vs Node ${sliceDice}`);

    // 6. a bundle of a region-trained checkpoint (BraTS's nested regions as sigmoid planes) whose
    // training cropped its cases to the non-zero box and resampled them to another spacing: the
    // page crops, resamples and writes the dataset's label values (1, 2, 4) back on the file's
    // grid, as `unetpp predict` does (predictCase, from the files)
    const regions = new SegModel({ arch: 'unetpp', preset: 'bn', dims: 3, norm: 'instance', filters: [4, 8, 16], inChannels: 2, classes: 3, multiclass: 'sigmoid', deepSupervision: true, seed: 5 });
    const pipeline: VolumePipeline = { modalities: MODALITIES, normalize: NORMS, ct: [null, null], spacing: [1.6, 1.3, 2.0], cropToNonzero: true, labels: BRATS_REGIONS, classNames: planeNames(BRATS_REGIONS) };
    const regionBundle = join(tmp, 'bundle-regions');
    const rm = writeWebBundle(regionBundle, regions, { tile: TILE, overlap: OVERLAP, classNames: pipeline.classNames, threshold: 0.5,
      volume: { modalities: pipeline.modalities, normalize: pipeline.normalize, ct: pipeline.ct, spacing: pipeline.spacing, cropToNonzero: true, labels: pipeline.labels } });
    assert.deepEqual(rm.volume?.labels, BRATS_REGIONS);
    // the case: air (zeros) around a box, so that the crop moves the grid
    const boxed = syntheticCase(X, Y, Z).map((p) => p.map((v, i) => {
      const x = i % X, y = Math.floor(i / X) % Y, z = Math.floor(i / (X * Y));
      return x >= 5 && x < 38 && y >= 4 && y < 33 && z >= 2 && z < 19 ? v : 0;
    }));
    const brainFiles = MODALITIES.map((m) => join(tmp, `brain01_${m}.nii.gz`));
    for (const [k, f] of brainFiles.entries()) await writeNifti(f, { dims: [X, Y, Z], spacing: SPACING, affine: AFFINE, data: boxed[k] }, { datatype: 'float32' });
    const nodeOut = await predictCase(createPredictor(regions, { backend: await resolveBackend('auto'), mode: 'accurate', tile: TILE, overlap: OVERLAP, batch: 1 }), brainFiles, join(tmp, 'node-regions'), pipeline);
    const nodeRegions = Uint8Array.from((await readNifti(nodeOut.outputs[0])).data);
    const values = [1, 2, 4].map((v) => nodeRegions.filter((l) => l === v).length / nodeRegions.length);
    assert.ok(values.filter((f) => f > 0.005).length >= 2 && nodeRegions.some((l, i) => l && boxed[0][i] === 0) === false,
      `Node's region labels: shares of 1, 2, 4 ${values.join(', ')} (two needed), none outside the box: not a meaningful comparison`);
    await openBundle(regionBundle);
    await segment('#volume-input', brainFiles);
    const webRegions = await savedMask('regions-mask');
    assert.deepEqual(webRegions.dims, [X, Y, Z]);
    const webR = Uint8Array.from(webRegions.data);
    assert.ok(webR.every((l) => [0, 1, 2, 4].includes(l)), `the page wrote values ${[...new Set(webR)]}, not BraTS's 0, 1, 2, 4`);
    const regionDice = planeValues(BRATS_REGIONS).map((r) => {
      const inR = (l: number) => r.values.includes(l);
      let inter = 0, a = 0, b = 0;
      for (let i = 0; i < webR.length; i++) { const x = inR(webR[i]), y = inR(nodeRegions[i]); if (x) a++; if (y) b++; if (x && y) inter++; }
      return a + b ? (2 * inter) / (a + b) : 1;
    });
    const rowsR = await page.$$eval('#classes tr', (trs) => trs.map((t) => [t.getAttribute('data-class'), Number(t.querySelector('td.ml')?.textContent)]));
    log(`regions (crop + resample to ${pipeline.spacing!.join('x')} mm): value shares ${values.map((f) => (100 * f).toFixed(1) + '%').join(', ')}; Dice page vs predictCase per region ${regionDice.map((d) => d.toFixed(4)).join(', ')}; rows ${JSON.stringify(rowsR)}`);
    regionDice.forEach((d, k) => assert.ok(d >= 0.99, `region ${k + 1}: Dice page vs Node ${d}`));
    assert.deepEqual(rowsR.map((r) => r[0]), ['1+2+3+4', '1+3+4', '4']);
    const wholeMl = webR.filter((l) => l > 0).length * voxelMl;
    assert.ok(Math.abs(Number(rowsR[0][1]) - wholeMl) < 0.01, `whole tumour: ${rowsR[0][1]} ml shown, the mask has ${wholeMl}`);

    // 7. optional: a 256x256x160 single-modality volume, time and memory (docs/web.md)
    if (process.env.UNETPP_WEB_BIG) await bigVolume(page, model, tmp, profile, log);
    ok = true;
  } finally {
    await site?.close(ok ? undefined : 'volume page test');
    rmSync(tmp, { recursive: true, force: true });
  }
});

/** The same page, a 256x256x160 volume of the same two modalities: seconds in the tab, peak JS heap, Chromium's RSS. */
async function bigVolume(page: import('playwright-core').Page, model: SegModel, tmp: string, profile: string, log: (s: string) => void): Promise<void> {
  const [X, Y, Z] = [256, 256, 160], tile = Number(process.env.UNETPP_WEB_BIG_TILE ?? 64);
  // UNETPP_WEB_BIG_FILTERS=8,16,32,64: a larger model of the same kind (random weights: time and memory only)
  const filters = process.env.UNETPP_WEB_BIG_FILTERS?.split(',').map(Number);
  if (filters) model = new SegModel({ ...model.config, filters, seed: 1 });
  log(`big volume model: filters ${model.config.filters.join(',')}, ${model.params.count()} params`);
  // the same model in windows of tile^3, opened as a folder
  const bundle = join(tmp, `bundle${tile}`);
  writeWebBundle(bundle, model, { tile, overlap: OVERLAP, classNames: ['background', 'lesion', 'core'], volume: { modalities: MODALITIES, normalize: NORMS } });
  await page.setInputFiles('#bundle-folder', bundle);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''));
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready');
  const planes = syntheticCase(X, Y, Z);
  const files = MODALITIES.map((m) => join(tmp, `big_${m}.nii.gz`));
  for (const [k, f] of files.entries()) await writeNifti(f, { dims: [X, Y, Z], spacing: [1, 1, 1], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], data: planes[k] }, { datatype: 'float32' });
  const before = Number(await page.evaluate(() => document.body.dataset.runs ?? 0));
  let peakRss = 0, peakHeap = 0;
  const timer = setInterval(async () => {
    peakRss = Math.max(peakRss, chromiumRssMiB(profile));
    const h = await page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0).catch(() => 0);
    peakHeap = Math.max(peakHeap, h / 2 ** 20);
  }, 500);
  try {
    await page.setInputFiles('#volume-input', files);
    await page.waitForFunction((n) => document.body.dataset.runs === String(n) || document.body.dataset.state === 'error', before + 1, { timeout: 3_600_000 });
  } finally { clearInterval(timer); }
  const status = (await page.textContent('#status')) ?? '';
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'done', status);
  const ms = Number(await page.evaluate(() => document.body.dataset.lastMs));
  const windows = await page.evaluate(() => document.querySelector('#runs tr td:nth-child(5)')?.textContent);
  const node = await nodePrediction(model, files, tile);
  log(`big volume ${X}x${Y}x${Z} x2 modalities, ${windows} windows of ${tile}^3: ${(ms / 1000).toFixed(1)} s in the tab, Node ${(node.ms / 1000).toFixed(1)} s (warm); peak page JS heap ${peakHeap.toFixed(0)} MiB, peak Chromium RSS (all processes) ${peakRss.toFixed(0)} MiB; ${await page.textContent('#volume-info')}`);
}
