#!/usr/bin/env node
// Layering check over src/: every relative import (type-only ones too: they tie the modules'
// meanings together) may point only to the same layer or one below, and no files may import
// each other in a circle. Exits 1 naming each upward arrow and each circle. Run by `npm test`.
//   node scripts/check-layers.mjs [srcDir]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Bottom first; a folder of src/ per name ('.' is src/index.ts). Read off the imports. */
export const LAYERS = [
  ['util'],
  ['engine', 'data'],
  ['models', 'optim', 'metrics'],
  ['io'],
  ['infer'],
  ['web'], // the browser-safe entry: re-exports from data, io and infer only
  ['train'],
  ['plan'],
  ['cv', 'queue', 'serve', 'bench'],
  ['cli'],
  ['.'],
];

function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : n.endsWith('.ts') ? [p] : [];
  });
}

// import ... from '…', export ... from '…', import '…', import('…'); comments and strings are rare enough to ignore
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

/** Relative imports of every .ts file under src, as file -> files (paths relative to src). */
export function importGraph(src) {
  const graph = new Map();
  for (const f of files(src)) {
    const text = readFileSync(f, 'utf8');
    const to = new Set();
    for (const m of text.matchAll(IMPORT)) {
      const target = resolve(dirname(f), m[1].replace(/\.js$/, '.ts'));
      if (target.startsWith(resolve(src) + sep)) to.add(relative(src, target).split(sep).join('/'));
    }
    graph.set(relative(src, f).split(sep).join('/'), [...to]);
  }
  return graph;
}

const folderOf = (file) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');

/** Problems found: upward arrows, folders in no layer, circles (each once, as a path). */
export function checkLayers(src, layers = LAYERS) {
  const rank = new Map(layers.flatMap((names, i) => names.map((n) => [n, i])));
  const graph = importGraph(src);
  const problems = [];
  for (const [from, tos] of graph) {
    const a = rank.get(folderOf(from));
    if (a === undefined) { problems.push(`${from}: folder ${folderOf(from)} is in no layer`); continue; }
    for (const to of tos) {
      const b = rank.get(folderOf(to));
      if (b !== undefined && b > a) problems.push(`upward import: ${from} -> ${to} (${folderOf(from)} is below ${folderOf(to)})`);
    }
  }
  // circles: Tarjan's strongly connected components; a component of more than one file is one
  let index = 0;
  const idx = new Map(), low = new Map(), stack = [], on = new Set();
  const visit = (v) => {
    idx.set(v, index); low.set(v, index++); stack.push(v); on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) !== idx.get(v)) return;
    const scc = [];
    let w;
    do { w = stack.pop(); on.delete(w); scc.push(w); } while (w !== v);
    if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) problems.push(`import circle: ${scc.sort().join(', ')}`);
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return problems;
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  const src = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
  const problems = checkLayers(src);
  for (const p of problems) console.error(p);
  if (problems.length) {
    console.error(`layers (bottom first): ${LAYERS.map((l) => l.join('/')).join(' < ')}`);
    process.exit(1);
  }
  console.log(`layers ok: ${importGraph(src).size} files, ${LAYERS.map((l) => l.join('/')).join(' < ')}`);
}
