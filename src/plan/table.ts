// A plan as a short table for the terminal and the docs: one line per decision.
import { gib } from '../infer/memory.js';
import type { DatasetPlan } from './types.js';

const dur = (s: number) => (s >= 3600 && s % 3600 === 0 ? `${s / 3600}h` : s >= 60 && s % 60 === 0 ? `${s / 60}m` : `${Math.round(s)}s`);
const axes = (p: DatasetPlan) => (p.dims === 3 ? 'DxHxW' : 'HxW');

export function planTable(p: DatasetPlan): string {
  const n = p.network;
  const rows: [string, string][] = [
    ['dataset', `${p.dataset.dir} (${p.kind === 'volume' ? '3D volumes' : '2D images'}; ${p.dataset.planned} cases planned: ${p.dataset.train} train, ${p.dataset.val} val)`],
    ['input', `${p.dataset.modalities ? p.dataset.modalities.join(', ') : `${p.dataset.channels} channel${p.dataset.channels > 1 ? 's' : ''}`} -> ${p.dataset.classes.join(', ')}`],
  ];
  if (p.spacing) rows.push(['spacing', `${p.spacing.join(' x ')} mm (x, y, z; ${p.spacingRule})`]);
  if (p.cropToNonzero !== undefined) rows.push(['crop', p.cropToNonzero ? 'to the non-zero box' : 'none']);
  rows.push(
    ['median case', `${p.medianShape.join('x')} (${axes(p)})`],
    ['patch', `${p.patch.join('x')} (${axes(p)})`],
    ['network', `UNet++ depth ${n.depth}, filters ${n.filters.join(',')}, ${n.norm} norm, deep supervision, ${(n.params / 1e6).toFixed(2)}M params` +
      (n.pooling === 'isotropic fallback' ? `; per-axis pooling ${poolsOf(p).join(',')} planned, isotropic built` : '')],
    ['batch', String(p.batchSize)],
    ['normalise', Array.isArray(p.normalize) ? p.normalize.map((k, i) => `${p.dataset.modalities?.[i] ?? i}: ${k}`).join(', ') : `${p.normalize} per image`],
    ['augment', `${p.augment}${p.foregroundFraction !== undefined ? `; ${Math.round(100 * p.foregroundFraction)}% of patches centred on foreground` : ''}`],
    ['memory', `est. ${gib(p.memory.step.total)} a step (arena ${gib(p.memory.step.arena)}, native ${gib(p.memory.step.native)}) + ${gib(p.memory.validationBytes)} validation, ` +
      `budget ${gib(p.memory.budgetBytes)}` + (p.memory.measuredPeakBytes ? `; measured step peak ${gib(p.memory.measuredPeakBytes)}` : '')],
  );
  const t = p.time;
  if (t.source !== 'none') {
    rows.push(
      ['step time', `${(t.stepMs / 1000).toFixed(2)} s (${t.cpuMs ? `CPU ${(t.cpuMs / 1000).toFixed(2)} s; ` : ''}${t.source}, ${t.backend}, ${t.threads} thread${t.threads > 1 ? 's' : ''})`],
      ['schedule', `${dur(t.budgetSeconds)}: ${t.steps} steps = ${t.epochs} epochs x ${t.stepsPerEpoch} steps (${t.samplesPerEpoch} patches), validation ~${t.validationSeconds} s an epoch`],
    );
  } else rows.push(['schedule', 'not timed']);
  const w = Math.max(...rows.map(([k]) => k.length));
  return [...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`), ...p.notes.map((x) => `note: ${x}`)].join('\n');
}

/** Poolings per axis from the per-level factors. */
const poolsOf = (p: DatasetPlan) => p.network.poolPerAxis[0].map((_, k) => p.network.poolPerAxis.filter((l) => l[k] === 2).length);
