// Winograd F(2x2, 3x3) (Lavin & Gray, 2015) for bf16 inference. oneDNN 2.6 has no bf16 Winograd,
// and its direct bf16 kernels already run UNet++'s convs at 94-98% of this CPU's vdpbf16ps peak;
// F(2x2, 3x3) does 16 multiplications per 2x2 outputs instead of 36, so past the transforms' cost
// it is the one way left to go faster. Each 4x4 input tile d becomes V = B'dB, each 3x3 kernel g
// becomes U = GgG' (once per layer), and per tile and position p the 16 products
// M_p[o] = sum_c V_p[c] U_p[c][o] are a small GEMM (vdpbf16ps, float32 accumulation); the 2x2
// outputs are A'MA, plus bias, ReLU, rounded to bf16. Rounding V and U to bf16 costs some
// accuracy against the direct conv (tests bound it; the DSB2018 score is checked in docs).
#include "winograd.h"

#include <omp.h>

#include <array>
#include <cstdlib>
#include <utility>

#include "simd16.h"

namespace un {

#if defined(__AVX512BF16__) && defined(__AVX512BW__)
#define UN_WINOGRAD 1
#endif

static int64_t envInt(const char *name, int64_t fallback) {
  const char *e = std::getenv(name);
  return e && *e ? std::atoll(e) : fallback;
}
static thread_local bool gEnabled = envInt("UNETPP_WINOGRAD", 1) != 0;
bool winogradEnabled() { return gEnabled; }
void setWinogradEnabled(bool on) { gEnabled = on; }

/** Images smaller than this on a side go to oneDNN (measured: see docs/engine.md). */
static const int64_t kMinSide = envInt("UNETPP_WINOGRAD_MIN_SIDE", 12);

bool bf16WinogradTakes(ActLayout layout, int64_t c, int64_t o, int64_t h, int64_t w, int64_t k, int64_t stride, int64_t pad,
                       bool bf16) {
#ifdef UN_WINOGRAD
  return gEnabled && bf16 && layout.blockedC(c) && layout.blockedC(o) && o % 32 == 0 && k == 3 && stride == 1 && pad == 1 &&
         h % 2 == 0 && w % 2 == 0 && h >= kMinSide && w >= kMinSide;
#else
  return false;
#endif
}

void winogradWeights(const float *w, int64_t o, int64_t c, WinogradWeights &out) {
  out.c = c;
  out.o = o;
  out.u.resize(16 * c * o);  // every value is written below (C is even): no zero fill on each training step
  const int64_t cp = c / 2;
#pragma omp parallel for schedule(static) if (o * c * 9 >= kParMin)
  for (int64_t oi = 0; oi < o; oi++)
    for (int64_t ci = 0; ci < c; ci++) {
      const float *g = w + (oi * c + ci) * 9;
      float a[4][3], u[4][4];
      for (int s = 0; s < 3; s++) {  // G g: rows of the kernel combined
        a[0][s] = g[s];
        a[1][s] = 0.5f * (g[s] + g[3 + s] + g[6 + s]);
        a[2][s] = 0.5f * (g[s] - g[3 + s] + g[6 + s]);
        a[3][s] = g[6 + s];
      }
      for (int i = 0; i < 4; i++) {  // (G g) G': columns combined
        u[i][0] = a[i][0];
        u[i][1] = 0.5f * (a[i][0] + a[i][1] + a[i][2]);
        u[i][2] = 0.5f * (a[i][0] - a[i][1] + a[i][2]);
        u[i][3] = a[i][2];
      }
      for (int p = 0; p < 16; p++) out.u[((p * cp + ci / 2) * o + oi) * 2 + (ci & 1)] = toBf16(u[p / 4][p % 4]).bits;
    }
}

#ifdef UN_WINOGRAD

/** Tiles per register block: 2 x kR accumulators (32 output channels each), 2 weight registers
 *  and a broadcast fill the 32 zmm registers. */
constexpr int kR = 14;

/** m[r][0..31] = sum over input-channel pairs of v[r][pair] . u[pair][0..31][pair], r < R; v holds
 *  16 channels of each tile side by side (vt values between tiles), channel blocks vb apart. */
template <int R>
static void gemm(const uint16_t *v, int64_t vb, const uint16_t *u, int64_t uc, int64_t blocks, float *m, int64_t mt) {
  __m512 a0[R], a1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm512_setzero_ps();
  for (int64_t cb = 0; cb < blocks; cb++, v += vb)
    for (int k = 0; k < 8; k++) {
      const uint16_t *uk = u + (cb * 8 + k) * uc;
      const __m512bh w0 = (__m512bh)_mm512_loadu_si512(uk);
      const __m512bh w1 = (__m512bh)_mm512_loadu_si512(uk + 32);
#pragma GCC unroll 16
      for (int r = 0; r < R; r++) {
        int32_t pair;
        std::memcpy(&pair, v + r * 16 + 2 * k, 4);
        const __m512bh b = (__m512bh)_mm512_set1_epi32(pair);
        a0[r] = _mm512_dpbf16_ps(a0[r], b, w0);
        a1[r] = _mm512_dpbf16_ps(a1[r], b, w1);
      }
    }
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) {
    _mm512_storeu_ps(m + r * mt, a0[r]);
    _mm512_storeu_ps(m + r * mt + 16, a1[r]);
  }
}
using GemmFn = void (*)(const uint16_t *, int64_t, const uint16_t *, int64_t, int64_t, float *, int64_t);
template <int... I>
static constexpr std::array<GemmFn, sizeof...(I)> gemmTable(std::integer_sequence<int, I...>) {
  return {gemm<I + 1>...};
}
static constexpr auto kGemm = gemmTable(std::make_integer_sequence<int, kR>{});

