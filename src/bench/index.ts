// `unetpp bench` / `npm run bench`: JSON lines. The engine's UNet++ training step and inference,
// the oneDNN kernel floor for the same network, the PyTorch peer and (inference) onnxruntime-node
// run in the same process tree, with ratios. Medians of `steps` steps.
import { cpus, loadavg } from 'node:os';
import { NativeBackend, nativeAvailable, setThreads, getThreads, bf16Support } from '../engine/backends/native.js';
import type { Precision } from '../engine/backend.js';
import { benchModel, benchSegModel, inferencePlan, kernelFloor, trainStepper, median, spatial, ModelBenchOptions,
  VOLUME_FILTERS, benchGflop } from './model.js';
import { againstPeak, measureNativePeak, peakFor, remeasureNativePeak } from './peak.js';
import { runPeer, PeerResult } from './peer.js';
import { startPeers, stopPeers, timeRounds } from './rounds.js';
import type { OrtPeer } from './ort.js';
import { optionalImport } from '../util/optional-import.js';

export interface BenchOptions {
  batch: number; size: number; steps: number; warmup: number; ds: boolean; channels: number;
  threads?: number;
  /** bf16: our engine, the kernel floor and the peer (autocast, channels_last) all in bf16. */
  precision?: Precision;
  /** Which parts to run ('rounds': our inference, then training, and the peer's alternating; needs
   *  'model'. 'ort': our model's ONNX export in onnxruntime-node, inference; needs 'model', and
   *  takes its turn in the inference rounds). */
  parts: ('ops' | 'floor' | 'model' | 'peer' | 'ort' | 'rounds')[];
  /** Rounds of `steps` inference batches (and steps/2 training steps) each, ours and the peer's taking turns. */
  rounds: number;
  /** Peer processes the rounds go to in turn (its speed differs from process to process). */
  peerProcesses: number;
  /** Write each JSON line here (default: stdout). */
  emit?: (line: object) => void;
  /** 2: images (size x size); 3: volumes (size^3), see VOLUME_BENCH for their defaults. */
  dims?: 2 | 3;
  /** Volumes: instance (default) or batch norm, for ours and the peer. */
  norm?: 'batch' | 'instance';
  /** Filters per level (default: the bn preset's 32..512 for images, 16..256 for volumes). */
  filters?: number[];
  /** The machine's peak GFLOP/s per precision (default: UNETPP_PEAK_GFLOPS, else DEFAULT_PEAKS). */
  peakGflops?: Partial<Record<Precision, number>>;
}

export const DEFAULT_BENCH: BenchOptions = {
  batch: 16, size: 96, steps: 10, warmup: 2, ds: true, channels: 3, parts: ['ops', 'floor', 'model', 'peer', 'ort', 'rounds'], rounds: 6, peerProcesses: 3,
};

/** Volumes (issue 16): UNet++ with deep supervision, filters 16..256, instance norm, 1 channel,
 *  batch 2, 64^3; fewer steps and rounds than images, as a step takes seconds. */
export const VOLUME_BENCH: Partial<BenchOptions> = {
  dims: 3, batch: 2, size: 64, channels: 1, norm: 'instance', filters: VOLUME_FILTERS, steps: 4, warmup: 1, rounds: 4, peerProcesses: 2,
  parts: ['floor', 'model', 'peer', 'ort', 'rounds'],
};

const round = (v: number, d = 4) => +v.toFixed(d);

