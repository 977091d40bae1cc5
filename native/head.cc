// 1x1 convolutions from a blocked (nChw16c) input to fewer than 16 channels (NHWC): the
// segmentation heads (32 -> 1). oneDNN 2.6 runs these on an output padded to 16 channels in its
// blocked layout, reordered to or from ours: 2.4x its raw kernel time forward, ~1.3 ms for the
// weight gradient of one head (measured, bf16, N16 C32 96x96). Here each is one pass over the
// 32-channel tensor. bf16 as oneDNN does it: weights rounded to bf16, float32 sums, outputs
// rounded once; weight gradients in float32 (double across blocks of pixels).
#include "head.h"

#include <omp.h>

#include <type_traits>
#include <vector>

#include "simd16.h"

namespace un {

bool isHead(const ConvGeo &g) {
  return !g.deconv && !g.vol && g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0 && g.layout.blockedC(g.c) && g.o < 16;
}

/** The weights [O, C] as the kernel multiplies them (bf16-rounded for bf16 activations). */
template <class T>
static std::vector<float> weights(const ConvGeo &g, const float *w) {
  std::vector<float> wt(g.o * g.c);
  for (size_t i = 0; i < wt.size(); i++) wt[i] = std::is_same_v<T, bf16> ? toF32(toBf16(w[i])) : w[i];
  return wt;
}

/** y[n, p, o] = b[o] + sum_c w[o, c] x[n, c, p] (ReLU if relu). Pixels in groups of kPx with
 *  independent sums (loads and reductions overlap; 16 measured best of 4-32): 4 UNet++ heads
 *  (bf16, N16 C32 96x96) 2.1 -> ~1.0 ms, pixel by pixel before. */
constexpr int64_t kPx = 16;
template <class T>
static void fwd(const ConvGeo &g, const T *x, const float *w, const float *b, T *y, bool relu) {
  const int64_t C = g.c, CB = C / 16, O = g.o, HW = g.h * g.w, groups = (HW + kPx - 1) / kPx;
  const auto wt = weights<T>(g, w);
#pragma omp parallel for collapse(2) schedule(static) if (g.n * HW * C >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t q = 0; q < groups; q++) {
      const int64_t p0 = q * kPx, np = p0 + kPx <= HW ? kPx : HW - p0;
      const T *px = x + n * C * HW + p0 * 16;  // channel block cb of pixel p0 + k: px + cb * HW * 16 + k * 16
      for (int64_t o = 0; o < O; o++) {
        const float *wo = wt.data() + o * C;
        float s[kPx];
#ifdef __AVX512BW__
        if (np == kPx) {
          __m512 acc[kPx];
          for (int k = 0; k < kPx; k++) acc[k] = _mm512_setzero_ps();
          for (int64_t cb = 0; cb < CB; cb++) {
            const __m512 wv = _mm512_loadu_ps(wo + cb * 16);
            for (int k = 0; k < kPx; k++) acc[k] = _mm512_fmadd_ps(wv, load16(px + cb * HW * 16 + k * 16), acc[k]);
          }
          for (int k = 0; k < kPx; k++) s[k] = _mm512_reduce_add_ps(acc[k]);
        } else
#endif
        {
          for (int64_t k = 0; k < np; k++) {
            s[k] = 0.f;
            for (int64_t cb = 0; cb < CB; cb++)
              for (int64_t l = 0; l < 16; l++) s[k] += wo[cb * 16 + l] * load(px[cb * HW * 16 + k * 16 + l]);
          }
        }
        for (int64_t k = 0; k < np; k++) {
          const float v = s[k] + (b ? b[o] : 0.f);
          y[(n * HW + p0 + k) * O + o] = cast<T>(relu && v < 0.f ? 0.f : v);
        }
      }
    }
}

