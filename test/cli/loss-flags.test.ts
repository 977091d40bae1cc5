// The Dice options from the command line: --dice-classes all|foreground and --batch-dice. Parsing into the
// loss (lossFromFlags), the trainer's option errors, the errors naming the flags, the plan recipe carrying them,
// and a short `unetpp train` on tiny synthetic volumes whose checkpoints record the loss (plain and with an
// ignore label). The end-to-end runs need the native backend (the reference would take minutes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lossFromFlags } from '../../src/cli/loss-flags.js';
import { lossRecord, resolveOptions } from '../../src/train/options.js';
import { writeSyntheticVolumes } from '../../src/data/volumes/synthetic-volumes.js';
import { readCheckpointMeta } from '../../src/io/checkpoint.js';
import { validateMeta } from '../../src/io/meta-validate.js';
import { nativeAvailable } from '../../src/engine/backends/native.js';
import { derivePlan, fingerprintDataset } from '../../src/plan/index.js';
import { writeFileSync } from 'node:fs';

const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const cli = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
const native = nativeAvailable();

test('lossFromFlags: absent flags give today\'s loss; the flags set the options; errors name the flag', () => {
  assert.deepEqual(lossFromFlags({ bceWeight: 0.5 }, true), { kind: 'ce_dice', bceWeight: 0.5 });
  assert.deepEqual(lossFromFlags({ bceWeight: 0.5, diceClasses: 'all', batchDice: false }, true), { kind: 'ce_dice', bceWeight: 0.5 });
  assert.deepEqual(lossFromFlags({ bceWeight: 0.5, diceClasses: 'foreground', batchDice: true }, true),
    { kind: 'ce_dice', bceWeight: 0.5, diceBackground: false, batchDice: true });
  assert.deepEqual(lossFromFlags({ bceWeight: 0.5, batchDice: true }, false), { kind: 'bce_dice', bceWeight: 0.5, batchDice: true });
  assert.throws(() => lossFromFlags({ diceClasses: 'foreground' }, false), /--dice-classes foreground: the loss is bce_dice, which has no background class/);
  assert.throws(() => lossFromFlags({ diceClasses: 'foreground', loss: 'dice' }, true), /--dice-classes foreground: the loss is dice/);
  assert.throws(() => lossFromFlags({ batchDice: true, loss: 'ce' }, true), /--batch-dice: the loss ce has no Dice term/);
});

test('train options: loss.diceBackground and loss.batchDice are checked and recorded', () => {
  const base = { outDir: '/tmp/x', epochs: 1, log: null };
  const r = resolveOptions({ ...base, loss: { kind: 'ce_dice' } });
  assert.equal(r.loss.diceBackground, true);
  assert.equal(r.loss.batchDice, false);
  assert.deepEqual(lossRecord(r.loss), { kind: 'ce_dice', diceBackground: true, batchDice: false });
  const nn = resolveOptions({ ...base, loss: { kind: 'ce_dice', diceBackground: false, batchDice: true } });
  assert.deepEqual(lossRecord(nn.loss), { kind: 'ce_dice', diceBackground: false, batchDice: true });
  assert.deepEqual(lossRecord(resolveOptions({ ...base, loss: { kind: 'bce_dice', batchDice: true } }).loss),
    { kind: 'bce_dice', bceWeight: 0.5, batchDice: true });
  assert.deepEqual(lossRecord(resolveOptions({ ...base, loss: { kind: 'ce' } }).loss), { kind: 'ce' });
  assert.throws(() => resolveOptions({ ...base, loss: { kind: 'bce_dice', diceBackground: false } }),
    /train option loss\.diceBackground: false is for ce_dice \(softmax\); bce_dice has no background class/);
  assert.throws(() => resolveOptions({ ...base, loss: { kind: 'ce_dice', batchDice: 'yes' as unknown as boolean } }),
    /train option loss\.batchDice: must be true or false/);
  assert.throws(() => resolveOptions({ ...base, loss: { kind: 'ce', batchDice: true } }), /train option loss\.batchDice: ce has no Dice term/);
});

