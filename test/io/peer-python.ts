// Runs the PyTorch peer script when Debian's python3-torch is installed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PEER = process.env.UNETPP_PEER ?? new URL('../../../../shared/peer/torch_unetpp.py', import.meta.url).pathname;
const PY = '/usr/bin/python3';

/** null when the peer can run, else why not. */
export function peerUnavailable(): string | null {
  if (!existsSync(PEER)) return `peer script not found at ${PEER}`;
  const r = spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? null : 'python3-torch is not installed';
}

export function runPeer(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(PY, [PEER, ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}
