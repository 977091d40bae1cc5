// A plan as a short table for the terminal and the docs: one line per decision, then its notes.
import { gib } from '../infer/memory.js';
import type { DatasetPlan } from '../io/dataset-plan.js';
import { diceOptionWords } from '../engine/dice-options.js';

function duration(s: number): string {
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600}h`;
  return s >= 60 && s % 60 === 0 ? `${s / 60}m` : `${Math.round(s)}s`;
}

/** Poolings per axis from the per-level factors. */
const poolsOf = (p: DatasetPlan) => p.network.poolPerAxis[0].map((_, k) => p.network.poolPerAxis.filter((l) => l[k] === 2).length);

export function planTable(p: DatasetPlan): string {
  const n = p.network, d = p.dataset, m = p.memory, t = p.time;
  const axes = p.dims === 3 ? 'DxHxW' : 'HxW';
  const kind = p.kind === 'volume' ? '3D volumes' : '2D images';
  const channels = d.modalities ? d.modalities.join(', ') : `${d.channels} channel${d.channels > 1 ? 's' : ''}`;
  const rows: [string, string][] = [
    ['dataset', `${d.dir} (${kind}; ${d.planned} cases planned: ${d.train} train, ${d.val} val)`],
    ['input', `${channels} -> ${d.classes.join(', ')}`],
  ];
  if (p.spacing) rows.push(['spacing', `${p.spacing.join(' x ')} mm (x, y, z; ${p.spacingRule})`]);
  if (p.cropToNonzero !== undefined) rows.push(['crop', p.cropToNonzero ? 'to the non-zero box' : 'none']);
  const normalise = Array.isArray(p.normalize)
    ? p.normalize.map((k, i) => `${d.modalities?.[i] ?? i}: ${k}`).join(', ') : `${p.normalize} per image`;
  const oversample = p.foregroundFraction !== undefined ? `; ${Math.round(100 * p.foregroundFraction)}% of patches centred on foreground` : '';
  rows.push(
    ['median case', `${p.medianShape.join('x')} (${axes})`],
    ['patch', `${p.patch.join('x')} (${axes})`],
    ['network', `UNet++ depth ${n.depth}, filters ${n.filters.join(',')}, ${n.norm} norm, deep supervision, ` +
      `${(n.params / 1e6).toFixed(2)}M params` +
      (n.pools ? `; pooling ${n.pools.map((f) => f.join('x')).join(', ')} (${axes})` : '') +
      (n.kernels ? `; kernels ${n.kernels.map((k) => k.join('x')).join(', ')}` : '') +
      (n.pooling === 'isotropic fallback' ? `; per-axis pooling ${poolsOf(p).join(',')} planned, isotropic built` : '')],
    ['batch', String(p.batchSize)],
    ['normalise', normalise],
    ['augment', `${p.augment}${oversample}`],
    ['memory', `est. ${gib(m.step.total)} a step (arena ${gib(m.step.arena)}, native ${gib(m.step.native)}) + ` +
      `${gib(m.validationBytes)} validation, budget ${gib(m.budgetBytes)}` +
      (m.measuredPeakBytes ? `; measured step peak ${gib(m.measuredPeakBytes)}` : '')],
  );
  if (t.stepMs > 0) {
    const cpu = t.cpuMs ? `CPU ${(t.cpuMs / 1000).toFixed(2)} s; ` : '';
    rows.push(
      ['step time', `${(t.stepMs / 1000).toFixed(2)} s (${cpu}${t.source}, ${t.backend}, ${t.threads} thread${t.threads > 1 ? 's' : ''})`],
      ['schedule', `${duration(t.budgetSeconds)}: ${t.steps} steps = ${t.epochs} epochs x ${t.stepsPerEpoch} steps ` +
        `(${t.samplesPerEpoch} patches), validation ~${t.validationSeconds} s an epoch`],
    );
  } else rows.push(['schedule', 'not timed']);
  const r = p.training.recipe;
  if (r) {
    const extra = [r.momentum !== undefined && `momentum ${r.momentum}`, r.weightDecay && `weight decay ${r.weightDecay}`,
      r.warmupSteps && `${r.warmupSteps} warm-up steps`,
      r.holdFraction && `held for ${Math.round(r.holdFraction * 100)}% of the steps`,
      ...diceOptionWords({ diceBackground: r.diceClasses !== 'foreground', batchDice: r.batchDice })].filter(Boolean);
    rows.push(['recipe', `${r.optimizer} lr ${r.lr}, ${r.schedule}${extra.length ? `, ${extra.join(', ')}` : ''} (${r.why})`]);
  }
  const pr = p.training.precision;
  if (pr) rows.push(['precision', `${pr.value} (${pr.why})`]);
  const inf = p.inference;
  if (inf) rows.push(['inference', `${inf.tta ? `average of ${2 ** p.patch.length} flips` : 'one pass'} (${inf.why})`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return [...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`), ...p.notes.map((x) => `note: ${x}`)].join('\n');
}
