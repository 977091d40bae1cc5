// Choosing post-processing on validation cases with known Dice: a rule that helps is kept with
// its Dice before/after, one that hurts is rejected, the whole foreground before the classes,
// minimum sizes where keeping the largest would hurt, and cutting cases to their foreground box
// changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { choosePostprocess, cropCase, type ValidationCase } from '../../src/infer/postprocess-choice.js';
import { applyPostprocess } from '../../src/infer/postprocess.js';

/** A case from rows of digits (top row first), prediction and truth side by side: dims [W, H]. */
function pair(pred: string[], truth: string[]): ValidationCase {
  const bytes = (rows: string[]) => Uint8Array.from(rows.join(''), (ch) => Number(ch));
  return { pred: bytes(pred), truth: bytes(truth), dims: [pred[0].length, pred.length] };
}
const close = (a: number | undefined, b: number) => assert.ok(a !== undefined && Math.abs(a - b) < 1e-12, `${a} != ${b}`);

test('keep the largest component: kept where a false-positive speck goes, with the mean Dice before and after', () => {
  const cases = [
    pair(['1100', '1100', '0000', '0001'], ['1100', '1100', '0000', '0000']),  // Dice 8/9 -> 1
    pair(['0000', '0110', '0110', '0000'], ['0000', '0110', '0110', '0000']),  // perfect either way
  ];
  const before = cases.map((c) => c.pred.slice());
  const c = choosePostprocess(cases, [{ values: [1] }]);
  assert.equal(c.rules.length, 1);
  assert.deepEqual({ ...c.rules[0], diceBefore: undefined, diceAfter: undefined }, { values: [1], keep: 'largest', diceBefore: undefined, diceAfter: undefined });
  close(c.rules[0].diceBefore, (8 / 9 + 1) / 2);
  close(c.rules[0].diceAfter, 1);
  close(c.before.mean, (8 / 9 + 1) / 2);
  close(c.after.mean, 1);
  assert.equal(c.tried.length, 1); // one class: no separate foreground rule; min sizes not tried where largest was kept
  assert.deepEqual(cases.map((x) => [...x.pred]), before.map((p) => [...p]), 'the cases are left as they were');
  // applying the rules reproduces the chosen Dice
  const out = cases.map((x) => applyPostprocess(x.pred.slice(), x.dims, c.rules));
  assert.deepEqual([...out[0]], [...pair(['1100', '1100', '0000', '0000'], ['0']).pred]);
});

test('a rule that hurts is rejected; a minimum size that helps is kept instead', () => {
  // two true objects (4 and 2 voxels), found, plus a 1-voxel false positive
  const cases = [pair(['110001', '110001', '000000', '000100'], ['110001', '110001', '000000', '000000'])];
  const c = choosePostprocess(cases, [{ name: 'lesion', values: [1] }]);
  const [largest, minSize] = c.tried;
  assert.deepEqual(largest.rule.keep, 'largest');
  assert.equal(largest.kept, false);
  close(largest.rule.diceBefore, 12 / 13);
  close(largest.rule.diceAfter, 8 / 10);    // keeps 4 of 6 true voxels
  // candidates are fractions of the smallest true object (2 voxels): only 2 is at least 2
  assert.equal(c.tried.length, 2);
  assert.deepEqual({ keep: minSize.rule.keep, minVoxels: minSize.rule.minVoxels, kept: minSize.kept }, { keep: 'min-size', minVoxels: 2, kept: true });
  close(minSize.rule.diceAfter, 1);
  assert.deepEqual(c.rules.map((r) => r.keep), ['min-size']);
  // minimum sizes can be left out
  assert.equal(choosePostprocess(cases, [{ values: [1] }], { minSize: false }).rules.length, 0);
});