static inline void storeBf16(uint16_t *p, __m512 f) {
  _mm256_storeu_si256(reinterpret_cast<__m256i *>(p), (__m256i)_mm512_cvtneps_pbh(f));
}

/** V[p][c/16][t][16] = (B' d B)[p] for the tiles t0 .. t0 + nt of one image; ps: values between
 *  positions, tb tiles a channel block. Channel block by channel block, a tile row at a time, left to right: B' (the rows'
 *  combination) is applied once per input column and shared by the two tiles that overlap there. */
static void inputTransform(const bf16 *x, int64_t c, int64_t h, int64_t w, int64_t t0, int64_t nt, uint16_t *v,
                           int64_t ps, int64_t tb) {
  const int64_t tw = w / 2;
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t cb = 0; cb < c / 16; cb++) {
    const bf16 *plane = x + cb * h * w * 16;
    for (int64_t t = 0; t < nt;) {
      const int64_t ty = (t0 + t) / tw, txa = (t0 + t) % tw, txb = std::min(tw, txa + (nt - t));
      const int64_t r0 = 2 * ty - 1;
      const bf16 *row[4];
      for (int r = 0; r < 4; r++) row[r] = r0 + r >= 0 && r0 + r < h ? plane + (r0 + r) * w * 16 : nullptr;
      // e[k][j]: B' applied to input column k of the window (window column j of the tile)
      auto column = [&](int64_t cc, __m512 *e) {
        __m512 d[4];
        for (int r = 0; r < 4; r++) d[r] = row[r] && cc >= 0 && cc < w ? load16(row[r] + cc * 16) : zero;
        e[0] = _mm512_sub_ps(d[0], d[2]);
        e[1] = _mm512_add_ps(d[1], d[2]);
        e[2] = _mm512_sub_ps(d[2], d[1]);
        e[3] = _mm512_sub_ps(d[1], d[3]);
      };
      // The next tile row's two new input rows, a cache line a tile ahead of their use: the
      // hardware prefetcher alone leaves this loop waiting on memory (inputs are read once).
      const bf16 *ahead = r0 + 5 < h ? plane + (r0 + 4) * w * 16 : nullptr;
      __m512 e[4][4];  // [window column][i]
      column(2 * txa - 1, e[2]);
      column(2 * txa, e[3]);
      for (int64_t tx = txa; tx < txb; tx++, t++) {
        if (ahead) {
          _mm_prefetch(reinterpret_cast<const char *>(ahead + tx * 32), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char *>(ahead + (w + tx * 2) * 16), _MM_HINT_T0);
        }
        for (int i = 0; i < 4; i++) e[0][i] = e[2][i], e[1][i] = e[3][i];
        column(2 * tx + 1, e[2]);
        column(2 * tx + 2, e[3]);
        uint16_t *out = v + (cb * tb + t) * 16;
        for (int i = 0; i < 4; i++) {
          storeBf16(out + (i * 4 + 0) * ps, _mm512_sub_ps(e[0][i], e[2][i]));
          storeBf16(out + (i * 4 + 1) * ps, _mm512_add_ps(e[1][i], e[2][i]));
          storeBf16(out + (i * 4 + 2) * ps, _mm512_sub_ps(e[2][i], e[1][i]));
          storeBf16(out + (i * 4 + 3) * ps, _mm512_sub_ps(e[1][i], e[3][i]));
        }
      }
    }
  }
}

