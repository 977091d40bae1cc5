// 2x2 stride-2 max-pool over NHWC, ours: channels are contiguous so every window is four
// vector loads, and ties resolve to the first max in row-major window order as the spec says.
#include <cstring>

#include "common.h"

namespace un {

/** v replaces the running max m: larger, or the first NaN (kept visible to NaN checks, as PyTorch). */
static inline bool wins(float v, float m) { return v > m || (v != v && m == m); }

struct PoolGeo {
  int64_t n, c, h, w, ho, wo;
};

static PoolGeo poolGeo(const Args &a, size_t i) {
  PoolGeo g{a.i64(i), a.i64(i + 1), a.i64(i + 2), a.i64(i + 3), 0, 0};
  g.ho = g.h / 2;
  g.wo = g.w / 2;
  if (g.n < 1 || g.c < 1 || g.ho < 1 || g.wo < 1) throw OpError("input " + shape({g.n, g.c, g.h, g.w}) + " is smaller than 2x2");
  return g;
}

// maxpoolFwd(x, y, n,c,h,w)
static Napi::Value fwd(const Args &a) {
  PoolGeo g = poolGeo(a, 2);
  const float *x = a.f32(0, g.n * g.c * g.h * g.w, "x");
  float *y = a.f32(1, g.n * g.c * g.ho * g.wo, "y");
  const int64_t C = g.c, W = g.w;
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * g.h * g.w * C) >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t oy = 0; oy < g.ho; oy++)
      for (int64_t ox = 0; ox < g.wo; ox++) {
        const float *r0 = x + ((n * g.h + 2 * oy) * W + 2 * ox) * C, *r1 = r0 + W * C;
        float *o = y + ((n * g.ho + oy) * g.wo + ox) * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) {
          float m = r0[c];
          m = wins(r0[C + c], m) ? r0[C + c] : m;
          m = wins(r1[c], m) ? r1[c] : m;
          m = wins(r1[C + c], m) ? r1[C + c] : m;
          o[c] = m;
        }
      }
  return a.env().Undefined();
}

// maxpoolBwd(x, dy, dx, n,c,h,w): dy goes to the first max of each window, 0 elsewhere.
static Napi::Value bwd(const Args &a) {
  PoolGeo g = poolGeo(a, 3);
  const float *x = a.f32(0, g.n * g.c * g.h * g.w, "x");
  const float *dy = a.f32(1, g.n * g.c * g.ho * g.wo, "dy");
  float *dx = a.f32(2, g.n * g.c * g.h * g.w, "dx");
  const int64_t C = g.c, W = g.w;
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * g.h * g.w * C) >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t oy = 0; oy < g.ho; oy++) {
      const int64_t row = (n * g.h + 2 * oy) * W * C;
      for (int64_t ox = 0; ox < g.wo; ox++) {
        const float *r0 = x + row + 2 * ox * C, *r1 = r0 + W * C;
        float *d0 = dx + row + 2 * ox * C, *d1 = d0 + W * C;
        const float *g1 = dy + ((n * g.ho + oy) * g.wo + ox) * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) {
          float m = r0[c];
          int k = 0;
          if (wins(r0[C + c], m)) { m = r0[C + c]; k = 1; }
          if (wins(r1[c], m)) { m = r1[c]; k = 2; }
          if (wins(r1[C + c], m)) { k = 3; }
          float v = g1[c];
          d0[c] = k == 0 ? v : 0.f;
          d0[C + c] = k == 1 ? v : 0.f;
          d1[c] = k == 2 ? v : 0.f;
          d1[C + c] = k == 3 ? v : 0.f;
        }
      }
      // A floored last column gets no gradient.
      if (W & 1) {
        std::memset(dx + row + (W - 1) * C, 0, C * sizeof(float));
        std::memset(dx + row + (2 * W - 1) * C, 0, C * sizeof(float));
      }
    }
  if (g.h & 1)  // floored last row of each image
    for (int64_t n = 0; n < g.n; n++) std::memset(dx + ((n * g.h + g.h - 1) * W) * C, 0, W * C * sizeof(float));
  return a.env().Undefined();
}

void registerPool(Napi::Env env, Napi::Object ex) {
  def(env, ex, "maxpoolFwd", fwd);
  def(env, ex, "maxpoolBwd", bwd);
}

}  // namespace un
