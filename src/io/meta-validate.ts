// Checks a CheckpointMeta read from a file (or about to be written): every field's type and
// the fields against each other and the model (channels, classes, rank). Errors name the
// file and the field, e.g. "run/best.safetensors: metadata field classNames: 2 names for 3 classes".
import { makeConfig, type ModelConfig } from '../models/config.js';
import { planeCount, planeNames, type LabelSpec } from '../data/labels.js';
import { META_VERSION, type CheckpointMeta } from './checkpoint-meta.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const isInt = (v: unknown, min = 0): v is number => Number.isInteger(v) && (v as number) >= min;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const show = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));

/** Throws `${where}: metadata field ${field}: ${why}`; the checks return what they checked. */
export class MetaChecker {
  constructor(readonly where: string) {}
  fail(field: string, why: string): never {
    throw new Error(`${this.where}: metadata field ${field}: ${why}`);
  }
  obj(v: unknown, field: string): Obj {
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
  /** Optional fields: absent, or of the type. */
  maybe(v: unknown, field: string, type: 'boolean' | 'string' | 'number'): void {
    if (v === undefined) return;
    if (type === 'number' ? !isNum(v) : typeof v !== type) this.fail(field, `expected a ${type}, got ${show(v)}`);
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
    const vs = values(l.values, 'labels.values');
    if (l.names !== undefined) c.strings(l.names, 'labels.names', vs.length);
    c.maybe(l.background, 'labels.background', 'boolean');
  } else if (kind === 'regions') {
    if (!Array.isArray(l.regions) || !l.regions.length) c.fail('labels.regions', `expected a list of {name, values}, got ${show(l.regions)}`);
    l.regions.forEach((r: unknown, i: number) => {
      const o = c.obj(r, `labels.regions[${i}]`);
      if (typeof o.name !== 'string') c.fail(`labels.regions[${i}].name`, `expected a name, got ${show(o.name)}`);
      if (!values(o.values, `labels.regions[${i}].values`).length) c.fail(`labels.regions[${i}].values`, 'is empty');
    });
  }
  return l as unknown as LabelSpec;
}

function checkImageInput(c: MetaChecker, i: Obj, cfg: ModelConfig): void {
  if (cfg.dims === 3) c.fail('input.kind', "'image' for a 3D model: a 3D model's input is a 'volume'");
  const n = c.obj(i.normalize, 'input.normalize');
  if (c.oneOf(n.kind, 'input.normalize.kind', ['none', 'zscore', 'minmax', 'fixed'] as const) === 'fixed') {
    for (const k of ['mean', 'std'] as const) {
      const v = n[k];
      if (!Array.isArray(v) || v.length !== cfg.inChannels || v.some((x) => !isNum(x)))
        c.fail(`input.normalize.${k}`, `expected ${cfg.inChannels} numbers (one per channel), got ${show(v)}`);
    }
  }
  if (i.resize !== undefined) c.ints(i.resize, 'input.resize', 1, 2);
}

function checkVolumeInput(c: MetaChecker, i: Obj, cfg: ModelConfig): void {
  if (cfg.dims === 2) c.fail('input.kind', "'volume' for a 2D model: 2D models take 'image' input and run volumes slice by slice");
  const C = cfg.inChannels;
  const names = c.strings(i.modalities, 'input.modalities');
  if (names.length !== C) c.fail('input.modalities', `${names.length} modalities for a model of ${C} input channel(s)`);
  if (!Array.isArray(i.normalize) || i.normalize.length !== C) c.fail('input.normalize', `expected ${C} kinds (one per modality), got ${show(i.normalize)}`);
  const norms = i.normalize.map((k: unknown, j: number) => c.oneOf(k, `input.normalize[${j}]`, ['mri', 'ct', 'zscore', 'none'] as const));
  if (!Array.isArray(i.ct) || i.ct.length !== C) c.fail('input.ct', `expected ${C} entries (CT statistics or null), got ${show(i.ct)}`);
  i.ct.forEach((s: unknown, j: number) => {
    if (s === null) {
      if (norms[j] === 'ct') c.fail(`input.ct[${j}]`, `modality ${names[j]} is normalised as 'ct' and needs the dataset's CT statistics`);
      return;
    }
    const o = c.obj(s, `input.ct[${j}]`);
    for (const k of ['lo', 'hi', 'mean', 'std']) if (!isNum(o[k])) c.fail(`input.ct[${j}].${k}`, `expected a number, got ${show(o[k])}`);
  });
  const sp = i.spacing;
  if (sp !== undefined && (!Array.isArray(sp) || sp.length !== 3 || sp.some((s) => !(isNum(s) && s > 0))))
    c.fail('input.spacing', `expected three positive numbers [x, y, z] in mm, got ${show(sp)}`);
  c.maybe(i.cropToNonzero, 'input.cropToNonzero', 'boolean');
}

function checkPostprocess(c: MetaChecker, raw: unknown): void {
  if (!Array.isArray(raw)) c.fail('postprocess', `expected a list of rules, got ${show(raw)}`);
  raw.forEach((r: unknown, i: number) => {
    const f = `postprocess[${i}]`;
    const o = c.obj(r, f);
    const values = c.ints(o.values, `${f}.values`, 1);
    if (!values.length) c.fail(`${f}.values`, 'is empty');
    if (values.some((v) => v > 255)) c.fail(`${f}.values`, `label values are 1..255 (0 is background), got ${show(o.values)}`);
    const keep = c.oneOf(o.keep, `${f}.keep`, ['largest', 'min-size'] as const);
    if (keep === 'min-size' && !isInt(o.minVoxels, 1)) c.fail(`${f}.minVoxels`, `'min-size' needs a positive integer, got ${show(o.minVoxels)}`);
    c.maybe(o.diceBefore, `${f}.diceBefore`, 'number');
    c.maybe(o.diceAfter, `${f}.diceAfter`, 'number');
  });
}

function checkTraining(c: MetaChecker, raw: unknown): void {
  const t = c.obj(raw, 'training');
  if (!isInt(t.epoch, 0)) c.fail('training.epoch', `expected an integer >= 0, got ${show(t.epoch)}`);
  c.oneOf(t.status, 'training.status', ['running', 'finished'] as const);
  if (t.epochs !== undefined && !isInt(t.epochs, 1)) c.fail('training.epochs', `expected a positive integer, got ${show(t.epochs)}`);
  if (t.monitor !== undefined) c.oneOf(t.monitor, 'training.monitor', ['iou', 'dice', 'loss'] as const);
  c.maybe(t.value, 'training.value', 'number');
  c.maybe(t.stoppedBy, 'training.stoppedBy', 'string');
  if (t.loss !== undefined) {
    const l = c.obj(t.loss, 'training.loss');
    c.maybe(l.kind, 'training.loss.kind', 'string');
    c.maybe(l.bceWeight, 'training.loss.bceWeight', 'number');
    c.maybe(l.diceBackground, 'training.loss.diceBackground', 'boolean');
    c.maybe(l.batchDice, 'training.loss.batchDice', 'boolean');
  }
}

function checkProvenance(c: MetaChecker, raw: unknown): void {
  const p = c.obj(raw, 'provenance');
  c.oneOf(p.source, 'provenance.source', ['train', 'cv', 'pytorch', 'legacy'] as const);
  if (typeof p.createdAt !== 'string') c.fail('provenance.createdAt', `expected a string, got ${show(p.createdAt)}`);
  c.maybe(p.unetpp, 'provenance.unetpp', 'string');
  c.maybe(p.dataset, 'provenance.dataset', 'string');
  if (p.command !== undefined) c.strings(p.command, 'provenance.command');
}

/** The meta, checked; `where` names the file (and key) in errors. The model config comes back normalised (makeConfig). */
export function validateMeta(raw: unknown, where: string): CheckpointMeta {
  const c: MetaChecker = new MetaChecker(where);
  const m = c.obj(raw, '(document)');
  if (m.version !== META_VERSION) {
    if (typeof m.version === 'number' && m.version > META_VERSION)
      c.fail('version', `${m.version} was written by a newer unetpp (this one reads ${META_VERSION}): update unetpp`);
    c.fail('version', `expected ${META_VERSION}, got ${show(m.version)}`);
  }
  let cfg: ModelConfig;
  try {
    cfg = makeConfig(c.obj(m.model, 'model') as Partial<ModelConfig>);
  } catch (e) {
    c.fail('model', (e as Error).message);
  }
  const input = c.obj(m.input, 'input');
  if (c.oneOf(input.kind, 'input.kind', ['image', 'volume'] as const) === 'image') checkImageInput(c, input, cfg);
  else checkVolumeInput(c, input, cfg);
  const labels = checkLabels(c, m.labels);
  let planes: number;
  try {
    planes = planeCount(labels);
  } catch (e) {
    c.fail('labels', (e as Error).message);
  }
  if (planes !== cfg.classes) c.fail('labels', `give ${planes} output plane(s) (${planeNames(labels).join(', ')}), the model has ${cfg.classes} class(es)`);
  const names = c.strings(m.classNames, 'classNames');
  if (names.length !== cfg.classes) c.fail('classNames', `${names.length} names for ${cfg.classes} class(es)`);
  if (m.window !== undefined) c.ints(m.window, 'window', 1, cfg.dims);
  if (m.postprocess !== undefined) checkPostprocess(c, m.postprocess);
  if (m.tta !== undefined && typeof m.tta !== 'boolean') c.fail('tta', `expected true or false, got ${show(m.tta)}`);
  if (m.plan !== undefined) c.obj(m.plan, 'plan');
  if (m.training !== undefined) checkTraining(c, m.training);
  checkProvenance(c, m.provenance);
  return { ...(m as unknown as CheckpointMeta), model: cfg };
}
