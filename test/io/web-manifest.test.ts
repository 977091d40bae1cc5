// parseWebManifest (unetpp/web): a bundle's manifest.json is checked before any model is fetched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWebManifest, WEB_BUNDLE_FORMAT } from '../../src/io/web-manifest.js';

const model = { id: 'accurate', mode: 'accurate', level: 2, multiple: 4, file: 'accurate.onnx', params: 1, gflops: 1, bytes: 1 };

test('a unetpp bundle manifest is read; JSON of another kind, or without models, is refused by name', () => {
  const m = parseWebManifest(JSON.stringify({ format: WEB_BUNDLE_FORMAT, version: 1, models: [model] }), 'b/');
  assert.equal(m.models[0].file, 'accurate.onnx');
  assert.throws(() => parseWebManifest('{', 'b/'), /^Error: b\/: manifest.json is not JSON$/);
  assert.throws(() => parseWebManifest('null', 'b/'), /b\/: not a unetpp web bundle/);
  assert.throws(() => parseWebManifest(JSON.stringify({ format: 'other', version: 1, models: [model] }), 'b/'),
    /b\/: not a unetpp web bundle \(format other v1\)/);
  assert.throws(() => parseWebManifest(JSON.stringify({ format: WEB_BUNDLE_FORMAT, version: 2, models: [model] }), 'b/'),
    /not a unetpp web bundle \(format unetpp-web-bundle v2\)/);
  assert.throws(() => parseWebManifest(JSON.stringify({ format: WEB_BUNDLE_FORMAT, version: 1, models: [] }), 'b/'),
    /b\/: the manifest lists no models/);
});
