// POST /v1/predict: the upload checked here (type, options, the header's cost), then run as a
// job (predict-job.ts: predictInput, as `unetpp predict` runs a file) by the service's runner,
// in a worker thread or on the main thread; answers the mask (PNG, NIfTI) or JSON.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CheckpointMeta } from '../io/checkpoint-meta.js';
import type { Normalize } from '../data/images/transforms.js';
import { HttpError } from './errors.js';
import { sniff, SUPPORTED } from './sniff.js';
import { parsePredictQuery, type PredictQuery } from './query.js';
import { readUpload } from './body.js';
import { admitUpload, type CostLimits } from './cost.js';
import type { JobRunner } from './runner.js';
import type { JobResult } from './predict-job.js';
import type { ModelRegistry, PredictorSettings, ServedModel } from './models.js';
import { settingsFor } from '../infer/predictor-cache.js';

export interface PredictDefaults extends CostLimits {
  /** The predictor flags of the serve command (predictorSettings). */
  predictor: PredictorSettings;
  threshold: number;
  /** --resize given to serve ([height, width]); else each checkpoint's recorded size. */
  resize?: [number, number];
  /** --normalize given to serve; else each checkpoint's recorded normalisation. */
  normalize?: Normalize;
}

type ImageResult = Extract<JobResult, { kind: 'image' }>;
type VolumeResult = Extract<JobResult, { kind: 'volume' }>;

export function predictHandler(models: ModelRegistry, runner: JobRunner, d: PredictDefaults) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const arrived = runner.expect();
    try {
      return await handle(req, reply, arrived);
    } finally {
      arrived();
    }
  };

  async function handle(req: FastifyRequest, reply: FastifyReply, arrived: () => void) {
    const t0 = performance.now();
    const gone = new AbortController(); // the client hung up: its queued work is dropped
    reply.raw.once('close', () => { if (!reply.raw.writableFinished) gone.abort(); });
    const q = parsePredictQuery(req.query as Record<string, unknown>);
    const served = models.get(q.model);
    const settings: PredictorSettings = { ...d.predictor };
    for (const k of ['mode', 'level', 'head', 'tta', 'tile'] as const) if (q[k] !== undefined) (settings as any)[k] = q[k];
    const upload = await readUpload(req);
    const kind = sniff(upload.bytes);
    const first = upload.bytes.subarray(0, 8).toString('hex');
    if (!kind) throw new HttpError(415, 'unsupported_type', `${upload.name}: not a supported file (first bytes ${first}); send ${SUPPORTED}`);
    const volume = kind === 'nifti' || kind === 'nifti-gz';
    const badFormat = (msg: string) => new HttpError(400, 'bad_request', `query parameter format: ${msg}`);
    if (volume && q.format === 'png') throw badFormat('png is for images; volumes answer nifti or json');
    if (!volume && q.format === 'nifti') throw badFormat('nifti is for volumes; images answer png or json');
    const { name } = upload;
    const { model: { dims }, input } = served.entry.meta;
    const spacing = input.kind === 'volume' ? input.spacing : undefined;
    // 413 from the header, before any decode
    // the flips the checkpoint records count as asked for
    const tta = settingsFor(served.entry, settings).tta;
    const { bytes } = await admitUpload(upload.bytes, kind, name, d, { ...settings, tta, dims, spacing });
    const result = await runner.run({
      model: served.name, bytes, name, type: kind, settings, threshold: q.threshold ?? d.threshold, normalize: d.normalize,
      resize: d.resize, encode: q.format !== 'json', postprocess: q.postprocess, maxPixels: d.maxPixels, probabilities: !!q.probabilities,
    }, gone.signal, arrived);
    if (result.kind === 'volume') return answerVolume(reply, served, q, result, t0);
    if ((q.format ?? 'png') === 'png') return reply.type('image/png').send(result.encoded);
    return reply.send(imageJson(served, result, q, t0));
  }
}

function imageJson(served: ServedModel, p: ImageResult, q: PredictQuery, t0: number) {
  const plane = p.width * p.height;
  const classes = served.entry.meta.classNames.map((name, k) => {
    let n = 0;
    for (let i = k * plane; i < (k + 1) * plane; i++) n += p.masks![i];
    return { name, pixels: n, fraction: n / plane };
  });
  const out: Record<string, unknown> = {
    model: served.name, kind: 'image', width: p.width, height: p.height, classes, ms: performance.now() - t0,
  };
  if (q.probabilities && p.probs) {
    const d = p.probs.data;
    const le = Buffer.from(d.buffer, d.byteOffset, d.byteLength); // float32 little endian on x86/arm
    out.probabilities = { dtype: 'float32', shape: [p.probs.classes, p.height, p.width], data: le.toString('base64') };
  }
  return out;
}

/** The name of a label value: its class, or the smallest region holding it. */
function labelName(meta: CheckpointMeta, v: number): string {
  const l = meta.labels, names = meta.classNames;
  if (l.kind === 'binary') return names[0];
  if (l.kind === 'classes') {
    const i = l.values.indexOf(v);
    return i < 0 ? `label${v}` : names[i + (l.background ? 1 : 0)];
  }
  const holding = l.regions.map((r, i) => ({ i, r })).filter(({ r }) => r.values.includes(v));
  holding.sort((a, b) => a.r.values.length - b.r.values.length);
  return holding.length ? names[holding[0].i] : `label${v}`;
}

function answerVolume(reply: FastifyReply, served: ServedModel, q: PredictQuery, v: VolumeResult, t0: number) {
  if ((q.format ?? 'nifti') === 'nifti')
    return reply.type('application/gzip').header('Content-Disposition', 'attachment; filename="mask.nii.gz"').send(v.encoded);
  const counts = new Map<number, number>();
  const labels = v.labels!;
  for (const l of labels) if (l) counts.set(l, (counts.get(l) ?? 0) + 1);
  const spacing = v.spacing.map(Math.fround); // as the NIfTI header stores it
  const voxelMm3 = spacing[0] * spacing[1] * spacing[2];
  const total = labels.length;
  const classes = [...counts.entries()].sort(([a], [b]) => a - b).map(([label, n]) => ({
    name: labelName(served.entry.meta, label), label, voxels: n, fraction: n / total, volumeMm3: n * voxelMm3,
  }));
  const [width, height, depth] = v.dims;
  return reply.send({ model: served.name, kind: 'volume', width, height, depth, spacing, classes, ms: performance.now() - t0 });
}