/** dx[n, c, p] = sum_o w[o, c] dy[n, p, o]. */
template <class T>
static void bwdData(const ConvGeo &g, const T *dy, const float *w, T *dx) {
  const int64_t C = g.c, CB = C / 16, O = g.o, HW = g.h * g.w;
  const auto wt = weights<T>(g, w);
#pragma omp parallel for collapse(2) schedule(static) if (g.n * HW * C >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t cb = 0; cb < CB; cb++) {
      T *d = dx + (n * CB + cb) * HW * 16;
      const T *g0 = dy + n * HW * O;
      for (int64_t p = 0; p < HW; p++) {
#ifdef __AVX512BW__
        __m512 acc = _mm512_setzero_ps();
        for (int64_t o = 0; o < O; o++)
          acc = _mm512_fmadd_ps(_mm512_loadu_ps(wt.data() + o * C + cb * 16), _mm512_set1_ps(load(g0[p * O + o])), acc);
        store16(d + p * 16, acc);
#else
        for (int64_t l = 0; l < 16; l++) {
          float s = 0.f;
          for (int64_t o = 0; o < O; o++) s += wt[o * C + cb * 16 + l] * load(g0[p * O + o]);
          d[p * 16 + l] = cast<T>(s);
        }
#endif
      }
    }
}

/** dw[o, c] = sum over n, p of dy[n, p, o] x[n, c, p]; db[o] = sum of dy[., ., o]. Float sums
 *  over blocks of 256 pixels, double across blocks, per-thread partials (no atomics). */
template <class T>
static void bwdWeights(const ConvGeo &g, const T *x, const T *dy, float *dw, float *db) {
  const int64_t C = g.c, CB = C / 16, O = g.o, HW = g.h * g.w, blocks = (HW + 255) / 256;
  const int nt = threads();
  std::vector<double> part(nt * O * (C + 1), 0.0);
#pragma omp parallel num_threads(nt) if (g.n * HW * C >= kParMin)
  {
    double *acc = &part[omp_get_thread_num() * O * (C + 1)];  // [O][C] then [O] for the bias
    std::vector<float> blk(O * (C + 1));
#pragma omp for collapse(2) schedule(static)
    for (int64_t n = 0; n < g.n; n++)
      for (int64_t k = 0; k < blocks; k++) {
        std::fill(blk.begin(), blk.end(), 0.f);
        const int64_t p0 = k * 256, p1 = p0 + 256 < HW ? p0 + 256 : HW;
        for (int64_t o = 0; o < O; o++) {
          float *bo = blk.data() + o * C;
          for (int64_t cb = 0; cb < CB; cb++) {
            const T *xs = x + (n * CB + cb) * HW * 16;
#ifdef __AVX512BW__
            __m512 s = _mm512_setzero_ps();
            for (int64_t p = p0; p < p1; p++) s = _mm512_fmadd_ps(_mm512_set1_ps(load(dy[(n * HW + p) * O + o])), load16(xs + p * 16), s);
            _mm512_storeu_ps(bo + cb * 16, s);
#else
            for (int64_t p = p0; p < p1; p++) {
              const float d = load(dy[(n * HW + p) * O + o]);
              for (int64_t l = 0; l < 16; l++) bo[cb * 16 + l] += d * load(xs[p * 16 + l]);
            }
#endif
          }
          float sb = 0.f;
          for (int64_t p = p0; p < p1; p++) sb += load(dy[(n * HW + p) * O + o]);
          blk[O * C + o] = sb;
        }
        for (int64_t i = 0; i < O * (C + 1); i++) acc[i] += blk[i];
      }
  }
  for (int64_t i = 0; i < O * (C + 1); i++) {
    double v = 0;
    for (int t = 0; t < nt; t++) v += part[t * O * (C + 1) + i];
    if (i < O * C) dw[i] = (float)v;
    else if (db) db[i - O * C] = (float)v;
  }
}

bool headFwd(const ConvGeo &g, Act x, const float *w, const float *b, Act y, bool relu) {
  if (!isHead(g)) return false;
  if (x.bf16) fwd(g, x.as<bf16>(), w, b, y.as<bf16>(), relu);
  else fwd(g, x.as<float>(), w, b, y.as<float>(), relu);
  return true;
}

bool headBwdData(const ConvGeo &g, Act dy, const float *w, Act dx) {
  if (!isHead(g)) return false;
  if (dy.bf16) bwdData(g, dy.as<bf16>(), w, dx.as<bf16>());
  else bwdData(g, dy.as<float>(), w, dx.as<float>());
  return true;
}

bool headBwdWeights(const ConvGeo &g, Act x, Act dy, float *dw, float *db) {
  if (!isHead(g)) return false;
  if (x.bf16) bwdWeights(g, x.as<bf16>(), dy.as<bf16>(), dw, db);
  else bwdWeights(g, x.as<float>(), dy.as<float>(), dw, db);
  return true;
}

}  // namespace un
