import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rowsToCsv, rowsToMarkdown, scoreRow, summarize, summaryToCsv, summaryToMarkdown, writeTable } from '../../src/metrics/summary.js';

const rows = [
  scoreRow('a', { iou: 1, hd95: undefined }),
  scoreRow('b', { iou: 0.5, hd95: 4 }),
  scoreRow('c,d', { iou: 0, hd95: 2 }),
];

test('summary: mean, population std, n, undefined count', () => {
  const [iou, hd] = summarize(rows);
  assert.deepEqual(iou, { name: 'iou', mean: 0.5, std: Math.sqrt(1 / 6), n: 3, undefinedCount: 0 });
  assert.deepEqual(hd, { name: 'hd95', mean: 3, std: 1, n: 2, undefinedCount: 1 });
  const [none] = summarize([scoreRow('x', { hd95: undefined })]);
  assert.equal(none.mean, undefined);
  assert.equal(none.undefinedCount, 1);
});

test('CSV and Markdown tables', async () => {
  assert.equal(rowsToCsv(rows, undefined, 2), 'id,iou,hd95\na,1.00,\nb,0.50,4.00\n"c,d",0.00,2.00\n');
  assert.equal(summaryToCsv(summarize(rows), 3), 'metric,mean,std,n,undefined\niou,0.500,0.408,3,0\nhd95,3.000,1.000,2,1\n');
  const md = summaryToMarkdown(summarize(rows), 2);
  assert.match(md, /^\| metric \| mean \| std \| n \| not defined \|\n\|---\|/);
  assert.match(md, /\| hd95 \| 3\.00 \| 1\.00 \| 2 \| 1 \|/);
  assert.match(rowsToMarkdown(rows), /\| a \| 1\.0000 \| - \|/);
  const path = join(tmpdir(), `unetpp-summary-${process.pid}.md`);
  await writeTable(path, md);
  assert.equal(await readFile(path, 'utf8'), md);
  await rm(path);
});
