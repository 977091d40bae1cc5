// measurePeak: the machine's arithmetic peak on the addon's threads, for the bench's fraction of peak.
// Independent FMAs (fp32) or bf16 dot products on registers only: 16 accumulators a thread hide the
// instructions' latency, so the loop is bound by issue throughput alone. Each kernel is compiled for its
// own ISA (target attributes) and chosen at run time, so a build for an older -march still measures it.
#include <immintrin.h>
#include <omp.h>

#include "common.h"

namespace un {

constexpr int ACC = 16;

__attribute__((target("avx512f"))) static float fp32Avx512(long iters) {
  __m512 acc[ACC];
  const __m512 a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(0.9999999f);
  for (int i = 0; i < ACC; i++) acc[i] = _mm512_set1_ps((float)i);
  for (long n = 0; n < iters; n++)
    for (int i = 0; i < ACC; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  float s = 0;  // used, so that the loop stays
  for (int i = 0; i < ACC; i++) s += _mm512_reduce_add_ps(acc[i]);
  return s;
}

__attribute__((target("avx2,fma"))) static float fp32Avx2(long iters) {
  __m256 acc[ACC];
  const __m256 a = _mm256_set1_ps(1.0000001f), b = _mm256_set1_ps(0.9999999f);
  for (int i = 0; i < ACC; i++) acc[i] = _mm256_set1_ps((float)i);
  for (long n = 0; n < iters; n++)
    for (int i = 0; i < ACC; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  alignas(32) float v[8];
  float s = 0;
  for (int i = 0; i < ACC; i++) {
    _mm256_store_ps(v, acc[i]);
    for (float x : v) s += x;
  }
  return s;
}

__attribute__((target("avx512f,avx512bf16"))) static float bf16Avx512(long iters) {
  __m512 acc[ACC];
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(-1e-3f));
  for (int i = 0; i < ACC; i++) acc[i] = _mm512_set1_ps((float)i);
  for (long n = 0; n < iters; n++)
    for (int i = 0; i < ACC; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  float s = 0;
  for (int i = 0; i < ACC; i++) s += _mm512_reduce_add_ps(acc[i]);
  return s;
}

// measurePeak({bf16, iters}) -> {gflops, threads, isa}: the best of 3 runs on every OpenMP thread;
// gflops 0 where the CPU has no such instructions (bf16 without AVX512_BF16).
static Napi::Value measurePeak(const Args &a) {
  Napi::Object o = a.count() > 0 && a.info[0].IsObject() ? a.info[0].As<Napi::Object>() : Napi::Object::New(a.env());
  const bool bf16 = o.Get("bf16").ToBoolean().Value();
  const long iters = o.Get("iters").IsNumber() ? o.Get("iters").As<Napi::Number>().Int64Value() : 20000000;
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f"), hasBf16 = avx512 && __builtin_cpu_supports("avx512bf16");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const char *isa = bf16 ? (hasBf16 ? "avx512_bf16" : "none") : avx512 ? "avx512" : avx2 ? "avx2" : "none";
  // FLOPs an instruction: FMA on 16 (8) floats = 32 (16); a bf16 dot product adds 32 products into 16 floats = 64
  const double perInstr = bf16 ? 64 : avx512 ? 32 : 16;
  double best = 0;
  int threads = 1;
  if (std::string(isa) != "none") {
    for (int r = 0; r < 3; r++) {
      double seconds = 0;
      float sink = 0;
#pragma omp parallel reduction(max : seconds) reduction(+ : sink)
      {
#pragma omp single
        threads = omp_get_num_threads();
#pragma omp barrier
        double t0 = omp_get_wtime();
        sink += bf16 ? bf16Avx512(iters) : avx512 ? fp32Avx512(iters) : fp32Avx2(iters);
        seconds = omp_get_wtime() - t0;
      }
      double g = (double)iters * ACC * perInstr * threads / seconds / 1e9 + (sink == 12345.f ? 1e-9 : 0);
      if (g > best) best = g;
    }
  }
  Napi::Object res = Napi::Object::New(a.env());
  res.Set("gflops", best);
  res.Set("threads", threads);
  res.Set("isa", isa);
  return res;
}

void registerPeak(Napi::Env env, Napi::Object ex) { def(env, ex, "measurePeak", measurePeak); }

}  // namespace un
