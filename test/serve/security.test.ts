// `unetpp serve` on a network: the API key (env or flag, /metrics optional), cross-origin
// requests refused unless allowed (CORS allow-list and preflights), 405 with Allow, 400 for
// malformed multipart, no server paths in answers, and HTTPS with --cert/--key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { redactPaths } from '../../src/serve/errors.js';
import { BACKEND, startCli, stop, tinyCheckpoint, type Proc } from '../helpers/services.js';

let tmp: string, ckpt: string, png: Buffer, server: (Proc & { match: RegExpMatchArray }) | undefined, base: string;
const KEY = 'k3y-with-enough-entropy-0123456789';
const auth = { authorization: `Bearer ${KEY}` };

const serve = (extra: string[], env: Record<string, string> = {}, ready = /listening on (http:\/\/\S+)/) =>
  startCli(['serve', '-m', ckpt, '--port', '0', '--backend', BACKEND, '--no-warm', ...extra], ready, env);

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'unetpp-security-'));
  ckpt = tinyCheckpoint(join(tmp, 'tiny.safetensors'));
  png = await sharp(Buffer.from(new Uint8Array(40 * 36).map((_, i) => (i * 13) % 251)), { raw: { width: 40, height: 36, channels: 1 } }).png().toBuffer();
  server = await serve(['--cors-origin', 'https://app.example.org'], { UNETPP_API_KEY: KEY });
  base = server.match[1];
});

after(async () => {
  await stop(server);
  rmSync(tmp, { recursive: true, force: true });
});

const post = (path: string, body: Uint8Array | string, headers: Record<string, string> = {}) =>
  fetch(base + path, { method: 'POST', body: body as BodyInit, headers: { 'content-type': 'application/octet-stream', ...headers } });

test('the API key guards predict and models (401 with WWW-Authenticate); health, readiness and metrics stay open', async () => {
  for (const [path, init] of [['/v1/predict', { method: 'POST', body: png }], ['/v1/models', {}]] as const) {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: KEY }, { authorization: `Basic ${KEY}` }]) {
      const r = await fetch(base + path, { ...init, headers } as RequestInit);
      assert.equal(r.status, 401, `${path} ${JSON.stringify(headers)}`);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="unetpp"');
      assert.equal((await r.json() as any).error, 'unauthorized');
    }
  }
  assert.equal((await post('/v1/predict', png, auth)).status, 200);
  assert.equal((await fetch(`${base}/v1/models`, { headers: auth })).status, 200);
  for (const p of ['/healthz', '/readyz', '/metrics', '/openapi.json']) assert.equal((await fetch(base + p)).status, 200, p);
  assert.match(server!.out(), /API key required/);
  assert.doesNotMatch(server!.out(), new RegExp(KEY));
});

test('Expect: 100-continue: a refused upload is answered before its body is asked for', async () => {
  const { connect } = await import('node:net');
  const ask = (headers: string) => new Promise<string>((resolve) => {
    const s = connect(Number(new URL(base).port), '127.0.0.1');
    let text = '';
    s.on('data', (d) => { text += d; if (text.includes('\r\n\r\n')) { s.destroy(); resolve(text); } });
    s.write(`POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: ${png.length}\r\nExpect: 100-continue\r\n${headers}\r\n`);
  });
  const refused = await ask('');
  assert.match(refused, /^HTTP\/1.1 401/);
  assert.match(refused, /connection: close/i);
  assert.match(await ask(`Authorization: Bearer ${KEY}\r\n`), /^HTTP\/1.1 100 Continue/);
});

test('--api-key with --metrics-auth guards /metrics too', async () => {
  const s = await serve(['--api-key', KEY, '--metrics-auth']);
  try {
    assert.equal((await fetch(`${s.match[1]}/metrics`)).status, 401);
    assert.equal((await fetch(`${s.match[1]}/metrics`, { headers: auth })).status, 200);
    assert.equal((await fetch(`${s.match[1]}/healthz`)).status, 200);
  } finally {
    await stop(s);
  }
});

