// The volume scaling table (experiments/scaling-3d): entries measured one configuration per
// process (side^3 x batch, ours or a PyTorch peer variant), the Markdown table made of them, and
// the peak-memory estimate that decides whether a configuration is worth starting.

/** Who ran: our engine, or the PyTorch peer in NCDHW or channels_last_3d. */
export type ScalingWho = 'unetpp' | 'pytorch' | 'pytorch-cl';

export interface ScalingEntry {
  who: ScalingWho; side: number; batch: number;
  /** Medians over the timed steps, seconds. */
  train_step_s?: number; infer_batch_s?: number;
  /** The process's peak RSS (training and inference of this one configuration), MB. */
  peak_rss_mb?: number;
  /** Why it did not run (crashed, refused) ... */
  error?: string;
  /** ... or why it was not started (would not fit in memory); retried on the next run. */
  skipped?: string;
}

/** A configuration's work: voxels per batch. */
export const work = (e: { side: number; batch: number }) => e.side ** 3 * e.batch;

/** The peak RSS (MB) expected at `w` voxels per batch from the peaks measured at smaller works:
 *  the line through the two largest, never below proportional growth from the largest (a
 *  single point: proportional). undefined without a point. */
export function estimatePeakMb(points: { work: number; peakMb: number }[], w: number): number | undefined {
  const byWork = new Map<number, number>();
  for (const p of points) byWork.set(p.work, Math.max(byWork.get(p.work) ?? 0, p.peakMb));
  const s = [...byWork].sort((a, b) => a[0] - b[0]);
  if (!s.length) return undefined;
  const [w2, p2] = s[s.length - 1];
  const proportional = p2 * w / w2;
  if (s.length === 1) return proportional;
  const [w1, p1] = s[s.length - 2];
  return Math.max(p2 + (p2 - p1) / (w2 - w1) * (w - w2), proportional);
}

const PEERS: ScalingWho[] = ['pytorch', 'pytorch-cl'];
const ok = (e?: ScalingEntry) => !!e && !e.error && !e.skipped && e.train_step_s !== undefined;
const s2 = (v: number) => v < 10 ? v.toFixed(2) : v.toFixed(1);
const tag = (who: ScalingWho) => who === 'pytorch-cl' ? ' (cl)' : '';

/** What a cell says of a configuration that did not run. */
function missing(e?: ScalingEntry): string {
  if (!e) return '-';
  if (e.skipped) return 'skipped';
  return e.error ? 'failed' : '-';
}

/** The Markdown table: one row per side x batch; ours against the peer's faster variant per phase
 *  (marked "(cl)" when that is channels_last_3d), ratios as peer time / ours; peak RSS in GB, the
 *  peer's from the process whose training time is shown. Notes list what failed or was skipped. */
export function scalingTable(entries: ScalingEntry[]): string {
  const rows = [...new Map(entries.map((e) => [`${e.side}x${e.batch}`, e])).values()]
    .sort((a, b) => a.side - b.side || a.batch - b.batch);
  const find = (who: ScalingWho, side: number, batch: number) => entries.find((e) => e.who === who && e.side === side && e.batch === batch);
  const fastest = (peers: ScalingEntry[], key: 'train_step_s' | 'infer_batch_s') =>
    peers.reduce<ScalingEntry | undefined>((best, e) => !best || e[key]! < best[key]! ? e : best, undefined);
  const lines = [
    '| volume | batch | train ours (s) | train peer (s) | peer / ours | infer ours (s) | infer peer (s) | peer / ours | peak ours (GB) | peak peer (GB) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  const notes: string[] = [];
  for (const { side, batch } of rows) {
    const ours = find('unetpp', side, batch);
    const peers = PEERS.map((w) => find(w, side, batch)).filter(ok) as ScalingEntry[];
    const pt = fastest(peers, 'train_step_s'), pi = fastest(peers, 'infer_batch_s');
    const peerMissing = missing(PEERS.map((w) => find(w, side, batch)).find((e) => e));
    const cell = (o: ScalingEntry | undefined, p: ScalingEntry | undefined, key: 'train_step_s' | 'infer_batch_s') => [
      ok(o) ? s2(o![key]!) : missing(o),
      p ? s2(p[key]!) + tag(p.who) : peerMissing,
      ok(o) && p ? `**${(p[key]! / o![key]!).toFixed(2)}x**` : '-',
    ];
    const gb = (e?: ScalingEntry) => ok(e) ? (e!.peak_rss_mb! / 1024).toFixed(2) : missing(e);
    const peerGb = pt ? (pt.peak_rss_mb! / 1024).toFixed(2) : peerMissing;
    lines.push(`| ${side}^3 | ${batch} | ${[...cell(ours, pt, 'train_step_s'), ...cell(ours, pi, 'infer_batch_s'), gb(ours), peerGb].join(' | ')} |`);
    for (const e of entries.filter((x) => x.side === side && x.batch === batch && (x.error || x.skipped)))
      notes.push(`- ${side}^3 batch ${batch}, ${e.who}: ${e.skipped ? `skipped: ${e.skipped}` : `failed: ${e.error}`}`);
  }
  return [...lines, ...(notes.length ? ['', ...notes] : [])].join('\n') + '\n';
}
