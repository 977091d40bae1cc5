// Per-epoch logs: log.jsonl (one JSON object per epoch) and log.csv, rewritten whole from the
// history each epoch (atomically), so a resumed run's logs never hold epochs it redid.
import { join } from 'node:path';
import { writeFileAtomicSync } from '../io/safetensors.js';
import { EpochRecord, RECORD_FIELDS } from './record.js';

export function writeLogs(dir: string, history: EpochRecord[]): void {
  const enc = new TextEncoder();
  const jsonl = history.map((r) => JSON.stringify(r)).join('\n') + (history.length ? '\n' : '');
  writeFileAtomicSync(join(dir, 'log.jsonl'), enc.encode(jsonl));
  const rows = [RECORD_FIELDS.join(','), ...history.map((r) => RECORD_FIELDS.map((f) => String(r[f] ?? '')).join(','))];
  writeFileAtomicSync(join(dir, 'log.csv'), enc.encode(rows.join('\n') + '\n'));
}