test('two classes: the whole foreground first, then each class on top of it; unchanged Dice is not a gain', () => {
  // classes 1 and 2 touch (one structure in two parts); a far class-2 blob is a false positive
  const cases = [
    pair(['11220000', '11220000', '00000000', '00000022'], ['11220000', '11220000', '00000000', '00000000']),
    pair(['00000000', '01122000', '00000000', '00000000'], ['00000000', '01122000', '00000000', '00000000']),
  ];
  const c = choosePostprocess(cases, [{ name: 'anterior', values: [1] }, { name: 'posterior', values: [2] }], { minSize: false });
  assert.deepEqual(c.tried.map((t) => [t.rule.values.join('+'), t.rule.keep, t.kept]), [
    ['1+2', 'largest', true],
    ['1', 'largest', false],  // nothing left to remove: Dice unchanged
    ['2', 'largest', false],
  ]);
  // class 2 Dice in case 1: 8/10 -> 1; class 1 perfect throughout
  close(c.before.perClass[1], (8 / 10 + 1) / 2);
  close(c.before.mean, (1 + (8 / 10 + 1) / 2) / 2);
  close(c.after.mean, 1);
  close(c.tried[1].rule.diceBefore, 1);
  close(c.tried[1].rule.diceAfter, 1);
});

test('separate organs: the foreground rule would drop one and is rejected; a per-class rule still helps', () => {
  // class 1 and class 2 are apart in the truth; class 1 has a speck; case 2 has no class 2 at all
  const cases = [
    pair(['1100022', '1100022', '0000000', '1000000'], ['1100022', '1100022', '0000000', '0000000']),
    pair(['1100000', '1100000', '0000000', '0000000'], ['1100000', '1100000', '0000000', '0000000']),
  ];
  const c = choosePostprocess(cases, [{ values: [1] }, { values: [2] }], { minSize: false });
  assert.deepEqual(c.tried.map((t) => [t.rule.values.join('+'), t.kept]), [['1+2', false], ['1', true], ['2', false]]);
  // empty vs empty scores 1: class 2 of case 2 is perfect
  close(c.before.perClass[1], 1);
  close(c.before.perClass[0], (8 / 9 + 1) / 2);
  close(c.after.mean, 1);
  // a larger epsilon than the gain keeps nothing
  assert.equal(choosePostprocess(cases, [{ values: [1] }, { values: [2] }], { minSize: false, epsilon: 0.1 }).rules.length, 0);
});

test('regions (overlapping sets of values) score and clean as sets', () => {
  // region "whole" = 1+2 (one structure in the truth), region "core" = 2; a far 1 is a false positive of "whole"
  const cases = [pair(['12100', '12100', '00000', '00001'], ['12100', '12100', '00000', '00000'])];
  const c = choosePostprocess(cases, [{ name: 'whole', values: [1, 2] }, { name: 'core', values: [2] }], { minSize: false });
  assert.deepEqual(c.rules.map((r) => r.values), [[1, 2]]);
  close(c.before.perClass[0], 12 / 13);
  close(c.after.mean, 1);
});

test('cropCase: the foreground box keeps Dice and components; an empty case becomes zero voxels', () => {
  const big = pair(['00000000', '00110000', '00110001', '00000000', '00000000'], ['00000000', '00110000', '00110000', '00000000', '00000000']);
  const cut = cropCase(big);
  assert.deepEqual(cut.dims, [6, 2]);
  assert.deepEqual([...cut.pred], [...pair(['110000', '110001'], ['0']).pred]);
  const a = choosePostprocess([big], [{ values: [1] }]), b = choosePostprocess([cut], [{ values: [1] }]);
  assert.deepEqual(a.tried, b.tried);
  const empty = cropCase(pair(['000', '000'], ['000', '000']));
  assert.deepEqual(empty.dims, [0, 0]);
  assert.equal(empty.pred.length, 0);
  close(choosePostprocess([empty], [{ values: [1] }]).before.mean, 1);
  // 3D: a box inside a volume
  const [X, Y, Z] = [5, 4, 3];
  const pred = new Uint8Array(X * Y * Z), truth = new Uint8Array(X * Y * Z);
  pred[1 + X * (2 + Y * 1)] = 1;
  truth[3 + X * (1 + Y * 2)] = 2;
  const box = cropCase({ pred, truth, dims: [X, Y, Z] });
  assert.deepEqual(box.dims, [3, 2, 2]);
  assert.deepEqual([box.pred.indexOf(1), box.truth.indexOf(2)], [0 + 3 * (1 + 2 * 0), 2 + 3 * (0 + 2 * 1)]);
  assert.throws(() => choosePostprocess([], [{ values: [1] }]), /no validation cases/);
});
