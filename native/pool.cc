// 2x2 stride-2 max-pool over NHWC, ours: channels are contiguous so every window is four
// vector loads, and ties resolve to the first max in row-major window order as the spec says.
// Activations are float32 or bf16 (one dtype per call); bf16 values are compared as float32
// and stored back bit for bit (a max-pool selects, it never rounds).
#include <cstring>
#include <type_traits>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common.h"
#include "volume.h"
#include "simd16.h"

namespace un {

/** v replaces the running max m: larger, or the first NaN (kept visible to NaN checks, as PyTorch). */
static inline bool wins(float v, float m) { return v > m || (v != v && m == m); }

/** A float holding a value loaded from bf16, stored back without rounding (its upper half). */
static inline bf16 exact(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return bf16{(uint16_t)(u >> 16)};
}

#ifdef __SSE2__
// bf16 kernels: 8 channels per step with SSE2 (the x86-64 baseline). GCC vectorises the scalar
// bf16 loops too, but narrows 32-bit lanes to 16 with a chain of shuffles; a signed pack of the
// arithmetically shifted (or all-ones / zero mask) lanes is one instruction.
/** bf16 bits -> float32 (exact): the bits become the upper half of each lane. */
static inline __m128 lo4(__m128i v) { return _mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), v)); }
static inline __m128 hi4(__m128i v) { return _mm_castsi128_ps(_mm_unpackhi_epi16(_mm_setzero_si128(), v)); }
static inline __m128i load8(const bf16 *p) { return _mm_loadu_si128(reinterpret_cast<const __m128i *>(p)); }
static inline void store8(bf16 *p, __m128i v) { _mm_storeu_si128(reinterpret_cast<__m128i *>(p), v); }
/** The upper halves of 2 x 4 float32 lanes holding bf16 values, as 8 bf16 (exact). */
static inline __m128i upper8(__m128 a, __m128 b) {
  return _mm_packs_epi32(_mm_srai_epi32(_mm_castps_si128(a), 16), _mm_srai_epi32(_mm_castps_si128(b), 16));
}
/** 2 x 4 lane masks (all ones / zero) as 8 16-bit masks. */
static inline __m128i mask8(__m128 a, __m128 b) { return _mm_packs_epi32(_mm_castps_si128(a), _mm_castps_si128(b)); }
/** wins() on 4 lanes, as a mask. */
static inline __m128 wins4(__m128 v, __m128 m) {
  return _mm_or_ps(_mm_cmpgt_ps(v, m), _mm_and_ps(_mm_cmpunord_ps(v, v), _mm_cmpord_ps(m, m)));
}
static inline __m128 select4(__m128 mask, __m128 a, __m128 b) {
  return _mm_or_ps(_mm_and_ps(mask, a), _mm_andnot_ps(mask, b));
}
/** The window max of 4 lanes (first max wins, as wins()). */
static inline __m128 max4(__m128 v0, __m128 v1, __m128 v2, __m128 v3) {
  __m128 m = select4(wins4(v1, v0), v1, v0);
  m = select4(wins4(v2, m), v2, m);
  return select4(wins4(v3, m), v3, m);
}
/** No NaN among the 8 lanes of 4 window positions (then wins(v, m) is v > m, and maxps(v, m),
 *  "v > m ? v : m", keeps the first of equal values as wins() does). */
static inline bool noNan(__m128 a, __m128 b, __m128 c, __m128 d, __m128 e, __m128 f, __m128 g, __m128 h) {
  return _mm_movemask_ps(_mm_or_ps(_mm_or_ps(_mm_cmpunord_ps(a, b), _mm_cmpunord_ps(c, d)),
                                   _mm_or_ps(_mm_cmpunord_ps(e, f), _mm_cmpunord_ps(g, h)))) == 0;
}
#endif

struct PoolGeo {
  int64_t n, c, h, w, ho, wo;
  int64_t grp = 0, gstride = 0;  // x's images in groups of grp, gstride values apart (a strided view)
  /** Offset of input image m. */
  int64_t xImage(int64_t m) const { return grp ? m / grp * gstride + m % grp * h * w * c : m * h * w * c; }
};

/** n, c, [h, w] from args[i..i+2]. */
static PoolGeo poolGeo(const Args &a, size_t i) {
  const std::vector<int64_t> s = a.sizes(i + 2, "sizes");
  PoolGeo g{a.i64(i), a.i64(i + 1), s[0], s[1], 0, 0, 0, 0};
  g.ho = g.h / 2;
  g.wo = g.w / 2;
  if (g.n < 1 || g.c < 1 || g.ho < 1 || g.wo < 1) throw OpError("input " + shape({g.n, g.c, g.h, g.w}) + " is smaller than 2x2");
  return g;
}

