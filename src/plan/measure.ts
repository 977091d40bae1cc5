// Times a planned network on this machine: step-probe.ts in a child process (its own memory, so
// its peak RSS is the training step's and nothing stays behind in the planner).
import { spawn } from 'node:child_process';
import { cpus, hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ProbeResult, ProbeSpec } from './step-probe.js';

const PROBE = fileURLToPath(new URL('./step-probe.js', import.meta.url));

/** What a measurement depends on besides the spec: the machine and the thread count asked for. */
export function probeKey(spec: ProbeSpec): string {
  const { minSteps: _a, maxSteps: _b, maxSeconds: _c, ...net } = spec;
  const machine = { threads: process.env.UNETPP_THREADS ?? 'all', cpu: cpus()[0]?.model, cores: cpus().length, host: hostname() };
  return JSON.stringify({ net, ...machine });
}

export function measureStep(spec: ProbeSpec, timeoutSeconds = 900): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PROBE, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill(), timeoutSeconds * 1000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) return resolve(JSON.parse(line) as ProbeResult);
      const why = signal ? `killed (${signal}${signal === 'SIGTERM' ? `, over ${timeoutSeconds} s` : ''})`
        : `exit code ${code}`;
      reject(new Error(`timing the planned network failed (${why})${err.trim() ? `: ${err.trim().split('\n').pop()}` : ''}`));
    });
  });
}
