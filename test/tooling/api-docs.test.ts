// The API reference (`npm run docs:api`, TypeDoc over the package's subpath entry points) builds with no
// warnings (typedoc.json treats them as errors), has a page per subpath, and documents the main symbols.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SUBPATHS = ['data', 'train', 'plan', 'cv', 'infer', 'metrics', 'io', 'serve', 'queue', 'web'];

test('TypeDoc documents every subpath and the main symbols, without warnings', { timeout: 120_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'unetpp-api-'));
  try {
    const bin = join(process.cwd(), 'node_modules', 'typedoc', 'bin', 'typedoc');
    assert.ok(existsSync(bin), 'typedoc is a devDependency: run npm ci');
    const r = spawnSync(process.execPath, [bin, '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, `typedoc failed:\n${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stdout + r.stderr, /\[warning\]/);

    const exported = Object.keys(JSON.parse(readFileSync('package.json', 'utf8')).exports as Record<string, unknown>);
    const pages = ['unetpp', ...SUBPATHS.map((s) => `unetpp_${s}`)];
    assert.deepEqual(exported.filter((e) => e !== './package.json'), ['.', ...SUBPATHS.map((s) => `./${s}`)],
      'a subpath was added to package.json: add it to typedoc.json and here');
    for (const p of pages) assert.ok(existsSync(join(out, 'modules', `${p}.html`)), `no page for ${p}`);

    const page = (kind: string, name: string) => readFileSync(join(out, kind, `${name}.html`), 'utf8');
    assert.match(page('functions', 'unetpp.createPredictor'), /blended windows that fit the memory budget/);
    assert.match(page('functions', 'unetpp.train'), /exact <code>resume<\/code>/);
    assert.match(page('classes', 'unetpp.SegModel'), /UNet\+\+ \(or U-Net/);
    assert.ok(existsSync(join(out, 'functions', 'unetpp_serve.createService.html')));
    assert.ok(existsSync(join(out, 'functions', 'unetpp_queue.startWorker.html')));
    assert.ok(existsSync(join(out, 'functions', 'unetpp_train.trainVolumes.html')));
    assert.ok(existsSync(join(out, 'functions', 'unetpp_web.parseWebManifest.html')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