static void fwdF32(const PoolGeo &g, const float *x, float *y) {
  const int64_t C = g.c, W = g.w;
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * g.h * g.w * C) >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t oy = 0; oy < g.ho; oy++)
      for (int64_t ox = 0; ox < g.wo; ox++) {
        const float *r0 = x + g.xImage(n) + (2 * oy * W + 2 * ox) * C, *r1 = r0 + W * C;
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
}

static void fwdBf16(const PoolGeo &g, const bf16 *x, bf16 *y) {
  const int64_t C = g.c, W = g.w;
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * g.h * g.w * C) >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t oy = 0; oy < g.ho; oy++)
      for (int64_t ox = 0; ox < g.wo; ox++) {
        const bf16 *r0 = x + g.xImage(n) + (2 * oy * W + 2 * ox) * C, *r1 = r0 + W * C;
        bf16 *o = y + ((n * g.ho + oy) * g.wo + ox) * C;
        int64_t c = 0;
#ifdef __AVX512BW__
        for (; c + 16 <= C; c += 16) {  // NaN windows go on to the paths below
          const __m512 a = load16(r0 + c), b = load16(r0 + C + c), d = load16(r1 + c), e = load16(r1 + C + c);
          if (__builtin_expect((_mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(d, e, _CMP_UNORD_Q)) != 0, 0)) break;
          storeExact16(o + c, _mm512_max_ps(e, _mm512_max_ps(d, _mm512_max_ps(b, a))));
        }
#endif
#ifdef __SSE2__
        for (; c + 8 <= C; c += 8) {
          const __m128i a = load8(r0 + c), b = load8(r0 + C + c), d = load8(r1 + c), e = load8(r1 + C + c);
          const __m128 a0 = lo4(a), b0 = lo4(b), d0 = lo4(d), e0 = lo4(e), a1 = hi4(a), b1 = hi4(b), d1 = hi4(d),
                       e1 = hi4(e);
          if (__builtin_expect(noNan(a0, b0, d0, e0, a1, b1, d1, e1), 1))
            store8(o + c, upper8(_mm_max_ps(e0, _mm_max_ps(d0, _mm_max_ps(b0, a0))),
                                 _mm_max_ps(e1, _mm_max_ps(d1, _mm_max_ps(b1, a1)))));
          else
            store8(o + c, upper8(max4(a0, b0, d0, e0), max4(a1, b1, d1, e1)));
        }
#endif
        for (; c < C; c++) {
          float m = load(r0[c]);
          m = wins(load(r0[C + c]), m) ? load(r0[C + c]) : m;
          m = wins(load(r1[c]), m) ? load(r1[c]) : m;
          m = wins(load(r1[C + c]), m) ? load(r1[C + c]) : m;
          o[c] = exact(m);
        }
      }
}

// maxpoolFwd(x, y, n, c, [h, w][, groups, xStride]): with groups, the n images of x come in that many
// equal groups, group i starting at value i * xStride (a strided view of a wider buffer: in-place
// concatenation); y is dense.
static Napi::Value fwd(const Args &a) {
  PoolGeo g = poolGeo(a, 2);
  const int64_t groups = a.info.Length() > 5 && a.info[5].IsNumber() ? a.i64(5) : 1;
  const int64_t per = groups > 0 && g.n % groups == 0 ? g.n / groups * g.c * g.h * g.w : 0;
  if (!per) throw OpError("groups must divide the number of images, got " + std::to_string(groups));
  const int64_t xs = groups > 1 ? a.i64(6) : per;
  if (xs < per) throw OpError("x's group stride " + std::to_string(xs) + " is below the group size " + std::to_string(per));
  Act x = a.act(0, (groups - 1) * xs + per, "x"), y = a.act(1, g.n * g.c * g.ho * g.wo, "y");
  a.sameType({{"x", x}, {"y", y}});
  if (groups > 1) g.grp = g.n / groups, g.gstride = xs;
  if (x.bf16) fwdBf16(g, x.as<bf16>(), y.as<bf16>());
  else fwdF32(g, x.as<float>(), y.as<float>());
  return a.env().Undefined();
}

