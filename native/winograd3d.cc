// Winograd F(2x2x2, 3x3x3) for float32 volume convs: forward, data gradient (the same conv with
// the kernel turned and the channels swapped) and weight gradient. oneDNN 2.6 has 3D Winograd
// for none of them; its direct kernels run the 3x3x3 convs of a 48^3 UNet++ at ~0.64 of this
// CPU's FMA peak. F(2,3) along each axis: a 2x2x2 output tile takes 64 multiplications per
// input-output channel pair instead of 216.
// 1D: y = A'[(G g) . (B' d)], d: 4 inputs, g: 3 taps, y: 2 outputs, with
//   B' = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A' = [1 1 1 0; 0 1 -1 -1].
// 3D applies each along d, h and w. The output tile at (2i, 2j, 2k) reads the input tile at
// (2i-1, 2j-1, 2k-1) (zero outside: pad 1). Per block of tiles (sized to stay in L2; never a
// whole layer's transformed input, which at 16 channels would make this memory-bound): the input
// tiles are transformed into V; for each of the 64 positions p, M_p = V_p U_p (a GEMM: output
// channels in zmm vectors, tiles as rows, V broadcast); then y = A'MA per tile (+ bias, ReLU).
// The weight gradient is the chain rule through the same algorithm: dU_p = V_p' Z_p with Z = A dy
// per tile (2x2x2 -> 4x4x4), summed over tiles in per-thread accumulators, then dw = G' dU G.
// Position index p = (a * 4 + b) * 4 + e (a along d, b along h, e along w).
#include "winograd3d.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <utility>

#include "simd16.h"
#include "winograd.h"

