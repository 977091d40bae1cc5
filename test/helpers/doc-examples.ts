// The code examples of the README and docs: fenced blocks marked `ts example` (type-checked and run) or
// `ts example compile-only` (type-checked: they need data a clean clone does not have), extracted as they
// are into a temporary project where `unetpp` resolves to this repository through its exports map.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export interface DocExample {
  /** The markdown file and the line of the block's first code line (1-based). */
  doc: string;
  line: number;
  code: string;
  run: boolean;
  /** File name in the project, e.g. README-L116.ts. */
  file: string;
}

const CODE_LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs']);
/** Words after the language: an example, or a block that is not one (a signature, an outline). */
const MARKS = new Set(['example', 'compile-only', 'signature']);

/** The marked examples of one markdown text; throws on a TS/JS block with no mark, so none is left out silently. */
export function extractExamples(doc: string, text: string): DocExample[] {
  const lines = text.split('\n');
  const out: DocExample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    if (end < 0) throw new Error(`${doc}:${i + 1}: unclosed code block`);
    const [lang, words] = [open[1], open[2].split(/\s+/).filter(Boolean)];
    if (CODE_LANGS.has(lang)) {
      const unknown = words.filter((w) => !MARKS.has(w));
      if (!words.length || unknown.length)
        throw new Error(`${doc}:${i + 1}: mark the block \`${lang} example\`, \`${lang} example compile-only\` or \`${lang} signature\``);
      if (words.includes('example')) {
        const ext = lang.startsWith('t') ? 'ts' : 'mjs';
        const file = `${basename(doc, '.md')}-L${i + 2}.${ext}`;
        out.push({ doc, line: i + 2, code: lines.slice(i + 1, end).join('\n'), run: !words.includes('compile-only'), file });
      }
    }
    i = end;
  }
  return out;
}

/** A project holding the examples, with node_modules/unetpp a link to `repo` (resolved through its exports). */
export function exampleProject(repo: string, examples: DocExample[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'unetpp-doc-examples-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(repo, join(dir, 'node_modules', 'unetpp'), 'dir');
  symlinkSync(join(repo, 'node_modules', '@types'), join(dir, 'node_modules', '@types'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'doc-examples', private: true, type: 'module' }));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true,
      allowJs: true, checkJs: true, outDir: 'out', types: ['node'],
    },
    include: ['*.ts', '*.mjs'],
  }));
  for (const e of examples) writeFileSync(join(dir, e.file), `${e.code}\n`);
  return dir;
}

/** tsc over the project; its messages point at the markdown lines. */
export function compileExamples(repo: string, dir: string, examples: DocExample[]): { ok: boolean; output: string } {
  const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8' });
  let output = `${r.stdout}${r.stderr}`;
  for (const e of examples)
    output = output.replaceAll(new RegExp(`${e.file.replace('.', '\\.')}\\((\\d+),(\\d+)\\)`, 'g'),
      (_, l: string, c: string) => `${e.doc}:${e.line + Number(l) - 1}:${c}`);
  return { ok: r.status === 0, output };
}

/** Runs one compiled example in a fresh folder of its own (files it writes stay there). */
export function runExample(dir: string, e: DocExample, timeoutMs = 60_000): { ok: boolean; output: string } {
  const cwd = mkdtempSync(join(dir, 'run-'));
  const js = join(dir, 'out', e.file.replace(/\.ts$/, '.js'));
  const r = spawnSync(process.execPath, [js], { cwd, encoding: 'utf8', timeout: timeoutMs });
  return { ok: r.status === 0, output: `${e.doc}:${e.line}: exit ${r.status ?? r.signal}\n${r.stdout}${r.stderr}` };
}
