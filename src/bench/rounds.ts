// Inference or training in alternating rounds: our plan and the PyTorch peer (kept alive in child
// processes, scripts/peer-server.py) take turns, K batches each, so that both are measured in the
// same minutes. The machine's speed drifts by 5-10% over a benchmark; measured one after the
// other (model, floor, then peer) the ratio carries that drift, measured in rounds it mostly
// cancels. Which side goes first alternates from round to round. The peer's speed also differs
// from process to process (203-217 ms a batch over four fresh processes, ours 162-164), so
// rounds go to several peer processes in turn. onnxruntime-node (bench part 'ort') takes a turn
// in the inference rounds too.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPeer, peerModelArgs, PYTHON, NO_PEER, type PeerOptions } from './peer.js';
import { median, timeMs } from './model.js';

const SERVER = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), 'scripts', 'peer-server.py');

export type Phase = 'infer' | 'train';

/** The peer's model loaded in a python process that times `infer K` / `train K` requests. */
export class PeerServer {
  private replies: ((line: string) => void)[] = [];
  private stderr = '';
  private constructor(private proc: ChildProcessWithoutNullStreams) {
    createInterface({ input: proc.stdout }).on('line', (l) => this.replies.shift()?.(l));
    proc.stderr.on('data', (d) => { this.stderr = (this.stderr + d).slice(-2000); });
    proc.on('exit', (code) => {
      for (const r of this.replies.splice(0)) r(JSON.stringify({ error: `peer exited (${code}): ${this.stderr.trim().split('\n').pop()}` }));
    });
    proc.on('error', (e) => {  // python could not be started
      for (const r of this.replies.splice(0)) r(JSON.stringify({ error: `peer server: ${e.message}` }));
    });
  }

  /** Resolves once the peer's model is loaded and warmed up (its "ready" line). */
  /** trainSteps: training steps the server runs before it is ready (default 12, as the peer's bench). */
  static async start(o: PeerOptions & { trainSteps?: number }): Promise<PeerServer> {
    const script = findPeer();
    if (!script) throw new Error(NO_PEER);
    if (!existsSync(SERVER)) throw new Error(`peer server not found at ${SERVER}`);
    const extra = o.trainSteps !== undefined ? ['--train-steps', `${o.trainSteps}`] : [];
    const server = new PeerServer(spawn(PYTHON, [SERVER, '--peer', script, ...peerModelArgs(o), ...extra], { stdio: ['pipe', 'pipe', 'pipe'] }));
    await server.next();
    return server;
  }

  private next(): Promise<Record<string, any>> {
    return new Promise((res, rej) => this.replies.push((l) => {
      let r;
      try { r = JSON.parse(l); } catch { return rej(new Error(`peer server: not a JSON line: ${l.slice(0, 200)}`)); }
      if (r.error) rej(new Error(r.error)); else res(r);
    }));
  }

  /** The process's peak RSS (MB) as of its last reply (training included: it trains first). */
  peakRssMb = 0;

  async time(phase: Phase, k: number): Promise<number[]> {
    const reply = this.next();
    this.proc.stdin.write(`${phase} ${k}\n`);
    const r = await reply;
    if (typeof r.peak_rss_mb === 'number') this.peakRssMb = Math.max(this.peakRssMb, r.peak_rss_mb);
    return r.ms as number[];
  }

  stop() { this.proc.stdin.end('quit\n'); }
}

const timed = (run: () => void, k: number) => Array.from({ length: k }, () => timeMs(run));