namespace un {

#ifdef __AVX512F__
#define UN_WINOGRAD3D 1
#endif

static int envMode() {
  const char *e = std::getenv("UNETPP_WINOGRAD3D");
  return e && *e ? std::atoi(e) : 1;
}
static thread_local int gMode = envMode();
void setWinograd3dMode(int mode) { gMode = mode; }

bool winograd3dBuilt() {
#ifdef UN_WINOGRAD3D
  return true;
#else
  return false;
#endif
}

// Which convs take it, measured per pass against oneDNN's direct conv (batch 2, 2 threads; table
// in docs/engine.md). Where the volume is large it is 1.6-2.4x faster in every pass. Small volumes
// lose: the per-call costs (transforming all 64 C O weights, OpenMP, the weight gradient's
// per-thread sums and their reduction) are paid against few tiles, and odd sides waste the unused
// outputs of their last tiles (5x7x5: 1.65x the work). A fit of those measurements: against the
// direct conv, Winograd's time goes as (8 tiles / voxels) (1 + k / (n tiles)), k = 35 for the
// forward and data gradient and 12 for the weight gradient (no weights to transform); it takes
// a conv where that predicts it at least 1.1x faster (the measured large-volume ratio, ~1.7, times
// 0.62), with n = 2, whatever the batch: a volume's forward result is then the same bits in any
// batch (predict, serve's micro-batches). Not under 25 MFLOP a volume (fixed costs ~20 us at
// batch 2); and the weight gradient of wide convs
// (C O > 128 x 128) needs 64 tiles a volume, and none wider than 256 x 128: each thread's dU
// (256 C O bytes) no longer fits L2 and is streamed once a block (256 -> 256 at 6^3: 0.44x;
// 384 -> 128 at 8^3: 0.78x, where 256 -> 128 still ran 1.33x).
bool winograd3dTakes(const ConvGeo &g, bool bf16, Pass pass) {
#ifdef UN_WINOGRAD3D
  if (!g.vol || g.deconv || bf16 || !gMode || !winogradEnabled()) return false;
  if (!g.layout.blockedC(g.c) || !g.layout.blockedC(g.o) || g.kd != 3 || g.kh != 3 || g.kw != 3 || g.stride != 1 ||
      g.pad != 1)
    return false;
  if (gMode == 2) return true;
  const double tiles = (double)((g.d + 1) / 2) * ((g.h + 1) / 2) * ((g.w + 1) / 2), voxels = (double)g.d * g.h * g.w;
  if (2.0 * 27 * g.c * g.o * voxels < 25e6) return false;
  const bool wgt = pass == Pass::kBwdWeights;
  if (wgt && g.c * g.o > 128 * 128 && (tiles < 64 || g.c * g.o > 256 * 128)) return false;
  const double k = wgt ? 12 : 35;
  return voxels / (8 * tiles) / (1 + k / (2 * tiles)) >= 0.62;
#else
  return false;
#endif
}

namespace {

/** n items cut into parts of at most `most`, as even as possible: part i is [start(i), start(i + 1)). */
struct Split {
  int64_t n, parts;
  Split(int64_t n_, int64_t most) : n(n_), parts((n_ + most - 1) / most) {}
  int64_t start(int64_t i) const { return n * i / parts; }
  int64_t size(int64_t i) const { return start(i + 1) - start(i); }
};

/** Output channels (N, a multiple of 16) as the GEMMs take them: N / 16 vectors in groups of
 *  J <= most (one microkernel call each). */
inline Split vectorGroups(int64_t n, int64_t most = 4) { return Split(n / 16, most); }

/** A K x N matrix (U, dU) in groups of output vectors (vectorGroups), each group a [K][16 J]
 *  block: a microkernel's rows are a constant stride apart (immediate offsets). Value (k, vector
 *  nv, lane l) at base[nv] + k * stride[nv] + l. */
struct Packed {
  Split groups;
  std::vector<int64_t> base, stride;
  Packed(int64_t k, int64_t n) : groups(vectorGroups(n)) {
    for (int64_t gi = 0; gi < groups.parts; gi++)
      for (int64_t nv = groups.start(gi); nv < groups.start(gi + 1); nv++) {
        base.push_back(k * 16 * groups.start(gi) + (nv - groups.start(gi)) * 16);
        stride.push_back(16 * groups.size(gi));
      }
  }
  int64_t group(int64_t gi) const { return base[groups.start(gi)]; }
};

}  // namespace

// Weight transform: U = G g G' along the three axes (3 taps -> 4 per axis), 16 values of N at a
// time (gathered from w's strided layout first).
void winograd3dWeights(const float *w, int64_t o, int64_t c, bool flip, Winograd3dWeights &out) {
  const int64_t K = flip ? o : c, N = flip ? c : o;
  // g[k][n][tap] = w[k * sk + n * sn + tap (turned if flip)]
  const int64_t sk = flip ? c * 27 : 27, sn = flip ? 27 : c * 27;
  out.k = K;
  out.n = N;
  out.u.resize(64 * K * N);
  float *u = out.u.data();
  const Packed pk(K, N);
#pragma omp parallel for collapse(2) schedule(static) if (K * N * 27 >= kParMin)
  for (int64_t k = 0; k < K; k++)
    for (int64_t nb = 0; nb < N / 16; nb++) {
      float g[27][16];
      for (int l = 0; l < 16; l++) {
        const float *src = w + k * sk + (nb * 16 + l) * sn;
        for (int t = 0; t < 27; t++) g[t][l] = src[flip ? 26 - t : t];
      }
      float a[4][3][3][16], b[4][4][3][16], e[4][4][4][16];
      auto gRow = [](const float *g0, const float *g1, const float *g2, float *r0, float *r1, float *r2, float *r3) {
        for (int l = 0; l < 16; l++) {
          r0[l] = g0[l];
          r1[l] = 0.5f * (g0[l] + g1[l] + g2[l]);
          r2[l] = 0.5f * (g0[l] - g1[l] + g2[l]);
          r3[l] = g2[l];
        }
      };
      for (int j = 0; j < 3; j++)  // along d
        for (int q = 0; q < 3; q++)
          gRow(g[j * 3 + q], g[9 + j * 3 + q], g[18 + j * 3 + q], a[0][j][q], a[1][j][q], a[2][j][q], a[3][j][q]);
      for (int i = 0; i < 4; i++)  // along h
        for (int q = 0; q < 3; q++) gRow(a[i][0][q], a[i][1][q], a[i][2][q], b[i][0][q], b[i][1][q], b[i][2][q], b[i][3][q]);
      for (int i = 0; i < 4; i++)  // along w
        for (int j = 0; j < 4; j++) gRow(b[i][j][0], b[i][j][1], b[i][j][2], e[i][j][0], e[i][j][1], e[i][j][2], e[i][j][3]);
      float *dst = u + pk.base[nb] + k * pk.stride[nb];
      for (int p = 0; p < 64; p++) std::copy(e[p / 16][p / 4 % 4][p % 4], e[p / 16][p / 4 % 4][p % 4] + 16, dst + p * K * N);
    }
}

#ifdef UN_WINOGRAD3D

namespace {

/** A volume's sizes and its tiles (ceil(side / 2) per axis). */
struct Vol {
  int64_t d, h, w, td, th, tw;
  Vol(int64_t d_, int64_t h_, int64_t w_) : d(d_), h(h_), w(w_), td((d_ + 1) / 2), th((h_ + 1) / 2), tw((w_ + 1) / 2) {}
  int64_t tiles() const { return td * th * tw; }
  int64_t voxels() const { return d * h * w; }
};

// ---- the block's transformed tiles ----
// V (inputs) and M, Z (outputs) keep a tile's 64 positions of 16 channels together: the
// transforms write and read 4 KB runs, and the GEMMs' rows (tiles) are a constant stride apart.
// V: [channel block][tile][p][16], tiles kVT values apart (a cache line of padding: rows 4 KB
// apart would share L1 sets). M, Z: per group of J output vectors, [tile][vector][p][16], tiles
// tileStride(J) apart.
constexpr int64_t kVT = 64 * 16 + 16;
constexpr int64_t tileStride(int j) { return j * 1024 + 16; }

/** Where M's (or Z's) vectors lie for blocks of tb tiles: vector nv of tile t at base[nv] + t *
 *  stride[nv]. Groups of one vector (most = 1) lay them out as V. */
struct TileMajor {
  Split groups;
  std::vector<int64_t> base, stride;
  int64_t size = 0;  // values a block
  TileMajor(int64_t tb, int64_t n, int64_t most = 4) : groups(vectorGroups(n, most)) {
    for (int64_t gi = 0; gi < groups.parts; gi++) {
      const int j = (int)groups.size(gi);
      for (int jj = 0; jj < j; jj++) {
        base.push_back(size + jj * 1024);
        stride.push_back(tileStride(j));
      }
      size += tb * tileStride(j);
    }
  }
  int64_t group(int64_t gi) const { return base[groups.start(gi)]; }
};

// ---- GEMM microkernels ----

/** Forward, for position p of `groups` groups of R tiles: m[r][j][p] = sum over k < 16 kb of
 *  v[r][k] u[k][j], j < J vectors of 16. v: V at (block 0, tile 0, p), channel blocks vb apart;
 *  u: U_p's group, rows of 16 J; m: M at (tile 0, vector 0, p). The next group's rows of V are
 *  prefetched (L2 -> L1). */
template <int R, int J>
void gemmFwd(const float *v, int64_t vb, int64_t kb, const float *u, float *m, int64_t groups) {
  for (int64_t gr = 0; gr < groups; gr++, v += R * kVT, m += R * tileStride(J)) {
    __m512 acc[R][J];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
      for (int j = 0; j < J; j++) acc[r][j] = _mm512_setzero_ps();
    const float *vc = v, *uc = u;
    for (int64_t cb = 0; cb < kb; cb++, vc += vb, uc += 256 * J)
#pragma GCC unroll 16
      for (int k = 0; k < 16; k++) {
        if (k < R) _mm_prefetch(reinterpret_cast<const char *>(vc + (R + k) * kVT), _MM_HINT_T0);
        __m512 wk[J];
#pragma GCC unroll 4
        for (int j = 0; j < J; j++) wk[j] = _mm512_loadu_ps(uc + (k * J + j) * 16);
#pragma GCC unroll 16
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
          for (int j = 0; j < J; j++) acc[r][j] = _mm512_fmadd_ps(_mm512_set1_ps(vc[r * kVT + k]), wk[j], acc[r][j]);
      }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
      for (int j = 0; j < J; j++) _mm512_storeu_ps(m + r * tileStride(J) + j * 1024, acc[r][j]);
  }
}

/** Weight gradient, for position p: du[r][j] += sum over t < nt of v[t][r] z[t][j], r < R input
 *  channels of one block, j < J vectors of 16 output channels. v: V at (block, tile 0, p, first
 *  channel); z: Z at (tile 0, group's vector 0, p); du: dU_p's group at row r0, rows of 16 J. */
template <int R, int J>
void gemmWgt(const float *v, const float *z, int64_t nt, float *du) {
  __m512 acc[R][J];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int j = 0; j < J; j++) acc[r][j] = _mm512_loadu_ps(du + (r * J + j) * 16);
  for (int64_t t = 0; t < nt; t++, v += kVT, z += tileStride(J)) {
    _mm_prefetch(reinterpret_cast<const char *>(v + 4 * kVT), _MM_HINT_T0);
    __m512 zj[J];
#pragma GCC unroll 4
    for (int j = 0; j < J; j++) {
      _mm_prefetch(reinterpret_cast<const char *>(z + 4 * tileStride(J) + j * 1024), _MM_HINT_T0);
      zj[j] = _mm512_loadu_ps(z + j * 1024);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
      for (int j = 0; j < J; j++) acc[r][j] = _mm512_fmadd_ps(_mm512_set1_ps(v[r]), zj[j], acc[r][j]);
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int j = 0; j < J; j++) _mm512_storeu_ps(du + (r * J + j) * 16, acc[r][j]);
}

/** Weight gradient with input channels in the vectors (for C > O: more of them to share each
 *  broadcast): du[r][j] += sum over t < nt of z[t][r] v[t][j], r < R output channels of one
 *  vector of Z, j < J channel blocks of V (cs values apart). z, v: at tile 0 and position p (Z laid
 *  out as V); du: dU'_p ([o][c]) at row r0 and block j0, rows dc values apart. */
template <int R, int J>
void gemmWgtT(const float *z, const float *v, int64_t cs, int64_t nt, float *du, int64_t dc) {
  __m512 acc[R][J];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int j = 0; j < J; j++) acc[r][j] = _mm512_loadu_ps(du + r * dc + j * 16);
  for (int64_t t = 0; t < nt; t++, z += kVT, v += kVT) {
    _mm_prefetch(reinterpret_cast<const char *>(z + 4 * kVT), _MM_HINT_T0);
    __m512 xj[J];
#pragma GCC unroll 4
    for (int j = 0; j < J; j++) {
      _mm_prefetch(reinterpret_cast<const char *>(v + j * cs + 4 * kVT), _MM_HINT_T0);
      xj[j] = _mm512_loadu_ps(v + j * cs);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
      for (int j = 0; j < J; j++) acc[r][j] = _mm512_fmadd_ps(_mm512_set1_ps(z[r]), xj[j], acc[r][j]);
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int j = 0; j < J; j++) _mm512_storeu_ps(du + r * dc + j * 16, acc[r][j]);
}

/** Rows per microkernel call for J vectors of 16 output channels: R x J accumulators and J
 *  weights (forward) or J gradient vectors (weight gradient) within the 32 zmm registers. */
constexpr int kRowsFwd[5] = {0, 16, 14, 9, 7};
constexpr int kRowsWgt[5] = {0, 16, 12, 8, 6};

using FwdFn = void (*)(const float *, int64_t, int64_t, const float *, float *, int64_t);
using WgtFn = void (*)(const float *, const float *, int64_t, float *);
using WgtTFn = void (*)(const float *, const float *, int64_t, int64_t, float *, int64_t);
template <int J, int... I>
constexpr std::array<FwdFn, sizeof...(I)> fwdTable(std::integer_sequence<int, I...>) {
  return {gemmFwd<I + 1, J>...};
}
template <int J, int... I>
constexpr std::array<WgtFn, sizeof...(I)> wgtTable(std::integer_sequence<int, I...>) {
  return {gemmWgt<I + 1, J>...};
}
template <int J, int... I>
constexpr std::array<WgtTFn, sizeof...(I)> wgtTTable(std::integer_sequence<int, I...>) {
  return {gemmWgtT<I + 1, J>...};
}
constexpr auto kFwd1 = fwdTable<1>(std::make_integer_sequence<int, kRowsFwd[1]>{});
constexpr auto kFwd2 = fwdTable<2>(std::make_integer_sequence<int, kRowsFwd[2]>{});
constexpr auto kFwd3 = fwdTable<3>(std::make_integer_sequence<int, kRowsFwd[3]>{});
constexpr auto kFwd4 = fwdTable<4>(std::make_integer_sequence<int, kRowsFwd[4]>{});
constexpr auto kWgt1 = wgtTable<1>(std::make_integer_sequence<int, kRowsWgt[1]>{});
constexpr auto kWgt2 = wgtTable<2>(std::make_integer_sequence<int, kRowsWgt[2]>{});
constexpr auto kWgt3 = wgtTable<3>(std::make_integer_sequence<int, kRowsWgt[3]>{});
constexpr auto kWgt4 = wgtTable<4>(std::make_integer_sequence<int, kRowsWgt[4]>{});
constexpr auto kWgtT1 = wgtTTable<1>(std::make_integer_sequence<int, kRowsWgt[1]>{});
constexpr auto kWgtT2 = wgtTTable<2>(std::make_integer_sequence<int, kRowsWgt[2]>{});
constexpr auto kWgtT3 = wgtTTable<3>(std::make_integer_sequence<int, kRowsWgt[3]>{});
constexpr auto kWgtT4 = wgtTTable<4>(std::make_integer_sequence<int, kRowsWgt[4]>{});
WgtTFn wgtTFn(int64_t r, int j) {
  return j == 1 ? kWgtT1[r - 1] : j == 2 ? kWgtT2[r - 1] : j == 3 ? kWgtT3[r - 1] : kWgtT4[r - 1];
}
FwdFn fwdFn(int64_t r, int j) {
  return j == 1 ? kFwd1[r - 1] : j == 2 ? kFwd2[r - 1] : j == 3 ? kFwd3[r - 1] : kFwd4[r - 1];
}
WgtFn wgtFn(int64_t r, int j) {
  return j == 1 ? kWgt1[r - 1] : j == 2 ? kWgt2[r - 1] : j == 3 ? kWgt3[r - 1] : kWgt4[r - 1];
}

// ---- transforms ----

/** Tile t's coordinates (i along d, j along h, k along w). */
struct TileAt {
  int64_t i, j, k;
  TileAt(const Vol &g, int64_t t) : i(t / g.tw / g.th), j(t / g.tw % g.th), k(t % g.tw) {}
};

/** V = B'dB along the three axes for the 4x4x4 input tiles d of tiles t0 .. t0 + nt of one
 *  volume x of c channels (nCdhw16c; zero outside), into V[cb][t][p][16] (cs values between
 *  channel blocks). A tile row at a time along w: B' along d and h is applied once per input
 *  column and shared by the two tiles that overlap there; the next tile row's new input rows are
 *  prefetched (the hardware prefetcher alone leaves this loop waiting on memory). */
void inputTransform(const float *x, int64_t c, const Vol &g, int64_t t0, int64_t nt, float *v, int64_t cs) {
  const __m512 zero = _mm512_setzero_ps();
  const int64_t row = g.w * 16, plane = g.h * row, vol = g.d * plane;
  for (int64_t t = 0; t < nt;) {
    const TileAt at(g, t0 + t);
    const int64_t run = std::min(g.tw - at.k, nt - t);
    for (int64_t cb = 0; cb < c / 16; cb++) {
      const float *rows[16];  // the tiles' input rows (a along d, b along h), null outside
      for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
          const int64_t z = 2 * at.i - 1 + a, y = 2 * at.j - 1 + b;
          rows[a * 4 + b] = z >= 0 && z < g.d && y >= 0 && y < g.h ? x + cb * vol + z * plane + y * row : nullptr;
        }
      const float *ahead[8];  // the next tile row's new rows (h = 2j + 3, 2j + 4)
      int nAhead = 0;
      for (int a = 0; a < 4; a++)
        for (int b = 0; b < 2; b++) {
          const int64_t z = 2 * at.i - 1 + a, y = 2 * at.j + 3 + b;
          if (z >= 0 && z < g.d && y < g.h) ahead[nAhead++] = x + cb * vol + z * plane + y * row;
        }
      __m512 col[4][16];  // B' along d and h of input columns, a ring indexed by column & 3
      auto column = [&](int64_t cc, __m512 *e) {
        __m512 q[16], r[16];
        const bool in = cc >= 0 && cc < g.w;
        for (int i = 0; i < 16; i++) q[i] = in && rows[i] ? _mm512_loadu_ps(rows[i] + cc * 16) : zero;
        for (int b = 0; b < 4; b++) {  // along d
          r[0 + b] = _mm512_sub_ps(q[0 + b], q[8 + b]);
          r[4 + b] = _mm512_add_ps(q[4 + b], q[8 + b]);
          r[8 + b] = _mm512_sub_ps(q[8 + b], q[4 + b]);
          r[12 + b] = _mm512_sub_ps(q[4 + b], q[12 + b]);
        }
        for (int a = 0; a < 16; a += 4) {  // along h
          e[a + 0] = _mm512_sub_ps(r[a + 0], r[a + 2]);
          e[a + 1] = _mm512_add_ps(r[a + 1], r[a + 2]);
          e[a + 2] = _mm512_sub_ps(r[a + 2], r[a + 1]);
          e[a + 3] = _mm512_sub_ps(r[a + 1], r[a + 3]);
        }
      };
      column(2 * at.k - 1, col[(2 * at.k - 1) & 3]);
      column(2 * at.k, col[(2 * at.k) & 3]);
      for (int64_t s = 0; s < run; s++) {
        const int64_t tk = at.k + s;
        for (int i = 0; i < nAhead; i++) {
          _mm_prefetch(reinterpret_cast<const char *>(ahead[i] + (2 * tk + 1) * 16), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char *>(ahead[i] + (2 * tk + 2) * 16), _MM_HINT_T0);
        }
        column(2 * tk + 1, col[(2 * tk + 1) & 3]);
        column(2 * tk + 2, col[(2 * tk + 2) & 3]);
        const __m512 *c0 = col[(2 * tk - 1) & 3], *c1 = col[(2 * tk) & 3], *c2 = col[(2 * tk + 1) & 3],
                     *c3 = col[(2 * tk + 2) & 3];
        float *out = v + cb * cs + (t + s) * kVT;
        for (int q = 0; q < 16; q++) {  // along w
          _mm512_storeu_ps(out + (q * 4 + 0) * 16, _mm512_sub_ps(c0[q], c2[q]));
          _mm512_storeu_ps(out + (q * 4 + 1) * 16, _mm512_add_ps(c1[q], c2[q]));
          _mm512_storeu_ps(out + (q * 4 + 2) * 16, _mm512_sub_ps(c2[q], c1[q]));
          _mm512_storeu_ps(out + (q * 4 + 3) * 16, _mm512_sub_ps(c1[q], c3[q]));
        }
      }
    }
    t += run;
  }
}

/** The 2x2x2 outputs of tiles t0 .. t0 + nt = A'MA along the three axes (+ bias, ReLU) from M
 *  (TileMajor) into y (o channels, nCdhw16c); outputs past an odd side's end are not written. */
void outputTransform(const float *m, int64_t o, const Vol &g, int64_t t0, int64_t nt, const TileMajor &tm,
                     const float *bias, bool relu, float *y) {
  const __m512 zero = _mm512_setzero_ps();
  const int64_t row = g.w * 16, plane = g.h * row, vol = g.d * plane;
  for (int64_t t = 0; t < nt; t++) {
    const TileAt at(g, t0 + t);
    const int nd = std::min<int64_t>(2, g.d - 2 * at.i), nh = std::min<int64_t>(2, g.h - 2 * at.j),
              nw = std::min<int64_t>(2, g.w - 2 * at.k);
    for (int64_t ob = 0; ob < o / 16; ob++) {
      const float *mp = m + tm.base[ob] + t * tm.stride[ob];
      __m512 s[4][4][2];  // A' along w
      for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
          const float *q = mp + (a * 16 + b * 4) * 16;
          const __m512 m0 = _mm512_loadu_ps(q), m1 = _mm512_loadu_ps(q + 16), m2 = _mm512_loadu_ps(q + 32),
                       m3 = _mm512_loadu_ps(q + 48);
          s[a][b][0] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
          s[a][b][1] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
        }
      __m512 r[4][2][2];  // along h
      for (int a = 0; a < 4; a++)
        for (int e = 0; e < 2; e++) {
          r[a][0][e] = _mm512_add_ps(_mm512_add_ps(s[a][0][e], s[a][1][e]), s[a][2][e]);
          r[a][1][e] = _mm512_sub_ps(_mm512_sub_ps(s[a][1][e], s[a][2][e]), s[a][3][e]);
        }
      const __m512 bv = bias ? _mm512_loadu_ps(bias + ob * 16) : zero;
      float *out = y + ob * vol + 2 * at.i * plane + 2 * at.j * row + 2 * at.k * 16;
      for (int i = 0; i < nd; i++)  // along d
        for (int j = 0; j < nh; j++)
          for (int l = 0; l < nw; l++) {
            __m512 val = i == 0 ? _mm512_add_ps(_mm512_add_ps(r[0][j][l], r[1][j][l]), r[2][j][l])
                                : _mm512_sub_ps(_mm512_sub_ps(r[1][j][l], r[2][j][l]), r[3][j][l]);
            val = _mm512_add_ps(val, bv);
            // max(0, NaN) is NaN: a NaN still reaches the caller (the masked form: GCC 12 warns on the plain one)
            if (relu) val = _mm512_mask_max_ps(val, 0xffff, zero, val);
            _mm512_storeu_ps(out + i * plane + j * row + l * 16, val);
          }
    }
  }
}

