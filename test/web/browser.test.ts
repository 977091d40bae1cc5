// End to end in Debian's headless Chromium: train a tiny UNet++ on synthetic nuclei, export
// the web bundle, build the page (vite), serve both, open a picture larger than a tile, run
// accurate mode and two pruning levels, download each mask and check it against Node's
// prediction of the same PNG (IoU >= 0.99). UNETPP_WEB_SCREENSHOT=path also saves a
// screenshot of the working page (docs/web-screenshot.png is made so).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { syntheticNuclei } from '../../src/data/images/synthetic.js';
import { readImage, writeImagePng } from '../../src/data/images/read-image.js';
import { SegModel } from '../../src/models/model.js';
import { train } from '../../src/train/trainer.js';
import { resolveBackend } from '../../src/train/backend.js';
import { loadModel } from '../../src/io/checkpoint.js';
import { writeWebBundle } from '../../src/io/web-bundle.js';
import { createPredictor } from '../../src/infer/predict.js';
import { predictImage, binaryMasks } from '../../src/infer/files.js';
import { browserSkip, openSite, type Site } from '../helpers/browser.js';

const skip = browserSkip;
const TILE = 64;
const OVERLAP = 0.25;

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, uni = 0;
  for (let i = 0; i < a.length; i++) { inter += a[i] & b[i]; uni += a[i] | b[i]; }
  return uni ? inter / uni : 1;
}

test('browser page: masks at accurate and two pruning levels agree with Node (IoU >= 0.99)', { skip, timeout: 300_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'unetpp-web-'));
  const log = (s: string) => console.log(`# ${s}`);
  let site: Site | null = null;
  let ok = false;
  try {
    // 1. a tiny deep-supervision UNet++, a fixed number of steps on 48x48 synthetic nuclei (not a
    // time budget: a loaded machine must still get a model that finds nuclei)
    const t0 = Date.now();
    const samples = syntheticNuclei({ count: 100, width: 48, height: 48, seed: 4, channels: 1, style: 'fluorescence' });
    const backend = await resolveBackend('auto');
    const r = await train(new SegModel({ arch: 'unetpp', preset: 'bn', filters: [4, 8, 16, 32], inChannels: 1, classes: 1, deepSupervision: true, seed: 1 }),
      { train: samples.filter((s) => s.split === 'train'), val: samples.filter((s) => s.split !== 'train') },
      { outDir: join(tmp, 'train'), epochs: 6, batchSize: 8, backend, optimizer: { kind: 'adam', lr: 3e-3 }, patience: false,
        augment: { flip: true }, log: null, plot: false, progress: false });
    const model = loadModel(r.bestPath);
    log(`trained ${r.epochs} epochs (${r.stepMs.toFixed(0)} ms/step) on ${backend.name} in ${((Date.now() - t0) / 1000).toFixed(1)} s, val IoU ${r.best?.toFixed(3)}`);

    // 2. bundle, page, server
    const bundle = join(tmp, 'bundle');
    const manifest = writeWebBundle(bundle, model, { tile: TILE, overlap: OVERLAP });
    const tb = Date.now();
    site = await openSite(tmp, bundle, { width: 1100, height: 640 });
    const { page, browser } = site;
    log(`vite build, server, Chromium ${((Date.now() - tb) / 1000).toFixed(1)} s`);

    // 3. a picture larger than a tile (and not a multiple of 8), >= 5% foreground
    const pic = syntheticNuclei({ count: 12, width: 150, height: 130, seed: 77, channels: 1, style: 'fluorescence', nuclei: [14, 26] })
      .find((s) => s.mask.data.reduce((a, v) => a + v, 0) / s.mask.data.length >= 0.05);
    assert.ok(pic, 'no synthetic picture with >= 5% foreground');
    const png = join(tmp, 'nuclei.png');
    await writeImagePng(png, pic.image);
    const img = await readImage(png, { channels: 1 });

    // 4. the page
    await page.goto(site.url);
    await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 30_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', await page.textContent('#status') ?? '');
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'page is not cross-origin isolated (COOP/COEP)');
    await page.setInputFiles('#image-input', png); // runs the first model (accurate)

    let runs = 0;
    const results: string[] = [];
    for (const id of ['accurate', 'L1', 'L2']) {
      if (id !== 'accurate') await page.selectOption('#model', id); // a change runs it
      runs++;
      await page.waitForFunction((n) => document.body.dataset.runs === String(n) || document.body.dataset.state === 'error', runs, { timeout: 60_000 });
      assert.equal(await page.evaluate(() => document.body.dataset.state), 'done', await page.textContent('#status') ?? '');
      const ms = Number(await page.evaluate(() => document.body.dataset.lastMs));
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
      const file = join(tmp, `${id}.png`);
      await download.saveAs(file);
      const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height], [img.width, img.height]);
      const web = Uint8Array.from({ length: img.width * img.height }, (_, i) => (data[i * info.channels] > 127 ? 1 : 0));
      const e = manifest.models.find((m) => m.id === id)!;
      const tn = performance.now();
      const predictor = createPredictor(model, { backend, mode: e.mode, level: e.mode === 'fast' ? e.level : undefined, tile: TILE, overlap: OVERLAP });
      const node = binaryMasks(predictImage(predictor, img), 'sigmoid', manifest.output.threshold);
      const nodeMs = performance.now() - tn;
      const fg = node.reduce((a, v) => a + v, 0) / node.length;
      const score = iou(web, node);
      results.push(`${id}: IoU ${score.toFixed(4)} (foreground ${(100 * fg).toFixed(1)}%), page ${ms.toFixed(0)} ms, Node ${nodeMs.toFixed(0)} ms`);
      assert.ok(fg > 0.01 && fg < 0.6, `${id}: Node's mask covers ${(100 * fg).toFixed(1)}%: the model did not learn enough for a meaningful comparison`);
      assert.ok(score >= 0.99, `${id}: IoU page vs Node ${score}`);
    }
    log(`${img.width}x${img.height} picture, tile ${TILE}, overlap ${OVERLAP}; ${results.join('; ')}`);
    // the same bundle chosen as a folder: the open picture runs again
    await page.setInputFiles('#bundle-folder', bundle);
    runs++;
    await page.waitForFunction((n) => document.body.dataset.runs === String(n) || document.body.dataset.state === 'error', runs, { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'done', await page.textContent('#status') ?? '');
    assert.match(await page.textContent('#bundle-info') ?? '', /^bundle: UNet\+\+/);
    const shot = process.env.UNETPP_WEB_SCREENSHOT;
    if (shot) {
      await page.selectOption('#model', 'accurate');
      await page.waitForFunction((n) => document.body.dataset.runs === String(n), runs + 1);
      await page.screenshot({ path: shot });
      log(`screenshot: ${shot}`);
    }
    // no bundle at the URL: a message that says what to do
    const lost = await browser.newPage();
    await lost.goto(`${site.url}?bundle=missing/`);
    await lost.waitForFunction(() => document.body.dataset.state === 'error');
    assert.match(await lost.textContent('#status') ?? '', /HTTP 404.*serve-web\.mjs --bundle DIR/);
    ok = true;
  } finally {
    await site?.close(ok ? undefined : 'browser test');
    rmSync(tmp, { recursive: true, force: true });
  }
});
