// Optional packages: a missing one gives an error naming it and the install command with the
// range package.json asks for; other failures pass through unchanged; present ones load once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MissingPackageError, optionalImport } from '../../src/util/optional-import.js';

const dynamic = (spec: string) => () => import(spec) as Promise<unknown>;

test('a missing package: MissingPackageError naming it, the feature and npm install', async () => {
  await assert.rejects(optionalImport(dynamic('unetpp-no-such-package'), 'unetpp-no-such-package', 'the test feature'), (e: Error) => {
    assert.ok(e instanceof MissingPackageError);
    assert.match(e.message, /^the test feature needs the npm package unetpp-no-such-package, which is not installed; fix: npm install unetpp-no-such-package$/);
    return true;
  });
});

test('a missing optional peer names the range from package.json', async () => {
  // every optional peer is installed in the repo, so simulate its absence with the same error Node throws
  const load = () => Promise.reject(Object.assign(new Error("Cannot find package 'fastify' imported from /x/app.js"), { code: 'ERR_MODULE_NOT_FOUND' }));
  await assert.rejects(optionalImport(load, 'fastify', 'the HTTP service'), /fix: npm install 'fastify@\^5\.\d+\.\d+'$/);
});

test('a missing file inside another package is not reported as the optional package missing', async () => {
  const load = () => Promise.reject(Object.assign(new Error("Cannot find package 'tslib' imported from /x/node_modules/fastify/a.js"), { code: 'ERR_MODULE_NOT_FOUND' }));
  await assert.rejects(optionalImport(load, 'fastify', 'the HTTP service'), (e: Error) => !(e instanceof MissingPackageError) && /tslib/.test(e.message));
});

test('an installed package loads, once', async () => {
  let calls = 0;
  const load = () => { calls++; return import('prom-client'); };
  const a = await optionalImport(load, 'prom-client', 'metrics');
  const b = await optionalImport(load, 'prom-client', 'metrics');
  assert.equal(typeof a.Registry, 'function');
  assert.equal(a, b);
  assert.equal(calls, 1);
});

test('a failure is not cached: the next call tries again', async () => {
  let calls = 0;
  const load = () => { calls++; return Promise.reject(Object.assign(new Error("Cannot find package 'bullmq' imported from /x"), { code: 'ERR_MODULE_NOT_FOUND' })); };
  await assert.rejects(optionalImport(load, 'bullmq', 'the queue'), MissingPackageError);
  await assert.rejects(optionalImport(load, 'bullmq', 'the queue'), MissingPackageError);
  assert.equal(calls, 2);
});