/** Z = A dy A along the three axes (A = A'': 2 -> 4 per axis) for the 2x2x2 dy tiles of tiles
 *  t0 .. t0 + nt (zero past an odd side's end), into Z (TileMajor); sums[o] += those dy values,
 *  if sums is not null (each dy value is in one tile: the bias gradient). */
void gradTransform(const float *dy, int64_t o, const Vol &g, int64_t t0, int64_t nt, float *z, const TileMajor &tm,
                   float *sums) {
  const __m512 zero = _mm512_setzero_ps();
  const int64_t row = g.w * 16, plane = g.h * row, vol = g.d * plane;
  for (int64_t t = 0; t < nt; t++) {
    const TileAt at(g, t0 + t);
    const int nd = std::min<int64_t>(2, g.d - 2 * at.i), nh = std::min<int64_t>(2, g.h - 2 * at.j),
              nw = std::min<int64_t>(2, g.w - 2 * at.k);
    const bool whole = nd == 2 && nh == 2 && nw == 2;
    for (int64_t ob = 0; ob < o / 16; ob++) {
      const float *in = dy + ob * vol + 2 * at.i * plane + 2 * at.j * row + 2 * at.k * 16;
      if (2 * at.j + 3 < g.h)  // the next tile row's inputs, read ahead (as inputTransform)
        for (int i = 0; i < 2; i++)
          for (int j = 2; j < 4; j++) _mm_prefetch(reinterpret_cast<const char *>(in + i * plane + j * row), _MM_HINT_T0);
      __m512 q[2][2][2];
      // (masked loads instead of the branches measured slower here)
      if (whole)
        for (int i = 0; i < 2; i++)
          for (int j = 0; j < 2; j++)
            for (int l = 0; l < 2; l++) q[i][j][l] = _mm512_loadu_ps(in + i * plane + j * row + l * 16);
      else
        for (int i = 0; i < 2; i++)
          for (int j = 0; j < 2; j++)
            for (int l = 0; l < 2; l++)
              q[i][j][l] = i < nd && j < nh && l < nw ? _mm512_loadu_ps(in + i * plane + j * row + l * 16) : zero;
      if (sums) {
        const __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(q[0][0][0], q[0][0][1]), _mm512_add_ps(q[0][1][0], q[0][1][1])),
                                       _mm512_add_ps(_mm512_add_ps(q[1][0][0], q[1][0][1]), _mm512_add_ps(q[1][1][0], q[1][1][1])));
        _mm512_storeu_ps(sums + ob * 16, _mm512_add_ps(_mm512_loadu_ps(sums + ob * 16), s));
      }
      // A on (y0, y1): (y0, y0 + y1, y0 - y1, -y1), along w, then h, then d; one w index e at a time
      __m512 a[2][2][4];
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
          a[i][j][0] = q[i][j][0];
          a[i][j][1] = _mm512_add_ps(q[i][j][0], q[i][j][1]);
          a[i][j][2] = _mm512_sub_ps(q[i][j][0], q[i][j][1]);
          a[i][j][3] = _mm512_sub_ps(zero, q[i][j][1]);
        }
      float *out = z + tm.base[ob] + t * tm.stride[ob];
      for (int e = 0; e < 4; e++) {
        __m512 b[2][4];  // along h
        for (int i = 0; i < 2; i++) {
          b[i][0] = a[i][0][e];
          b[i][1] = _mm512_add_ps(a[i][0][e], a[i][1][e]);
          b[i][2] = _mm512_sub_ps(a[i][0][e], a[i][1][e]);
          b[i][3] = _mm512_sub_ps(zero, a[i][1][e]);
        }
        for (int k = 0; k < 4; k++) {  // along d
          _mm512_storeu_ps(out + (0 * 16 + k * 4 + e) * 16, b[0][k]);
          _mm512_storeu_ps(out + (1 * 16 + k * 4 + e) * 16, _mm512_add_ps(b[0][k], b[1][k]));
          _mm512_storeu_ps(out + (2 * 16 + k * 4 + e) * 16, _mm512_sub_ps(b[0][k], b[1][k]));
          _mm512_storeu_ps(out + (3 * 16 + k * 4 + e) * 16, _mm512_sub_ps(zero, b[1][k]));
        }
      }
    }
  }
}

