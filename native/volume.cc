// Spatial kernels of volumes (5D activations) that cannot be run as 2D ones on a reshaped view:
// max-pooling and up-sampling (trilinear / nearest), forward and backward, with a factor of 1 or 2
// per axis [fd, fh, fw] (default 2, 2, 2): anisotropic volumes (thick slices) are pooled and
// up-sampled along some axes only, as nnU-Net's [1, 2, 2] levels. A factor of 1 makes the op the
// identity along that axis.
// A volume is seen as M images of [D][H][W][C] (channels innermost): NDHWC gives M = N, a
// blocked nCdhw16c tensor M = N * C/16 images of 16 channels (the JS side passes that view).
// float32 or bf16 (one dtype per call), 64-bit sizes and offsets throughout.
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "volume.h"
#include "common.h"
#include "simd16.h"

namespace un {

struct Vol {
  int64_t m, c, d, h, w;
  int64_t fd = 2, fh = 2, fw = 2;  // per axis: pooling's window and stride, up-sampling's scale
  int64_t size() const { return m * c * d * h * w; }
  int64_t factor() const { return fd * fh * fw; }
  /** Values of the pooled volume (odd sides floored) and of the up-sampled one. */
  int64_t pooled() const { return m * c * (d / fd) * (h / fh) * (w / fw); }
  int64_t upsampled() const { return size() * factor(); }
};

static bool given(const Args &a, size_t i) { return i < a.count() && !a.info[i].IsUndefined() && !a.info[i].IsNull(); }

/** m, c, [d, h, w] from args[i..i+2], and the optional factors [fd, fh, fw] at argument f
 *  (absent, undefined or null: [2, 2, 2]). */
static Vol volArgs(const Args &a, size_t i, size_t f, const char *what = "volume") {
  const std::vector<int64_t> s = a.sizes(i + 2, "sizes");
  if (s.size() != 3) throw OpError("a volume needs 3 sizes [d, h, w]");
  Vol v{a.i64(i), a.i64(i + 1), s[0], s[1], s[2]};
  if (v.m < 1 || v.c < 1 || v.d < 1 || v.h < 1 || v.w < 1)
    throw OpError(std::string("invalid ") + what + " " + shape({v.m, v.c, v.d, v.h, v.w}));
  if (!given(a, f)) return v;
  const std::string arg = "factors (argument " + std::to_string(f) + ")";
  if (!a.info[f].IsArray()) throw OpError(arg + " must be an array [fd, fh, fw] of 1s and 2s");
  const Napi::Array arr = a.info[f].As<Napi::Array>();
  if (arr.Length() != 3) throw OpError(arg + " must have 3 values [fd, fh, fw], got " + std::to_string(arr.Length()));
  int64_t *out[3] = {&v.fd, &v.fh, &v.fw};
  for (uint32_t k = 0; k < 3; k++) {
    const Napi::Value e = arr.Get(k);
    const double x = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : 0;
    if (x != 1 && x != 2)
      throw OpError(arg + ": each factor must be 1 or 2, got " +
                    (e.IsNumber() ? e.ToString().Utf8Value() : std::string("a non-number")));
    *out[k] = (int64_t)x;
  }
  return v;
}

void imageFactors(const Args &a, size_t i) {
  if (given(a, i))
    throw OpError("factors (argument " + std::to_string(i) +
                  "): per-axis factors are for volumes (images are always x2 on both axes)");
}

/** v replaces the running max m: larger, or the first NaN (as the 2D kernel and PyTorch). */
static inline bool wins(float v, float m) { return v > m || (v != v && m == m); }

// ---- max-pool fd x fh x fw, stride = window, odd sizes floored; ties: first max in (d, h, w) order ----

#ifdef __AVX512BW__
/** wins() on 16 lanes: v larger than m, or v the first NaN. */
static inline __mmask16 wins16(__m512 v, __m512 m) {
  return _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(m, m, _CMP_ORD_Q));
}
#endif

/** The window's fd*fh*fw (at most 8) positions: offsets in row-major (d, h, w) order. */
struct Window {
  int k;
  int64_t off[8];
};
static Window window(const Vol &v) {
  const int64_t C = v.c, W = v.w * C, HW = v.h * W;
  Window win{(int)v.factor(), {}};
  for (int k = 0; k < win.k; k++) win.off[k] = k / (v.fh * v.fw) * HW + k / v.fw % v.fh * W + k % v.fw * C;
  return win;
}

