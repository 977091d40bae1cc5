// The Hippocampus time-to-accuracy experiment (experiments/hippocampus-peer): softmax targets
// stored as uint8 class indices round-trip to the trainer's float32 planes and checksums; on
// the real data (skipped without ../shared/data) the stream `unetpp train --plan` trains on is a
// pure function of (seed, epoch, batch), from the prefetching generator and from a fresh loader;
// and the PyTorch peer script's ce_dice gives our loss at step 1 on one tiny batch and the same
// weights (skipped without /usr/bin/python3 and torch, except under CI=true, where it fails).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  batchDigest, epochFile, indexToPlanes, planesToIndex, readPatchEpoch, writePatchEpoch, type DumpBatch,
} from '../../experiments/common/patch-dump.js';
import { SegModel } from '../../src/models/model.js';
import { exportPyTorch } from '../../src/io/pytorch.js';
import { getBackend } from '../../src/engine/backends/select.js';
import { PlanCache } from '../../src/train/plans.js';
import { volumePatchLoader } from '../../src/train/volumes.js';
import { repoRoot, sharedData, skipUnless } from '../data/util.js';
import { peerUnavailable } from '../io/peer-python.js';

/** A softmax batch: n images of one channel, k one-hot classes, d x h x w voxels. */
function softmaxBatch(seed: number, n = 2, k = 3, d = 8, h = 8, w = 8): DumpBatch {
  const size = d * h * w;
  const y = new Float32Array(n * k * size);
  for (let b = 0; b < n; b++) for (let i = 0; i < size; i++) y[(b * k + ((i * 7 + seed + b) % k)) * size + i] = 1;
  return {
    x: Float32Array.from({ length: n * size }, (_, i) => Math.sin(seed * 977 + i * 0.37) * 2),
    y, n, c: 1, k, d, h, w, ids: Array.from({ length: n }, (_, i) => `case${seed}-${i}`),
    foreground: Array.from({ length: n }, (_, i) => i === 0),
  };
}

