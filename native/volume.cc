// Spatial kernels of volumes (5D activations) that cannot be run as 2D ones on a reshaped view:
// 2x2x2 max-pooling and x2 up-sampling (trilinear / nearest), forward and backward.
// A volume is seen as M images of [D][H][W][C] (channels innermost): NDHWC gives M = N, a
// blocked nCdhw16c tensor M = N * C/16 images of 16 channels (the JS side passes that view).
// float32 or bf16 (one dtype per call), 64-bit sizes and offsets throughout.
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common.h"

namespace un {

struct Vol {
  int64_t m, c, d, h, w;
  int64_t size() const { return m * c * d * h * w; }
};
static Vol volArgs(const Args &a, size_t i) {
  Vol v{a.i64(i), a.i64(i + 1), a.i64(i + 2), a.i64(i + 3), a.i64(i + 4)};
  if (v.m < 1 || v.c < 1 || v.d < 1 || v.h < 1 || v.w < 1)
    throw OpError("invalid volume " + shape({v.m, v.c, v.d, v.h, v.w}));
  return v;
}

/** v replaces the running max m: larger, or the first NaN (as the 2D kernel and PyTorch). */
static inline bool wins(float v, float m) { return v > m || (v != v && m == m); }

// ---- max-pool 2x2x2, stride 2, odd sizes floored; ties: first max in (d, h, w) order ----

/** Offsets of the 8 window positions, in row-major window order. */
static void window(const Vol &v, int64_t off[8]) {
  const int64_t C = v.c, W = v.w * C, HW = v.h * W;
  for (int k = 0; k < 8; k++) off[k] = (k >> 2) * HW + ((k >> 1) & 1) * W + (k & 1) * C;
}

template <class T>
static void poolFwd(const Vol &v, const T *x, T *y) {
  const int64_t Do = v.d / 2, Ho = v.h / 2, Wo = v.w / 2, C = v.c;
  int64_t off[8];
  window(v, off);
#pragma omp parallel for collapse(2) schedule(static) if (v.size() >= kParMin)
  for (int64_t m = 0; m < v.m; m++)
    for (int64_t od = 0; od < Do; od++)
      for (int64_t oh = 0; oh < Ho; oh++)
        for (int64_t ow = 0; ow < Wo; ow++) {
          const T *p = x + (((m * v.d + 2 * od) * v.h + 2 * oh) * v.w + 2 * ow) * C;
          T *q = y + (((m * Do + od) * Ho + oh) * Wo + ow) * C;
          for (int64_t c = 0; c < C; c++) {
            T best = p[c];
            float mx = load(best);
            for (int k = 1; k < 8; k++) {
              const float e = load(p[off[k] + c]);
              if (wins(e, mx)) { mx = e; best = p[off[k] + c]; }
            }
            q[c] = best;  // selected, never rounded
          }
        }
}

template <class T>
static void poolBwd(const Vol &v, const T *x, const T *dy, T *dx) {
  const int64_t Do = v.d / 2, Ho = v.h / 2, Wo = v.w / 2, C = v.c;
  int64_t off[8];
  window(v, off);
  std::memset(static_cast<void *>(dx), 0, (size_t)v.size() * sizeof(T));
#pragma omp parallel for collapse(2) schedule(static) if (v.size() >= kParMin)
  for (int64_t m = 0; m < v.m; m++)
    for (int64_t od = 0; od < Do; od++)
      for (int64_t oh = 0; oh < Ho; oh++)
        for (int64_t ow = 0; ow < Wo; ow++) {
          const int64_t base = (((m * v.d + 2 * od) * v.h + 2 * oh) * v.w + 2 * ow) * C;
          const T *g = dy + (((m * Do + od) * Ho + oh) * Wo + ow) * C;
          for (int64_t c = 0; c < C; c++) {
            int64_t at = 0;
            float mx = load(x[base + c]);
            for (int k = 1; k < 8; k++) {
              const float e = load(x[base + off[k] + c]);
              if (wins(e, mx)) { mx = e; at = off[k]; }
            }
            dx[base + at + c] = g[c];  // windows do not overlap: no races
          }
        }
}

// ---- x2 up-sampling, separable: one 1D pass per axis ----

/** The 1D interpolation of one axis, L -> 2L: output o reads i0[o], i1[o] with weights 1-f, f. */
struct Axis {
  int64_t L, Lo;
  std::vector<int64_t> i0, i1;
  std::vector<float> f;
  // The adjoint as a gather: input i receives from outputs src[start[i]..start[i+1]) with weight wt.
  std::vector<int64_t> start, src;
  std::vector<float> wt;
};
static Axis axis(int64_t L, bool nearest, bool alignCorners) {
  Axis x{L, 2 * L, {}, {}, {}, {}, {}, {}};
  for (int64_t o = 0; o < x.Lo; o++) {
    double s;
    if (nearest) s = (double)(o / 2);
    else if (alignCorners) s = x.Lo > 1 ? (double)o * (double)(L - 1) / (double)(x.Lo - 1) : 0.0;
    else s = std::max(((double)o + 0.5) / 2.0 - 0.5, 0.0);
    int64_t a = (int64_t)std::floor(s);
    if (a > L - 1) a = L - 1;
    const int64_t b = a + 1 < L ? a + 1 : L - 1;
    x.i0.push_back(a);
    x.i1.push_back(b);
    x.f.push_back(nearest ? 0.f : (float)(s - (double)a));
  }
  std::vector<std::vector<std::pair<int64_t, float>>> in(L);
  for (int64_t o = 0; o < x.Lo; o++) {
    in[x.i0[o]].push_back({o, 1.f - x.f[o]});
    if (x.f[o] != 0.f) in[x.i1[o]].push_back({o, x.f[o]});
  }
  x.start.push_back(0);
  for (auto &l : in) {
    for (auto &p : l) { x.src.push_back(p.first); x.wt.push_back(p.second); }
    x.start.push_back((int64_t)x.src.size());
  }
  return x;
}

/** Where outer row q of a [outer, L, inner] tensor starts: dense, or (concat_up) image q / per
 *  of a wider tensor, at `offset` values into it plus q % per runs of `run` values. */
struct Rows {
  int64_t rowSize, per = 0, imageStride = 0, offset = 0, run = 0;
  int64_t at(int64_t q) const { return per ? q / per * imageStride + offset + q % per * run : q * rowSize; }
};

/** dst[q, o, j] = (1-f) src[q, i0, j] + f src[q, i1, j] over [outer, L, inner] -> [outer, 2L, inner]. */
template <class S, class Dt>
static void interp(const S *src, Dt *dst, int64_t outer, int64_t inner, const Axis &ax, Rows rows = {}) {
  const int64_t Lo = ax.Lo, L = ax.L;
  if (!rows.per) rows.rowSize = Lo * inner;
#pragma omp parallel for collapse(2) schedule(static) if (outer * Lo * inner >= kParMin)
  for (int64_t q = 0; q < outer; q++)
    for (int64_t o = 0; o < Lo; o++) {
      const S *a = src + (q * L + ax.i0[o]) * inner, *b = src + (q * L + ax.i1[o]) * inner;
      Dt *y = dst + rows.at(q) + o * inner;
      const float f = ax.f[o];
      if (f == 0.f) {
#pragma omp simd
        for (int64_t j = 0; j < inner; j++) y[j] = cast<Dt>(load(a[j]));
      } else {
#pragma omp simd
        for (int64_t j = 0; j < inner; j++) y[j] = cast<Dt>((1.f - f) * load(a[j]) + f * load(b[j]));
      }
    }
}

/** The adjoint of interp: dst[q, i, j] = sum over outputs o reading i of weight * src[q, o, j]. */
template <class S, class Dt>
static void interpT(const S *src, Dt *dst, int64_t outer, int64_t inner, const Axis &ax, Rows rows = {}) {
  const int64_t Lo = ax.Lo, L = ax.L;
  if (!rows.per) rows.rowSize = Lo * inner;
#pragma omp parallel if (outer * Lo * inner >= kParMin)
  {
    std::vector<float> tmp(std::is_same_v<Dt, float> ? 0 : inner);  // bf16 output: float sums first
#pragma omp for collapse(2) schedule(static)
    for (int64_t q = 0; q < outer; q++)
      for (int64_t i = 0; i < L; i++) {
        Dt *y = dst + (q * L + i) * inner;
        float *acc;
        if constexpr (std::is_same_v<Dt, float>) acc = y;
        else acc = tmp.data();
        for (int64_t j = 0; j < inner; j++) acc[j] = 0.f;
        for (int64_t k = ax.start[i]; k < ax.start[i + 1]; k++) {
          const S *s = src + rows.at(q) + ax.src[k] * inner;
          const float wgt = ax.wt[k];
#pragma omp simd
          for (int64_t j = 0; j < inner; j++) acc[j] += wgt * load(s[j]);
        }
        if constexpr (!std::is_same_v<Dt, float>)
          for (int64_t j = 0; j < inner; j++) y[j] = cast<Dt>(acc[j]);
      }
  }
}

/** y [m, 2d, 2h, 2w, c] from x [m, d, h, w, c]: along W, then H, then D (smallest temporaries first). */
template <class T>
static void upFwd(const Vol &v, const T *x, T *y, bool nearest, bool ac, Rows out = {}) {
  const Axis aw = axis(v.w, nearest, ac), ah = axis(v.h, nearest, ac), ad = axis(v.d, nearest, ac);
  const int64_t C = v.c;
  float *t1 = static_cast<float *>(scratch(kTmp0, (size_t)v.size() * 2 * sizeof(float)));
  float *t2 = static_cast<float *>(scratch(kTmp1, (size_t)v.size() * 4 * sizeof(float)));
  interp(x, t1, v.m * v.d * v.h, C, aw);               // [m d h 2w c]
  interp(t1, t2, v.m * v.d, 2 * v.w * C, ah);          // [m d 2h 2w c]
  interp(t2, y, v.m, 4 * v.h * v.w * C, ad, out);      // [m 2d 2h 2w c]
}

/** dx from dy: the adjoints in the reverse order. */
template <class T>
static void upBwd(const Vol &v, const T *dy, T *dx, bool nearest, bool ac, Rows in = {}) {
  const Axis aw = axis(v.w, nearest, ac), ah = axis(v.h, nearest, ac), ad = axis(v.d, nearest, ac);
  const int64_t C = v.c;
  float *t2 = static_cast<float *>(scratch(kTmp1, (size_t)v.size() * 4 * sizeof(float)));
  float *t1 = static_cast<float *>(scratch(kTmp0, (size_t)v.size() * 2 * sizeof(float)));
  interpT(dy, t2, v.m, 4 * v.h * v.w * C, ad, in);     // [m d 2h 2w c]
  interpT(t2, t1, v.m * v.d, 2 * v.w * C, ah);         // [m d h 2w c]
  interpT(t1, dx, v.m * v.d * v.h, C, aw);             // [m d h w c]
}

// maxpool3dFwd(x, y, m,c,d,h,w), maxpool3dBwd(x, dy, dx, m,c,d,h,w)
// upsample3dFwd(x, y, m,c,d,h,w, nearest, alignCorners), upsample3dBwd(dy, dx, m,c,d,h,w, nearest, alignCorners)
// (m,c,d,h,w: the input x / dx; see the top of this file for m and c.)
static Napi::Value poolFwdJs(const Args &a) {
  const Vol v = volArgs(a, 2);
  if (v.d < 2 || v.h < 2 || v.w < 2) throw OpError("input " + shape({v.m, v.c, v.d, v.h, v.w}) + " is smaller than 2x2x2");
  Act x = a.act(0, v.size(), "x"), y = a.act(1, v.m * v.c * (v.d / 2) * (v.h / 2) * (v.w / 2), "y");
  a.sameType({{"x", x}, {"y", y}});
  dispatch(x.bf16, [&](auto *t) { using T = std::remove_pointer_t<decltype(t)>; poolFwd(v, x.as<T>(), y.as<T>()); });
  return a.env().Undefined();
}
static Napi::Value poolBwdJs(const Args &a) {
  const Vol v = volArgs(a, 3);
  if (v.d < 2 || v.h < 2 || v.w < 2) throw OpError("input " + shape({v.m, v.c, v.d, v.h, v.w}) + " is smaller than 2x2x2");
  Act x = a.act(0, v.size(), "x"), dy = a.act(1, v.m * v.c * (v.d / 2) * (v.h / 2) * (v.w / 2), "dy");
  Act dx = a.act(2, v.size(), "dx");
  a.sameType({{"x", x}, {"dy", dy}, {"dx", dx}});
  dispatch(x.bf16, [&](auto *t) { using T = std::remove_pointer_t<decltype(t)>; poolBwd(v, x.as<T>(), dy.as<T>(), dx.as<T>()); });
  return a.env().Undefined();
}
static Napi::Value upFwdJs(const Args &a) {
  const Vol v = volArgs(a, 2);
  Act x = a.act(0, v.size(), "x"), y = a.act(1, v.size() * 8, "y");
  a.sameType({{"x", x}, {"y", y}});
  const bool nearest = a.flag(7), ac = a.flag(8);
  dispatch(x.bf16, [&](auto *t) { using T = std::remove_pointer_t<decltype(t)>; upFwd(v, x.as<T>(), y.as<T>(), nearest, ac); });
  return a.env().Undefined();
}
static Napi::Value upBwdJs(const Args &a) {
  const Vol v = volArgs(a, 2);
  Act dy = a.act(0, v.size() * 8, "dy"), dx = a.act(1, v.size(), "dx");
  a.sameType({{"dy", dy}, {"dx", dx}});
  const bool nearest = a.flag(7), ac = a.flag(8);
  dispatch(dy.bf16, [&](auto *t) { using T = std::remove_pointer_t<decltype(t)>; upBwd(v, dy.as<T>(), dx.as<T>(), nearest, ac); });
  return a.env().Undefined();
}

// concatUp3dFwd(xs, low, y, n, cl, d, h, w, nearest, alignCorners), blocked layout only (every
// channel count a multiple of 16): y = concat(xs, upsample2x(low)) with the parts copied run by
// run and the up-sampling's last pass writing into y's last channels (no temporary, no copy).
// concatUp3dBwd(dy, dxs, dlow, n, cl, d, h, w, nearest, alignCorners): the parts' runs copied out,
// the up-sampling's adjoint reading dy's last channels in place. (d, h, w: low's sides.)
struct ConcatUpGeo {
  Vol low;
  int64_t n, cl, S, ct, partsC;
};
static ConcatUpGeo concatUpGeo(const Args &a, size_t i, const ActList &parts) {
  ConcatUpGeo g{};
  g.n = a.i64(i); g.cl = a.i64(i + 1);
  const int64_t d = a.i64(i + 2), h = a.i64(i + 3), w = a.i64(i + 4);
  if (g.n < 1 || g.cl < 1 || d < 1 || h < 1 || w < 1) throw OpError("invalid low input " + shape({g.n, g.cl, d, h, w}));
  if (!blockedMode() || g.cl % 16 || parts.ct % 16) throw OpError("needs the blocked layout and multiples of 16 channels");
  for (auto c : parts.cs) if (c % 16) throw OpError("needs parts of a multiple of 16 channels");
  g.low = Vol{g.n * g.cl / 16, 16, d, h, w};
  g.S = 8 * d * h * w;
  g.partsC = parts.ct;
  g.ct = parts.ct + g.cl;
  return g;
}
/** Rows of the up-sampled channels inside the concatenation: per image, cl/16 runs of 16 channels. */
static Rows upRows(const ConcatUpGeo &g) { return Rows{0, g.cl / 16, g.ct * g.S, g.partsC * g.S, 16 * g.S}; }

static Napi::Value concatUpFwdJs(const Args &a) {
  const int64_t n = a.i64(3);
  if (n < 1) throw OpError("n must be >= 1");
  const ActList parts = actList(a, 0, n * 8 * a.i64(5) * a.i64(6) * a.i64(7), "xs");
  const ConcatUpGeo g = concatUpGeo(a, 3, parts);
  Act low = a.act(1, g.low.size(), "low"), y = a.act(2, g.n * g.ct * g.S, "y");
  a.sameType({{"low", low}, {"y", y}});
  sameTypes(a, parts, "xs", "y", y);
  const size_t el = y.bf16 ? 2 : 4;
#pragma omp parallel for collapse(2) schedule(static) if (g.n * g.partsC * g.S >= kParMin)
  for (int64_t i = 0; i < g.n; i++)
    for (size_t k = 0; k < parts.acts.size(); k++) {
      int64_t off = 0;
      for (size_t j = 0; j < k; j++) off += parts.cs[j];
      streamCopy(static_cast<char *>(y.p) + (i * g.ct + off) * g.S * el,
                 static_cast<const char *>(parts.acts[k].p) + i * parts.cs[k] * g.S * el, parts.cs[k] * g.S * el);
    }
  const bool nearest = a.flag(8), ac = a.flag(9);
  dispatch(y.bf16, [&](auto *t) { using T = std::remove_pointer_t<decltype(t)>; upFwd(g.low, low.as<T>(), y.as<T>(), nearest, ac, upRows(g)); });
  return a.env().Undefined();
}

static Napi::Value concatUpBwdJs(const Args &a) {
  const int64_t n = a.i64(3);
  if (n < 1) throw OpError("n must be >= 1");
  const ActList parts = actList(a, 1, n * 8 * a.i64(5) * a.i64(6) * a.i64(7), "dxs");
  const ConcatUpGeo g = concatUpGeo(a, 3, parts);
  Act dy = a.act(0, g.n * g.ct * g.S, "dy"), dlow = a.act(2, g.low.size(), "dlow");
  a.sameType({{"dy", dy}, {"dlow", dlow}});
  sameTypes(a, parts, "dxs", "dy", dy);
  const size_t el = dy.bf16 ? 2 : 4;
#pragma omp parallel for collapse(2) schedule(static) if (g.n * g.partsC * g.S >= kParMin)
  for (int64_t i = 0; i < g.n; i++)
    for (size_t k = 0; k < parts.acts.size(); k++) {
      int64_t off = 0;
      for (size_t j = 0; j < k; j++) off += parts.cs[j];
      std::memcpy(static_cast<char *>(parts.acts[k].p) + i * parts.cs[k] * g.S * el,
                  static_cast<const char *>(dy.p) + (i * g.ct + off) * g.S * el, parts.cs[k] * g.S * el);
    }
  const bool nearest = a.flag(8), ac = a.flag(9);
  dispatch(dy.bf16, [&](auto *t) { using T = std::remove_pointer_t<decltype(t)>; upBwd(g.low, dy.as<T>(), dlow.as<T>(), nearest, ac, upRows(g)); });
  return a.env().Undefined();
}

void registerVolume(Napi::Env env, Napi::Object ex) {
  def(env, ex, "concatUp3dFwd", concatUpFwdJs);
  def(env, ex, "concatUp3dBwd", concatUpBwdJs);
  def(env, ex, "maxpool3dFwd", poolFwdJs);
  def(env, ex, "maxpool3dBwd", poolBwdJs);
  def(env, ex, "upsample3dFwd", upFwdJs);
  def(env, ex, "upsample3dBwd", upBwdJs);
}

}  // namespace un
