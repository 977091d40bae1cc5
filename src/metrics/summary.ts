// Per-image metric rows -> summary (mean, std, n, undefined count) and CSV / Markdown tables.
// Undefined values (HD95 with an empty mask) are left out of the mean and counted.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../data/atomic.js';

export interface MetricRow {
  id: string;
  values: Record<string, number | undefined>;
}

export interface MetricSummary {
  name: string;
  mean: number | undefined;
  std: number | undefined; // population std (numpy's default, ddof = 0)
  n: number; // defined values
  undefinedCount: number;
}

export const METRIC_NAMES = ['iou', 'dice', 'precision', 'recall', 'hd95'];

function names(rows: MetricRow[], wanted?: string[]): string[] {
  if (wanted) return wanted;
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r.values)) seen.add(k);
  return [...seen];
}

export function summarize(rows: MetricRow[], metrics?: string[]): MetricSummary[] {
  return names(rows, metrics).map((name) => {
    const v = rows.map((r) => r.values[name]).filter((x): x is number => x !== undefined && !Number.isNaN(x));
    const mean = v.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
    const std = mean === undefined ? undefined : Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
    return { name, mean, std, n: v.length, undefinedCount: rows.length - v.length };
  });
}

const fmt = (x: number | undefined, digits: number) => (x === undefined ? '' : x.toFixed(digits));

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One line per image; undefined cells are empty. */
export function rowsToCsv(rows: MetricRow[], metrics?: string[], digits = 6): string {
  const cols = names(rows, metrics);
  const lines = [['id', ...cols].join(',')];
  for (const r of rows) lines.push([csvCell(r.id), ...cols.map((c) => fmt(r.values[c], digits))].join(','));
  return lines.join('\n') + '\n';
}

export function summaryToCsv(s: MetricSummary[], digits = 6): string {
  const lines = ['metric,mean,std,n,undefined'];
  for (const m of s) lines.push([m.name, fmt(m.mean, digits), fmt(m.std, digits), m.n, m.undefinedCount].join(','));
  return lines.join('\n') + '\n';
}

export function summaryToMarkdown(s: MetricSummary[], digits = 4): string {
  const lines = ['| metric | mean | std | n | not defined |', '|---|---:|---:|---:|---:|'];
  for (const m of s) lines.push(`| ${m.name} | ${fmt(m.mean, digits) || '-'} | ${fmt(m.std, digits) || '-'} | ${m.n} | ${m.undefinedCount} |`);
  return lines.join('\n') + '\n';
}

export function rowsToMarkdown(rows: MetricRow[], metrics?: string[], digits = 4): string {
  const cols = names(rows, metrics);
  const lines = [`| id | ${cols.join(' | ')} |`, `|---|${cols.map(() => '---:').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.id.replace(/\|/g, '\\|')} | ${cols.map((c) => fmt(r.values[c], digits) || '-').join(' | ')} |`);
  return lines.join('\n') + '\n';
}

/** Writes a table file atomically. */
export async function writeTable(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, text);
}

/** A table row from per-image scores (ImageScores or any named numbers). */
export function scoreRow(id: string, scores: object): MetricRow {
  return { id, values: { ...(scores as Record<string, number | undefined>) } };
}

/** metrics.csv, summary.csv and metrics.md (title, summary, one row per item) into outDir; their paths. */
export async function writeEvaluation(outDir: string, rows: MetricRow[], metrics: string[], summary: MetricSummary[], title: string, per: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  const write = async (name: string, text: string) => { const p = join(outDir, name); await writeTable(p, text); files.push(p); };
  await write('metrics.csv', rowsToCsv(rows, metrics));
  await write('summary.csv', summaryToCsv(summary));
  await write('metrics.md', `${title}## Summary\n\n${summaryToMarkdown(summary)}\n## Per ${per}\n\n${rowsToMarkdown(rows, metrics)}`);
  return files;
}