/** N: the window's size when known at compile time (8, the common 2x2x2: its loops unroll), else 0. */
template <int N, class T>
static void poolFwd(const Vol &v, const T *x, T *y) {
  const int64_t Do = v.d / v.fd, Ho = v.h / v.fh, Wo = v.w / v.fw, C = v.c;
  const Window win = window(v);
  const int K = N ? N : win.k;
  const int64_t *off = win.off;
#pragma omp parallel for collapse(2) schedule(static) if (v.size() >= kParMin)
  for (int64_t m = 0; m < v.m; m++)
    for (int64_t od = 0; od < Do; od++)
      for (int64_t oh = 0; oh < Ho; oh++)
        for (int64_t ow = 0; ow < Wo; ow++) {
          const T *p = x + (((m * v.d + v.fd * od) * v.h + v.fh * oh) * v.w + v.fw * ow) * C;
          T *q = y + (((m * Do + od) * Ho + oh) * Wo + ow) * C;
          int64_t c = 0;
#ifdef __AVX512BW__
          for (; c + 16 <= C; c += 16) {  // 16 channels a register; selected lanes stored bit for bit
            __m512 mx = load16(p + c);
            for (int k = 1; k < K; k++) {
              const __m512 e = load16(p + off[k] + c);
              mx = _mm512_mask_mov_ps(mx, wins16(e, mx), e);
            }
            storeExact16(q + c, mx);
          }
#endif
          for (; c < C; c++) {
            T best = p[c];
            float mx = load(best);
            for (int k = 1; k < K; k++) {
              const float e = load(p[off[k] + c]);
              if (wins(e, mx)) { mx = e; best = p[off[k] + c]; }
            }
            q[c] = best;  // selected, never rounded
          }
        }
}

template <int N, class T>
static void poolBwd(const Vol &v, const T *x, const T *dy, T *dx) {
  const int64_t Do = v.d / v.fd, Ho = v.h / v.fh, Wo = v.w / v.fw, C = v.c;
  const Window win = window(v);
  const int K = N ? N : win.k;
  const int64_t *off = win.off;
  std::memset(static_cast<void *>(dx), 0, (size_t)v.size() * sizeof(T));
#pragma omp parallel for collapse(2) schedule(static) if (v.size() >= kParMin)
  for (int64_t m = 0; m < v.m; m++)
    for (int64_t od = 0; od < Do; od++)
      for (int64_t oh = 0; oh < Ho; oh++)
        for (int64_t ow = 0; ow < Wo; ow++) {
          const int64_t base = (((m * v.d + v.fd * od) * v.h + v.fh * oh) * v.w + v.fw * ow) * C;
          const T *g = dy + (((m * Do + od) * Ho + oh) * Wo + ow) * C;
          int64_t c = 0;
#ifdef __AVX512BW__
          for (; c + 16 <= C; c += 16) {
            __m512 mx = load16(x + base + c);
            __m512i at = _mm512_setzero_si512();
            for (int k = 1; k < K; k++) {
              const __m512 e = load16(x + base + off[k] + c);
              const __mmask16 w = wins16(e, mx);
              mx = _mm512_mask_mov_ps(mx, w, e);
              at = _mm512_mask_mov_epi32(at, w, _mm512_set1_epi32(k));
            }
            alignas(64) int32_t ks[16];
            _mm512_store_si512(ks, at);
            for (int l = 0; l < 16; l++) dx[base + off[ks[l]] + c + l] = g[c + l];
          }
#endif
          for (; c < C; c++) {
            int64_t at = 0;
            float mx = load(x[base + c]);
            for (int k = 1; k < K; k++) {
              const float e = load(x[base + off[k] + c]);
              if (wins(e, mx)) { mx = e; at = off[k]; }
            }
            dx[base + at + c] = g[c];  // windows do not overlap: no races
          }
        }
}

// ---- up-sampling by 1 or 2 per axis, separable: one 1D pass per doubled axis ----

/** The 1D interpolation of one axis, L -> factor * L: output o reads i0[o], i1[o] with weights
 *  1-f, f (factor 1: o reads o alone, whatever the mode). */
