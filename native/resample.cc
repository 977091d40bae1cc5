// x2 up-sampling over NHWC (bilinear with align_corners true/false as PyTorch, and nearest),
// ours: oneDNN's resampling is half-pixel only. Bilinear is separable, so the backward pass is
// two passes: along W into a float32 scratch buffer (each thread owns whole rows: it adds every
// dy pixel to its two taps in a cached row, no atomics), then along H, a gather through a
// transposed weight table. Activations are float32 or bf16 (one dtype per call); bf16 is
// computed and accumulated in float32 and rounded once per output.
//
// concat_up (concat([x1..xk, upsample2x(x)])) runs the same kernels on a wider high-resolution
// tensor (y forward, dy backward): S channels per pixel, ours the last C, from O = S - C. The
// x1..xk ("parts", channels 0..O-1) are copied in (forward) or out (backward) pixel by pixel inside
// the up-sampling's own loops, right next to our channels of the same pixel, so the wide tensor is
// one sequential stream touched once, and the up-sampled part never exists on its own: y's slot
// is written in place, dy's read in place. Plain up-sampling: S = C, O = 0, no parts.
#include <cmath>
#include <type_traits>
#include <vector>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common.h"
#include "volume.h"
#include "simd16.h"

namespace un {

#ifdef __SSE2__
// The bf16 kernels take 8 channels per step with SSE2 (the x86-64 baseline): bf16 -> float32 is
// one unpack, and rounding ends in one signed pack (GCC's own vectorisation of toBf16 narrows
// with a chain of shuffles, ~2.5x slower).
static inline __m128i load8(const bf16 *p) { return _mm_loadu_si128(reinterpret_cast<const __m128i *>(p)); }
static inline __m128 lo4(__m128i v) { return _mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), v)); }
static inline __m128 hi4(__m128i v) { return _mm_castsi128_ps(_mm_unpackhi_epi16(_mm_setzero_si128(), v)); }
/** toBf16 on 4 lanes without NaN, as the bf16 bits sign-extended to 32 (ready for a signed pack). */
static inline __m128i rne4(__m128 f) {
  const __m128i u = _mm_castps_si128(f);
  const __m128i lsb = _mm_and_si128(_mm_srli_epi32(u, 16), _mm_set1_epi32(1));
  return _mm_srai_epi32(_mm_add_epi32(_mm_add_epi32(u, _mm_set1_epi32(0x7fff)), lsb), 16);
}
/** toBf16 of 8 lanes stored at p; a NaN (rare) takes the scalar path. */
static inline void store8(bf16 *p, __m128 a, __m128 b) {
  if (__builtin_expect(_mm_movemask_ps(_mm_cmpunord_ps(a, b)) != 0, 0)) {
    alignas(16) float f[8];
    _mm_store_ps(f, a);
    _mm_store_ps(f + 4, b);
    for (int k = 0; k < 8; k++) p[k] = toBf16(f[k]);
    return;
  }
  _mm_storeu_si128(reinterpret_cast<__m128i *>(p), _mm_packs_epi32(rne4(a), rne4(b)));
}
#endif

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
  int64_t S, O;       // channels per pixel of the high-resolution tensor, and the first of ours
  ActList parts;      // concat_up's x1..xk: channels 0..O-1 of the high-resolution tensor
  int64_t yStride = 0, xStride = 0;  // blocked concat_up: values between images of y and x (0: dense)
  // Forward kernels over blocked images (see blockedConcatUp): image m is channel block m % grp of
  // image m / grp, whose x and y start xgs and ygs values after the previous one's.
  int64_t grp = 0, xgs = 0, ygs = 0;
  int64_t xImg(int64_t m) const { return grp ? m / grp * xgs + m % grp * h * w * c : m * h * w * c; }
  int64_t yImg(int64_t m) const { return grp ? m / grp * ygs + m % grp * 4 * h * w * S : m * 4 * h * w * S; }
};

/** n, c, [h, w], nearest, alignCorners from args[i..i+4]. */
static Geo geo(const Args &a, size_t i) {
  const std::vector<int64_t> s = a.sizes(i + 2, "sizes");
  Geo g{a.i64(i), a.i64(i + 1), s[0], s[1], a.flag(i + 3), a.flag(i + 4), 0, 0, {}};
  if (g.n < 1 || g.c < 1 || g.h < 1 || g.w < 1) throw OpError("invalid shape " + shape({g.n, g.c, g.h, g.w}));
  g.S = g.c;
  return g;
}