/** Tiles per block: `budget` bytes of V and M (or Z), `perTile` a tile; a multiple of `rows`. */
int64_t blockTiles(int64_t perTile, int64_t tiles, int64_t rows, int64_t budget) {
  int64_t tb = budget / perTile;
  tb = tb > rows ? tb / rows * rows : rows;
  return std::min(tb, tiles);
}

// Block sizes (measured, 2 threads): the forward passes are within noise from 256 KB to 2 MB; the
// weight gradient gains from 2 MB (its K is the block's tiles, and each thread's dU, 256 C O
// bytes, is read and written once a block: 64 -> 64 at 10x14x10 1.21 -> 0.87 ms from 512 KB).
constexpr int64_t kFwdBudget = 512 << 10;
constexpr int64_t kWgtBudget = 2 << 20;

}  // namespace

void winograd3dConv(const float *x, int64_t xs, float *y, int64_t ys, int64_t n, int64_t d, int64_t h, int64_t w,
                    const Winograd3dWeights &u, const float *bias, bool relu) {
  const Vol g(d, h, w);
  const int64_t c = u.k, o = u.n, tiles = g.tiles();
  if (!xs) xs = c * g.voxels();
  if (!ys) ys = o * g.voxels();
  const Split groups = vectorGroups(o);
  const int64_t tb = blockTiles(256 * (c + o), tiles, kRowsFwd[groups.size(0)], kFwdBudget);
  const int64_t blocks = (tiles + tb - 1) / tb;
  const Packed pu(c, o);
  const TileMajor tm(tb, o);
  const int64_t vSize = c / 16 * tb * kVT;
  const size_t perThread = ((size_t)(vSize + tm.size) * 4 + 4095) / 4096 * 4096;
  const int nThreads = threads();
  char *bufs = static_cast<char *>(scratch(kTmp0, perThread * nThreads));
#pragma omp parallel for num_threads(nThreads) schedule(static) if (n * blocks > 1)
  for (int64_t item = 0; item < n * blocks; item++) {
    const int64_t img = item / blocks, t0 = (item % blocks) * tb, nt = std::min(tb, tiles - t0);
    float *v = reinterpret_cast<float *>(bufs + perThread * omp_get_thread_num());
    float *m = v + vSize;
    inputTransform(x + img * xs, c, g, t0, nt, v, tb * kVT);
    for (int p = 0; p < 64; p++)
      for (int64_t gi = 0; gi < groups.parts; gi++) {
        const int j = (int)groups.size(gi), rows = kRowsFwd[j];
        const float *vp = v + p * 16, *up = u.u.data() + p * c * o + pu.group(gi);
        float *mp = m + tm.group(gi) + p * 16;
        const int64_t full = nt / rows, rest = nt % rows;
        if (full) fwdFn(rows, j)(vp, tb * kVT, c / 16, up, mp, full);
        if (rest) fwdFn(rest, j)(vp + full * rows * kVT, tb * kVT, c / 16, up, mp + full * rows * tileStride(j), 1);
      }
    outputTransform(m, o, g, t0, nt, tm, bias, relu, y + img * ys);
  }
}