test('patch epoch file with class-index targets: planes and checksums round-trip, a target that is not one-hot is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hippo-dump-'));
  try {
    const batches = [softmaxBatch(1), softmaxBatch(2)];
    const info = writePatchEpoch(join(dir, epochFile(3)), 3, batches, { seed: '0' }, 'index');
    const f = readPatchEpoch(join(dir, epochFile(3)));
    assert.equal(f.epoch, 3);
    assert.equal(f.metadata.target, 'index');
    f.batches.forEach((b, i) => {
      assert.deepEqual(b.xShape, [2, 1, 8, 8, 8]);
      assert.deepEqual(b.yShape, [2, 3, 8, 8, 8]);
      assert.deepEqual(b.y, batches[i].y);
      assert.deepEqual(b.x, batches[i].x);
      assert.equal(batchDigest(b), info[i].sha256);
    });
    const size = 512, idx = planesToIndex(batches[0].y, 2, 3, size);
    assert.deepEqual(indexToPlanes(idx, 2, 3, size), batches[0].y);
    const two = softmaxBatch(3);
    two.y[512] = 1; // voxel 0 of image 0 is class 0: now class 1 too
    assert.throws(() => writePatchEpoch(join(dir, 'bad.safetensors'), 1, [two], {}, 'index'), /not one-hot/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const DATA = join(sharedData, 'hippocampus-msd');

const pure = 'real data: the plan run\'s patch stream is a pure function of (seed, epoch, batch)';
test(pure, { skip: skipUnless(DATA), timeout: 180_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'hippo-plan-'));
  try {
    // a plan without timing (seconds); the stream's rules are the ones a timed plan gives
    const cli = join(repoRoot, 'dist/src/cli/main.js');
    const plan = spawnSync(process.execPath, [cli, 'plan', '-d', DATA, '--no-measure', '-o', join(out, 'PLAN.json')], { encoding: 'utf8' });
    assert.equal(plan.status, 0, plan.stderr);
    process.env.HIPPO_PEER_OUT = out;
    process.env.HIPPO_DATA = DATA;
    const { planRun } = await import('../../experiments/hippocampus-peer/setup.js');
    const a = await planRun(join(out, 'a'));
    const la = volumePatchLoader(a.data.train, a.options);
    la.setState({ seed: 0, epoch: 2, batch: 0 }); // the trainer's epoch 3, entered as a resume does
    const it = la.epoch();
    const first = (await it.next()).value!, second = (await it.next()).value!;
    await it.return(undefined);
    assert.deepEqual([first.c, first.k, first.d, first.h, first.w], [1, 3, ...a.options.patch]);
    // a second set-up from scratch: other stores, other loader, the batches made directly by position
    const b = await planRun(join(out, 'b'));
    const lb = volumePatchLoader(b.data.train, b.options);
    assert.equal(batchDigest(await lb.makeBatch(2, 1)), batchDigest(second), 'batch 1 out of order, no prefetch');
    assert.equal(batchDigest(await lb.makeBatch(2, 0)), batchDigest(first));
    assert.notEqual(batchDigest(await lb.makeBatch(3, 0)), batchDigest(first), 'another epoch, other patches');
    // the same initial weights
    for (const n of a.model.params.names()) assert.deepEqual(a.model.params.get(n).data, b.model.params.get(n).data, n);
    // and the dump keeps it: the index-encoded file decodes to the loader's float32 planes
    writePatchEpoch(join(out, epochFile(3)), 3, [first, second], {}, 'index');
    const back = readPatchEpoch(join(out, epochFile(3))).batches;
    assert.deepEqual(back.map((x) => batchDigest(x)), [batchDigest(first), batchDigest(second)]);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

// CI must run it: a missing torch fails there instead of skipping
const noPeer = peerUnavailable();
const skipPeer = noPeer && process.env.CI !== 'true' ? `${noPeer} (apt-get install -y python3-torch)` : false;

const step1 = 'the peer script\'s ce_dice over the heads equals our training loss at step 1 (same weights, same batch), ' +
  'with each Dice option; it refuses a loss it does not implement';
test(step1, { skip: skipPeer, timeout: 120_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hippo-step1-'));
  try {
    const model = new SegModel({
      arch: 'unetpp', dims: 3, inChannels: 1, classes: 3, multiclass: 'softmax', filters: [4, 8, 16], norm: 'instance', deepSupervision: true, seed: 3,
    });
    const batch = softmaxBatch(5);
    mkdirSync(dir, { recursive: true });
    exportPyTorch(join(dir, 'init.safetensors'), model);
    writePatchEpoch(join(dir, epochFile(1)), 1, [batch], {}, 'index');
    const script = join(repoRoot, 'experiments/hippocampus-peer/peer_train.py');
    const peerStep1 = (loss: object) => {
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify({
        model: model.config, loss, optimizer: { kind: 'adam', lr: 3e-4, weightDecay: 0, decoupled: false }, schedule: { kind: 'constant' },
        clipNorm: null, epochs: 1, plan: null,
      }));
      return spawnSync('/usr/bin/python3', [script, '--patches', dir, '--step1', '--threads', '1'], { encoding: 'utf8' });
    };
    const base = { kind: 'ce_dice' as const, bceWeight: 0.5 };
    for (const loss of [base, { ...base, diceBackground: false }, { ...base, diceBackground: false, batchDice: true }]) {
      const tp = new PlanCache(model, getBackend('auto'), loss, false).trainPlan([2, 1, 8, 8, 8], [2, 3, 8, 8, 8]);
      const ours = tp.plan.run({ x: batch.x, target: batch.y })[0].data[0];
      const r = peerStep1(loss);
      assert.equal(r.status, 0, `peer_train.py --step1 failed: ${r.stderr}`);
      const peer = JSON.parse(r.stdout.trim().split('\n').pop()!) as { loss: number; sha256: string };
      assert.equal(peer.sha256, batchDigest(batch));
      t.diagnostic(`step 1 loss (${JSON.stringify(loss)}): ours ${ours}, the peer's ${peer.loss}`);
      assert.ok(Math.abs(ours - peer.loss) <= 1e-5 * Math.abs(ours), `step 1 loss: ours ${ours}, the peer's ${peer.loss}`);
      assert.ok(ours > 1, `a loss of random weights on three classes (ce ~ ln 3 + 1 - Dice): ${ours}`);
    }
    const refused = peerStep1({ ...base, diceSmooth: 1 });
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /the dump's loss is .*diceSmooth.*; this script has ce_dice/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
