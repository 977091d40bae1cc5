// --batch-size and --samples-per-epoch of `unetpp train` (images and volumes), reconciled so
// that a small dataset or a few draws an epoch train instead of failing on a library option.
import { CliError } from './common.js';

/**
 * Batch size and draws per epoch from --batch-size and --samples-per-epoch: an epoch draws at
 * least one full batch (a training set smaller than the batch is drawn with repeats), and a batch
 * size not given on the command line (the fixed default or the plan's) shrinks to fit fewer draws;
 * only two flags that contradict each other are an error.
 */
export function epochDraws(opts: Record<string, any>, defaultBatch: number, trainCount: number,
                           batchGiven = opts.batchSize !== undefined): { batchSize: number; samplesPerEpoch?: number } {
  const draws: number | undefined = opts.samplesPerEpoch;
  const batch: number = opts.batchSize ?? defaultBatch;
  if (!batchGiven && draws !== undefined && draws < batch) {
    console.log(`batch size ${draws}: --samples-per-epoch ${draws} draws fewer than the default --batch-size ${batch}`);
    return { batchSize: draws, samplesPerEpoch: draws };
  }
  const batchSize = batch;
  if (draws !== undefined && draws < batchSize)
    throw new CliError(`--samples-per-epoch ${draws} makes no full batch of --batch-size ${batchSize}: ` +
      `give at least ${batchSize}, or a smaller --batch-size`);
  return { batchSize, samplesPerEpoch: draws ?? (trainCount < batchSize ? batchSize : undefined) };
}
