// Checks a CheckpointMeta read from a file (or about to be written): every field's type and
// the fields against each other and the model (channels, classes, rank). Errors name the
// file and the field, e.g. "run/best.safetensors: metadata field classNames: 2 names for 3 classes".
import { makeConfig, type ModelConfig } from '../models/config.js';
import { planeCount, planeNames, type LabelSpec } from '../data/labels.js';
import { META_VERSION, type CheckpointMeta, type PostprocessRule } from './checkpoint-meta.js';

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isInt = (v: unknown, min = 0): v is number => Number.isInteger(v) && (v as number) >= min;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const show = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));

/** Throws `${where}: metadata field ${field}: ${why}`. */
export class MetaChecker {
  constructor(readonly where: string) {}
  fail(field: string, why: string): never {
    throw new Error(`${this.where}: metadata field ${field}: ${why}`);
  }
  obj(v: unknown, field: string): Record<string, unknown> {
    if (!isObj(v)) this.fail(field, `expected an object, got ${show(v)}`);
    return v;
  }
  strings(v: unknown, field: string, n?: number): string[] {
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) this.fail(field, `expected a list of names, got ${show(v)}`);
    if (n !== undefined && v.length !== n) this.fail(field, `${v.length} names for ${n}`);
    return v;
  }
  ints(v: unknown, field: string, min = 0, n?: number): number[] {
    if (!Array.isArray(v) || v.some((x) => !isInt(x, min))) this.fail(field, `expected a list of integers >= ${min}, got ${show(v)}`);
    if (n !== undefined && v.length !== n) this.fail(field, `${v.length} values, expected ${n}`);
    return v;
  }
  oneOf<T extends string>(v: unknown, field: string, choices: readonly T[]): T {
    if (!choices.includes(v as T)) this.fail(field, `expected one of ${choices.join(', ')}, got ${show(v)}`);
    return v as T;
  }
}

function checkLabels(c: MetaChecker, raw: unknown): LabelSpec {
  const l = c.obj(raw, 'labels');
  const kind = c.oneOf(l.kind, 'labels.kind', ['binary', 'classes', 'regions'] as const);
  const values = (v: unknown, field: string) => {
    const vs = c.ints(v, field, 0);
    if (vs.some((x) => x > 255)) c.fail(field, `label values are 0..255, got ${show(v)}`);
    return vs;
  };
  if (kind === 'classes') {
    values(l.values, 'labels.values');
    if (l.names !== undefined) c.strings(l.names, 'labels.names', (l.values as number[]).length);
    if (l.background !== undefined && typeof l.background !== 'boolean') c.fail('labels.background', `expected true or false, got ${show(l.background)}`);
  } else if (kind === 'regions') {
    if (!Array.isArray(l.regions) || !l.regions.length) c.fail('labels.regions', `expected a non-empty list of {name, values}, got ${show(l.regions)}`);
    l.regions.forEach((r: unknown, i: number) => {
      const o = c.obj(r, `labels.regions[${i}]`);
      if (typeof o.name !== 'string') c.fail(`labels.regions[${i}].name`, `expected a name, got ${show(o.name)}`);
      if (!values(o.values, `labels.regions[${i}].values`).length) c.fail(`labels.regions[${i}].values`, 'is empty');
    });
  }
  return l as unknown as LabelSpec;
}

function checkInput(c: MetaChecker, raw: unknown, cfg: ModelConfig): void {
  const i = c.obj(raw, 'input');
  const kind = c.oneOf(i.kind, 'input.kind', ['image', 'volume'] as const);
  if (kind === 'image') {
    if (cfg.dims === 3) c.fail('input.kind', "'image' for a 3D model: a 3D model's input is a 'volume'");
    const n = c.obj(i.normalize, 'input.normalize');
    const nk = c.oneOf(n.kind, 'input.normalize.kind', ['none', 'zscore', 'minmax', 'fixed'] as const);
    if (nk === 'fixed') {
      for (const k of ['mean', 'std'] as const)
        if (!Array.isArray(n[k]) || (n[k] as unknown[]).length !== cfg.inChannels || (n[k] as unknown[]).some((x) => !isNum(x)))
          c.fail(`input.normalize.${k}`, `expected ${cfg.inChannels} numbers (one per channel), got ${show(n[k])}`);
    }
    if (i.resize !== undefined) c.ints(i.resize, 'input.resize', 1, 2);
    return;
  }
  if (cfg.dims === 2) c.fail('input.kind', "'volume' for a 2D model: 2D models take 'image' input and run volumes slice by slice");
  const C = cfg.inChannels;
  c.strings(i.modalities, 'input.modalities');
  if ((i.modalities as string[]).length !== C) c.fail('input.modalities', `${(i.modalities as string[]).length} modalities for a model of ${C} input channel(s)`);
  if (!Array.isArray(i.normalize) || i.normalize.length !== C) c.fail('input.normalize', `expected ${C} kinds (one per modality), got ${show(i.normalize)}`);
  i.normalize.forEach((k: unknown, j: number) => c.oneOf(k, `input.normalize[${j}]`, ['mri', 'ct', 'zscore', 'none'] as const));
  if (!Array.isArray(i.ct) || i.ct.length !== C) c.fail('input.ct', `expected ${C} entries (CT statistics or null), got ${show(i.ct)}`);
  const norms = i.normalize as string[];
  i.ct.forEach((s: unknown, j: number) => {
    if (s === null) {
      if (norms[j] === 'ct') c.fail(`input.ct[${j}]`, `modality ${(i.modalities as string[])[j]} is normalised as 'ct' and needs the dataset's CT statistics`);
      return;
    }
    const o = c.obj(s, `input.ct[${j}]`);
    for (const k of ['lo', 'hi', 'mean', 'std']) if (!isNum(o[k])) c.fail(`input.ct[${j}].${k}`, `expected a number, got ${show(o[k])}`);
  });
  if (i.spacing !== undefined && (!Array.isArray(i.spacing) || i.spacing.length !== 3 || i.spacing.some((s) => !(isNum(s) && s > 0))))
    c.fail('input.spacing', `expected three positive numbers [x, y, z] in mm, got ${show(i.spacing)}`);
  if (i.cropToNonzero !== undefined && typeof i.cropToNonzero !== 'boolean') c.fail('input.cropToNonzero', `expected true or false, got ${show(i.cropToNonzero)}`);
}

