// --batch-size and --samples-per-epoch reconciled: a batch size the user did not give (the fixed
// default or the plan's) shrinks to fewer draws; a set smaller than the batch is drawn with repeats;
// only flags that contradict each other are an error, naming both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epochDraws } from '../../src/cli/epoch-draws.js';

test('epoch draws: the default or planned batch shrinks to --samples-per-epoch; a given one is an error naming both flags', () => {
  assert.deepEqual(epochDraws({}, 8, 100), { batchSize: 8, samplesPerEpoch: undefined });
  assert.deepEqual(epochDraws({}, 8, 3), { batchSize: 8, samplesPerEpoch: 8 }, 'three images drawn with repeats');
  assert.deepEqual(epochDraws({ samplesPerEpoch: 4 }, 8, 100), { batchSize: 4, samplesPerEpoch: 4 });
  assert.deepEqual(epochDraws({ batchSize: 8, samplesPerEpoch: 4 }, 2, 100, false), { batchSize: 4, samplesPerEpoch: 4 }, 'a planned batch');
  assert.throws(() => epochDraws({ batchSize: 8, samplesPerEpoch: 4 }, 2, 100, true),
    /^Error: --samples-per-epoch 4 makes no full batch of --batch-size 8: give at least 8, or a smaller --batch-size$/);
});