struct Axis {
  int64_t L, Lo;
  std::vector<int64_t> i0, i1;
  std::vector<float> f;
  // The adjoint as a gather: input i receives from outputs src[start[i]..start[i+1]) with weight wt.
  std::vector<int64_t> start, src;
  std::vector<float> wt;
};
static Axis axis(int64_t L, int64_t factor, bool nearest, bool alignCorners) {
  Axis x{L, factor * L, {}, {}, {}, {}, {}, {}};
  for (int64_t o = 0; o < x.Lo; o++) {
    double s;
    if (nearest) s = (double)(o / factor);
    else if (alignCorners) s = x.Lo > 1 ? (double)o * (double)(L - 1) / (double)(x.Lo - 1) : 0.0;
    else s = std::max(((double)o + 0.5) / (double)factor - 0.5, 0.0);
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
  /** NDHWC concat_up: positions of c channels spaced `stride` apart (the concatenation's
   *  channels), from `offset` (then rowSize: values between rows of q). */
  int64_t c = 0, stride = 0;
  int64_t at(int64_t q) const { return per ? q / per * imageStride + offset + q % per * run : q * rowSize + (stride ? offset : 0); }
  /** Where value j of an inner row starts, relative to the row (dense: j). */
  int64_t inner(int64_t j) const { return stride ? j / c * stride + j % c : j; }
  /** The same values with each row cut into k consecutive ones: for a last pass whose outer
   *  loop also runs over the leading axes that are not up-sampled (k = their sides' product, so
   *  every row of an image's up-sampled block is the same number of values). */
  Rows split(int64_t k) const {
    Rows r = *this;
    if (per) r.per *= k, r.run /= k;
    else if (stride) r.rowSize /= k;
    return r;
  }
};

/** dst[q, o, j] = (1-f) src[q, i0, j] + f src[q, i1, j] over [outer, L, inner] -> [outer, Lo, inner]
 *  (f = 0: a copy, so an infinite neighbour at i1 cannot make a NaN). */
template <class S, class Dt>
static void interp(const S *src, Dt *dst, int64_t outer, int64_t inner, const Axis &ax, Rows rows = {}) {
  const int64_t Lo = ax.Lo, L = ax.L;
  if (!rows.per && !rows.stride) rows.rowSize = Lo * inner;
#pragma omp parallel for collapse(2) schedule(static) if (outer * Lo * inner >= kParMin)
  for (int64_t q = 0; q < outer; q++)
    for (int64_t o = 0; o < Lo; o++) {
      const S *a = src + (q * L + ax.i0[o]) * inner, *b = src + (q * L + ax.i1[o]) * inner;
      if (rows.stride) {  // into every position's channels of a wider NDHWC tensor
        Dt *y = dst + rows.at(q) + rows.inner(o * inner);
        const float f = ax.f[o];
        for (int64_t p = 0; p < inner / rows.c; p++) {
          Dt *yp = y + p * rows.stride;
          const S *ap = a + p * rows.c, *bp = b + p * rows.c;
          if (f == 0.f) {
#pragma omp simd
            for (int64_t j = 0; j < rows.c; j++) yp[j] = cast<Dt>(load(ap[j]));
            continue;
          }
#pragma omp simd
          for (int64_t j = 0; j < rows.c; j++) yp[j] = cast<Dt>((1.f - f) * load(ap[j]) + f * load(bp[j]));
        }
        continue;
      }
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
  if (!rows.per && !rows.stride) rows.rowSize = Lo * inner;
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
          const float wgt = ax.wt[k];
          if (rows.stride) {  // from every position's channels of a wider NDHWC tensor
            const S *s = src + rows.at(q) + rows.inner(ax.src[k] * inner);
            for (int64_t p = 0; p < inner / rows.c; p++) {
              const S *sp = s + p * rows.stride;
              float *ap = acc + p * rows.c;
#pragma omp simd
              for (int64_t j = 0; j < rows.c; j++) ap[j] += wgt * load(sp[j]);
            }
            continue;
          }
          const S *s = src + rows.at(q) + ax.src[k] * inner;
#pragma omp simd
          for (int64_t j = 0; j < inner; j++) acc[j] += wgt * load(s[j]);
        }
        if constexpr (!std::is_same_v<Dt, float>)
          for (int64_t j = 0; j < inner; j++) y[j] = cast<Dt>(acc[j]);
      }
  }
}

