// Evaluation: the CSV rows equal the metrics of the predictions, summary = mean and std.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SegModel } from '../../src/models/model.js';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import { createPredictor } from '../../src/infer/predict.js';
import { imageField } from '../../src/infer/grid.js';
import { evaluateFolder } from '../../src/infer/evaluate.js';
import { PredictorCache } from '../../src/infer/predictor-cache.js';
import { completeMeta } from '../../src/io/meta-defaults.js';
import { writeFolder } from '../../src/data/images/folder.js';
import { binaryScores } from '../../src/metrics/index.js';
import { Rng } from '../../src/data/rng.js';

const backend = new ReferenceBackend({ dtype: 'float32' });

test('eval writes per-image CSV rows equal to the metrics, with mean and std', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unetpp-eval-'));
  try {
    const r = new Rng(7);
    const samples = ['s0', 's1', 's2', 's3'].map((id, i) => {
      const [w, h] = [24 + i, 17 + 2 * i];
      const image = { width: w, height: h, channels: 1, data: Float32Array.from({ length: w * h }, () => r.next()) };
      // masks: a disc, one empty mask (empty truth: HD95 undefined)
      const mask = new Float32Array(w * h);
      if (i !== 2) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) mask[y * w + x] = (x - w / 2) ** 2 + (y - h / 2) ** 2 < 30 ? 1 : 0;
      return { id, split: (i < 2 ? 'train' : 'test') as 'train' | 'test', image, mask: { width: w, height: h, channels: 1, data: mask } };
    });
    await writeFolder(join(dir, 'ds'), samples);
    const model = new SegModel({ filters: [4, 8, 16], inChannels: 1, classes: 1, seed: 11 });
    const p = createPredictor(model, { backend });
    const entry = { name: 'm', key: 'm', models: [model], meta: completeMeta(model.config, {}, 'train') };
    const cache = new PredictorCache(backend);
    const ev = await evaluateFolder(entry, cache, join(dir, 'ds'), { outDir: join(dir, 'out') });
    assert.equal(ev.rows.length, 4);
    const csv = (await readFile(join(dir, 'out', 'metrics.csv'), 'utf8')).trim().split('\n');
    assert.equal(csv[0], 'id,iou,dice,precision,recall,hd95');
    for (const [i, s] of samples.entries()) {
      const prob = p.predict(imageField(s.image));
      const want = binaryScores(prob.data, s.mask.data, [s.image.width, s.image.height]);
      const cells = csv[i + 1].split(',');
      assert.equal(cells[0], s.id);
      ['iou', 'dice', 'precision', 'recall', 'hd95'].forEach((k, j) => {
        const v = (want as any)[k] as number | undefined;
        if (v === undefined) assert.equal(cells[j + 1], '');
        else assert.ok(Math.abs(Number(cells[j + 1]) - v) < 1e-6, `${s.id} ${k}: ${cells[j + 1]} vs ${v}`);
      });
    }
    const dice = ev.rows.map((row) => row.values.dice!);
    const mean = dice.reduce((a, b) => a + b, 0) / 4;
    const std = Math.sqrt(dice.reduce((a, b) => a + (b - mean) ** 2, 0) / 4);
    const s = ev.summary.find((m) => m.name === 'dice')!;
    assert.ok(Math.abs(s.mean! - mean) < 1e-12 && Math.abs(s.std! - std) < 1e-12);
    const md = await readFile(join(dir, 'out', 'metrics.md'), 'utf8');
    assert.match(md, /\| dice \|/);
    const test = await evaluateFolder(entry, cache, join(dir, 'ds'), { split: 'test', hd95: false });
    assert.deepEqual(test.rows.map((row) => row.id), ['s2', 's3']);
    assert.equal(test.rows[0].values.hd95, undefined);
    await assert.rejects(evaluateFolder(entry, cache, join(dir, 'ds'), { split: 'val' }), /no samples in split "val"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
