// Training curves as a PNG: two panels (losses; validation IoU and Dice) drawn into a raw RGB
// buffer with our pixel font, then encoded by sharp. Legend colours: train loss blue, val loss
// orange, IoU green, Dice purple. The same panels draw any small line chart (renderCharts).
import sharp from 'sharp';
import { writeFileAtomicSync } from '../io/safetensors.js';
import { drawText, textWidth, Rgb } from './font.js';
import type { EpochRecord } from './record.js';

const W = 800, H = 360, PAD = 44;
const AXIS: Rgb = [60, 60, 60], GRID: Rgb = [225, 225, 225];

/** One line; `x` defaults to the panel's x values (same length as values). */
export interface Series { label: string; color: Rgb; values: number[]; x?: number[] }

/** One panel: `x` are the positions (epochs, pruning levels, ...); few x values get a tick each. */
export interface LineChart { title: string; xLabel: string; x: number[]; series: Series[]; yRange?: [number, number] }

class Canvas {
  readonly buf = new Uint8Array(W * H * 3).fill(255);
  set(x: number, y: number, c: Rgb) {
    x = Math.round(x); y = Math.round(y);
    if (x >= 0 && y >= 0 && x < W && y < H) this.buf.set(c, (y * W + x) * 3);
  }
  /** Thick line by stepping along it (2 px). */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thick = 1) {
    const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
    for (let i = 0; i <= n; i++) {
      const x = x0 + ((x1 - x0) * i) / n, y = y0 + ((y1 - y0) * i) / n;
      for (let d = 0; d < thick; d++) { this.set(x, y + d, c); this.set(x + d, y, c); }
    }
  }
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  const d = a >= 1 ? 1 : 2;  // one more digit where the short label would misstate the tick
  return Math.abs(+v.toFixed(d) - v) < 1e-9 ? v.toFixed(d) : v.toFixed(d + 1);
}

function panel(cv: Canvas, x0: number, width: number, chart: LineChart) {
  const { title, series, x: epochs, yRange: fixed } = chart;
  const top = PAD, bottom = H - PAD, left = x0 + PAD, right = x0 + width - 12;
  const all = series.flatMap((s) => s.values.filter(Number.isFinite));
  let [lo, hi] = fixed ?? [Math.min(0, ...all), Math.max(...all, 1e-6)];
  if (!(hi > lo)) hi = lo + 1;
  const e0 = epochs[0] ?? 1, e1 = Math.max(e0 + 1, epochs[epochs.length - 1] ?? 1);
  const px = (e: number) => left + ((e - e0) / (e1 - e0)) * (right - left);
  const py = (v: number) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    cv.line(left, py(v), right, py(v), GRID);
    const t = fmtTick(v);
    drawText(cv.buf, W, H, left - 6 - textWidth(t), Math.round(py(v)) - 5, t, AXIS);
  }
  cv.line(left, top, left, bottom, AXIS);
  cv.line(left, bottom, right, bottom, AXIS);
  const ticks = epochs.length <= 12 ? epochs : [e0, e1]; // a label per level, only the ends for epochs
  for (const e of ticks) drawText(cv.buf, W, H, Math.round(px(e)) - 4, bottom + 8, String(e), AXIS);
  drawText(cv.buf, W, H, Math.round((left + right - textWidth(chart.xLabel)) / 2), bottom + 22, chart.xLabel, AXIS);
  drawText(cv.buf, W, H, left, 12, title, AXIS, 3);
  let lx = left + textWidth(title, 3) + 24;
  for (const s of series) {
    cv.line(lx, 18, lx + 16, 18, s.color, 3);
    drawText(cv.buf, W, H, lx + 22, 14, s.label, s.color);
    lx += 30 + textWidth(s.label);
    const xs = s.x ?? epochs;
    // joins each finite value to the previous finite one (validation may skip epochs: validateEvery)
    const finite = s.values.map((_v, i) => i).filter((i) => Number.isFinite(s.values[i]));
    for (let j = 1; j < finite.length; j++)
      cv.line(px(xs[finite[j - 1]]), py(s.values[finite[j - 1]]), px(xs[finite[j]]), py(s.values[finite[j]]), s.color, 2);
    if (finite.length === 1) cv.line(px(xs[finite[0]]) - 2, py(s.values[finite[0]]), px(xs[finite[0]]) + 2, py(s.values[finite[0]]), s.color, 3);
  }
}

/** Renders the curves of `history` to an RGB buffer (W x H). */
export function renderCurves(history: EpochRecord[]): { data: Uint8Array; width: number; height: number } {
  const x = history.map((r) => r.epoch);
  return renderCharts([
    { title: 'LOSS', xLabel: 'EPOCH', x, series: [
      { label: 'TRAIN', color: [31, 119, 180], values: history.map((r) => r.trainLoss) },
      { label: 'VAL', color: [255, 127, 14], values: history.map((r) => r.valLoss) },
    ] },
    { title: 'VAL', xLabel: 'EPOCH', x, yRange: [0, 1], series: [
      { label: 'IOU', color: [44, 160, 44], values: history.map((r) => r.iou) },
      { label: 'DICE', color: [148, 103, 189], values: history.map((r) => r.dice) },
    ] },
  ]);
}

/** Charts side by side, each an equal share of the 800 px width. */
export function renderCharts(charts: LineChart[]): { data: Uint8Array; width: number; height: number } {
  const cv = new Canvas();
  charts.forEach((c, i) => panel(cv, (i * W) / charts.length, W / charts.length, c));
  return { data: cv.buf, width: W, height: H };
}

export async function writeChartsPng(path: string, charts: LineChart[]): Promise<void> {
  const { data, width, height } = renderCharts(charts);
  writeFileAtomicSync(path, await sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer());
}

export async function writeCurvesPng(path: string, history: EpochRecord[]): Promise<void> {
  const { data, width, height } = renderCurves(history);
  const png = await sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
  writeFileAtomicSync(path, png);
}
