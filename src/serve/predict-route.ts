// POST /v1/predict: decode the upload as `unetpp predict` reads files, queue it for a
// micro-batch with other requests of the same model, options and size, answer the mask
// (PNG, NIfTI) or JSON. Volumes go through predictVolume (slice by slice) as one queue item.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { readImageBytes, maskPng, labelPng } from '../data/read-image.js';
import { readNifti } from '../data/nifti.js';
import { prepareImage, restoreSize, binaryMasks, predictVolume, type FilePredictOptions } from '../infer/files.js';
import { labelMap, type ProbMap } from '../infer/predict.js';
import { HttpError } from './errors.js';
import { sniff, SUPPORTED } from './sniff.js';
import { parsePredictQuery, type PredictQuery } from './query.js';
import { readUpload } from './body.js';
import type { MicroBatcher } from './batcher.js';
import type { ModelRegistry, PredictorSettings, ServedModel } from './models.js';

export interface PredictDefaults {
  /** The predictor flags of the serve command (predictorSettings). */
  predictor: PredictorSettings;
  threshold: number;
  resize?: { width: number; height: number };
  /** --normalize given to serve; else each checkpoint's recorded normalisation. */
  normalize?: FilePredictOptions['normalize'];
  /** Largest image accepted, in pixels (413 beyond). */
  maxPixels: number;
}

export function predictHandler(models: ModelRegistry, batcher: MicroBatcher, d: PredictDefaults) {
  let seq = 0;
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const arrived = batcher.expect();
    try {
      return await handle(req, reply, arrived);
    } finally {
      arrived();
    }
  };

  async function handle(req: FastifyRequest, reply: FastifyReply, arrived: () => void) {
    const t0 = performance.now();
    const q = parsePredictQuery(req.query as Record<string, unknown>);
    const served = models.get(q.model);
    const settings: PredictorSettings = { ...d.predictor };
    for (const k of ['mode', 'level', 'head', 'tta', 'tile'] as const) if (q[k] !== undefined) (settings as any)[k] = q[k];
    const { predictor, key } = models.predictor(served, settings);
    const fileOpts: FilePredictOptions = {
      normalize: d.normalize ?? served.normalize, resize: d.resize, threshold: q.threshold ?? d.threshold, classNames: served.classNames,
    };
    const upload = await readUpload(req);
    const kind = sniff(upload.bytes);
    if (!kind) throw new HttpError(415, 'unsupported_type', `${upload.name}: not a supported file (first bytes ${upload.bytes.subarray(0, 8).toString('hex')}); send ${SUPPORTED}`);
    if (kind === 'nifti' || kind === 'nifti-gz') {
      if (q.format === 'png') throw new HttpError(400, 'bad_request', 'query parameter format: png is for images; volumes answer nifti or json');
      const id = `vol-${++seq}`;
      const pending = batcher.submit(id, upload.bytes, async ([bytes]) => [await runVolume(bytes, kind, predictor, fileOpts)]);
      arrived();
      return answerVolume(reply, served, q, await pending, t0);
    }
    if (q.format === 'nifti') throw new HttpError(400, 'bad_request', 'query parameter format: nifti is for volumes; images answer png or json');
    const want = served.model.config.inChannels;
    if (want !== 1 && want !== 3) throw new HttpError(400, 'bad_request', `model "${served.name}" takes ${want} channels; images give 1 or 3`);
    const img = await readImageBytes(upload.bytes, upload.name, { channels: want }).catch((e: Error) => {
      throw new HttpError(400, 'bad_request', `corrupt ${kind.toUpperCase()} image: ${e.message}`);
    });
    if (img.width * img.height > d.maxPixels) throw new HttpError(413, 'too_large', `${upload.name}: ${img.width}x${img.height} is more than max-pixels ${d.maxPixels}`);
    const input = prepareImage(img, fileOpts);
    const batchKey = `${served.name}|${key}|${input.channels}x${input.height}x${input.width}`;
    const pending = batcher.submit(batchKey, input, (inputs) => predictor.predictMany(inputs));
    arrived();
    const probs = restoreSize(await pending, img, fileOpts);
    const mc = served.model.config.multiclass;
    const t = fileOpts.threshold ?? 0.5;
    if ((q.format ?? 'png') === 'png') {
      const png = probs.classes === 1
        ? await maskPng(binaryMasks(probs, mc, t), img.width, img.height)
        : await labelPng(labelMap(probs, mc, t), img.width, img.height);
      return reply.type('image/png').send(png);
    }
    return reply.send(imageJson(served, probs, binaryMasks(probs, mc, t), q, t0));
  }
}

