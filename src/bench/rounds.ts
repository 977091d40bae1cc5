// Inference or training in alternating rounds: our plan and the PyTorch peer (kept alive in child
// processes, scripts/peer-server.py) take turns, K batches each, so that both are measured in the
// same minutes. The machine's speed drifts by 5-10% over a benchmark; measured one after the
// other (model, floor, then peer) the ratio carries that drift, measured in rounds it mostly
// cancels. Which side goes first alternates from round to round. The peer's speed also differs
// from process to process (203-217 ms a batch over four fresh processes, ours 162-164), so
// rounds go to several peer processes in turn.
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

  async time(phase: Phase, k: number): Promise<number[]> {
    const reply = this.next();
    this.proc.stdin.write(`${phase} ${k}\n`);
    return (await reply).ms as number[];
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

/** Runs `rounds` rounds of `k` batches of ours (`run`: one inference batch or training step) and
 *  the peer's (batch size `batch`), the peer's rounds going to the servers in turn. */
export async function timeRounds(phase: Phase, run: () => void, servers: PeerServer[], batch: number, rounds: number, k: number): Promise<RoundsResult | { error: string }> {
  try {
    const ours: number[][] = [], peer: number[][] = [];
    for (let r = 0; r < rounds; r++) {
      const server = servers[r % servers.length];
      if (r % 2 === 0) { ours.push(timed(run, k)); peer.push(await server.time(phase, k)); }
      else { peer.push(await server.time(phase, k)); ours.push(timed(run, k)); }
    }
    const mo = median(ours.flat()), mp = median(peer.flat());
    const r3 = (v: number) => +v.toFixed(3);
    const byRound = ours.map((v, i) => median(peer[i]) / median(v));
    return {
      phase, rounds, batches_per_round: k, peer_processes: servers.length,
      peer_process_ms: servers.map((_, i) => +median(peer.filter((_, r) => r % servers.length === i).flat()).toFixed(1)),
      ours_ms: ours.map((v) => v.map((t) => +t.toFixed(1))), peer_ms: peer.map((v) => v.map((t) => +t.toFixed(1))),
      ours_img_per_s: +(batch / mo * 1e3).toFixed(2), peer_img_per_s: +(batch / mp * 1e3).toFixed(2),
      vs_peer: r3(median(byRound)), vs_peer_by_round: byRound.map(r3), vs_peer_pooled: r3(mp / mo),
    };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