test('unetpp train --dice-classes foreground --batch-dice: trains, and the checkpoints say so; flag errors',
  { skip: native.ok ? false : `native backend unavailable (${native.reason})` }, async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'unetpp-loss-'));
    try {
      const data = join(tmp, 'vols');
      await writeSyntheticVolumes(data, { count: 4, dims: [16, 16, 16], channels: 1, seed: 5, splitFractions: [0.5, 0.25, 0.25] });
      const common = ['-d', data, '--epochs', '1', '--patch', '16', '--filters', '4,8', '--samples-per-epoch', '2',
        '--batch-size', '2', '--no-plan', '--no-progress', '--no-plot', '--no-postprocess'];
      for (const [run, extra, values] of [
        ['fg', ['--labels', '1,2', '--dice-classes', 'foreground', '--batch-dice'], { diceBackground: false, batchDice: true }],
        // label 2 ignored: the masked loss with the options
        ['ignore', ['--labels', '1', '--other', 'ignore', '--dice-classes', 'foreground'], { diceBackground: false, batchDice: false }],
        ['default', ['--labels', '1,2'], { diceBackground: true, batchDice: false }],
      ] as const) {
        const t = cli(['train', ...common, '-o', join(tmp, run), ...extra]);
        assert.equal(t.status, 0, t.stderr);
        assert.match(t.stdout, /loss [0-9.]+/);
        const said = { fg: 'loss ce_dice (Dice over the foreground classes, batch Dice)', ignore:
          'loss ce_dice (Dice over the foreground classes)', default: 'loss ce_dice' }[run];
        assert.ok(t.stdout.split('\n').some((l) => l.startsWith('training 3D') && l.endsWith(`; ${said}`)), t.stdout);
        for (const f of ['best.safetensors', 'last.safetensors']) {
          const { meta } = readCheckpointMeta(join(tmp, run, f));
          assert.deepEqual(meta.training?.loss, { kind: 'ce_dice', ...values }, `${run} ${f}`);
          const tampered = { ...meta, training: { ...meta.training!, loss: { kind: 'ce_dice', batchDice: 'yes' } } };
          assert.throws(() => validateMeta(tampered, f), /metadata field training\.loss\.batchDice: expected a boolean/);
        }
      }
      // a resumed run keeps its loss: other flags are an error, the same flags go on
      const twoEpochs = common.map((x, i) => (common[i - 1] === '--epochs' ? '2' : x));
      const fgArgs = [...twoEpochs, '--labels', '1,2', '-o', join(tmp, 'fg'), '--resume'];
      const other = cli(['train', ...fgArgs, '--dice-classes', 'foreground']);
      assert.notEqual(other.status, 0);
      assert.match(other.stderr, /resume: .*last\.safetensors was trained with loss \{"kind":"ce_dice","diceBackground":false,"batchDice":true\}, not \{"kind":"ce_dice","diceBackground":false,"batchDice":false\}/);
      const same = cli(['train', ...fgArgs, '--dice-classes', 'foreground', '--batch-dice']);
      assert.equal(same.status, 0, same.stderr);
      assert.match(same.stdout, /resumed from .* after epoch 1/);
      // a plan whose recipe asks for both (the planner never does by itself); --no-batch-dice overrides one
      const { fingerprint } = await fingerprintDataset(data);
      const plan = await derivePlan(fingerprint, { timeBudgetSeconds: 600, maxMemory: 2 ** 31, measure: false });
      assert.equal(plan.training.recipe?.diceClasses, undefined);
      assert.equal(plan.training.recipe?.batchDice, undefined);
      plan.training.recipe = { ...plan.training.recipe!, diceClasses: 'foreground', batchDice: true };
      const planFile = join(tmp, 'plan.json');
      writeFileSync(planFile, JSON.stringify(plan));
      const fromPlan = common.filter((a) => a !== '--no-plan');
      for (const [run, extra, batchDice] of [['plan', [], true], ['plan-no-batch', ['--no-batch-dice'], false]] as const) {
        const t = cli(['train', ...fromPlan, '--labels', '1,2', '--plan', planFile, '-o', join(tmp, run), ...extra]);
        assert.equal(t.status, 0, t.stderr);
        assert.match(t.stdout, /^recipe .*Dice over the foreground classes, batch Dice/m);
        const { meta } = readCheckpointMeta(join(tmp, run, 'last.safetensors'));
        assert.deepEqual(meta.training?.loss, { kind: 'ce_dice', diceBackground: false, batchDice }, run);
      }
      const bad = (extra: string[], re: RegExp) => {
        const r = cli(['train', ...common, '-o', join(tmp, 'bad'), '--labels', '1,2', ...extra]);
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, re);
      };
      bad(['--dice-classes', 'some'], /--dice-classes.*some/);
      bad(['--dice-classes', 'foreground', '--loss', 'bce_dice', '--multiclass', 'sigmoid'], /--dice-classes foreground: the loss is bce_dice/);
      bad(['--batch-dice', '--loss', 'ce'], /--batch-dice: the loss ce has no Dice term/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
