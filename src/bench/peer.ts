// Runs the PyTorch peer (../shared/peer/torch_unetpp.py bench) as a child process, so that our
// numbers and the peer's come from the same run on the same machine.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PeerResult {
  peer: 'pytorch'; torch: string; channels_last: boolean; bf16: boolean; threads: number; params: number; dims?: number; norm?: string;
  train_step_s: number; train_img_per_s: number; infer_batch_s: number; infer_img_per_s: number; peak_rss_mb: number;
}

/** The peer script: $UNETPP_PEER, else ../shared/peer/torch_unetpp.py beside the repo. */
export function findPeer(): string | undefined {
  if (process.env.UNETPP_PEER) return process.env.UNETPP_PEER;
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const p = join(repo, '..', 'shared', 'peer', 'torch_unetpp.py');
  return existsSync(p) ? p : undefined;
}

export interface PeerOptions {
  batch: number; size: number; threads: number; steps: number; channelsLast: boolean; bf16: boolean; ds: boolean; channels: number;
  /** Volumes: dims 3 (size^3), their norm and filters (the peer's defaults otherwise: 2D, batch norm, 32..512). */
  dims?: 2 | 3; norm?: 'batch' | 'instance'; filters?: number[];
}

/** Debian's python, where python3-torch installs torch. */
export const PYTHON = '/usr/bin/python3';
export const NO_PEER = 'peer script not found (set UNETPP_PEER or keep ../shared/peer)';

/** The model and batch options both the peer's bench and scripts/peer-server.py take. */
export function peerModelArgs(o: PeerOptions): string[] {
  const args = ['--batch', `${o.batch}`, '--size', `${o.size}`, '--threads', `${o.threads}`, '--channels', `${o.channels}`];
  if (o.ds) args.push('--ds');
  if (o.channelsLast) args.push('--channels-last');
  if (o.bf16) args.push('--bf16');
  if (o.dims === 3) args.push('--dims', '3');
  if (o.norm) args.push('--norm', o.norm);
  if (o.filters) args.push('--filters', o.filters.join(','));
  return args;
}

/** Runs the peer; returns its JSON line or a reason why it could not run. */
export function runPeer(o: PeerOptions): PeerResult | { error: string } {
  const script = findPeer();
  if (!script) return { error: NO_PEER };
  const args = [script, 'bench', ...peerModelArgs(o), '--steps', `${o.steps}`, '--warmup', '2'];
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || '').trim().split('\n').pop();
    return { error: `peer failed: ${why} (install with: apt-get install -y python3-torch)` };
  }
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as PeerResult;
}