/** The storage of T for plain copies (a loop copying bf16 structs does not vectorise). */
template <class T> using Raw = std::conditional_t<std::is_same_v<T, float>, float, uint16_t>;

/** Forward: copies the parts' channels of high-resolution pixel px (global NHW index) into y. */
template <class T>
static inline void partsIn(const Geo &g, int64_t px, T *y) {
  using R = Raw<T>;
  R *d = reinterpret_cast<R *>(y) + px * g.S;
  for (size_t k = 0; k < g.parts.acts.size(); k++) {
    const int64_t c = g.parts.cs[k];
    const R *s = g.parts.acts[k].as<R>() + px * c;
#pragma omp simd
    for (int64_t i = 0; i < c; i++) d[i] = s[i];
    d += c;
  }
}

/** Backward: copies the parts' channels of dy's high-resolution pixel px out to their gradients. */
template <class T>
static inline void partsOut(const Geo &g, int64_t px, const T *dy) {
  using R = Raw<T>;
  const R *s = reinterpret_cast<const R *>(dy) + px * g.S;
  for (size_t k = 0; k < g.parts.acts.size(); k++) {
    const int64_t c = g.parts.cs[k];
    R *d = g.parts.acts[k].as<R>() + px * c;
#pragma omp simd
    for (int64_t i = 0; i < c; i++) d[i] = s[i];
    s += c;
  }
}

template <class T>
static void nearestFwd(const Geo &g, const T *x, T *y) {
  const int64_t C = g.c, H = g.h, W = g.w, Ho = 2 * H, Wo = 2 * W;
  const Raw<T> *xr = reinterpret_cast<const Raw<T> *>(x);
  Raw<T> *yr = reinterpret_cast<Raw<T> *>(y);
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * g.S * Ho * Wo) >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t oy = 0; oy < Ho; oy++) {
      for (int64_t ox = 0; ox < Wo; ox++) {
        partsIn(g, (n * Ho + oy) * Wo + ox, y);
        const Raw<T> *s = xr + g.xImg(n) + ((oy / 2) * W + ox / 2) * C;
        Raw<T> *d = yr + g.yImg(n) + (oy * Wo + ox) * g.S + g.O;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) d[c] = s[c];
      }
    }
}

static void bilinearFwdF32(const Geo &g, const float *x, float *y) {
  const int64_t C = g.c, H = g.h, W = g.w, Ho = 2 * H, Wo = 2 * W;
  auto ty = taps(H, g.align), tx = taps(W, g.align);
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * g.S * Ho * Wo) >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t oy = 0; oy < Ho; oy++) {
      const Tap r = ty[oy];
      const float *x0 = x + g.xImg(n) + r.i0 * W * C, *x1 = x + g.xImg(n) + r.i1 * W * C;
      for (int64_t ox = 0; ox < Wo; ox++) {
        const Tap q = tx[ox];
        const float *a0 = x0 + q.i0 * C, *a1 = x0 + q.i1 * C, *b0 = x1 + q.i0 * C, *b1 = x1 + q.i1 * C;
        const float w00 = (1 - r.l) * (1 - q.l), w01 = (1 - r.l) * q.l, w10 = r.l * (1 - q.l), w11 = r.l * q.l;
        partsIn(g, (n * Ho + oy) * Wo + ox, y);
        float *d = y + g.yImg(n) + (oy * Wo + ox) * g.S + g.O;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) d[c] = w00 * a0[c] + w01 * a1[c] + w10 * b0[c] + w11 * b1[c];
      }
    }
}

/** bf16, separably: each input row is interpolated along W once into a float32 row (two are
 *  cached, so consecutive output rows share them), and each output row mixes two such rows along
 *  H, rounded once. This differs from the float32 kernel's 4-tap sum by float32 rounding only,
 *  and takes ~25% fewer operations: the bf16 kernel is bound by compute (unpacking, rounding),
 *  not memory. */