export interface RoundsResult {
  phase: Phase; rounds: number; batches_per_round: number; peer_processes: number;
  /** Median batch time of each peer process over its rounds. */
  peer_process_ms: number[];
  ours_ms: number[][]; peer_ms: number[][];
  ours_img_per_s: number; peer_img_per_s: number;
  /** The median over rounds of each round's ratio (peer's median batch time / ours): robust
   *  to drift between rounds and to a round the host disturbed. */
  vs_peer: number;
  /** Each round's ratio. */
  vs_peer_by_round: number[];
  /** The ratio of the medians over all batches. */
  vs_peer_pooled: number;
  /** The peer processes' largest peak RSS (MB): its training and inference of this model. */
  peer_peak_rss_mb: number;
  /** Inference with onnxruntime-node taking its turn too: its batch times and the same ratios. */
  ort_ms?: number[][]; ort_img_per_s?: number; vs_ort?: number; vs_ort_by_round?: number[]; vs_ort_pooled?: number;
}

/** `processes` peer processes, started one at a time (each trains its model first, and they
 *  must not share the cores then). */
export async function startPeers(o: PeerOptions & { trainSteps?: number }, processes: number): Promise<PeerServer[] | { error: string }> {
  const servers: PeerServer[] = [];
  try {
    for (let i = 0; i < processes; i++) servers.push(await PeerServer.start(o));
    return servers;
  } catch (e) {
    stopPeers(servers);
    return { error: (e as Error).message };
  }
}

export function stopPeers(servers: PeerServer[]) { for (const s of servers) s.stop(); }

const r3 = (v: number) => +v.toFixed(3);

/** Another side's batch times against ours, round by round: the median of the rounds' ratios
 *  (their median batch time / ours), each round's, and the ratio of the pooled medians. */
function versus(ours: number[][], theirs: number[][]) {
  const byRound = ours.map((v, i) => median(theirs[i]) / median(v));
  return { median: r3(median(byRound)), byRound: byRound.map(r3), pooled: r3(median(theirs.flat()) / median(ours.flat())) };
}

const ms1 = (rounds: number[][]) => rounds.map((v) => v.map((t) => +t.toFixed(1)));
const perS = (batch: number, rounds: number[][]) => +(batch / median(rounds.flat()) * 1e3).toFixed(2);

/** Runs `rounds` rounds of `k` batches of ours (`run`: one inference batch or training step) and
 *  the peer's (batch size `batch`), the peer's rounds going to the servers in turn; `ort` (k
 *  inference batches of onnxruntime-node, their ms) takes a turn in each round too. Who goes
 *  first moves from round to round, so that drift hits every side alike. */
export async function timeRounds(phase: Phase, run: () => void, servers: PeerServer[], batch: number, rounds: number, k: number,
  ort?: (k: number) => Promise<number[]>): Promise<RoundsResult | { error: string }> {
  try {
    const ours: number[][] = [], peer: number[][] = [], ortMs: number[][] = [];
    for (let r = 0; r < rounds; r++) {
      const server = servers[r % servers.length];
      const turns: [number[][], () => Promise<number[]>][] = [[ours, async () => timed(run, k)], [peer, () => server.time(phase, k)]];
      if (ort) turns.push([ortMs, () => ort(k)]);
      for (let i = 0; i < turns.length; i++) {
        const [into, time] = turns[(r + i) % turns.length];
        into.push(await time());
      }
    }
    const vp = versus(ours, peer);
    const vo = ort ? versus(ours, ortMs) : undefined;
    return {
      phase, rounds, batches_per_round: k, peer_processes: servers.length,
      peer_process_ms: servers.map((_, i) => +median(peer.filter((_, r) => r % servers.length === i).flat()).toFixed(1)),
      ours_ms: ms1(ours), peer_ms: ms1(peer),
      ours_img_per_s: perS(batch, ours), peer_img_per_s: perS(batch, peer),
      vs_peer: vp.median, vs_peer_by_round: vp.byRound, vs_peer_pooled: vp.pooled,
      peer_peak_rss_mb: +Math.max(...servers.map((s) => s.peakRssMb)).toFixed(1),
      ...(vo ? { ort_ms: ms1(ortMs), ort_img_per_s: perS(batch, ortMs), vs_ort: vo.median, vs_ort_by_round: vo.byRound, vs_ort_pooled: vo.pooled } : {}),
    };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