/** One pass: the interpolation of one axis over [outer, L, inner] -> [outer, Lo, inner]. */
struct Pass {
  Axis ax;
  int64_t outer, inner;
  size_t out() const { return (size_t)(outer * ax.Lo * inner); }
};
/** The passes of v's up-sampling: along W, then H, then D (smallest temporaries first), over the
 *  axes with factor 2 only; with none, one copying pass (that may write a concatenation's channels). */
static std::vector<Pass> passes(const Vol &v, bool nearest, bool ac) {
  int64_t s[3] = {v.d, v.h, v.w};
  const int64_t f[3] = {v.fd, v.fh, v.fw};
  std::vector<Pass> ps;
  for (int k = 2; k >= 0; k--) {
    if (f[k] == 1) continue;
    int64_t outer = v.m, inner = v.c;
    for (int j = 0; j < k; j++) outer *= s[j];
    for (int j = k + 1; j < 3; j++) inner *= s[j];
    ps.push_back({axis(s[k], f[k], nearest, ac), outer, inner});
    s[k] *= f[k];
  }
  if (ps.empty()) ps.push_back({axis(v.d, 1, nearest, ac), v.m, v.h * v.w * v.c});
  return ps;
}

/** y [m, fd d, fh h, fw w, c] from x [m, d, h, w, c], through float32 temporaries between passes;
 *  the last pass writes y (rows `out`: the up-sampled channels of a concatenation). */
template <class T>
static void upFwd(const Vol &v, const T *x, T *y, bool nearest, bool ac, const Rows &out = {}) {
  const std::vector<Pass> ps = passes(v, nearest, ac);
  const size_t n = ps.size();
  const Pass &z = ps[n - 1];
  const Rows last = out.split(z.outer / v.m);
  if (n == 1) return interp(x, y, z.outer, z.inner, z.ax, last);
  float *t[2] = {static_cast<float *>(scratch(kTmp0, ps[0].out() * sizeof(float))), nullptr};
  if (n == 3) t[1] = static_cast<float *>(scratch(kTmp1, ps[1].out() * sizeof(float)));
  interp(x, t[0], ps[0].outer, ps[0].inner, ps[0].ax);
  if (n == 3) interp(t[0], t[1], ps[1].outer, ps[1].inner, ps[1].ax);
  interp(t[n - 2], y, z.outer, z.inner, z.ax, last);
}

/** dx from dy: the adjoints in the reverse order. */
template <class T>
static void upBwd(const Vol &v, const T *dy, T *dx, bool nearest, bool ac, const Rows &in = {}) {
  const std::vector<Pass> ps = passes(v, nearest, ac);
  const size_t n = ps.size();
  const Pass &z = ps[n - 1];
  const Rows last = in.split(z.outer / v.m);
  if (n == 1) return interpT(dy, dx, z.outer, z.inner, z.ax, last);
  float *t[2] = {static_cast<float *>(scratch(kTmp0, ps[0].out() * sizeof(float))), nullptr};
  if (n == 3) t[1] = static_cast<float *>(scratch(kTmp1, ps[1].out() * sizeof(float)));
  interpT(dy, t[n - 2], z.outer, z.inner, z.ax, last);
  if (n == 3) interpT(t[1], t[0], ps[1].outer, ps[1].inner, ps[1].ax);
  interpT(t[0], dx, ps[0].outer, ps[0].inner, ps[0].ax);
}