export async function runBench(opts: Partial<BenchOptions> = {}): Promise<Record<string, any>> {
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  const o: BenchOptions = { ...DEFAULT_BENCH, ...(opts.dims === 3 ? VOLUME_BENCH : {}), ...given };
  const vol = o.dims === 3;
  const emit = o.emit ?? ((l: object) => process.stdout.write(JSON.stringify(l) + '\n'));
  peakFor(o.precision ?? 'fp32', o.peakGflops);  // a bad peak fails before anything runs
  const native = nativeAvailable();
  if (!native.ok) throw new Error(`bench needs the native backend: ${native.reason}`);
  if (o.threads) setThreads(o.threads);
  const threads = getThreads();
  let precision: Precision = o.precision ?? 'fp32';
  if (precision === 'bf16' && !bf16Support().ok) {
    process.stderr.write(`unetpp: warning: precision bf16 unavailable: ${bf16Support().reason}; benchmarking fp32\n`);
    precision = 'fp32';
  }
  const bf16 = precision === 'bf16';
  const m: ModelBenchOptions = { batch: o.batch, size: o.size, steps: o.steps, warmup: o.warmup, ds: o.ds, channels: o.channels, precision,
    dims: vol ? 3 : 2, norm: o.norm, filters: o.filters };
  // What the peer builds: the same network (volumes: dims, norm and filters passed on).
  const peerNet = vol ? { dims: 3 as const, norm: o.norm ?? 'instance', filters: o.filters ?? VOLUME_FILTERS } : o.filters ? { filters: o.filters } : {};
  const machine = { cpu: cpus()[0]?.model, cores: cpus().length, threads, node: process.version };
  // The load average says how busy the machine was (2 cores shared with other work: timings
  // under load are noisy, which the rounds are for).
  emit({ kind: 'machine', ...machine, date: new Date().toISOString(), loadavg_1_5_15: loadavg().map((v) => +v.toFixed(2)) });
  const summary: Record<string, any> = { kind: 'summary', batch: o.batch, size: o.size, ds: o.ds, threads, precision,
    ...(vol ? { dims: 3, norm: peerNet.norm, filters: peerNet.filters, channels: o.channels } : {}) };
  // The model's conv GFLOP per image (volume) against the machine's peak for the precision run:
  // the gap to the machine, next to the gap to the peer.
  const gflop = benchGflop(m);
  let peak = peakFor(precision, o.peakGflops, undefined, measureNativePeak);
  Object.assign(summary, { train_gflop_per_img: round(gflop.train), infer_gflop_per_img: round(gflop.infer) });
  // Fractions of the peak are set at the end, once the peak is measured a second time (below).
  const fractions: Record<string, number> = {};
  const vsPeak = (phase: 'train' | 'infer', imgPerS: number, key: string) => {
    const r = againstPeak(gflop[phase], imgPerS, peak.gflops);
    fractions[key] = r.gflopPerS;
    return r;
  };

  // The model runs first, so that the process's peak RSS is the model's alone (as the peer's).
  let model: ReturnType<typeof benchModel> | undefined;
  if (o.parts.includes('model')) {
    const dims = vol ? 3 : 2;
    const trainBe = new NativeBackend({ precision, use: 'train', dims }), inferBe = new NativeBackend({ precision, use: 'infer', dims });
    model = benchModel(trainBe, m, inferBe);
    const r = model.stats;
    const layouts = { train_layout: trainBe.layout, infer_layout: inferBe.layout };
    const train = vsPeak('train', r.train_img_per_s, 'train_fraction_of_peak');
    const infer = vsPeak('infer', r.infer_img_per_s, 'infer_fraction_of_peak');
    emit({ kind: 'model', engine: 'unetpp', ...r, ...layouts, peak_rss_mb: round(process.resourceUsage().maxRSS / 1024, 1) });
    Object.assign(summary, {
      ...layouts,
      train_img_per_s: round(r.train_img_per_s), infer_img_per_s: round(r.infer_img_per_s),
      train_gflop_per_s: train.gflopPerS, infer_gflop_per_s: infer.gflopPerS,
      peak_rss_mb: round(process.resourceUsage().maxRSS / 1024, 1), train_peak_rss_mb: r.train_peak_rss_mb,
    });
  }
  if (o.parts.includes('ops') && !vol) {  // one 2D conv, ours against oneDNN's
    const { benchConvOp } = await import('./ops.js');
    const r = benchConvOp({ n: 16, c: 32, o: 32, h: 96, w: 96, k: 3, pad: 1, iters: Math.max(10, o.steps), precision });
    emit({ kind: 'op', ...r });
    summary.conv_op = r;
  }
  if (o.parts.includes('floor')) {
    const f = kernelFloor(m, vol ? 3 : Math.max(5, Math.min(o.steps, 10)));
    emit({ kind: 'floor', ...f });
    summary.floor_train_img_per_s = round(f.floor_train_img_per_s);
    summary.floor_infer_img_per_s = round(f.floor_infer_img_per_s);
    if (summary.train_img_per_s) {
      summary.train_step_vs_floor = round(f.floor_train_img_per_s / summary.train_img_per_s, 3);
      summary.infer_vs_floor = round(f.floor_infer_img_per_s / summary.infer_img_per_s, 3);
    }
  }
  // The peer's variant the rounds run, per phase: bf16 autocast with channels_last; fp32 the faster
  // of NCHW and channels_last in the 'peer' part (2D: channels_last; volumes: NCDHW, measured
  // faster at 32^3, when the part did not run).
  const peerCl: Record<'infer' | 'train', boolean> = { infer: bf16 || !vol, train: bf16 || !vol };
  if (o.parts.includes('peer')) {
    // fp32: the peer's NCHW and channels_last; bf16: its bf16 autocast with channels_last.
    const seen: Record<string, PeerResult> = {};
    for (const channelsLast of bf16 ? [true] : [false, true]) {
      const p = runPeer({ batch: o.batch, size: o.size, threads, steps: o.steps, channelsLast, bf16, ds: o.ds, channels: o.channels, ...peerNet });
      emit({ kind: 'peer', channels_last: channelsLast, bf16, ...p });
      if ('error' in p) { summary.peer_error = p.error; break; }
      const tag = bf16 ? 'peer_bf16_cl' : channelsLast ? 'peer_cl' : 'peer_nchw';
      seen[channelsLast ? 'cl' : 'nchw'] = p as PeerResult;
      summary[`${tag}_train_img_per_s`] = round((p as PeerResult).train_img_per_s);
      summary[`${tag}_infer_img_per_s`] = round((p as PeerResult).infer_img_per_s);
      summary[`${tag}_peak_rss_mb`] = round((p as PeerResult).peak_rss_mb, 1);
      if (summary.train_img_per_s) {
        summary[`train_vs_${tag}`] = round(summary.train_img_per_s / (p as PeerResult).train_img_per_s, 3);
        summary[`infer_vs_${tag}`] = round(summary.infer_img_per_s / (p as PeerResult).infer_img_per_s, 3);
        // The peer's peak is its training peak (its inference reuses the memory training freed);
        // ours keeps the training plan's buffers while inference runs, so both are reported.
        summary[`rss_vs_${tag}`] = round(summary.peak_rss_mb / (p as PeerResult).peak_rss_mb, 3);
        summary[`train_rss_vs_${tag}`] = round(summary.train_peak_rss_mb / (p as PeerResult).peak_rss_mb, 3);
      }
    }
    if (seen.cl && seen.nchw) {
      peerCl.train = seen.cl.train_img_per_s >= seen.nchw.train_img_per_s;
      peerCl.infer = seen.cl.infer_img_per_s >= seen.nchw.infer_img_per_s;
      summary.peer_best_fp32 = { train: peerCl.train ? 'channels_last' : 'nchw', infer: peerCl.infer ? 'channels_last' : 'nchw' };
    }
  }
  // onnxruntime-node: our export of the model the inference plan runs (after the model part's
  // training steps), checked against our probabilities before it is timed.
  let ortPeer: OrtPeer | undefined;
  if (o.parts.includes('ort') && model) ortPeer = await benchOrt(model, m, threads, emit, summary);
  if (o.parts.includes('rounds') && model) {
    // bf16: the peer's bf16 autocast with channels_last; fp32: its channels_last (the faster of its two).
    const peerOpts = (phase: 'infer' | 'train') => ({ batch: o.batch, size: o.size, threads, steps: o.steps, channelsLast: peerCl[phase], bf16, ds: o.ds,
      channels: o.channels, ...peerNet, ...(vol ? { trainSteps: o.warmup + 1 } : {}) });
    const processes = Math.min(o.peerProcesses, o.rounds);
    let servers = await startPeers(peerOpts('infer'), processes);
    const results = [];
    if ('error' in servers) results.push(servers);
    else try {
      results.push(await timeRounds('infer', model.runInfer, servers, o.batch, o.rounds, o.steps, ortPeer && ((k) => ortPeer!.time(k))));
      model.dispose();
      model = undefined;
      await ortPeer?.release();
      ortPeer = undefined;
      if (peerCl.train !== peerCl.infer) {  // the peer's faster fp32 training variant differs
        stopPeers(servers);
        servers = await startPeers(peerOpts('train'), processes);
      }
      if ('error' in servers) results.push(servers);
      else {
        // Training: a fresh plan (the process's peak RSS was taken above), half the steps a round.
        const trainer = trainStepper(new NativeBackend({ precision, use: 'train', dims: vol ? 3 : 2 }), benchSegModel(m), m);
        for (let i = 0; i < o.warmup; i++) trainer.step();
        results.push(await timeRounds('train', trainer.step, servers, o.batch, o.rounds, Math.max(1, Math.ceil(o.steps / 2))));
        trainer.dispose();
      }
    } finally {
      if (!('error' in servers)) stopPeers(servers);
    }
    for (const r of results) {
      emit({ kind: 'rounds', ...r });
      if ('error' in r) { summary.rounds_error = r.error; continue; }
      vsPeak(r.phase, r.ours_img_per_s, `rounds_${r.phase}_fraction_of_peak`);
      Object.assign(summary, {
        [`rounds_peer_${r.phase}_variant`]: bf16 ? 'bf16_autocast_channels_last' : peerCl[r.phase as 'infer' | 'train'] ? 'channels_last' : 'nchw',
        [`rounds_${r.phase}_img_per_s`]: r.ours_img_per_s, [`rounds_peer_${r.phase}_img_per_s`]: r.peer_img_per_s,
        [`${r.phase}_vs_peer_rounds`]: r.vs_peer, [`${r.phase}_vs_peer_by_round`]: r.vs_peer_by_round,
        rounds_peer_peak_rss_mb: Math.max(summary.rounds_peer_peak_rss_mb ?? 0, r.peer_peak_rss_mb),
      });
      // ours: the training plan's peak (the process's peak RSS as of the model part)
      if (summary.train_peak_rss_mb) summary.train_rss_vs_peer_rounds = round(summary.train_peak_rss_mb / summary.rounds_peer_peak_rss_mb, 3);
      if (r.vs_ort !== undefined) Object.assign(summary, {
        rounds_ort_infer_img_per_s: r.ort_img_per_s, infer_vs_ort_rounds: r.vs_ort, infer_vs_ort_by_round: r.vs_ort_by_round,
      });
    }
  }
  model?.dispose();
  await ortPeer?.release();
  if (peak.source.startsWith('measured')) {
    const again = remeasureNativePeak(precision);  // at the start and here: the higher (peak.ts says why)
    if (again) [peak, summary.peak_measured_gflop_per_s] = [again.best, again.measurements];
  }
  Object.assign(summary, { peak_gflop_per_s: peak.gflops, peak_source: peak.source });
  for (const [key, gflopPerS] of Object.entries(fractions)) summary[key] = round(gflopPerS / peak.gflops);
  summary.loadavg_at_end = loadavg().map((v) => +v.toFixed(2));
  emit(summary);
  return summary;
}

