import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashSeed, Rng } from '../../src/data/rng.js';

test('same seed, same stream; different seeds differ', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const sa = Array.from({ length: 100 }, () => a.nextU32());
  assert.deepEqual(sa, Array.from({ length: 100 }, () => b.nextU32()));
  assert.notDeepEqual(sa, Array.from({ length: 100 }, () => c.nextU32()));
});

test('state save and restore resumes the exact stream', () => {
  const r = new Rng(7);
  for (let i = 0; i < 1000; i++) r.next();
  const saved = r.getState();
  const json = JSON.parse(JSON.stringify(saved)); // as a checkpoint would store it
  const ahead = Array.from({ length: 50 }, () => [r.next(), r.normal(), r.int(10)]);
  const resumed = Rng.fromState(json);
  assert.deepEqual(Array.from({ length: 50 }, () => [resumed.next(), resumed.normal(), resumed.int(10)]), ahead);
  r.setState(saved);
  assert.deepEqual(Array.from({ length: 50 }, () => [r.next(), r.normal(), r.int(10)]), ahead);
  assert.throws(() => r.setState([0, 0, 0, 0]), /not all zero/);
});

test('uniform and normal look right; shuffle is a permutation', () => {
  const r = new Rng(1);
  const n = 20000;
  let s = 0;
  let s2 = 0;
  let u = 0;
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    s += z;
    s2 += z * z;
    u += r.next();
  }
  assert.ok(Math.abs(s / n) < 0.05 && Math.abs(s2 / n - 1) < 0.05, `normal mean ${s / n} var ${s2 / n}`);
  assert.ok(Math.abs(u / n - 0.5) < 0.01);
  const p = r.shuffle([...Array(50).keys()]);
  assert.deepEqual([...p].sort((a, b) => a - b), [...Array(50).keys()]);
  assert.notDeepEqual(p, [...Array(50).keys()]);
  assert.notEqual(hashSeed(1, 2), hashSeed(2, 1));
});