void winograd3dWeightGrad(const float *x, const float *dy, int64_t n, int64_t c, int64_t o, int64_t d, int64_t h,
                          int64_t w, float *dw, float *db) {
  const Vol g(d, h, w);
  const int64_t tiles = g.tiles(), xs = c * g.voxels(), ys = o * g.voxels();
  // dU_p[c][o] (output channels in the vectors) or, with more input channels, dU'_p[o][c]
  const bool byInput = c > o;
  const int nThreads = threads();
  // (no fewer blocks than threads: with one volume of few tiles, 2 MB could be a single block)
  const int64_t tb = std::min(blockTiles(256 * (c + o), tiles, 16, kWgtBudget), (n * tiles + nThreads - 1) / nThreads);
  const int64_t blocks = (tiles + tb - 1) / tb, cs = tb * kVT;
  const Packed pu(c, o);
  const TileMajor tz(tb, o, byInput ? 1 : 4);
  const int64_t vSize = c / 16 * cs, uSize = 64 * c * o;
  const size_t perThread = ((size_t)(vSize + tz.size + o) * 4 + 4095) / 4096 * 4096;
  char *bufs = static_cast<char *>(scratch(kTmp0, perThread * nThreads));
  // per-thread sums of dU (then added in thread order: results do not depend on timing)
  float *dus = static_cast<float *>(scratch(kTmp1, (size_t)uSize * nThreads * 4));
  std::vector<double> dbs(db ? nThreads * o : 0, 0.0);
#pragma omp parallel num_threads(nThreads)
  {
    const int th = omp_get_thread_num();
    float *du = dus + th * uSize;
    std::fill(du, du + uSize, 0.f);
    float *v = reinterpret_cast<float *>(bufs + perThread * th);
    float *z = v + vSize, *sums = z + tz.size;
#pragma omp for schedule(static)
    for (int64_t item = 0; item < n * blocks; item++) {
      const int64_t img = item / blocks, t0 = (item % blocks) * tb, nt = std::min(tb, tiles - t0);
      inputTransform(x + img * xs, c, g, t0, nt, v, cs);
      if (db) std::fill(sums, sums + o, 0.f);
      gradTransform(dy + img * ys, o, g, t0, nt, z, tz, db ? sums : nullptr);
      if (db)
        for (int64_t k = 0; k < o; k++) dbs[th * o + k] += sums[k];
      if (byInput) {
        const Split groups = vectorGroups(c);
        for (int p = 0; p < 64; p++)
          for (int64_t ob = 0; ob < o / 16; ob++)
            for (int64_t gi = 0; gi < groups.parts; gi++) {
              const int j = (int)groups.size(gi);
              const int64_t cb = groups.start(gi);
              const Split rows(16, kRowsWgt[j]);
              for (int64_t ri = 0; ri < rows.parts; ri++) {
                const int64_t r = rows.start(ri);
                wgtTFn(rows.size(ri), j)(z + tz.base[ob] + p * 16 + r, v + cb * cs + p * 16, cs, nt,
                                         du + p * c * o + (ob * 16 + r) * c + cb * 16, c);
              }
            }
      } else {
        const Split groups = vectorGroups(o);
        for (int p = 0; p < 64; p++)
          for (int64_t cb = 0; cb < c / 16; cb++)
            for (int64_t gi = 0; gi < groups.parts; gi++) {
              const int j = (int)groups.size(gi);
              const Split rows(16, kRowsWgt[j]);
              for (int64_t ri = 0; ri < rows.parts; ri++) {
                const int64_t r = rows.start(ri);
                wgtFn(rows.size(ri), j)(v + cb * cs + p * 16 + r, z + tz.group(gi) + p * 16, nt,
                                        du + p * c * o + pu.group(gi) + (cb * 16 + r) * 16 * j);
              }
            }
      }
    }
  }
  // dw = G' dU G along the three axes (4 -> 3 taps per axis), 16 channels at a time: output
  // channels (dU), or input channels (dU')
  const int64_t rows = byInput ? o : c, nv = (byInput ? c : o) / 16;
#pragma omp parallel for num_threads(nThreads) schedule(static) if (c * o * 64 >= kParMin)
  for (int64_t item = 0; item < rows * nv; item++) {
    const int64_t ri = item / nv, vi = item % nv;
    const int64_t at = byInput ? ri * c + vi * 16 : pu.base[vi] + ri * pu.stride[vi];
    // dw of lane l: dw + first + l * lane
    const int64_t first = byInput ? (ri * c + vi * 16) * 27 : (vi * 16 * c + ri) * 27, lane = byInput ? 27 : c * 27;
    __m512 e[64];
    for (int p = 0; p < 64; p++) {
      const float *src = dus + p * c * o + at;
      __m512 s = _mm512_loadu_ps(src);
      for (int t = 1; t < nThreads; t++) s = _mm512_add_ps(s, _mm512_loadu_ps(src + t * uSize));
      e[p] = s;
    }
    const __m512 half = _mm512_set1_ps(0.5f);
    // G' on (u0, u1, u2, u3): (u0 + (u1 + u2) / 2, (u1 - u2) / 2, (u1 + u2) / 2 + u3)
    auto drop = [&](const __m512 *in, int is, __m512 *out, int os) {
      const __m512 s = _mm512_mul_ps(half, _mm512_add_ps(in[is], in[2 * is]));
      out[0] = _mm512_add_ps(in[0], s);
      out[os] = _mm512_mul_ps(half, _mm512_sub_ps(in[is], in[2 * is]));
      out[2 * os] = _mm512_add_ps(s, in[3 * is]);
    };
    __m512 a[4][4][3], b[4][3][3], k27[27];
    for (int i = 0; i < 16; i++) drop(e + i * 4, 1, &a[i / 4][i % 4][0], 1);  // along w
    for (int i = 0; i < 4; i++)                                               // along h
      for (int l = 0; l < 3; l++) drop(&a[i][0][l], 3, &b[i][0][l], 3);
    for (int i = 0; i < 9; i++) drop(&b[0][0][0] + i, 9, k27 + i, 9);  // along d
    alignas(64) float vals[27][16];
    for (int t = 0; t < 27; t++) _mm512_store_ps(vals[t], k27[t]);
    for (int l = 0; l < 16; l++) {
      float *dst = dw + first + l * lane;
      for (int t = 0; t < 27; t++) dst[t] = vals[t][l];
    }
  }
  if (db)
    for (int64_t k = 0; k < o; k++) {
      double s = 0;
      for (int t = 0; t < nThreads; t++) s += dbs[t * o + k];
      db[k] = (float)s;
    }
}

#else

void winograd3dConv(const float *, int64_t, float *, int64_t, int64_t, int64_t, int64_t, int64_t,
                    const Winograd3dWeights &, const float *, bool) {
  throw OpError("winograd3d: this build has no AVX-512");
}
void winograd3dWeightGrad(const float *, const float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float *,
                          float *) {
  throw OpError("winograd3d: this build has no AVX-512");
}

#endif

}  // namespace un
