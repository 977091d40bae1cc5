// split.csv as users bring it: a key column named id, name, image, filename, file or case
// (values may carry a folder and an extension), a split column (split, set, subset or fold),
// any extra columns, and split names spelled train/training, val/valid/validation/dev,
// test/testing (any case). Everything is normalised to train / val / test. Without a split file,
// seededSplitSizes says how many cases a seeded split gives each part.
import { basename } from 'node:path';
import { fileError } from './images/read-image.js';

export type SplitName = 'train' | 'val' | 'test';

const KEY_COLUMNS = ['id', 'name', 'image', 'images', 'filename', 'file', 'case', 'case_id', 'stem'];
const SPLIT_COLUMNS = ['split', 'set', 'subset', 'fold', 'partition'];
const SPLIT_ALIASES: Record<string, SplitName> = {
  train: 'train', training: 'train', tr: 'train',
  val: 'val', valid: 'val', validation: 'val', dev: 'val',
  test: 'test', testing: 'test', ts: 'test',
};

/** A split name in any of its usual spellings, or undefined. */
export function normaliseSplit(s: string): SplitName | undefined {
  return SPLIT_ALIASES[s.trim().toLowerCase()];
}

/** One CSV line into cells (double quotes, "" inside quotes). */
export function csvCells(line: string): string[] {
  const cells: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { cells.push(cur.trim()); cur = ''; }
    else cur += ch;
  }
  cells.push(cur.trim());
  return cells;
}

/** 'images/a.nii.gz' -> 'a'; 'b.png' -> 'b'; 'c' -> 'c' (ids are file stems). */
export function stemOf(key: string): string {
  const b = basename(key.replace(/\\/g, '/'));
  if (/\.nii\.gz$/i.test(b)) return b.slice(0, -7);
  return b.replace(/\.(png|jpe?g|tiff?|bmp|nii|nrrd|mha|dcm)$/i, '');
}

export interface SplitRow { id: string; split: SplitName; line: number }

/** Parses split.csv text; errors name the file and line. */
export function parseSplitCsv(text: string, file: string): SplitRow[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).map((l, i) => [l, i + 1] as const).filter(([l]) => l.trim() !== '');
  if (!lines.length) throw fileError(file, 'empty split file');
  const header = csvCells(lines[0][0]).map((h) => h.toLowerCase());
  const key = header.findIndex((h) => KEY_COLUMNS.includes(h));
  const col = header.findIndex((h) => SPLIT_COLUMNS.includes(h));
  if (key < 0 || col < 0)
    throw fileError(file, `header "${lines[0][0]}" needs a key column (${KEY_COLUMNS.join('/')}) and a split column (${SPLIT_COLUMNS.join('/')}), e.g. "id,split"`);
  const rows: SplitRow[] = [];
  for (const [l, n] of lines.slice(1)) {
    const cells = csvCells(l);
    const split = normaliseSplit(cells[col] ?? '');
    if (!cells[key] || !split) throw fileError(file, `line ${n}: expected a ${header[key]} and a split train|val|test (or training/validation/valid/testing), got "${l}"`);
    rows.push({ id: stemOf(cells[key]), split, line: n });
  }
  return rows;
}

/**
 * Train and validation counts of a seeded split of n labelled cases: the fractions, but at least
 * one training and (from two cases on) one validation case, so that a small dataset still has
 * something to validate on; note says what was adjusted.
 */
export function seededSplitSizes(n: number, [ft, fv]: [number, number, number]): {
  train: number; val: number; note?: string;
} {
  let train = Math.max(1, Math.round(ft * n));
  let val = Math.round(fv * n);
  let note: string | undefined;
  if (n >= 2 && val < 1 && fv > 0) {
    val = 1;
    note = `${n} cases: 1 held out for validation`;
  }
  if (train + val > n) train = Math.max(1, n - val);
  return { train, val, note };
}
