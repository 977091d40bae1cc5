// The bench summary's model GFLOP/s against the machine's peak, checked for consistency (shared by
// the image and volume bench tests).
import assert from 'node:assert/strict';
import { measureNativePeak, peakFor } from '../../src/bench/peak.js';

/** The summary's model GFLOP/s against the peak: GFLOP per image x img/s, that / the peak (as
 *  peakFor resolves it, unless an option gave it), the forward count equal to the kernel floor's. */
export function checkPeakFields(s: Record<string, any>, floor?: Record<string, any>) {
  const peak = peakFor(s.precision, {}, undefined, measureNativePeak);
  // a measured peak differs from run to run; its source names the loop
  if (s.peak_source.startsWith('measured')) {
    assert.match(peak.source, /^measured: register-only \w+ loop, \d+ threads$/);
    // measured before the model and after everything: the higher is the peak
    assert.equal(s.peak_measured_gflop_per_s.length, 2);
    assert.equal(s.peak_gflop_per_s, Math.max(...s.peak_measured_gflop_per_s));
  }
  else if (s.peak_source !== 'option') assert.deepEqual([s.peak_gflop_per_s, s.peak_source], [peak.gflops, peak.source]);
  // rounding: GFLOP per image to 4 decimals, GFLOP/s to 3, fractions to 4
  const near = (a: number, b: number, abs: number, what: string) =>
    assert.ok(Math.abs(a - b) <= 1e-3 * Math.abs(b) + abs, `${what}: ${a} vs ${b}`);
  near(s.train_gflop_per_img, 3 * s.infer_gflop_per_img, 3e-4, 'training step = 3x forward');
  for (const phase of ['train', 'infer']) {
    const rate = s[`${phase}_gflop_per_s`];
    assert.ok(rate > 0, `${phase}_gflop_per_s = ${rate}`);
    near(rate, s[`${phase}_gflop_per_img`] * s[`${phase}_img_per_s`], 1e-3, `${phase}_gflop_per_s`);
    near(s[`${phase}_fraction_of_peak`], rate / s.peak_gflop_per_s, 1e-4, `${phase}_fraction_of_peak`);
  }
  if (floor) near(floor.conv_gflop_fwd, s.batch * s.infer_gflop_per_img, 0.006, "the floor's conv GFLOP a batch");
}