static void bilinearFwdBf16(const Geo &g, const bf16 *x, bf16 *y) {
  const int64_t C = g.c, H = g.h, W = g.w, Ho = 2 * H, Wo = 2 * W, R = Wo * C;
  auto ty = taps(H, g.align), tx = taps(W, g.align);
  // Row along W: out[ox, :] = (1 - l) x[i0, :] + l x[i1, :]
  auto alongW = [&](const bf16 *row, float *out) {
    for (int64_t ox = 0; ox < Wo; ox++) {
      const Tap q = tx[ox];
      const bf16 *a0 = row + q.i0 * C, *a1 = row + q.i1 * C;
      const float w0 = 1 - q.l, w1 = q.l;
      float *d = out + ox * C;
      int64_t c = 0;
#ifdef __AVX512BW__
      const __m512 z0 = _mm512_set1_ps(w0), z1 = _mm512_set1_ps(w1);
      for (; c + 16 <= C; c += 16)
        _mm512_storeu_ps(d + c, _mm512_add_ps(_mm512_mul_ps(z0, load16(a0 + c)), _mm512_mul_ps(z1, load16(a1 + c))));
#endif
#ifdef __SSE2__
      const __m128 v0 = _mm_set1_ps(w0), v1 = _mm_set1_ps(w1);
      for (; c + 8 <= C; c += 8) {
        const __m128i p = load8(a0 + c), q1 = load8(a1 + c);
        _mm_storeu_ps(d + c, _mm_add_ps(_mm_mul_ps(v0, lo4(p)), _mm_mul_ps(v1, lo4(q1))));
        _mm_storeu_ps(d + c + 4, _mm_add_ps(_mm_mul_ps(v0, hi4(p)), _mm_mul_ps(v1, hi4(q1))));
      }
#endif
      for (; c < C; c++) d[c] = w0 * load(a0[c]) + w1 * load(a1[c]);
    }
  };
#pragma omp parallel if ((g.n * g.S * Ho * Wo) >= kParMin)
  {
    std::vector<float> buf(2 * R);
    float *slot[2] = {buf.data(), buf.data() + R};
    int64_t held[2] = {-1, -1};  // the input row (n * H + i) in each slot
    /** The W-interpolated input row gi, computed unless cached, never evicting row keep. */
    auto rowOf = [&](int64_t gi, int64_t keep) -> const float * {
      for (int k = 0; k < 2; k++)
        if (held[k] == gi) return slot[k];
      const int k = held[0] == keep ? 1 : 0;
      alongW(x + g.xImg(gi / H) + gi % H * W * C, slot[k]);
      held[k] = gi;
      return slot[k];
    };
#pragma omp for collapse(2) schedule(static)
    for (int64_t n = 0; n < g.n; n++)
      for (int64_t oy = 0; oy < Ho; oy++) {
        const Tap r = ty[oy];
        const float *h0 = rowOf(n * H + r.i0, -1);
        const float *h1 = rowOf(n * H + r.i1, n * H + r.i0);
        const float w0 = 1 - r.l, w1 = r.l;
        bf16 *drow = y + g.yImg(n) + oy * Wo * g.S + g.O;
        // A whole output row is one run of R values when it is not a slot of a wider tensor.
        const bool whole = g.S == C;
        const int64_t runs = whole ? 1 : Wo, len = whole ? R : C;
        for (int64_t p = 0; p < runs; p++) {
          if (!whole) partsIn(g, (n * Ho + oy) * Wo + p, y);
          bf16 *d = drow + p * g.S;
          const float *a0 = h0 + p * len, *a1 = h1 + p * len;
          int64_t k = 0;
#ifdef __AVX512BW__
          const __m512 z0 = _mm512_set1_ps(w0), z1 = _mm512_set1_ps(w1);
          for (; k + 16 <= len; k += 16)
            store16(d + k, _mm512_add_ps(_mm512_mul_ps(z0, _mm512_loadu_ps(a0 + k)), _mm512_mul_ps(z1, _mm512_loadu_ps(a1 + k))));
#endif
#ifdef __SSE2__
          const __m128 v0 = _mm_set1_ps(w0), v1 = _mm_set1_ps(w1);
          for (; k + 8 <= len; k += 8)
            store8(d + k, _mm_add_ps(_mm_mul_ps(v0, _mm_loadu_ps(a0 + k)), _mm_mul_ps(v1, _mm_loadu_ps(a1 + k))),
                   _mm_add_ps(_mm_mul_ps(v0, _mm_loadu_ps(a0 + k + 4)), _mm_mul_ps(v1, _mm_loadu_ps(a1 + k + 4))));
#endif
          for (; k < len; k++) d[k] = toBf16(w0 * a0[k] + w1 * a1[k]);
        }
      }
  }
}