function classNames(served: ServedModel, k: number): string[] {
  return served.classNames ?? (k === 1 ? ['foreground'] : Array.from({ length: k }, (_, i) => `class${i}`));
}

function imageJson(served: ServedModel, p: ProbMap, masks: Uint8Array, q: PredictQuery, t0: number) {
  const plane = p.width * p.height;
  const names = classNames(served, p.classes);
  const classes = names.map((name, k) => {
    let n = 0;
    for (let i = k * plane; i < (k + 1) * plane; i++) n += masks[i];
    return { name, pixels: n, fraction: n / plane };
  });
  const out: Record<string, unknown> = { model: served.name, kind: 'image', width: p.width, height: p.height, classes, ms: performance.now() - t0 };
  if (q.probabilities) {
    const le = Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength); // float32 little endian on x86/arm
    out.probabilities = { dtype: 'float32', shape: [p.classes, p.height, p.width], data: le.toString('base64') };
  }
  return out;
}

interface VolumeResult { file: Buffer; labels: Float32Array; dims: [number, number, number]; spacing: [number, number, number] }

/** The request's volume through predictVolume, as `unetpp predict` runs it, in a temporary folder. */
async function runVolume(bytes: Buffer, kind: string, predictor: Parameters<typeof predictVolume>[0], opts: FilePredictOptions): Promise<VolumeResult> {
  const dir = await mkdtemp(join(tmpdir(), 'unetpp-serve-'));
  try {
    const input = join(dir, kind === 'nifti-gz' ? 'volume.nii.gz' : 'volume.nii');
    await writeFile(input, bytes);
    const r = await predictVolume(predictor, [input], join(dir, 'out'), opts).catch((e: Error) => {
      throw new HttpError(400, 'bad_request', `corrupt NIfTI volume: ${e.message.replaceAll(input, 'request body')}`);
    });
    const vol = await readNifti(r.outputs[0]);
    return { file: await readFile(r.outputs[0]), labels: vol.data, dims: vol.dims, spacing: vol.spacing };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function answerVolume(reply: FastifyReply, served: ServedModel, q: PredictQuery, v: VolumeResult, t0: number) {
  if ((q.format ?? 'nifti') === 'nifti') return reply.type('application/gzip').header('Content-Disposition', 'attachment; filename="mask.nii.gz"').send(v.file);
  const k = served.model.config.classes;
  const labels = new Map<number, number>();
  for (const l of v.labels) if (l) labels.set(l, (labels.get(l) ?? 0) + 1);
  const names = classNames(served, k);
  const voxelMm3 = v.spacing[0] * v.spacing[1] * v.spacing[2];
  // label l is class l (softmax, 0 = background) or class l - 1 (one class, or sigmoids)
  const nameOf = (l: number) => (k > 1 && served.model.config.multiclass === 'softmax' ? names[l] : names[l - 1]) ?? `label${l}`;
  const total = v.labels.length;
  const classes = [...labels.entries()].sort(([a], [b]) => a - b)
    .map(([label, n]) => ({ name: nameOf(label), label, voxels: n, fraction: n / total, volumeMm3: n * voxelMm3 }));
  return reply.send({ model: served.name, kind: 'volume', width: v.dims[0], height: v.dims[1], depth: v.dims[2], spacing: v.spacing, classes, ms: performance.now() - t0 });
}
