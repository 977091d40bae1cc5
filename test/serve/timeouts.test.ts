// Slow and stalled clients of `unetpp serve`: headers that never end, bodies that stall or
// trickle, too many connections, and SIGTERM with uploads still trickling in: each is cut at
// its deadline (measured here), and the process exits within --drain-timeout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { BACKEND, startCli, stop, tinyCheckpoint } from '../helpers/services.js';

let tmp: string, ckpt: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'unetpp-timeouts-'));
  ckpt = tinyCheckpoint(join(tmp, 'tiny.safetensors'));
  const px = Buffer.from(new Uint8Array(40 * 36).map((_, i) => (i * 13) % 251));
  await sharp(px, { raw: { width: 40, height: 36, channels: 1 } }).png().toFile(join(tmp, 'one.png'));
});

after(() => rmSync(tmp, { recursive: true, force: true }));

const serve = (extra: string[]) => startCli(['serve', '-m', ckpt, '--port', '0', '--backend', BACKEND, '--no-warm', ...extra], /listening on (http:\/\/\S+)/);

interface Client { socket: Socket; closedAfter: Promise<number>; answer: () => string; stop: () => void }

/** A raw connection that sends `head`, then `drip` bytes every `everyMs` (until closed). */
function client(port: number, head: string, drip = '', everyMs = 100): Client {
  const t0 = performance.now();
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (d) => (text += d));
  socket.on('error', () => {});
  socket.write(head);
  const timer = drip ? setInterval(() => { if (!socket.destroyed) socket.write(drip); }, everyMs) : undefined;
  const closedAfter = new Promise<number>((resolve) => socket.on('close', () => { clearInterval(timer); resolve(performance.now() - t0); }));
  return { socket, closedAfter, answer: () => text, stop: () => { clearInterval(timer); socket.destroy(); } };
}

const upload = (len: number) => `POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${len}\r\n\r\n`;

test('slow headers, a stalled body and a trickling body are cut at their timeouts; the connection cap holds', async () => {
  const s = await serve(['--header-timeout', '500', '--request-timeout', '1500', '--idle-timeout', '400', '--max-connections', '40']);
  const port = Number(new URL(s.match[1]).port);
  try {
    const slowHeaders = client(port, 'POST /v1/predict HTTP/1.1\r\nHost: x\r\n', 'X-Pad: 1\r\n', 100);
    const stalled = client(port, upload(100000) + 'x'.repeat(10));
    const trickling = Array.from({ length: 30 }, () => client(port, upload(100000), 'x', 100));
    const [h, st, tr] = await Promise.all([slowHeaders.closedAfter, stalled.closedAfter, Promise.all(trickling.map((c) => c.closedAfter))]);
    const trMax = Math.max(...tr), trMin = Math.min(...tr);
    console.log(`# slow headers cut after ${h.toFixed(0)} ms (header-timeout 500), stalled body after ${st.toFixed(0)} ms (idle-timeout 400), ` +
      `30 trickling bodies after ${trMin.toFixed(0)}..${trMax.toFixed(0)} ms (request-timeout 1500)`);
    assert.ok(h >= 450 && h < 1200, `headers: ${h} ms`);
    assert.match(slowHeaders.answer(), /^HTTP\/1.1 408/);
    assert.ok(st >= 350 && st < 1000, `stalled: ${st} ms`);
    assert.ok(trMin >= 1400 && trMax < 2600, `trickling: ${trMin}..${trMax} ms`);
    assert.match(trickling[0].answer(), /^HTTP\/1.1 408/);

    // 40 connections at most: the 41st..50th are closed at once
    const idle = Array.from({ length: 50 }, () => client(port, ''));
    const firstClosed = await Promise.race(idle.map((c) => c.closedAfter));
    await new Promise((r) => setTimeout(r, 100));
    const closedNow = idle.filter((c) => c.socket.destroyed || c.socket.readyState === 'closed').length;
    console.log(`# 50 connections with --max-connections 40: ${closedNow} closed at once (first after ${firstClosed.toFixed(0)} ms)`);
    assert.equal(closedNow, 10);
    for (const c of idle) c.stop();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await fetch(`${s.match[1]}/healthz`)).status, 200);
  } finally {
    await stop(s);
  }
});

test('SIGTERM with 3 trickling uploads open: new requests get 503 while draining, exit within --drain-timeout', async () => {
  const s = await serve(['--drain-timeout', '1500']);
  const base = s.match[1];
  const port = Number(new URL(base).port);
  const open = Array.from({ length: 3 }, () => client(port, upload(10_000_000), 'x', 50));
  await new Promise((r) => setTimeout(r, 200));
  const t0 = performance.now();
  s.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  const during = await fetch(`${base}/v1/models`);
  assert.equal(during.status, 503);
  assert.equal(during.headers.get('connection'), 'close');
  assert.match((await during.json() as any).message, /shutting down/);
  assert.equal((await fetch(`${base}/readyz`)).status, 503);
  const code = await s.exited;
  const exitMs = performance.now() - t0;
  const cut = await Promise.all(open.map((c) => c.closedAfter));
  console.log(`# SIGTERM with 3 trickling uploads: exit ${code} after ${exitMs.toFixed(0)} ms (drain-timeout 1500)`);
  assert.equal(code, 0);
  assert.ok(exitMs < 1500 + 300, `exited after ${exitMs} ms`); // a busy machine may start the clock late
  assert.ok(cut.every((ms) => ms < 2500));
  assert.match(s.out(), /3 request\(s\) still open at the deadline were cut/);
});

test('queued work whose client hangs up, or whose --timeout passes, leaves the queue without running', async () => {
  // two requests wait for partners (max-wait 1500): one client hangs up, the other times out
  const s = await serve(['--max-batch', '8', '--max-wait', '1500', '--timeout', '600']);
  const base = s.match[1];
  try {
    const png = readFileSync(join(tmp, 'one.png'));
    const ac = new AbortController();
    const hungUp = fetch(`${base}/v1/predict`, { method: 'POST', body: png, signal: ac.signal }).catch((e: Error) => e.name);
    const timedOut = fetch(`${base}/v1/predict`, { method: 'POST', body: png });
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    assert.equal(await hungUp, 'AbortError');
    const r = await timedOut;
    assert.equal(r.status, 504);
    await new Promise((r) => setTimeout(r, 1500)); // past the batch's wait
    const m = await (await fetch(`${base}/metrics`)).text();
    assert.match(m, /unetpp_batch_size_count 0/);
    assert.match(m, /unetpp_queue_depth 0/);
  } finally {
    await stop(s);
  }
});
