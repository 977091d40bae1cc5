#!/usr/bin/env node
// Serves the built page (web/dist) and a web bundle (at /bundle/) with the cross-origin
// isolation headers onnxruntime-web needs for threads. For people and the browser test:
//   node scripts/serve-web.mjs --bundle DIR [--dist web/dist] [--port 8080] [--host 127.0.0.1]
import { createServer } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.svg': 'image/svg+xml', '.map': 'application/json',
};
const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-cache',
};

/** A file under root for a URL path, or null (no escaping root through .. or encoded slashes). */
function fileUnder(root, urlPath) {
  let rel;
  try { rel = decodeURIComponent(urlPath); } catch { return null; }
  const p = resolve(root, `.${rel}`);
  if (p !== root && !p.startsWith(root + sep)) return null;
  if (existsSync(p) && statSync(p).isDirectory()) return existsSync(join(p, 'index.html')) ? join(p, 'index.html') : null;
  return existsSync(p) ? p : null;
}

/** Starts the server; port 0 picks a free one. Resolves to { url, close() }. */
export function serveWeb({ dist = 'web/dist', bundle, port = 8080, host = '127.0.0.1', log = () => {} } = {}) {
  const distRoot = resolve(dist);
  const bundleRoot = bundle ? resolve(bundle) : null;
  if (!existsSync(join(distRoot, 'index.html'))) throw new Error(`${dist}/index.html not found: build the page first (npx vite build web)`);
  if (bundleRoot && !existsSync(join(bundleRoot, 'manifest.json'))) throw new Error(`${bundle}/manifest.json not found: export one with unetpp export --web DIR`);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    let file = null;
    if (path === '/bundle' || path.startsWith('/bundle/')) file = bundleRoot && fileUnder(bundleRoot, path.slice('/bundle'.length) || '/');
    else file = fileUnder(distRoot, path);
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, HEADERS).end(); return; }
    if (!file) { res.writeHead(404, { ...HEADERS, 'Content-Type': 'text/plain' }).end(`not found: ${path}\n`); log(`404 ${path}`); return; }
    res.writeHead(200, { ...HEADERS, 'Content-Type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream', 'Content-Length': statSync(file).size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      const a = server.address();
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${a.port}/`;
      ok({ url, close: () => new Promise((done) => { server.closeAllConnections?.(); server.close(() => done()); }) });
    });
  });
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  const args = process.argv.slice(2);
  const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
  if (args.includes('--help') || args.includes('-h')) {
    console.log('usage: node scripts/serve-web.mjs --bundle DIR [--dist web/dist] [--port 8080] [--host 127.0.0.1]');
    process.exit(0);
  }
  const here = fileURLToPath(new URL('..', import.meta.url));
  try {
    const s = await serveWeb({ dist: opt('dist', join(here, 'web', 'dist')), bundle: opt('bundle'), port: Number(opt('port', 8080)), host: opt('host', '127.0.0.1') });
    console.log(`serving ${s.url} (bundle ${opt('bundle') ?? 'none: choose one in the page'}); Ctrl-C stops`);
    const stop = () => s.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  } catch (e) {
    console.error(`serve-web: ${e.message}`);
    process.exit(1);
  }
}
