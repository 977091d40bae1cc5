// 1x1 convolutions from a blocked (nChw16c) input to fewer than 16 channels, forward: the
// segmentation heads (32 -> 1). oneDNN 2.6 computes these into an output padded to 16 channels
// in its blocked layout and then reorders it to ours (NHWC), 2.4x its raw kernel time
// (measured, bf16, N16 C32 96x96); here it is one pass over x. bf16 as oneDNN does it: weights
// rounded to bf16, float32 sums, the output rounded once.
#include "head.h"

#include <type_traits>
#include <vector>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace un {

template <class T>
static void run(const ConvGeo &g, const T *x, const float *w, const float *b, T *y, bool relu) {
  const int64_t C = g.c, CB = C / 16, O = g.o, HW = g.h * g.w;
  std::vector<float> wt(O * C);
  for (int64_t i = 0; i < O * C; i++) wt[i] = std::is_same_v<T, bf16> ? toF32(toBf16(w[i])) : w[i];
#pragma omp parallel for collapse(2) schedule(static) if (g.n * HW * C >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t p = 0; p < HW; p++) {
      const T *px = x + n * C * HW + p * 16;  // channel block cb of this pixel at px + cb * HW * 16
      for (int64_t o = 0; o < O; o++) {
        const float *wo = wt.data() + o * C;
        float s;
#ifdef __AVX512F__
        __m512 acc = _mm512_setzero_ps();
        for (int64_t cb = 0; cb < CB; cb++) {
          const T *v = px + cb * HW * 16;
          __m512 xv;
          if constexpr (std::is_same_v<T, bf16>)
            xv = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(v))), 16));
          else
            xv = _mm512_loadu_ps(v);
          acc = _mm512_fmadd_ps(_mm512_loadu_ps(wo + cb * 16), xv, acc);
        }
        s = _mm512_reduce_add_ps(acc);
#else
        s = 0.f;
        for (int64_t cb = 0; cb < CB; cb++)
          for (int64_t l = 0; l < 16; l++) s += wo[cb * 16 + l] * load(px[cb * HW * 16 + l]);
#endif
        s += b ? b[o] : 0.f;
        if (relu && s < 0.f) s = 0.f;
        y[(n * HW + p) * O + o] = cast<T>(s);
      }
    }
}

bool headFwd(const ConvGeo &g, Act x, const float *w, const float *b, Act y, bool relu) {
  if (g.deconv || g.kh != 1 || g.kw != 1 || g.stride != 1 || g.pad != 0 || !blockedC(g.c) || g.o >= 16) return false;
  if (x.bf16) run(g, x.as<bf16>(), w, b, y.as<bf16>(), relu);
  else run(g, x.as<float>(), w, b, y.as<float>(), relu);
  return true;
}

}  // namespace un
