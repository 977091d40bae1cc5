// Parity of the full default model (bn preset, filters 32..512, deep supervision) with the
// PyTorch peer at 96x96, batch 2: logits, loss, d loss/d x and every gradient, eval and train.
//   npm run build && node dist/experiments/parity/full.js [--backend reference|native] [--dtype float64|float32] [--out DIR] [--reuse]
// Volumes: --dims 3 [--norm instance|batch] [--size 32] [--filters 16,32,64,128,256] [--batch 2] (passed to the peer's export).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ReferenceBackend } from '../../src/engine/backends/reference.js';
import type { Backend } from '../../src/engine/backend.js';
import { peerParity, formatParity, worstRel } from '../../src/io/peer-parity.js';

const arg = (k: string, d: string) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const backendKind = arg('--backend', 'reference');
const dtype = arg('--dtype', 'float64') as 'float32' | 'float64';
const dims = arg('--dims', '2');
const out = arg('--out', dims === '3' ? '/tmp/unetpp-parity-full3d' : '/tmp/unetpp-parity-full');
const peerArgs = ['--size', arg('--size', dims === '3' ? '32' : '96'), '--batch', arg('--batch', '2'), '--dims', dims, '--norm', arg('--norm', dims === '3' ? 'instance' : 'batch'),
  ...(process.argv.includes('--filters') ? ['--filters', arg('--filters', '')] : [])];
const peer = process.env.UNETPP_PEER ?? new URL('../../../../shared/peer/torch_unetpp.py', import.meta.url).pathname;

if (!process.argv.includes('--reuse') || !existsSync(join(out, 'grads.safetensors'))) {
  mkdirSync(out, { recursive: true });
  const r = spawnSync('/usr/bin/python3', [peer, 'export', ...peerArgs, '--ds', '--out', out], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`peer export failed (status ${r.status})`);
}

async function backend(): Promise<Backend> {
  if (backendKind === 'reference') return new ReferenceBackend({ dtype });
  const url = new URL('../../src/engine/backends/select.js', import.meta.url).href;
  const mod = (await import(url)) as { getBackend: (k: string) => Backend | Promise<Backend> };
  return mod.getBackend(backendKind);
}

const b = await backend();
const results = [];
for (const mode of ['eval', 'train'] as const) {
  const t0 = Date.now();
  const r = peerParity(out, b, mode);
  console.log(`${b.name}/${b.dtype} ${formatParity(r)}  [${((Date.now() - t0) / 1000).toFixed(1)} s]`);
  results.push({ ...r, worstRel: worstRel(r) });
}
const ok = results.every((r) => r.worstRel <= 1e-4);
console.log(JSON.stringify({ backend: b.name, dtype: b.dtype, ok, results }));
process.exit(ok ? 0 : 1);
