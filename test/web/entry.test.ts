// `unetpp/web` (src/web/index.ts) stays browser-safe: bundled for the browser, the compiled entry reaches no
// Node built-in and no package the page does not bundle; a tree that does is named file by file. The page
// (web/src) takes unetpp's code through this entry only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { browserImportProblems } from '../helpers/browser-imports.js';

const root = process.cwd();

test('the compiled unetpp/web entry imports no Node built-in and only browser packages', async () => {
  const entry = join(root, 'dist', 'src', 'web', 'index.js');
  assert.deepEqual(await browserImportProblems(entry, root), []);
});

test('a Node built-in or a Node-only package anywhere behind an entry is reported', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'unetpp-browser-'));
  try {
    writeFileSync(join(dir, 'entry.js'), "export * from './b.js';\nexport { default as dicom } from 'dicom-parser';\n");
    writeFileSync(join(dir, 'b.js'), "import { join } from 'node:path';\nexport * from './c.js';\n"
      + "export const load = () => import('sharp');\nexport const at = join('a', 'b');\n");
    writeFileSync(join(dir, 'c.js'), "import fs from 'fs';\nexport const read = fs.readFileSync;\n");
    const problems = await browserImportProblems(join(dir, 'entry.js'), dir);
    assert.deepEqual(problems.sort(), [
      'b.js: imports node:path (a Node built-in)',
      'b.js: imports sharp (not a package known to run in a browser)',
      'c.js: imports fs (a Node built-in)',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the Node subpaths are not browser-safe (the check sees through re-exports)', async () => {
  const problems = await browserImportProblems(join(root, 'dist', 'src', 'io', 'index.js'), root);
  assert.ok(problems.some((p) => p.includes('(a Node built-in)')), problems.join('\n'));
});

test("the page imports unetpp's code through src/web/index.ts only", () => {
  const files = (dir: string): string[] => readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
  const reaching = files(join(root, 'web', 'src')).flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(/from\s*'((?:\.\.\/)+src\/[^']+)'/g)]
      .map((m) => m[1]).filter((spec) => !spec.endsWith('src/web/index.js'))
      .map((spec) => `${relative(root, f)}: ${spec}`));
  assert.deepEqual(reaching, []);
});
