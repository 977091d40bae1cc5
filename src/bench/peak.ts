// The machine's peak GFLOP/s per precision, which the bench summary sets the model's throughput
// against (`--peak-gflops`, UNETPP_PEAK_GFLOPS, or the defaults measured where the bench runs).
import type { Precision } from '../engine/backend.js';
import { measurePeak } from '../engine/backends/native.js';

export type Peaks = Partial<Record<Precision, number>>;

/** Where nothing measures (no native addon): both cores of a 2-core Zen 4 EPYC (two 256-bit FMA pipes) running
 *  independent FMAs (fp32) or vdpbf16ps dot products (bf16) on registers only. A Zen 5 host measures 2.2x. */
export const DEFAULT_PEAKS: Record<Precision, number> = { fp32: 223, bf16: 460 };
export const DEFAULT_PEAK_SOURCE = 'default: 2-core AVX-512 EPYC, register-only FMA loop';
export const PEAK_ENV = 'UNETPP_PEAK_GFLOPS';

/** "fp32=223,bf16=460" (either or both) -> { fp32: 223, bf16: 460 }; throws naming what is wrong. */
export function parsePeaks(text: string): Peaks {
  const peaks: Peaks = {};
  for (const part of text.split(',').map((s) => s.trim())) {
    const m = /^(fp32|bf16)=(.+)$/.exec(part);
    const v = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(v) || v <= 0)
      throw new Error('expected fp32=N and/or bf16=N (GFLOP/s, positive, comma-separated), e.g. fp32=223,bf16=460; ' +
        `got "${part}"`);
    peaks[m[1] as Precision] = v;
  }
  return peaks;
}

export type PeakMeasure = (precision: Precision) => { gflops: number; source: string } | null;

const measured = new Map<Precision, { gflops: number; source: string } | null>();
function measureOnce(precision: Precision): { gflops: number; source: string } | null {
  try {
    const m = measurePeak(precision === 'bf16');
    return m.gflops > 0 ? { gflops: +m.gflops.toFixed(1), source: `measured: register-only ${m.isa} loop, ${m.threads} threads` } : null;
  } catch { return null; }  // no native addon: the default
}
/** The peak measured on this machine by the native addon (once a process and precision), null without it. */
export const measureNativePeak: PeakMeasure = (precision) => {
  if (!measured.has(precision)) measured.set(precision, measureOnce(precision));
  return measured.get(precision)!;
};
/** Measures the peak again and keeps the higher of it and the first measurement: a loop that ran while another
 *  process held a core reads half the machine (a 2-core bench once measured 233 GFLOP/s on a 445-497 host). */
export function remeasureNativePeak(precision: Precision):
  { best: { gflops: number; source: string }; measurements: number[] } | null {
  const first = measureNativePeak(precision), again = measureOnce(precision);
  const best = first && again ? (again.gflops > first.gflops ? again : first) : first ?? again;
  measured.set(precision, best);
  return best && { best, measurements: [first, again].filter((m) => m !== null).map((m) => m!.gflops) };
}

/** The peak for `precision`: the option's, else the environment's, else `measure`'s (the bench measures the
 *  machine it runs on), else the default; and where it came from. */
export function peakFor(precision: Precision, option: Peaks = {}, env = process.env[PEAK_ENV], measure?: PeakMeasure):
  { gflops: number; source: string } {
  let fromEnv: Peaks = {};
  if (env !== undefined && env.trim() !== '') {
    try { fromEnv = parsePeaks(env); } catch (e) { throw new Error(`${PEAK_ENV}: ${(e as Error).message}`); }
  }
  for (const [k, v] of Object.entries(option))
    if (!(k in DEFAULT_PEAKS) || !(Number.isFinite(v) && v > 0))
      throw new Error(`--peak-gflops (peakGflops): fp32 or bf16 to a positive number, got ${k}=${v}`);
  const given = option[precision];
  if (given !== undefined) return { gflops: given, source: 'option' };
  if (fromEnv[precision] !== undefined) return { gflops: fromEnv[precision]!, source: `env ${PEAK_ENV}` };
  return measure?.(precision) ?? { gflops: DEFAULT_PEAKS[precision], source: DEFAULT_PEAK_SOURCE };
}

/** Model GFLOP/s at `perS` images (volumes) a second of `gflop` each, and its fraction of `peak`. */
export function againstPeak(gflop: number, perS: number, peak: number): { gflopPerS: number; fraction: number } {
  const gflopPerS = gflop * perS;
  return { gflopPerS: +gflopPerS.toFixed(3), fraction: +(gflopPerS / peak).toFixed(4) };
}