// The volume paths of the addon's maxpoolFwd(x, y, m, c, [d, h, w], groups, xStride, factors),
// maxpoolBwd(x, dy, dx, m, c, [d, h, w], factors), upsampleFwd(x, y, m, c, [d, h, w], nearest, alignCorners, factors),
// upsampleBwd(dy, dx, m, c, [d, h, w], nearest, alignCorners, factors) (m, c, d, h, w: the input x / dx; see the
// top of this file for m and c). factors [fd, fh, fw], each 1 or 2, optional (undefined: [2, 2, 2]); groups and
// xStride are for images (a volume's: undefined, or 1 and 0).
/** The pool's input holds at least one window. */
static void poolable(const Vol &v) {
  if (v.d < v.fd || v.h < v.fh || v.w < v.fw)
    throw OpError("input " + shape({v.m, v.c, v.d, v.h, v.w}) + " is smaller than " + std::to_string(v.fd) + "x" +
                  std::to_string(v.fh) + "x" + std::to_string(v.fw));
}
Napi::Value maxpool3dFwd(const Args &a) {
  const auto is = [&](size_t i, int64_t v) { return !given(a, i) || (a.info[i].IsNumber() && a.i64(i) == v); };
  if (!is(5, 1) || !is(6, 0)) throw OpError("groups (a strided view) are for images only");
  const Vol v = volArgs(a, 2, 7);
  poolable(v);
  Act x = a.act(0, v.size(), "x"), y = a.act(1, v.pooled(), "y");
  a.sameType({{"x", x}, {"y", y}});
  dispatch(x.bf16, [&](auto *t) {
    using T = std::remove_pointer_t<decltype(t)>;
    if (v.factor() == 8) poolFwd<8>(v, x.as<T>(), y.as<T>());
    else poolFwd<0>(v, x.as<T>(), y.as<T>());
  });
  return a.env().Undefined();
}
Napi::Value maxpool3dBwd(const Args &a) {
  const Vol v = volArgs(a, 3, 6);
  poolable(v);
  Act x = a.act(0, v.size(), "x"), dy = a.act(1, v.pooled(), "dy");
  Act dx = a.act(2, v.size(), "dx");
  a.sameType({{"x", x}, {"dy", dy}, {"dx", dx}});
  dispatch(x.bf16, [&](auto *t) {
    using T = std::remove_pointer_t<decltype(t)>;
    if (v.factor() == 8) poolBwd<8>(v, x.as<T>(), dy.as<T>(), dx.as<T>());
    else poolBwd<0>(v, x.as<T>(), dy.as<T>(), dx.as<T>());
  });
  return a.env().Undefined();
}
Napi::Value upsample3dFwd(const Args &a) {
  const Vol v = volArgs(a, 2, 7);
  Act x = a.act(0, v.size(), "x"), y = a.act(1, v.upsampled(), "y");
  a.sameType({{"x", x}, {"y", y}});
  const bool nearest = a.flag(5), ac = a.flag(6);
  dispatch(x.bf16, [&](auto *t) { using T = std::remove_pointer_t<decltype(t)>; upFwd(v, x.as<T>(), y.as<T>(), nearest, ac); });
  return a.env().Undefined();
}
Napi::Value upsample3dBwd(const Args &a) {
  const Vol v = volArgs(a, 2, 7);
  Act dy = a.act(0, v.upsampled(), "dy"), dx = a.act(1, v.size(), "dx");
  a.sameType({{"dy", dy}, {"dx", dx}});
  const bool nearest = a.flag(5), ac = a.flag(6);
  dispatch(dy.bf16, [&](auto *t) { using T = std::remove_pointer_t<decltype(t)>; upBwd(v, dy.as<T>(), dx.as<T>(), nearest, ac); });
  return a.env().Undefined();
}

// concatUpFwd(xs, low, y, n, cl, [d, h, w], nearest, alignCorners, layout, inPlace, yStride, xStride, factors) on
// volumes: y = concat(xs, upsample(low)) with the parts copied run by run and the up-sampling's last pass writing
// into y's last channels (no temporary, no copy). Blocked where every channel count allows, else NDHWC (all
// tensors). inPlace, yStride and xStride are for images (a volume's: undefined or 0).
// concatUpBwd(dy, dxs, dlow, n, cl, [d, h, w], nearest, alignCorners, layout, factors): the parts' runs copied out,
// the up-sampling's adjoint reading dy's last channels in place. d, h, w: low's sides; the parts and y have
// fd d x fh h x fw w positions (factors as above).
struct ConcatUpGeo {
  Vol low;
  int64_t n, cl, S, ct, partsC;
  bool blocked;
};
/** Low's shape (arguments 3..5) and the factors at argument f. */
static Vol lowArgs(const Args &a, size_t f) { return volArgs(a, 3, f, "low input"); }
/** Positions of the high-resolution tensors (the parts, y). */
static int64_t highSide(const Vol &low) { return low.factor() * low.d * low.h * low.w; }
static ConcatUpGeo concatUpGeo(const Args &a, const Vol &low, const ActList &parts) {
  ConcatUpGeo g{};
  g.n = low.m;
  g.cl = low.c;
  // blocked only where every channel count allows (the JS side passes NDHWC tensors otherwise)
  const ActLayout layout = a.layout(8);
  bool all = layout.blockedC(g.cl) && layout.blockedC(parts.ct);
  for (auto c : parts.cs) all = all && layout.blockedC(c);
  g.blocked = all;
  g.low = low;
  if (all) g.low.m = g.n * g.cl / 16, g.low.c = 16;
  g.S = highSide(low);
  g.partsC = parts.ct;
  g.ct = parts.ct + g.cl;
  return g;
}
/** Rows of the up-sampled channels inside the concatenation: blocked, per image cl/16 runs of 16
 *  channels; NDHWC, the last cl channels of every position. */