static void runFwd(const Geo &g, Act x, Act y) {
  if (g.nearest && x.bf16) nearestFwd(g, x.as<bf16>(), y.as<bf16>());
  else if (g.nearest) nearestFwd(g, x.as<float>(), y.as<float>());
  else if (x.bf16) bilinearFwdBf16(g, x.as<bf16>(), y.as<bf16>());
  else bilinearFwdF32(g, x.as<float>(), y.as<float>());
}

// upsampleFwd(x, y, n, c, [h, w], nearest, alignCorners)
static Napi::Value fwd(const Args &a) {
  Geo g = geo(a, 2);
  Act x = a.act(0, g.n * g.c * g.h * g.w, "x"), y = a.act(1, g.n * g.c * 4 * g.h * g.w, "y");
  a.sameType({{"x", x}, {"y", y}});
  runFwd(g, x, y);
  return a.env().Undefined();
}

/** concat_up's geometry: x [n,h,w,c] after parts of [n,2h,2w,*] (argument `partsArg`). */
static Geo geoUp(const Args &a, size_t partsArg, const char *what) {
  Geo g = geo(a, 3);
  g.parts = actList(a, partsArg, g.n * 4 * g.h * g.w, what);
  g.O = g.parts.ct;
  g.S = g.O + g.c;
  return g;
}

static void runBwd(const Geo &g, Act dy, Act dx);

/** concat_up on blocked (nChw16c) tensors, forward (x -> y) or backward (dy = y -> dx = x).
 *  Per image the parts are contiguous runs of y, copied whole; the up-sampled part is, per
 *  image, an NHWC tensor of c/16 "images" of 16 channels, which the NHWC kernels handle. */
static void blockedConcatUp(const Geo &g, Act x, Act y, bool forward) {
  for (int64_t c : g.parts.cs)
    if (c % 16) throw OpError("blocked concat_up: every input needs a multiple of 16 channels, got " + std::to_string(c));
  if (g.c % 16) throw OpError("blocked concat_up: the up-sampled input has " + std::to_string(g.c) + " channels, not a multiple of 16");
  const size_t es = y.bf16 ? 2 : 4;
  const int64_t HW = 4 * g.h * g.w, hw = g.h * g.w, K = (int64_t)g.parts.acts.size();
  char *yb = static_cast<char *>(y.p);
  const int64_t ys = g.yStride ? g.yStride : g.S * HW, xs = g.xStride ? g.xStride : g.c * hw;
  // parts: one memcpy per (image, part)
#pragma omp parallel for collapse(2) schedule(static) if (g.n * g.O * HW >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t k = 0; k < K; k++) {
      int64_t off = 0;
      for (int64_t j = 0; j < k; j++) off += g.parts.cs[j];
      const int64_t c = g.parts.cs[k];
      char *part = static_cast<char *>(g.parts.acts[k].p) + (size_t)(n * c * HW) * es;
      char *in_y = yb + (size_t)(n * ys + off * HW) * es;
      if (forward) streamCopy(in_y, part, (size_t)(c * HW) * es);
      else streamCopy(part, in_y, (size_t)(c * HW) * es);
    }
  Geo u{g.c / 16, 16, g.h, g.w, g.nearest, g.align, 16, 0, {}};
  if (forward) {  // all images' channel blocks in one parallel loop
    u.n = g.n * g.c / 16, u.grp = g.c / 16, u.xgs = xs, u.ygs = ys;
    runFwd(u, x, Act{yb + (size_t)(g.O * HW) * es, y.bf16});
    return;
  }
  for (int64_t n = 0; n < g.n; n++) {
    Act xi{static_cast<char *>(x.p) + (size_t)(n * xs) * es, x.bf16};
    Act yi{yb + (size_t)(n * ys + g.O * HW) * es, y.bf16};
    runBwd(u, yi, xi);
  }
}

