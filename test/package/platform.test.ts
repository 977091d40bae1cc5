// The prebuilt package's name per platform (sharp / esbuild convention) and npm's libc field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { platformPackage } from '../../src/engine/backends/native/platform.js';

test('platform package names: os-cpu, and the C library on Linux', () => {
  assert.deepEqual(platformPackage('linux', 'x64', 'glibc'), { name: 'unetpp-linux-x64-gnu', dir: 'linux-x64-gnu', libc: 'glibc' });
  assert.deepEqual(platformPackage('linux', 'arm64', 'musl'), { name: 'unetpp-linux-arm64-musl', dir: 'linux-arm64-musl', libc: 'musl' });
  assert.deepEqual(platformPackage('darwin', 'arm64', undefined), { name: 'unetpp-darwin-arm64', dir: 'darwin-arm64' });
  assert.equal(platformPackage('freebsd', 'x64', undefined), null);
  assert.equal(platformPackage('linux', 'ia32', 'glibc'), null);
});

test('this machine: the libc Node reports', () => {
  const p = platformPackage();
  if (process.platform !== 'linux') return;
  const glibc = !!(process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;
  assert.equal(p?.libc, glibc ? 'glibc' : 'musl');
});
