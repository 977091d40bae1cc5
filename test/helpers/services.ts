// Real services for tests: a Debian redis-server and unetpp processes (serve, worker) on free
// ports, started as child processes and stopped by their own pid.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { SegModel } from '../../src/models/model.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { completeMeta } from '../../src/io/meta-defaults.js';

export const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
// the set-up installs redis-server: in CI (CI=true) its tests run, and fail, rather than skip without it
export const REDIS_MISSING = spawnSync('redis-server', ['--version']).status === 0 || process.env.CI === 'true' ? false
  : 'redis-server not installed: apt-get install -y redis-server';
export const BACKEND = existsSync(join(process.cwd(), 'build', 'Release', 'unetpp_native.node')) ? 'native' : 'reference';

// on a machine shared with other busy processes, spinning OpenMP threads slow everything down
const ENV = { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'passive' };

export function cli(args: string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: ENV });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A tiny UNet++ (filters 4,8,16, deep supervision) written as a checkpoint with z-score normalisation recorded. */
export function tinyCheckpoint(path: string, opts: { seed?: number; classes?: number } = {}): string {
  const m = new SegModel({ preset: 'bn', inChannels: 1, classes: opts.classes ?? 1, deepSupervision: true, filters: [4, 8, 16], seed: opts.seed ?? 1 });
  saveModel(path, m, completeMeta(m.config, { input: { kind: 'image', normalize: { kind: 'zscore' } } }, 'train'));
  return path;
}

export interface Proc { child: ChildProcess; out: () => string; exited: Promise<number | null> }

/** Starts `node main.js args`; resolves once stdout matches `ready`. */
export function startCli(args: string[], ready: RegExp, env: Record<string, string> = {}): Promise<Proc & { match: RegExpMatchArray }> {
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return waitFor(child, ready, `unetpp ${args[0]}`);
}

export function startRedis(port: number, extra: string[] = [], cwd?: string): Promise<Proc & { match: RegExpMatchArray }> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra], { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  return waitFor(child, /Ready to accept connections/, 'redis-server');
}

function waitFor(child: ChildProcess, ready: RegExp, what: string): Promise<Proc & { match: RegExpMatchArray }> {
  let text = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 30 s:\n${text}`)), 30000);
    const onData = (d: Buffer) => {
      text += d.toString();
      const m = ready.exec(text);
      if (m) { clearTimeout(timer); resolve({ child, out: () => text, exited, match: m }); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => { text += d.toString(); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited (${code}) before it was ready:\n${text}`)); });
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`${what} could not be started: ${e.message}`)); });
  });
}

export async function stop(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(signal);
  await p.exited;
}