// concatUpFwd([x1..xk], x, y, n, c, [h, w], nearest, alignCorners, layout[, inPlace, yStride, xStride]):
// y [n,2h,2w, sum c_i + c] = concat(x1..xk, upsample2x(x)) along channels, in one pass over y
// (k may be 0). Blocked layout only: inPlace > 0 says that y's first inPlace channels already
// hold the parts (none are given then: in-place concatenation, engine/concat-views.ts), and
// y and x may be per-image strided views (values between images; 0: dense).
static Napi::Value concatUpFwd(const Args &a) {
  Geo g = geoUp(a, 0, "inputs");
  const auto opt = [&](size_t i) { return i < a.info.Length() && a.info[i].IsNumber() ? a.i64(i) : 0; };
  const ActLayout layout = a.layout(8);
  const int64_t inPlace = opt(9);
  g.yStride = opt(10), g.xStride = opt(11);
  if (inPlace || g.yStride || g.xStride) {
    if (!g.parts.acts.empty() && inPlace) throw OpError("inputs: parts given although in place");
    if (inPlace < 0 || g.yStride < 0 || g.xStride < 0) throw OpError("negative in-place channels or stride");
    g.O += inPlace, g.S += inPlace;
    if (!layout.blockedC(g.S) || !layout.blockedC(g.c)) throw OpError("in-place or strided concat_up needs the blocked layout");
    if ((g.yStride && g.yStride < g.S * 4 * g.h * g.w) || (g.xStride && g.xStride < g.c * g.h * g.w))
      throw OpError("an image stride is below the image size");
  }
  const int64_t hw = g.h * g.w;
  Act x = a.act(1, g.xStride ? (g.n - 1) * g.xStride + g.c * hw : g.n * g.c * hw, "x");
  Act y = a.act(2, g.yStride ? (g.n - 1) * g.yStride + g.S * 4 * hw : g.n * g.S * 4 * hw, "y");
  a.sameType({{"x", x}, {"y", y}});
  sameTypes(a, g.parts, "inputs", "y", y);
  if (layout.blockedC(g.S)) blockedConcatUp(g, x, y, true);
  else runFwd(g, x, y);
  return a.env().Undefined();
}

static void nearestBwdF32(const Geo &g, const float *dy, float *dx) {
  const int64_t C = g.c, H = g.h, W = g.w, Ho = 2 * H, Wo = 2 * W;
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * g.S * Ho * Wo) >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t iy = 0; iy < H; iy++) {
      for (int64_t ix = 0; ix < W; ix++) {
        const int64_t S = g.S, px = (n * Ho + 2 * iy) * Wo + 2 * ix;
        partsOut(g, px, dy), partsOut(g, px + 1, dy), partsOut(g, px + Wo, dy), partsOut(g, px + Wo + 1, dy);
        const float *s0 = dy + ((n * Ho + 2 * iy) * Wo + 2 * ix) * S + g.O, *s1 = s0 + Wo * S;
        float *d = dx + ((n * H + iy) * W + ix) * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) d[c] = (s0[c] + s0[S + c]) + (s1[c] + s1[S + c]);
      }
    }
}

/** bf16: the same float32 sums, rounded once. */
static void nearestBwdBf16(const Geo &g, const bf16 *dy, bf16 *dx) {
  const int64_t C = g.c, H = g.h, W = g.w, Ho = 2 * H, Wo = 2 * W;
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * g.S * Ho * Wo) >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t iy = 0; iy < H; iy++) {
      for (int64_t ix = 0; ix < W; ix++) {
        const int64_t S = g.S, px = (n * Ho + 2 * iy) * Wo + 2 * ix;
        partsOut(g, px, dy), partsOut(g, px + 1, dy), partsOut(g, px + Wo, dy), partsOut(g, px + Wo + 1, dy);
        const bf16 *s0 = dy + ((n * Ho + 2 * iy) * Wo + 2 * ix) * S + g.O, *s1 = s0 + Wo * S;
        bf16 *d = dx + ((n * H + iy) * W + ix) * C;
        int64_t c = 0;
#ifdef __SSE2__
        for (; c + 8 <= C; c += 8) {
          const __m128i p = load8(s0 + c), q = load8(s0 + S + c), s = load8(s1 + c), t = load8(s1 + S + c);
          store8(d + c, _mm_add_ps(_mm_add_ps(lo4(p), lo4(q)), _mm_add_ps(lo4(s), lo4(t))),
                 _mm_add_ps(_mm_add_ps(hi4(p), hi4(q)), _mm_add_ps(hi4(s), hi4(t))));
        }
#endif
        for (; c < C; c++) d[c] = toBf16((load(s0[c]) + load(s0[S + c])) + (load(s1[c]) + load(s1[S + c])));
      }
    }
}

