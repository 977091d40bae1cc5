// x2 up-sampling over NHWC (bilinear with align_corners true/false as PyTorch, and nearest),
// ours: oneDNN's resampling is half-pixel only. Bilinear is separable, so the backward pass is
// two gathers (along W into a scratch buffer, then along H) through transposed weight tables:
// no scatter, no atomics, any loop can run in parallel.
#include <cmath>
#include <vector>

#include "common.h"

namespace un {

/** Output position o of an axis of size in -> out = 2 in reads i0, i1 with weights 1-l, l. */
struct Tap {
  int64_t i0, i1;
  float l;
};

static std::vector<Tap> taps(int64_t in, bool alignCorners) {
  const int64_t out = 2 * in;
  std::vector<Tap> t(out);
  for (int64_t o = 0; o < out; o++) {
    double s = alignCorners ? (out > 1 ? (double)o * (in - 1) / (out - 1) : 0.0) : ((o + 0.5) / 2 - 0.5);
    if (s < 0) s = 0;
    int64_t i0 = (int64_t)s;
    if (i0 > in - 1) i0 = in - 1;
    t[o] = {i0, i0 + 1 < in ? i0 + 1 : in - 1, (float)(s - i0)};
  }
  return t;
}

/** For each input position, the (output position, weight) pairs that read it (CSR). */
struct Gather {
  std::vector<int64_t> start, src;
  std::vector<float> wt;
};

static Gather transpose(const std::vector<Tap> &t, int64_t in) {
  Gather g;
  std::vector<std::vector<std::pair<int64_t, float>>> by(in);
  for (int64_t o = 0; o < (int64_t)t.size(); o++) {
    by[t[o].i0].push_back({o, 1.f - t[o].l});
    by[t[o].i1].push_back({o, t[o].l});
  }
  g.start.push_back(0);
  for (auto &v : by) {
    for (auto &p : v) { g.src.push_back(p.first); g.wt.push_back(p.second); }
    g.start.push_back((int64_t)g.src.size());
  }
  return g;
}

struct Geo {
  int64_t n, c, h, w;
  bool nearest, align;
};

static Geo geo(const Args &a, size_t i) {
  Geo g{a.i64(i), a.i64(i + 1), a.i64(i + 2), a.i64(i + 3), a.flag(i + 4), a.flag(i + 5)};
  if (g.n < 1 || g.c < 1 || g.h < 1 || g.w < 1) throw OpError("invalid shape " + shape({g.n, g.c, g.h, g.w}));
  return g;
}

// upsampleFwd(x, y, n,c,h,w, nearest, alignCorners)
static Napi::Value fwd(const Args &a) {
  Geo g = geo(a, 2);
  const int64_t C = g.c, H = g.h, W = g.w, Ho = 2 * H, Wo = 2 * W;
  const float *x = a.f32(0, g.n * C * H * W, "x");
  float *y = a.f32(1, g.n * C * Ho * Wo, "y");
  if (g.nearest) {
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * C * Ho * Wo) >= kParMin)
    for (int64_t n = 0; n < g.n; n++)
      for (int64_t oy = 0; oy < Ho; oy++)
        for (int64_t ox = 0; ox < Wo; ox++) {
          const float *s = x + ((n * H + oy / 2) * W + ox / 2) * C;
          float *d = y + ((n * Ho + oy) * Wo + ox) * C;
#pragma omp simd
          for (int64_t c = 0; c < C; c++) d[c] = s[c];
        }
    return a.env().Undefined();
  }
  auto ty = taps(H, g.align), tx = taps(W, g.align);
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * C * Ho * Wo) >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t oy = 0; oy < Ho; oy++) {
      const Tap r = ty[oy];
      const float *x0 = x + (n * H + r.i0) * W * C, *x1 = x + (n * H + r.i1) * W * C;
      for (int64_t ox = 0; ox < Wo; ox++) {
        const Tap q = tx[ox];
        const float *a0 = x0 + q.i0 * C, *a1 = x0 + q.i1 * C, *b0 = x1 + q.i0 * C, *b1 = x1 + q.i1 * C;
        const float w00 = (1 - r.l) * (1 - q.l), w01 = (1 - r.l) * q.l, w10 = r.l * (1 - q.l), w11 = r.l * q.l;
        float *d = y + ((n * Ho + oy) * Wo + ox) * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) d[c] = w00 * a0[c] + w01 * a1[c] + w10 * b0[c] + w11 * b1[c];
      }
    }
  return a.env().Undefined();
}

// upsampleBwd(dy, dx, n,c,h,w, nearest, alignCorners)
static Napi::Value bwd(const Args &a) {
  Geo g = geo(a, 2);
  const int64_t C = g.c, H = g.h, W = g.w, Ho = 2 * H, Wo = 2 * W;
  const float *dy = a.f32(0, g.n * C * Ho * Wo, "dy");
  float *dx = a.f32(1, g.n * C * H * W, "dx");
  if (g.nearest) {
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * C * Ho * Wo) >= kParMin)
    for (int64_t n = 0; n < g.n; n++)
      for (int64_t iy = 0; iy < H; iy++)
        for (int64_t ix = 0; ix < W; ix++) {
          const float *s0 = dy + ((n * Ho + 2 * iy) * Wo + 2 * ix) * C, *s1 = s0 + Wo * C;
          float *d = dx + ((n * H + iy) * W + ix) * C;
#pragma omp simd
          for (int64_t c = 0; c < C; c++) d[c] = (s0[c] + s0[C + c]) + (s1[c] + s1[C + c]);
        }
    return a.env().Undefined();
  }
  Gather gy = transpose(taps(H, g.align), H), gx = transpose(taps(W, g.align), W);
  // Pass 1, along W: tmp[n, oy, ix, :] = sum over ox reading ix of w * dy[n, oy, ox, :]
  float *tmp = static_cast<float *>(scratch(kTmp0, sizeof(float) * g.n * Ho * W * C));
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * C * Ho * Wo) >= kParMin)
  for (int64_t r = 0; r < g.n * Ho; r++)
    for (int64_t ix = 0; ix < W; ix++) {
      float *d = tmp + (r * W + ix) * C;
      const float *row = dy + r * Wo * C;
#pragma omp simd
      for (int64_t c = 0; c < C; c++) d[c] = 0.f;
      for (int64_t j = gx.start[ix]; j < gx.start[ix + 1]; j++) {
        const float *s = row + gx.src[j] * C;
        const float wt = gx.wt[j];
#pragma omp simd
        for (int64_t c = 0; c < C; c++) d[c] += wt * s[c];
      }
    }
  // Pass 2, along H: whole rows of W*C contiguous values.
  const int64_t R = W * C;
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * C * Ho * Wo) >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t iy = 0; iy < H; iy++) {
      float *d = dx + (n * H + iy) * R;
#pragma omp simd
      for (int64_t k = 0; k < R; k++) d[k] = 0.f;
      for (int64_t j = gy.start[iy]; j < gy.start[iy + 1]; j++) {
        const float *s = tmp + (n * Ho + gy.src[j]) * R;
        const float wt = gy.wt[j];
#pragma omp simd
        for (int64_t k = 0; k < R; k++) d[k] += wt * s[k];
      }
    }
  return a.env().Undefined();
}

void registerResample(Napi::Env env, Napi::Object ex) {
  def(env, ex, "upsampleFwd", fwd);
  def(env, ex, "upsampleBwd", bwd);
}

}  // namespace un