function checkPostprocess(c: MetaChecker, raw: unknown): void {
  if (!Array.isArray(raw)) c.fail('postprocess', `expected a list of rules, got ${show(raw)}`);
  raw.forEach((r: unknown, i: number) => {
    const o = c.obj(r, `postprocess[${i}]`) as Partial<Record<keyof PostprocessRule, unknown>>;
    if (!c.ints(o.values, `postprocess[${i}].values`, 0).length) c.fail(`postprocess[${i}].values`, 'is empty');
    const keep = c.oneOf(o.keep, `postprocess[${i}].keep`, ['largest', 'min-size'] as const);
    if (keep === 'min-size' && !isInt(o.minVoxels, 1)) c.fail(`postprocess[${i}].minVoxels`, `'min-size' needs a positive integer, got ${show(o.minVoxels)}`);
    for (const k of ['diceBefore', 'diceAfter'] as const) if (o[k] !== undefined && !isNum(o[k])) c.fail(`postprocess[${i}].${k}`, `expected a number, got ${show(o[k])}`);
  });
}

function checkTraining(c: MetaChecker, raw: unknown): void {
  const t = c.obj(raw, 'training');
  if (!isInt(t.epoch, 0)) c.fail('training.epoch', `expected an integer >= 0, got ${show(t.epoch)}`);
  c.oneOf(t.status, 'training.status', ['running', 'finished'] as const);
  if (t.epochs !== undefined && !isInt(t.epochs, 1)) c.fail('training.epochs', `expected a positive integer, got ${show(t.epochs)}`);
  if (t.monitor !== undefined) c.oneOf(t.monitor, 'training.monitor', ['iou', 'dice', 'loss'] as const);
  if (t.value !== undefined && !isNum(t.value)) c.fail('training.value', `expected a number, got ${show(t.value)}`);
  if (t.stoppedBy !== undefined && typeof t.stoppedBy !== 'string') c.fail('training.stoppedBy', `expected a string, got ${show(t.stoppedBy)}`);
}

function checkProvenance(c: MetaChecker, raw: unknown): void {
  const p = c.obj(raw, 'provenance');
  c.oneOf(p.source, 'provenance.source', ['train', 'cv', 'pytorch', 'legacy'] as const);
  for (const k of ['createdAt', 'unetpp', 'dataset'])
    if ((k === 'createdAt' || p[k] !== undefined) && typeof p[k] !== 'string') c.fail(`provenance.${k}`, `expected a string, got ${show(p[k])}`);
  if (p.command !== undefined) c.strings(p.command, 'provenance.command');
}

/** The meta, checked; `where` names the file (and key) in errors. The model config comes back normalised (makeConfig). */
export function validateMeta(raw: unknown, where: string): CheckpointMeta {
  const c: MetaChecker = new MetaChecker(where);
  const m = c.obj(raw, '(document)');
  if (m.version !== META_VERSION) {
    if (typeof m.version === 'number' && m.version > META_VERSION) c.fail('version', `${m.version} was written by a newer unetpp (this one reads ${META_VERSION}): update unetpp`);
    c.fail('version', `expected ${META_VERSION}, got ${show(m.version)}`);
  }
  let cfg: ModelConfig;
  try {
    cfg = makeConfig(c.obj(m.model, 'model') as Partial<ModelConfig>);
  } catch (e) {
    c.fail('model', (e as Error).message);
  }
  checkInput(c, m.input, cfg);
  const labels = checkLabels(c, m.labels);
  let planes: number;
  try { planes = planeCount(labels); } catch (e) { c.fail('labels', (e as Error).message); }
  if (planes !== cfg.classes) c.fail('labels', `give ${planes} output plane(s) (${planeNames(labels).join(', ')}), the model has ${cfg.classes} class(es)`);
  c.strings(m.classNames, 'classNames');
  if ((m.classNames as string[]).length !== cfg.classes) c.fail('classNames', `${(m.classNames as string[]).length} names for ${cfg.classes} class(es)`);
  if (m.window !== undefined) c.ints(m.window, 'window', 1, cfg.dims);
  if (m.postprocess !== undefined) checkPostprocess(c, m.postprocess);
  if (m.plan !== undefined) c.obj(m.plan, 'plan');
  if (m.training !== undefined) checkTraining(c, m.training);
  checkProvenance(c, m.provenance);
  return { ...(m as unknown as CheckpointMeta), model: cfg };
}