static inline float ld(float v) { return v; }
static inline float ld(bf16 v) { return load(v); }

#ifdef __AVX512BW__
/** 16 lanes of the sum over j in [j0, j1) of g.wt[j] * p[g.src[j] * stride + lane]: a gather
 *  through transposed taps, summed in registers, terms in increasing output position. */
template <class T>
static inline __m512 gather16(const Gather &g, int64_t j0, int64_t j1, const T *p, int64_t stride) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t j = j0; j < j1; j++) acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_set1_ps(g.wt[j]), load16(p + g.src[j] * stride)));
  return acc;
}
#endif

/** Backward pass 1, along W, into float32 scratch: tmp[n, oy, ix, :] = sum over the ox reading ix
 *  of w * dy[n, oy, ox, :], a gather through the transposed taps (terms in increasing ox),
 *  summed in registers where C allows (a scatter, each ox adding to its two taps, chains every
 *  addition through memory: measured ~2x slower). concat_up's parts are copied out of each dy row
 *  just before it is read, while it is in cache. */
template <class T>
static float *alongWBwd(const Geo &g, const T *dy) {
  const int64_t C = g.c, W = g.w, Ho = 2 * g.h, Wo = 2 * W;
  const Gather gx = transpose(taps(W, g.align), W);
  float *tmp = static_cast<float *>(scratch(kTmp0, sizeof(float) * g.n * Ho * W * C));
#pragma omp parallel for schedule(static) if ((g.n * g.S * Ho * Wo) >= kParMin)
  for (int64_t r = 0; r < g.n * Ho; r++) {
    if (!g.parts.acts.empty())
      for (int64_t ox = 0; ox < Wo; ox++) partsOut(g, r * Wo + ox, dy);
    const T *row = dy + r * Wo * g.S + g.O;
    for (int64_t ix = 0; ix < W; ix++) {
      float *d = tmp + (r * W + ix) * C;
      const int64_t j0 = gx.start[ix], j1 = gx.start[ix + 1];
      int64_t c0 = 0;
#ifdef __AVX512BW__
      for (; c0 + 16 <= C; c0 += 16) _mm512_storeu_ps(d + c0, gather16(gx, j0, j1, row + c0, g.S));
#endif
#pragma omp simd
      for (int64_t c = c0; c < C; c++) d[c] = 0.f;
      for (int64_t j = j0; j < j1; j++) {
        const T *s = row + gx.src[j] * g.S;
        const float wt = gx.wt[j];
#pragma omp simd
        for (int64_t c = c0; c < C; c++) d[c] += wt * ld(s[c]);
      }
    }
  }
  return tmp;
}

static void bilinearBwdF32(const Geo &g, const float *dy, float *dx) {
  const int64_t C = g.c, H = g.h, W = g.w, Ho = 2 * H, Wo = 2 * W;
  Gather gy = transpose(taps(H, g.align), H);
  float *tmp = alongWBwd(g, dy);
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
}

/** bf16: the float32 kernel's sums in the same order (so dx is its result, rounded once). Pass 1
 *  is the float32 kernel's; pass 2 accumulates 8 values over the taps in registers and rounds. */
