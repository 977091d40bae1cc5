// Small NIfTI datasets with known shapes, spacings, labels and intensities for the plan tests.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeVolume, saveVolume } from '../data/volume-util.js';
import type { ProbeResult, ProbeSpec } from '../../src/plan/step-probe.js';

export interface CaseSpec {
  dims: [number, number, number];
  spacing: [number, number, number];
  split: 'train' | 'val' | 'test';
}

/** Inside the ellipsoid filling the middle half of each axis: label 1 (2 in its upper half). */
export const labelAt = (dims: readonly number[]) => (x: number, y: number, z: number) => {
  const [X, Y, Z] = dims;
  const r = ((x - X / 2) / (X / 4)) ** 2 + ((y - Y / 2) / (Y / 4)) ** 2 + ((z - Z / 2) / (Z / 4)) ** 2;
  return r <= 1 ? (z >= Z / 2 ? 2 : 1) : 0;
};

/** Foreground 100 + x (so its statistics are known), background 10, or 0 outside a border when `border`. */
export const imageAt = (dims: readonly number[], border = 0, offset = 0) => (x: number, y: number, z: number) => {
  const [X, Y, Z] = dims;
  if (border && (x < border || y < border || z < border || x >= X - border || y >= Y - border || z >= Z - border)) return 0;
  return labelAt(dims)(x, y, z) ? 100 + x + offset : 10 + offset;
};

/** images/<id>.nii.gz + labels/<id>.nii.gz + split.csv (the folder layout). */
export async function writeFolderSet(dir: string, cases: CaseSpec[], border = 0): Promise<void> {
  const lines = ['id,split'];
  for (const [i, c] of cases.entries()) {
    const id = `case${i}`;
    await saveVolume(join(dir, 'images', `${id}.nii.gz`), makeVolume(c.dims, imageAt(c.dims, border), c.spacing));
    await saveVolume(join(dir, 'labels', `${id}.nii.gz`), makeVolume(c.dims, labelAt(c.dims), c.spacing), 'uint8');
    lines.push(`${id},${c.split}`);
  }
  await writeFile(join(dir, 'split.csv'), lines.join('\n') + '\n');
}

/** nnU-Net layout, two modalities (_0000 CT, _0001 T1), labels named in dataset.json; zero border. */
export async function writeCtMriSet(dir: string, cases: CaseSpec[], border: number): Promise<void> {
  await mkdir(join(dir, 'imagesTr'), { recursive: true });
  const lines = ['id,split'];
  for (const [i, c] of cases.entries()) {
    const id = `ct_${String(i).padStart(3, '0')}`;
    await saveVolume(join(dir, 'imagesTr', `${id}_0000.nii.gz`), makeVolume(c.dims, imageAt(c.dims, border, -1000), c.spacing));
    await saveVolume(join(dir, 'imagesTr', `${id}_0001.nii.gz`), makeVolume(c.dims, imageAt(c.dims, border), c.spacing));
    await saveVolume(join(dir, 'labelsTr', `${id}.nii.gz`), makeVolume(c.dims, labelAt(c.dims), c.spacing), 'uint8');
    lines.push(`${id},${c.split}`);
  }
  await writeFile(join(dir, 'split.csv'), lines.join('\n') + '\n');
  await writeFile(join(dir, 'dataset.json'), JSON.stringify({
    name: 'synthetic', modality: { 0: 'CT', 1: 'T1' }, labels: { 0: 'background', 1: 'lower', 2: 'upper' },
  }));
}

/** A stand-in for the timed steps: a fixed step time, no child process; otherCores: what other processes took. */
export const fakeMeasure = (stepMs: number, otherCores = 0) => async (spec: ProbeSpec): Promise<ProbeResult> => ({
  stepMs: stepMs * (spec.batch / 2) * ((spec.config.filters?.[0] ?? 16) / 16) ** 2, cpuMs: stepMs, stepTimes: [], peakRssBytes: 0, arenaBytes: 0,
  validationMs: stepMs / 3, backend: 'fake', threads: 1, otherCores,
});