static Rows upRows(const ConcatUpGeo &g) {
  if (g.blocked) return Rows{0, g.cl / 16, g.ct * g.S, g.partsC * g.S, 16 * g.S};
  Rows r{g.ct * g.S};
  r.offset = g.partsC;
  r.c = g.cl;
  r.stride = g.ct;
  return r;
}
/** The parts' values in the concatenation (copy(dst, src, bytes) per run): blocked, one run per
 *  image and part; NDHWC, one per position and part. */
template <class Copy>
static void partRuns(const ConcatUpGeo &g, const ActList &parts, size_t el, Copy copy) {
  const int64_t runs = g.blocked ? g.n : g.n * g.S, per = g.blocked ? g.S : 1;
#pragma omp parallel for schedule(static) if (g.n * g.partsC * g.S >= kParMin)
  for (int64_t i = 0; i < runs; i++) {
    int64_t off = 0;
    for (size_t k = 0; k < parts.acts.size(); k++) {
      copy((i * g.ct + off) * per * el, static_cast<char *>(parts.acts[k].p) + i * parts.cs[k] * per * el, parts.cs[k] * per * el);
      off += parts.cs[k];
    }
  }
}

Napi::Value concatUp3dFwd(const Args &a) {
  for (size_t i = 9; i < 12; i++)
    if (given(a, i) && !(a.info[i].IsNumber() && a.i64(i) == 0))
      throw OpError("in-place or strided concat_up (arguments 9 to 11) is for images only");
  const Vol lv = lowArgs(a, 12);
  const ActList parts = actList(a, 0, lv.m * highSide(lv), "xs");
  const ConcatUpGeo g = concatUpGeo(a, lv, parts);
  Act low = a.act(1, g.low.size(), "low"), y = a.act(2, g.n * g.ct * g.S, "y");
  a.sameType({{"low", low}, {"y", y}});
  sameTypes(a, parts, "xs", "y", y);
  const size_t el = y.bf16 ? 2 : 4;
  partRuns(g, parts, el, [&](int64_t at, const char *src, size_t bytes) {
    if (g.blocked) streamCopy(static_cast<char *>(y.p) + at, src, bytes);
    else std::memcpy(static_cast<char *>(y.p) + at, src, bytes);
  });
  const bool nearest = a.flag(6), ac = a.flag(7);
  dispatch(y.bf16, [&](auto *t) { using T = std::remove_pointer_t<decltype(t)>; upFwd(g.low, low.as<T>(), y.as<T>(), nearest, ac, upRows(g)); });
  return a.env().Undefined();
}

Napi::Value concatUp3dBwd(const Args &a) {
  const Vol lv = lowArgs(a, 9);
  const ActList parts = actList(a, 1, lv.m * highSide(lv), "dxs");
  const ConcatUpGeo g = concatUpGeo(a, lv, parts);
  Act dy = a.act(0, g.n * g.ct * g.S, "dy"), dlow = a.act(2, g.low.size(), "dlow");
  a.sameType({{"dy", dy}, {"dlow", dlow}});
  sameTypes(a, parts, "dxs", "dy", dy);
  const size_t el = dy.bf16 ? 2 : 4;
  partRuns(g, parts, el, [&](int64_t at, const char *dst, size_t bytes) {
    std::memcpy(const_cast<char *>(dst), static_cast<const char *>(dy.p) + at, bytes);
  });
  const bool nearest = a.flag(6), ac = a.flag(7);
  dispatch(dy.bf16, [&](auto *t) { using T = std::remove_pointer_t<decltype(t)>; upBwd(g.low, dy.as<T>(), dlow.as<T>(), nearest, ac, upRows(g)); });
  return a.env().Undefined();
}

}  // namespace un