static void bilinearBwdBf16(const Geo &g, const bf16 *dy, bf16 *dx) {
  const int64_t C = g.c, H = g.h, W = g.w, Ho = 2 * H, Wo = 2 * W;
  Gather gy = transpose(taps(H, g.align), H);
  float *tmp = alongWBwd(g, dy);
  // Pass 2, along H, rounded once.
  const int64_t R = W * C;
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * C * Ho * Wo) >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t iy = 0; iy < H; iy++) {
      bf16 *d = dx + (n * H + iy) * R;
      const int64_t j0 = gy.start[iy], j1 = gy.start[iy + 1];
      int64_t k = 0;
#ifdef __AVX512BW__
      for (; k + 16 <= R; k += 16) store16(d + k, gather16(gy, j0, j1, tmp + n * Ho * R + k, R));
#endif
#ifdef __SSE2__
      for (; k + 8 <= R; k += 8) {
        __m128 lo = _mm_setzero_ps(), hi = _mm_setzero_ps();
        for (int64_t j = j0; j < j1; j++) {
          const float *s = tmp + (n * Ho + gy.src[j]) * R + k;
          const __m128 wt = _mm_set1_ps(gy.wt[j]);
          lo = _mm_add_ps(lo, _mm_mul_ps(wt, _mm_loadu_ps(s)));
          hi = _mm_add_ps(hi, _mm_mul_ps(wt, _mm_loadu_ps(s + 4)));
        }
        store8(d + k, lo, hi);
      }
#endif
      for (; k < R; k++) {
        float acc = 0.f;
        for (int64_t j = j0; j < j1; j++) acc += gy.wt[j] * tmp[(n * Ho + gy.src[j]) * R + k];
        d[k] = toBf16(acc);
      }
    }
}

static void runBwd(const Geo &g, Act dy, Act dx) {
  if (g.nearest && dy.bf16) nearestBwdBf16(g, dy.as<bf16>(), dx.as<bf16>());
  else if (g.nearest) nearestBwdF32(g, dy.as<float>(), dx.as<float>());
  else if (dy.bf16) bilinearBwdBf16(g, dy.as<bf16>(), dx.as<bf16>());
  else bilinearBwdF32(g, dy.as<float>(), dx.as<float>());
}

// upsampleBwd(dy, dx, n, c, [h, w], nearest, alignCorners)
static Napi::Value bwd(const Args &a) {
  Geo g = geo(a, 2);
  Act dy = a.act(0, g.n * g.c * 4 * g.h * g.w, "dy"), dx = a.act(1, g.n * g.c * g.h * g.w, "dx");
  a.sameType({{"dy", dy}, {"dx", dx}});
  runBwd(g, dy, dx);
  return a.env().Undefined();
}

// concatUpBwd(dy, [dx1..dxk], dx, n, c, [h, w], nearest, alignCorners, layout): the gradients of concatUpFwd's
// inputs, in one pass over dy: dx1..dxk are its leading channels, dx the up-sampling's gradient
// of its last c channels, read in place.
static Napi::Value concatUpBwd(const Args &a) {
  Geo g = geoUp(a, 1, "outputs");
  Act dy = a.act(0, g.n * g.S * 4 * g.h * g.w, "dy"), dx = a.act(2, g.n * g.c * g.h * g.w, "dx");
  a.sameType({{"dy", dy}, {"dx", dx}});
  sameTypes(a, g.parts, "outputs", "dy", dy);
  if (a.layout(8).blockedC(g.S)) blockedConcatUp(g, dx, dy, false);
  else runBwd(g, dy, dx);
  return a.env().Undefined();
}

// One entry per op for images and volumes: the sizes' length picks the kernel (volume.h). Per-axis
// factors are a volume's only: images refuse them.
void registerResample(Napi::Env env, Napi::Object ex) {
  def(env, ex, "upsampleFwd",
      [](const Args &a) { return a.rank(4) == 3 ? upsample3dFwd(a) : (imageFactors(a, 7), fwd(a)); });
  def(env, ex, "upsampleBwd",
      [](const Args &a) { return a.rank(4) == 3 ? upsample3dBwd(a) : (imageFactors(a, 7), bwd(a)); });
  def(env, ex, "concatUpFwd",
      [](const Args &a) { return a.rank(5) == 3 ? concatUp3dFwd(a) : (imageFactors(a, 12), concatUpFwd(a)); });
  def(env, ex, "concatUpBwd",
      [](const Args &a) { return a.rank(5) == 3 ? concatUp3dBwd(a) : (imageFactors(a, 9), concatUpBwd(a)); });
}

}  // namespace un
