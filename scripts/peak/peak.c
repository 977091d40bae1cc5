// The machine's arithmetic peak per precision on every core: independent fp32 FMAs (vfmadd231ps) and bf16
// dot products (vdpbf16ps) on registers only, no memory traffic. 16 accumulators per thread hide the
// instructions' latency, so the loop is bound by throughput alone. Prints one JSON line (GFLOP/s).
// Built (-O3: the accumulators stay in registers) and run by scripts/measure-peak.sh; the bench takes the result as --peak-gflops fp32=N,bf16=N.
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define ACC 16

static double fp32_loop(long iters) {
  __m512 acc[ACC];
  const __m512 a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(0.9999999f);
  for (int i = 0; i < ACC; i++) acc[i] = _mm512_set1_ps((float)i);
  for (long n = 0; n < iters; n++)
    for (int i = 0; i < ACC; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  float sum = 0;  // used, so the loop is not removed
  for (int i = 0; i < ACC; i++) sum += _mm512_reduce_add_ps(acc[i]);
  return sum;
}

static double bf16_loop(long iters) {
  __m512 acc[ACC];
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(-1e-3f));
  for (int i = 0; i < ACC; i++) acc[i] = _mm512_set1_ps((float)i);
  for (long n = 0; n < iters; n++)
    for (int i = 0; i < ACC; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  float sum = 0;
  for (int i = 0; i < ACC; i++) sum += _mm512_reduce_add_ps(acc[i]);
  return sum;
}

/** Best of `rounds` runs of `iters` iterations on every thread: GFLOP/s of all threads together. */
static double measure(int bf16, long iters, int rounds, double* sink) {
  // an FMA on 16 floats is 32 FLOPs; a bf16 dot product adds 32 pairs' products into 16 floats: 64 FLOPs
  const double flops = (double)iters * ACC * (bf16 ? 64 : 32);
  double best = 0;
  for (int r = 0; r < rounds; r++) {
    double seconds = 0;
#pragma omp parallel reduction(+ : sink[0]) reduction(max : seconds)
    {
#pragma omp barrier
      double t0 = omp_get_wtime();
      sink[0] += bf16 ? bf16_loop(iters) : fp32_loop(iters);
      seconds = omp_get_wtime() - t0;
    }
    double g = flops * omp_get_max_threads() / seconds / 1e9;
    if (g > best) best = g;
  }
  return best;
}

int main(int argc, char** argv) {
  long iters = argc > 1 ? atol(argv[1]) : 20000000;
  double sink = 0;
  double fp32 = measure(0, iters, 5, &sink), bf16 = measure(1, iters, 5, &sink);
  printf("{\"threads\":%d,\"fp32\":%.1f,\"bf16\":%.1f,\"iterations\":%ld,\"sink\":%g}\n", omp_get_max_threads(), fp32,
         bf16, iters, sink);
  return 0;
}