/** y's 2x2 outputs of tiles t0 .. t0 + nt = A' M A + bias (ReLU), from M[p][t][o] (float32; ps
 *  values between positions). */
static void outputTransform(const float *m, int64_t o, int64_t h, int64_t w, int64_t t0, int64_t nt, int64_t ps,
                            const float *bias, bool relu, bf16 *y) {
  const int64_t tw = w / 2;
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t t = 0; t < nt; t++) {
    const int64_t ty = (t0 + t) / tw, tx = (t0 + t) % tw;
    for (int64_t ob = 0; ob < o / 16; ob++) {
      const float *mp = m + t * o + ob * 16;
      __m512 q[2][4];
      for (int s = 0; s < 4; s++) {
        const __m512 m0 = _mm512_loadu_ps(mp + (0 + s) * ps), m1 = _mm512_loadu_ps(mp + (4 + s) * ps);
        const __m512 m2 = _mm512_loadu_ps(mp + (8 + s) * ps), m3 = _mm512_loadu_ps(mp + (12 + s) * ps);
        q[0][s] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
        q[1][s] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
      }
      const __m512 b = _mm512_loadu_ps(bias + ob * 16);
      bf16 *out = y + ((ob * h + 2 * ty) * w + 2 * tx) * 16;
      for (int i = 0; i < 2; i++) {
        __m512 y0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(q[i][0], q[i][1]), q[i][2]), b);
        __m512 y1 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(q[i][1], q[i][2]), q[i][3]), b);
        if (relu) {  // max(0, NaN) is NaN: a NaN still reaches the caller's checks
          y0 = _mm512_max_ps(zero, y0);
          y1 = _mm512_max_ps(zero, y1);
        }
        storeBf16(reinterpret_cast<uint16_t *>(out + i * w * 16), y0);
        storeBf16(reinterpret_cast<uint16_t *>(out + (i * w + 1) * 16), y1);
      }
    }
  }
}

void winogradConv(const bf16 *x, int64_t xs, bf16 *y, int64_t ys, int64_t n, int64_t h, int64_t w,
                  const WinogradWeights &u, const float *bias, bool relu) {
  const int64_t c = u.c, o = u.o, tiles = (h / 2) * (w / 2);
  if (!xs) xs = c * h * w;
  if (!ys) ys = o * h * w;
  // Tiles per block: V (bf16) and M (float32) of a block stay in L2 (~384 KB together).
  int64_t tb = (384 << 10) / (32 * c + 64 * o);
  tb = tb > kR ? tb / kR * kR : kR;
  if (tb > tiles) tb = tiles;
  const int64_t blocks = (tiles + tb - 1) / tb, pairs = c / 2;
  // Position strides skewed by a cache line: a multiple of 4 KB would put the 16 positions' rows
  // of a tile in the same L1 sets.
  const int64_t vps = tb * c + 32, mps = tb * o + 16;
  const size_t vBytes = (size_t)16 * vps * 2, mBytes = (size_t)16 * mps * 4;
  const size_t perThread = (vBytes + mBytes + 4095) / 4096 * 4096;  // V and M of one block
  const int nThreads = threads();
  char *bufs = static_cast<char *>(scratch(kTmp0, perThread * nThreads));
#pragma omp parallel for num_threads(nThreads) schedule(static) if (n * blocks > 1)
  for (int64_t item = 0; item < n * blocks; item++) {
    const int64_t img = item / blocks, t0 = (item % blocks) * tb, nt = std::min(tb, tiles - t0);
    char *buf = bufs + perThread * omp_get_thread_num();
    uint16_t *v = reinterpret_cast<uint16_t *>(buf);
    float *m = reinterpret_cast<float *>(buf + vBytes);
    inputTransform(x + img * xs, c, h, w, t0, nt, v, vps, tb);
    for (int p = 0; p < 16; p++)
      for (int64_t ob = 0; ob < o / 32; ob++) {
        const uint16_t *up = u.u.data() + (p * pairs * o + ob * 32) * 2;
        for (int64_t r = 0; r < nt; r += kR) {
          const int64_t rn = std::min<int64_t>(kR, nt - r);
          kGemm[rn - 1](v + p * vps + r * 16, tb * 16, up, o * 2, c / 16, m + p * mps + r * o + ob * 32, o);
        }
      }
    outputTransform(m, o, h, w, t0, nt, mps, bias, relu, y + img * ys);
  }
}

#else

void winogradConv(const bf16 *, int64_t, bf16 *, int64_t, int64_t, int64_t, int64_t, const WinogradWeights &,
                  const float *, bool) {
  throw OpError("winograd: this build has no AVX512_BF16");
}

#endif

}  // namespace un