/** The 'ort' part: an `ort` line (onnxruntime-node's median batch time on our export, and its
 *  largest difference from our probabilities) and `infer_vs_ort` (its median batch time / ours) in
 *  the summary. Returns the session for the rounds, or undefined (the reason in the line and in
 *  the summary's ort_error) if onnxruntime-node cannot run the model. Throws if it runs it but
 *  disagrees with ours by more than ORT_TOLERANCE: the two would not time the same computation. */
async function benchOrt(model: ReturnType<typeof benchModel>, m: ModelBenchOptions, threads: number,
  emit: (l: object) => void, summary: Record<string, any>): Promise<OrtPeer | undefined> {
  const bf16 = m.precision === 'bf16';
  const line: Record<string, any> = { kind: 'ort', runtime: 'onnxruntime-node', precision: 'fp32',
    ...(bf16 ? { note: 'onnxruntime runs the fp32 model (ours bf16); its probabilities are checked against our fp32 plan' } : {}),
    export: 'unetpp ONNX export, accurate mode, sides fixed', intra_op_threads: threads };
  let ort: typeof import('./ort.js'), peer: OrtPeer;
  try {  // loaded here, so that the other parts run where onnxruntime-node does not
    await optionalImport(() => import('onnxruntime-node'), 'onnxruntime-node', "the bench's onnxruntime peer");
    ort = await import('./ort.js');
    line.version = ort.OrtPeer.version;
    peer = await ort.OrtPeer.create(model.model, model.x, [m.batch, m.channels, ...spatial(m)], threads);
  } catch (e) {
    summary.ort_error = (e as Error).message;
    emit({ ...line, error: summary.ort_error });
    return undefined;
  }
  const { maxAbsDiff, ORT_TOLERANCE } = ort;
  // Ours in float32: the timed plan, or (bf16) an fp32 plan of the same weights for the check only.
  let ours: Float32Array;
  if (bf16) {
    const plan = inferencePlan(new NativeBackend({ precision: 'fp32', use: 'infer', dims: m.dims ?? 2 }), model.model, m);
    ours = plan.runToHost({ x: model.x })[0] as Float32Array;
    plan.dispose();
  } else ours = model.probabilities() as Float32Array;
  const diff = maxAbsDiff(await peer.probabilities(), ours);
  line.onnx_mb = round(peer.onnxBytes / 2 ** 20, 1);
  line.max_abs_diff = diff;
  if (!(diff <= ORT_TOLERANCE)) {
    await peer.release();
    emit({ ...line, error: `onnxruntime's probabilities differ from ours by ${diff} (> ${ORT_TOLERANCE})` });
    throw new Error(`bench: onnxruntime-node disagrees with our inference (max abs diff ${diff} > ${ORT_TOLERANCE}): the export or a kernel is wrong`);
  }
  await peer.time(m.warmup);
  const ms = await peer.time(m.steps);
  const batchS = median(ms) / 1e3;
  emit({ ...line, infer_batch_s: batchS, infer_img_per_s: m.batch / batchS, infer_ms: ms.map((v) => +v.toFixed(1)) });
  Object.assign(summary, { ort_infer_img_per_s: round(m.batch / batchS), ort_max_abs_diff: diff });
  summary.infer_vs_ort = round(batchS / model.stats.infer_batch_s, 3);  // its median batch time / ours
  return peer;
}
