// The layering check (scripts/check-layers.mjs): src/ passes, and a tree with an upward import,
// a type-only circle and a folder outside the layers fails with each named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Check = (src: string, layers?: string[][]) => string[];
const load = async () => (await import(join(process.cwd(), 'scripts', 'check-layers.mjs'))) as { checkLayers: Check };

test('src/ imports only downwards and in no circle', async () => {
  const { checkLayers } = await load();
  assert.deepEqual(checkLayers(join(process.cwd(), 'src')), []);
});

test('an upward import, a type-only circle and an unknown folder are reported', async () => {
  const { checkLayers } = await load();
  const root = mkdtempSync(join(tmpdir(), 'unetpp-layers-'));
  try {
    const put = (path: string, text: string) => {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    put('low/a.ts', "import { b } from '../high/b.js';\nexport const a = b;\n");
    put('high/b.ts', 'export const b = 1;\n');
    put('high/c.ts', "import type { D } from './d.js';\nexport type C = D;\n");
    put('high/d.ts', "export type { C as D } from './c.js';\n");
    put('odd/e.ts', "import { a } from '../low/a.js';\nexport const e = a;\n");
    const problems = checkLayers(root, [['low'], ['high']]);
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('upward import: low/a.ts -> high/b.ts')));
    assert.ok(problems.includes('import circle: high/c.ts, high/d.ts'));
    assert.ok(problems.some((p) => p.startsWith('odd/e.ts: folder odd is in no layer')));
    // the same tree with the layers swapped: only the circle and the odd folder remain
    assert.equal(checkLayers(root, [['high'], ['low']]).length, 2);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
