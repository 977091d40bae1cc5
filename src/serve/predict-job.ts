// One request's prediction as plain data (the upload, the model's name and the options), run
// through predictInput with its network runs queued on a micro-batcher. The service runs it on
// the main thread (--workers 0) or in a worker thread of its pool: the same code either way.
import { predictInput, InputError } from '../infer/predict-input.js';
import type { Normalize } from '../data/images/transforms.js';
import { HttpError } from './errors.js';
import type { MicroBatcher } from './batcher.js';
import type { ModelRegistry, PredictorSettings } from './models.js';
import { anyStop, withReason, type StopSignal } from '../util/stop.js';

export interface PredictJob {
  model: string;
  bytes: Uint8Array;
  /** The upload's name, for messages. */
  name: string;
  /** What the first bytes say: png, jpeg, tiff, nifti, nifti-gz. */
  type: string;
  settings: PredictorSettings;
  threshold: number;
  normalize?: Normalize;
  resize?: [number, number];
  /** Encode the output (PNG or .nii.gz); false: JSON, from the arrays below. */
  encode: boolean;
  postprocess?: boolean;
  maxPixels: number;
  /** JSON asked for the probabilities (images). */
  probabilities: boolean;
}

/** What an answer is made from: the encoded output, or the arrays JSON counts. */
export type JobResult =
  | { kind: 'image'; width: number; height: number; encoded?: Buffer; masks?: Uint8Array; probs?: { data: Float32Array; classes: number } }
  | { kind: 'volume'; dims: [number, number, number]; spacing: [number, number, number]; encoded?: Buffer; labels?: Uint8Array };

const isVolume = (type: string) => type === 'nifti' || type === 'nifti-gz';

/**
 * Runs a job: the network runs of images of one model, options and size share batches (the
 * slices and windows of a volume run as the request's own items). arrived(): called once the
 * job's first network run is queued (the batcher waits for requests still being decoded);
 * onInput: told of each network input before it is queued (a pool tells which jobs run); stop: set
 * from outside (a worker thread's shared flag) to drop the job, or stop it at its next layer or window.
 */
export async function runPredictJob(models: ModelRegistry, batcher: MicroBatcher, job: PredictJob, id: number,
                                    signal: AbortSignal, arrived: () => void, onInput?: (input: object) => void,
                                    stop?: StopSignal): Promise<JobResult> {
  const served = models.get(job.model);
  const volume = isVolume(job.type);
  const { name } = job;
  // checked between a volume's slices (the batcher checks its own deadline and these within a run)
  const halt = anyStop([withReason(signal, new HttpError(499, 'bad_request', 'the client closed the connection')), stop]);
  try {
    const pred = await predictInput(served.entry, models.cache, { kind: volume ? 'volume-bytes' : 'image-bytes', bytes: job.bytes, name }, {
      settings: job.settings, threshold: job.threshold, normalize: job.normalize, resize: job.resize, encode: job.encode,
      postprocess: job.postprocess, maxPixels: job.maxPixels, signal: halt,
      onDecoded: ({ width, height, depth }) => {
        if (depth === undefined && width * height > job.maxPixels)
          throw new HttpError(413, 'too_large', `${name}: ${width}x${height} is more than max-pixels ${job.maxPixels}`);
      },
      network: ({ predictor, key, input, batchable }) => {
        const size = [input.channels, ...input.sizes].join('x');
        const batchKey = batchable ? `${served.name}|${key}|${size}` : `request-${id}`;
        onInput?.(input);
        const runBatch = (inputs: typeof input[], batchStop?: StopSignal) => predictor.predictManyAsync(inputs, { signal: batchStop });
        const pending = batcher.submit(batchKey, input, runBatch, signal, stop);
        arrived();
        return pending;
      },
    });
    if (pred.kind === 'volume') {
      const { dims, spacing, encoded } = pred;
      return { kind: 'volume', dims, spacing, encoded, labels: job.encode ? undefined : pred.labels };
    }
    const { width, height, encoded } = pred;
    if (job.encode) return { kind: 'image', width, height, encoded };
    const probs = job.probabilities ? { data: pred.probs.data, classes: pred.probs.channels } : undefined;
    return { kind: 'image', width, height, masks: pred.masks, probs };
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    const corrupt = e.reason === 'decode' ? (volume ? 'corrupt NIfTI volume: ' : `corrupt ${job.type.toUpperCase()} image: `) : '';
    throw new HttpError(400, 'bad_request', corrupt + e.message);
  }
}