test('cross-origin: a simple POST from an origin not allowed is refused (403); allowed origins get CORS and preflights', async () => {
  // text/plain needs no preflight: the browser would send it as is
  let r = await post('/v1/predict', png, { ...auth, origin: 'https://evil.example', 'content-type': 'text/plain' });
  assert.equal(r.status, 403);
  assert.equal(r.headers.get('access-control-allow-origin'), null);
  assert.match((await r.json() as any).message, /origin https:\/\/evil.example may not call this service/);
  r = await fetch(`${base}/v1/models`, { headers: { ...auth, origin: 'null' } });
  assert.equal(r.status, 403);
  r = await fetch(`${base}/v1/predict`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
  assert.equal(r.status, 403);
  // the allowed origin: preflight, then the call
  const preflight = { origin: 'https://app.example.org', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' };
  r = await fetch(`${base}/v1/predict`, { method: 'OPTIONS', headers: preflight });
  assert.equal(r.status, 204);
  assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example.org');
  assert.match(r.headers.get('access-control-allow-methods')!, /POST/);
  assert.match(r.headers.get('access-control-allow-headers')!, /authorization/);
  r = await post('/v1/predict', png, { ...auth, origin: 'https://app.example.org' });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example.org');
  // no --cors-origin: no CORS headers at all, and every Origin is refused
  const s = await serve([]);
  try {
    const headers = { origin: 'https://app.example.org', 'content-type': 'text/plain' };
    r = await fetch(`${s.match[1]}/v1/predict`, { method: 'POST', body: png as BodyInit, headers });
    assert.equal(r.status, 403);
    r = await fetch(`${s.match[1]}/v1/predict`, { method: 'POST', body: png as BodyInit });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  } finally {
    await stop(s);
  }
});

test('wrong methods on known routes get 405 with Allow; unknown routes 404', async () => {
  const get = 'GET, HEAD, OPTIONS';
  for (const [method, path, allow] of [['GET', '/v1/predict', 'OPTIONS, POST'], ['DELETE', '/v1/models', get], ['POST', '/healthz', get], ['PUT', '/metrics', get]]) {
    const r = await fetch(base + path, { method, headers: auth });
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(r.headers.get('allow'), allow);
    assert.equal((await r.json() as any).error, 'method_not_allowed');
  }
  const r = await fetch(`${base}/v1/predict`, { method: 'OPTIONS' });
  assert.equal(r.status, 204);
  assert.equal(r.headers.get('allow'), 'OPTIONS, POST');
  assert.equal((await fetch(`${base}/v2/nothing`)).status, 404);
  const m = await (await fetch(`${base}/metrics`)).text();
  assert.match(m, /unetpp_errors_total\{kind="method_not_allowed"\} 4/);
});

test('malformed multipart bodies are 400, not 500', async () => {
  const bodies: [string, string | Buffer][] = [
    ['multipart/form-data; boundary=abc', 'this is not multipart at all'],
    ['multipart/form-data; boundary=abc', '--abc\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n' + 'x'.repeat(100)], // never closed
    ['multipart/form-data; boundary=abc', '--abc\r\nbroken header line\r\n\r\nxx\r\n--abc--\r\n'],
    ['multipart/form-data', '--abc\r\n\r\n'], // no boundary
  ];
  for (const [type, body] of bodies) {
    const r = await post('/v1/predict', body, { ...auth, 'content-type': type });
    const j = await r.json() as any;
    assert.ok(r.status >= 400 && r.status < 500, `${type} ${JSON.stringify(body).slice(0, 40)}: ${r.status} ${JSON.stringify(j)}`);
    assert.notEqual(j.error, 'internal');
  }
  const m = await (await fetch(`${base}/metrics`)).text();
  assert.doesNotMatch(m, /unetpp_errors_total\{kind="internal"\}/);
  assert.doesNotMatch(m, /status="500"/);
});

test('answers carry no server paths: model list, corrupt volumes', async () => {
  const models = await (await fetch(`${base}/v1/models`, { headers: auth })).text();
  assert.equal(JSON.parse(models).models[0].checkpoint, 'tiny.safetensors');
  assert.doesNotMatch(models, new RegExp(tmp));
  // a NIfTI header with a datatype nobody reads: the reader's error names its temporary file
  const h = Buffer.alloc(352);
  h.writeInt32LE(348, 0);
  h.writeInt16LE(3, 40);
  [8, 8, 2].forEach((d, i) => h.writeInt16LE(d, 42 + 2 * i));
  h.writeInt16LE(1536, 70); // float128
  h.writeInt16LE(128, 72);
  h.writeFloatLE(352, 108);
  h.write('n+1\0', 344, 'latin1');
  const r = await post('/v1/predict', gzipSync(Buffer.concat([h, Buffer.alloc(8 * 8 * 2 * 16)])), auth);
  const text = await r.text();
  assert.equal(r.status, 400, text);
  assert.doesNotMatch(text, /\/tmp|unetpp-serve-/);
  // whatever a reader puts in its message, the error handler cuts absolute paths to their last part
  assert.equal(redactPaths('/tmp/unetpp-serve-x1/out/volume.nii.gz: cannot read "/srv/models/a.safetensors" (at /x/y.js:3:4)'),
    'volume.nii.gz: cannot read "a.safetensors" (at y.js:3:4)');
  assert.equal(redactPaths('tile 16x16 runs 1/2 of a/b windows'), 'tile 16x16 runs 1/2 of a/b windows');
});

test('HTTPS with --cert and --key', { skip: spawnSync('openssl', ['version']).status === 0 ? false : 'openssl not installed' }, async () => {
  const cert = join(tmp, 'cert.pem'), key = join(tmp, 'key.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const s = await serve(['--cert', cert, '--key', key, '--api-key', KEY], {}, /listening on (https:\/\/\S+)/);
  try {
    const get = (path: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(`${s.match[1]}${path}`, { ca: readFileSync(cert), headers: auth }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end();
    });
    const r = await get('/v1/models');
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).models[0].name, 'default');
    // plain HTTP to the TLS port is not served
    await assert.rejects(fetch(s.match[1].replace('https:', 'http:') + '/healthz'));
  } finally {
    await stop(s);
  }
});
