// The plan cache on its own: predictors freed least recently used first, down to the budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PlanCache } from '../../src/serve/lru.js';
import type { Predictor } from '../../src/infer/predict.js';

/** A predictor stand-in that holds `bytes` of plans until released. */
const fake = (bytes: number) => {
  const p = { held: bytes, released: 0, get planBytes() { return p.held; }, releasePlans() { p.held = 0; p.released++; } };
  return p as unknown as Predictor & typeof p;
};

test('trim frees the least recently used predictors until the held bytes fit; forget frees at once', () => {
  const cache = new PlanCache(100);
  const [a, b, c] = [fake(40), fake(40), fake(40)];
  cache.use('a', a);
  cache.use('b', b);
  cache.use('c', c);
  cache.use('a', a); // a is now the most recent: b goes first
  assert.equal(cache.heldBytes, 120);
  assert.equal(cache.trim(), 40);
  assert.deepEqual([a.released, b.released, c.released], [0, 1, 0]);
  assert.equal(cache.heldBytes, 80);
  assert.equal(cache.trim(), 0); // fits
  // plans grow as new sizes compile: one predictor alone over the budget is freed too
  a.held = 150;
  cache.trim();
  assert.deepEqual([a.released, c.released], [1, 1]);
  assert.equal(cache.heldBytes, 0);
  c.held = 10;
  cache.forget('c');
  assert.equal(c.released, 2);
  assert.equal(cache.heldBytes, 0);
});
