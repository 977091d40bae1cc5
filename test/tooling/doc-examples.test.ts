// The README's and docs' code examples, as written: type-checked against the package's subpaths (through
// its exports map, as a user's project sees them) and, unless marked compile-only, run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compileExamples, exampleProject, extractExamples, runExample, type DocExample } from '../helpers/doc-examples.js';

const repo = process.cwd();
const docs = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

test('README and docs import the package only by its subpaths', () => {
  for (const doc of docs) assert.doesNotMatch(readFileSync(doc, 'utf8'), /unetpp\/dist\//, doc);
});

test('the examples of README and docs type-check and run', { timeout: 300_000 }, () => {
  const examples = docs.flatMap((doc) => extractExamples(doc, readFileSync(doc, 'utf8')));
  assert.ok(examples.filter((e) => e.run).length >= 2 && examples.length >= 4, `only ${examples.length} examples found`);
  const dir = exampleProject(repo, examples);
  try {
    const built = compileExamples(repo, dir, examples);
    assert.ok(built.ok, built.output);
    for (const e of examples.filter((x) => x.run)) {
      const r = runExample(dir, e);
      assert.ok(r.ok, r.output);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a broken example fails, an unmarked block is refused', { timeout: 120_000 }, () => {
  const md = [
    'Text.', '', '```ts example', "import { SegModel } from 'unetpp';", "new SegModel({ preset: 'nope' });", '```', '',
    '```ts example', "import { createPredictor } from 'unetpp/infer';", 'throw new Error(typeof createPredictor);', '```',
  ].join('\n');
  const examples: DocExample[] = extractExamples('docs/x.md', md);
  assert.deepEqual(examples.map((e) => [e.line, e.run]), [[4, true], [9, true]]);
  const dir = exampleProject(repo, examples);
  try {
    const built = compileExamples(repo, dir, examples);
    assert.equal(built.ok, false);
    assert.match(built.output, /docs\/x\.md:5:/);
    const r = runExample(dir, examples[1]);
    assert.equal(r.ok, false);
    assert.match(r.output, /Error: function/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => extractExamples('docs/y.md', '```ts\nconst a = 1;\n```\n'), /docs\/y\.md:1: mark the block/);
});