template <class T>
static void bwdT(const PoolGeo &g, const T *x, const T *dy, T *dx) {
  const int64_t C = g.c, W = g.w;
#pragma omp parallel for collapse(2) schedule(static) if ((g.n * g.h * g.w * C) >= kParMin)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t oy = 0; oy < g.ho; oy++) {
      const int64_t row = (n * g.h + 2 * oy) * W * C;
      for (int64_t ox = 0; ox < g.wo; ox++) {
        const T *r0 = x + row + 2 * ox * C, *r1 = r0 + W * C;
        T *d0 = dx + row + 2 * ox * C, *d1 = d0 + W * C;
        const T *g1 = dy + ((n * g.ho + oy) * g.wo + ox) * C;
        if constexpr (std::is_same_v<T, float>) {
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
        } else {
          int64_t c = 0;
#ifdef __SSE2__
          for (; c + 8 <= C; c += 8) {
            const __m128i a = load8(r0 + c), b = load8(r0 + C + c), d = load8(r1 + c), e = load8(r1 + C + c);
            const __m128 xv[2][4] = {{lo4(a), lo4(b), lo4(d), lo4(e)}, {hi4(a), hi4(b), hi4(d), hi4(e)}};
            const bool plain = noNan(xv[0][0], xv[0][1], xv[0][2], xv[0][3], xv[1][0], xv[1][1], xv[1][2], xv[1][3]);
            __m128 k0[2], k1[2], k2[2], k3[2];  // the winner of each lane as masks, low and high halves
            for (int h = 0; h < 2; h++) {
              const __m128 v0 = xv[h][0], v1 = xv[h][1], v2 = xv[h][2], v3 = xv[h][3];
              __m128 w1, w2, w3;
              if (__builtin_expect(plain, 1)) {
                w1 = _mm_cmpgt_ps(v1, v0);
                __m128 m = _mm_max_ps(v1, v0);
                w2 = _mm_cmpgt_ps(v2, m);
                m = _mm_max_ps(v2, m);
                w3 = _mm_cmpgt_ps(v3, m);
              } else {
                w1 = wins4(v1, v0);
                __m128 m = select4(w1, v1, v0);
                w2 = wins4(v2, m);
                m = select4(w2, v2, m);
                w3 = wins4(v3, m);
              }
              k3[h] = w3;
              k2[h] = _mm_andnot_ps(w3, w2);
              k1[h] = _mm_andnot_ps(_mm_or_ps(w2, w3), w1);
              k0[h] = _mm_andnot_ps(_mm_or_ps(w1, _mm_or_ps(w2, w3)), _mm_castsi128_ps(_mm_set1_epi32(-1)));
            }
            const __m128i v = load8(g1 + c);
            store8(d0 + c, _mm_and_si128(mask8(k0[0], k0[1]), v));
            store8(d0 + C + c, _mm_and_si128(mask8(k1[0], k1[1]), v));
            store8(d1 + c, _mm_and_si128(mask8(k2[0], k2[1]), v));
            store8(d1 + C + c, _mm_and_si128(mask8(k3[0], k3[1]), v));
          }
#endif
          for (; c < C; c++) {
            const float v1 = load(r0[C + c]), v2 = load(r1[c]), v3 = load(r1[C + c]);
            float m = load(r0[c]);
            int k = 0;
            if (wins(v1, m)) { m = v1; k = 1; }
            if (wins(v2, m)) { m = v2; k = 2; }
            if (wins(v3, m)) { k = 3; }
            const bf16 v = g1[c], z{0};
            d0[c] = k == 0 ? v : z;
            d0[C + c] = k == 1 ? v : z;
            d1[c] = k == 2 ? v : z;
            d1[C + c] = k == 3 ? v : z;
          }
        }
      }
      // A floored last column gets no gradient.
      if (W & 1) {
        std::memset(dx + row + (W - 1) * C, 0, C * sizeof(T));
        std::memset(dx + row + (2 * W - 1) * C, 0, C * sizeof(T));
      }
    }
  if (g.h & 1)  // floored last row of each image
    for (int64_t n = 0; n < g.n; n++) std::memset(dx + ((n * g.h + g.h - 1) * W) * C, 0, W * C * sizeof(T));
}

// maxpoolBwd(x, dy, dx, n, c, [h, w]): dy goes to the first max of each window, 0 elsewhere.
static Napi::Value bwd(const Args &a) {
  PoolGeo g = poolGeo(a, 3);
  Act x = a.act(0, g.n * g.c * g.h * g.w, "x"), dy = a.act(1, g.n * g.c * g.ho * g.wo, "dy"),
      dx = a.act(2, g.n * g.c * g.h * g.w, "dx");
  a.sameType({{"x", x}, {"dy", dy}, {"dx", dx}});
  dispatch(x.bf16, [&](auto *tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    bwdT<T>(g, x.as<T>(), dy.as<T>(), dx.as<T>());
  });
  return a.env().Undefined();
}

// One entry per op for images and volumes: the sizes' length picks the kernel (volume.h). Per-axis
// factors are a volume's only: images refuse them.
void registerPool(Napi::Env env, Napi::Object ex) {
  def(env, ex, "maxpoolFwd",
      [](const Args &a) { return a.rank(4) == 3 ? maxpool3dFwd(a) : (imageFactors(a, 7), fwd(a)); });
  def(env, ex, "maxpoolBwd",
      [](const Args &a) { return a.rank(5) == 3 ? maxpool3dBwd(a) : (imageFactors(a, 6), bwd(a)); });
}

}  // namespace un
