// Segmentation losses on NHWC logits and targets, and their gradients (docs/engine.md):
// bce, dice, bce_dice (sigmoid per value), ce, ce_dice (softmax over channels). Every sum is
// accumulated in double (the sigmoid kinds' Dice sums: float within blocks of kBlk values),
// per thread, then combined; Dice terms are per image (and class), or with batchDice per class
// over the batch, and with fgOnly (ce_dice) the background class is left out of their mean.
// Logits and targets are float32 or bf16 each (they may differ); bf16 is read as float32 a
// block of pixels at a time (one vectorised conversion), the gradient has the logits' dtype
// (rounded once), and the loss and its upstream gradient stay float32 scalars.
// The sigmoid kinds (the hot path) work per value in float32 with their own vectorised exp and
// log1p (~1 ulp; one exp per value gives the softplus term, the sigmoid and p(1-p)); the
// softmax kinds work in double per pixel. NaN logits give a NaN loss (divergence detection).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common.h"

namespace un {

/** dst[i] = toBf16(src[i]) for i < n, vectorised (layout.cc). */
void roundBf16(const float *src, bf16 *dst, int64_t n);

enum Kind { kBce = 0, kDice = 1, kBceDice = 2, kCe = 3, kCeDice = 4 };
static constexpr double kSmooth = 1e-5;

struct LossGeo {
  int64_t n, k, h, w;
  int kind;
  double bceWeight;
  bool fgOnly = false, batch = false;  // the Dice options (diceBackground false, batchDice)
  int64_t size() const { return n * k * h * w; }
  bool softmax() const { return kind == kCe || kind == kCeDice; }
  bool dice() const { return kind == kDice || kind == kBceDice || kind == kCeDice; }
  /** Dice groups: one per image (sigmoid kinds, all channels) or per image and class (ce_dice). */
  int64_t groups() const { return kind == kCeDice ? n * k : n; }
};

static LossGeo lossGeo(const Args &a, size_t i) {
  LossGeo g{a.i64(i + 2), a.i64(i + 3), a.i64(i + 4), a.i64(i + 5), (int)a.i64(i), a.num(i + 1)};
  if (g.kind < 0 || g.kind > 4) throw OpError("unknown loss kind " + std::to_string(g.kind));
  if (g.n < 1 || g.k < 1 || g.h < 1 || g.w < 1) throw OpError("invalid shape " + shape({g.n, g.k, g.h, g.w}));
  // optional flags: bit 0 background left out of the Dice mean, bit 1 Dice over the batch
  const int64_t f = a.count() > i + 6 ? a.i64(i + 6) : 0;
  g.fgOnly = f & 1;
  g.batch = f & 2;
  if (g.fgOnly && (g.kind != kCeDice || g.k < 2)) throw OpError("diceBackground false needs ce_dice with 2+ classes");
  return g;
}

/** Softmax of one pixel's K logits into p; returns log-sum-exp. */
static inline double softmaxPixel(const float *z, int64_t K, double *p) {
  double m = z[0];
  for (int64_t c = 1; c < K; c++) m = z[c] > m ? z[c] : m;
  double s = 0;
  for (int64_t c = 0; c < K; c++) { p[c] = std::exp(z[c] - m); s += p[c]; }
  for (int64_t c = 0; c < K; c++) p[c] /= s;
  return m + std::log(s);
}

/** Pixel-wise term total (bce or ce) and per-group Dice sums {sum p t, sum p, sum t}. */
struct Stats {
  double term = 0;
  std::vector<double> pt, p, t;
};

/** Pixels per block of the bf16 kernels. */
static constexpr int64_t kPixBlk = 512;

/** n values of p as float32: p itself, or converted into buf. */
static inline const float *asF32(const float *p, int64_t, float *) { return p; }
static inline const float *asF32(const bf16 *p, int64_t n, float *buf) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) buf[i] = load(p[i]);
  return buf;
}

/** Adds pixel q's softmax terms (logits zi, targets ti) to the thread's sums. */
static inline void pixelStats(const LossGeo &g, int64_t q, const float *zi, const float *ti, double *prob, double *acc) {
  const int64_t K = g.k, G = g.groups(), n = q / (g.h * g.w);
  double *spt = acc + 1, *sp = spt + G, *st = sp + G;
  double lse = softmaxPixel(zi, K, prob);
  for (int64_t c = 0; c < K; c++) {
    acc[0] -= ti[c] * (zi[c] - lse);
    if (g.kind == kCeDice) {
      spt[n * K + c] += prob[c] * ti[c]; sp[n * K + c] += prob[c]; st[n * K + c] += ti[c];
    }
  }
}

// ---- sigmoid kinds: float32 per value, vectorised -------------------------------------------

/** Values per block of the sigmoid kernels (float sums within a block, double across); a
 *  block never spans two images, so each has one Dice group. */
static constexpr int64_t kBlk = 256;

static inline float bitsToF32(int32_t i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline int32_t f32Bits(float f) { int32_t i; std::memcpy(&i, &f, 4); return i; }

/** exp(x) for x <= 0 in float32 (Cephes expf: x = k ln 2 + r, degree-6 polynomial in r,
 *  times 2^k; ~1 ulp); 0 below -87.3 (where exp(x) is subnormal); NaN gives NaN. Branch-free,
 *  so loops calling it vectorise. */
static inline float expNeg(float x) {
  const float xc = x < -87.3f ? -87.3f : x;  // NaN passes (the comparison is false)
  const float kf = (xc * 1.44269504088896341f + 12582912.f) - 12582912.f;  // round(x / ln 2)
  const float r = (xc - kf * 0.693359375f) - kf * -2.12194440e-4f;       // |r| <= ln 2 / 2
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const float ki = kf > -127.f ? kf : -127.f;  // NaN -> -127: no float-to-int of a NaN
  const float e = p * bitsToF32(((int32_t)ki + 127) << 23);  // times 2^k, k in [-126, 0]
  return x < -87.3f ? 0.f : e;
}

/** log(1 + e) for e in [0, 1] in float32 (Cephes logf: 1 + e = 2^k (1 + f), f in
 *  [sqrt(1/2) - 1, sqrt(2) - 1), polynomial in f; ~1.4 ulp, and e itself for tiny e); NaN gives
 *  NaN. Branch-free. */
static inline float log1pUnit(float e) {
  // k = 1 where 1 + e >= sqrt(2), from the bits (a select here makes GCC vectorise the
  // polynomial twice; an int-to-float conversion, which may trap, blocks if-conversion);
  // h = 2^-k, f = (1 + e) h - 1: exact for k = 0, within 0.5 ulp for k = 1
  const int32_t ki = ((f32Bits(1.f + e) + (0x3f800000 - 0x3f3504f3)) >> 23) - 127;
  const float h = bitsToF32((127 - ki) << 23), k = 2.f - 2.f * h, f = h * e - (1.f - h);
  const float ff = f * f;
  float y = 7.0376836292e-2f;
  y = y * f - 1.1514610310e-1f;
  y = y * f + 1.1676998740e-1f;
  y = y * f - 1.2420140846e-1f;
  y = y * f + 1.4249322787e-1f;
  y = y * f - 1.6668057665e-1f;
  y = y * f + 2.0000714765e-1f;
  y = y * f - 2.4999993993e-1f;
  y = y * f + 3.3333331174e-1f;
  y = y * f * ff;
  y += k * -2.12194440e-4f;  // ln 2 = 0.693359375 - 2.12194440e-4 (the first part exact)
  y += -0.5f * ff;
  return (f + y) + k * 0.693359375f;
}

/** Sums of the sigmoid kinds: the bce term (kTerm) and the per-image Dice sums (kDice). Per
 *  value, e = exp(-|z|) gives softplus(-|z|) = log1p(e) and the sigmoid (1 or e, over 1 + e). */
template <bool kTerm, bool kDice, class TZ, class TT>
static Stats sigmoidStats(const LossGeo &g, const TZ *z, const TT *t) {
  const int64_t per = g.k * g.h * g.w, nb = (per + kBlk - 1) / kBlk, G = g.n;
  const int64_t stride = (1 + 3 * G + 7) / 8 * 8;  // a thread's sums, padded to 64 bytes
  const int T = threads();
  std::vector<double> part(T * stride, 0.0);
#pragma omp parallel num_threads(T) if (g.size() >= kParMin)
  {
    double *acc = &part[omp_get_thread_num() * stride];
    double *spt = acc + 1, *sp = spt + G, *st = sp + G;
    alignas(64) float zb[kBlk], tb[kBlk];
#pragma omp for schedule(static)
    for (int64_t b = 0; b < g.n * nb; b++) {
      const int64_t n = b / nb, i0 = (b % nb) * kBlk, m = std::min(kBlk, per - i0), off = n * per + i0;
      const float *zf = asF32(z + off, m, zb), *tf = asF32(t + off, m, tb);
      // the bce term sums in double: huge logits (|z| ~ 1e38) would overflow float block sums
      double sTerm = 0;
      float sPt = 0.f, sP = 0.f, sT = 0.f;
#pragma omp simd reduction(+ : sTerm, sPt, sP, sT)
      for (int64_t i = 0; i < m; i++) {
        const float zz = zf[i], tt = tf[i], e = expNeg(-std::fabs(zz));
        // max(z, 0) - z t + log1p(exp(-|z|)); a NaN z gives NaN (z t)
        if constexpr (kTerm) sTerm += (double)(((zz > 0.f ? zz : 0.f) - zz * tt) + log1pUnit(e));
        if constexpr (kDice) {
          const float r = 1.f / (1.f + e), p = zz >= 0.f ? r : e * r;  // NaN z: e r = NaN
          sPt += p * tt; sP += p; sT += tt;
        }
      }
      acc[0] += sTerm;
      if (kDice) { spt[n] += sPt; sp[n] += sP; st[n] += sT; }
    }
  }
  Stats s;
  s.pt.assign(G, 0); s.p.assign(G, 0); s.t.assign(G, 0);
  for (int th = 0; th < T; th++) {
    const double *acc = &part[th * stride];
    s.term += acc[0];
    for (int64_t j = 0; j < G; j++) { s.pt[j] += acc[1 + j]; s.p[j] += acc[1 + G + j]; s.t[j] += acc[1 + 2 * G + j]; }
  }
  return s;
}

/** Sums of the loss terms of kind g.kind (withTerm false: the sigmoid kinds skip the bce term,
 *  which the gradient does not need). */
template <class TZ, class TT>
static Stats stats(const LossGeo &g, const TZ *z, const TT *t, bool withTerm = true) {
  if (!g.softmax()) {
    if (g.kind == kBce) return sigmoidStats<true, false>(g, z, t);
    if (g.kind == kDice || !withTerm) return sigmoidStats<false, true>(g, z, t);
    return sigmoidStats<true, true>(g, z, t);
  }
  const int64_t K = g.k, HW = g.h * g.w, P = g.n * HW, G = g.groups();
  const int T = threads();
  std::vector<double> part(T * (1 + 3 * G), 0.0);
  constexpr bool f32 = std::is_same_v<TZ, float> && std::is_same_v<TT, float>;
#pragma omp parallel num_threads(T) if ((P * K) >= kParMin)
  {
    double *acc = &part[omp_get_thread_num() * (1 + 3 * G)];
    std::vector<double> prob(K);
    if constexpr (f32) {  // the float32 kernel as it was (pixelStats, inline)
      double *spt = acc + 1, *sp = spt + G, *st = sp + G;
#pragma omp for schedule(static)
      for (int64_t q = 0; q < P; q++) {
        const int64_t n = q / HW;
        const float *zi = z + q * K, *ti = t + q * K;
        double lse = softmaxPixel(zi, K, prob.data());
        for (int64_t c = 0; c < K; c++) {
          acc[0] -= ti[c] * (zi[c] - lse);
          if (g.kind == kCeDice) {
            spt[n * K + c] += prob[c] * ti[c]; sp[n * K + c] += prob[c]; st[n * K + c] += ti[c];
          }
        }
      }
    } else {
      std::vector<float> zb(kPixBlk * K), tb(kPixBlk * K);
#pragma omp for schedule(static)
      for (int64_t q0 = 0; q0 < P; q0 += kPixBlk) {
        const int64_t m = P - q0 < kPixBlk ? P - q0 : kPixBlk;
        const float *zf = asF32(z + q0 * K, m * K, zb.data()), *tf = asF32(t + q0 * K, m * K, tb.data());
        for (int64_t q = 0; q < m; q++) pixelStats(g, q0 + q, zf + q * K, tf + q * K, prob.data(), acc);
      }
    }
  }
  Stats s;
  s.pt.assign(G, 0); s.p.assign(G, 0); s.t.assign(G, 0);
  for (int th = 0; th < T; th++) {
    const double *acc = &part[th * (1 + 3 * G)];
    s.term += acc[0];
    for (int64_t j = 0; j < G; j++) { s.pt[j] += acc[1 + j]; s.p[j] += acc[1 + G + j]; s.t[j] += acc[1 + 2 * G + j]; }
  }
  return s;
}

/** Per Dice group j (image, class): num and den of the Dice it belongs to (batch: its class's sums
 *  over the images) and its weight in the loss's mean of D (0: the left-out background). */
struct DiceCoef {
  std::vector<double> num, den, w;
};

static DiceCoef diceCoef(const LossGeo &g, const Stats &s) {
  const int64_t G = g.groups(), per = G / g.n, first = g.fgOnly ? 1 : 0;
  std::vector<double> pt = s.pt, p = s.p, t = s.t;
  if (g.batch)
    for (int64_t j = per; j < G; j++) { pt[j % per] += pt[j]; p[j % per] += p[j]; t[j % per] += t[j]; }
  const double count = (double)(per - first) * (g.batch ? 1 : g.n);
  DiceCoef c{std::vector<double>(G), std::vector<double>(G), std::vector<double>(G)};
  for (int64_t j = 0; j < G; j++) {
    const int64_t src = g.batch ? j % per : j;
    c.num[j] = 2 * pt[src] + kSmooth;
    c.den[j] = p[src] + t[src] + kSmooth;
    c.w[j] = j % per >= first ? 1 / count : 0.0;
  }
  return c;
}

// loss(z, t, out[1], kind, bceWeight, n,k,h,w[, flags]): z and t float32 or bf16 each, out float32
static Napi::Value loss(const Args &a) {
  LossGeo g = lossGeo(a, 3);
  Act z = a.act(0, g.size(), "logits"), t = a.act(1, g.size(), "target");
  float *out = a.f32(2, 1, "out");
  Stats s = dispatch(z.bf16, [&](auto *zt) {
    return dispatch(t.bf16, [&](auto *tt) {
      using TZ = std::remove_pointer_t<decltype(zt)>;
      using TT = std::remove_pointer_t<decltype(tt)>;
      return stats(g, z.as<TZ>(), t.as<TT>());
    });
  });
  double term = g.softmax() ? s.term / (double)(g.n * g.h * g.w) : s.term / (double)g.size();
  if (g.kind == kBceDice) term *= g.bceWeight;
  if (g.kind == kDice) term = 0;
  double l = term;
  if (g.dice()) {
    const DiceCoef c = diceCoef(g, s);
    double d = 0;
    for (int64_t j = 0; j < g.groups(); j++) d += c.w[j] * c.num[j] / c.den[j];
    l += 1 - (g.batch ? d / (double)g.n : d);  // batch: each class's D counted once per image
  }
  out[0] = (float)l;
  return a.env().Undefined();
}

/** The gradient's factors: per Dice group num, den and weight, and the term and Dice scales. */
struct GradCoef {
  std::vector<double> num, den, w;
  double termScale, diceScale;
};

/** Writes pixel q's softmax-kind d loss / d logits (logits zi, targets ti) to di. */
static inline void pixelGrad(const LossGeo &g, const GradCoef &k, int64_t q, const float *zi, const float *ti, float *di,
                             double *prob, double *gp) {
  const int64_t K = g.k, n = q / (g.h * g.w);
  const double termScale = k.termScale, diceScale = k.diceScale;
  const std::vector<double> &num = k.num, &den = k.den, &w = k.w;
  softmaxPixel(zi, K, prob);
  double tsum = 0, pg = 0;
  for (int64_t c = 0; c < K; c++) tsum += ti[c];
  for (int64_t c = 0; c < K; c++) {
    const int64_t j = n * K + c;
    gp[c] = g.kind == kCeDice ? diceScale * w[j] * (2 * ti[c] * den[j] - num[j]) / (den[j] * den[j]) : 0.0;
    pg += prob[c] * gp[c];
  }
  for (int64_t c = 0; c < K; c++)
    di[c] = (float)(termScale * (prob[c] * tsum - ti[c]) + prob[c] * (gp[c] - pg));
}

static inline void storeGrad(const float *src, float *dst, int64_t n) { std::memcpy(dst, src, n * sizeof(float)); }
static inline void storeGrad(const float *src, bf16 *dst, int64_t n) { roundBf16(src, dst, n); }

/** d loss / d logits of the sigmoid kinds: termScale (p - t) (kTerm) plus, per image, Dice's
 *  diceScale (2 t den - num) / den^2 p (1 - p) (kDice), in float32 per value. */
template <bool kTerm, bool kDice, class TZ, class TT>
static void sigmoidGrad(const LossGeo &g, const GradCoef &k, const TZ *z, const TT *t, TZ *dz) {
  const int64_t per = g.k * g.h * g.w, nb = (per + kBlk - 1) / kBlk;
  // Dice's factor per image as c1 t + c0 (no cancellation: c1 + c0 = diceScale (2 - D) / den)
  std::vector<float> c1(g.n, 0.f), c0(g.n, 0.f);
  for (int64_t j = 0; j < g.n && kDice; j++) {
    c1[j] = (float)(2 * k.diceScale * k.w[j] / k.den[j]);
    c0[j] = (float)(-k.diceScale * k.w[j] * k.num[j] / (k.den[j] * k.den[j]));
  }
  const float ts = (float)k.termScale;
#pragma omp parallel if (g.size() >= kParMin)
  {
    alignas(64) float zb[kBlk], tb[kBlk], db[kBlk];
#pragma omp for schedule(static)
    for (int64_t b = 0; b < g.n * nb; b++) {
      const int64_t n = b / nb, i0 = (b % nb) * kBlk, m = std::min(kBlk, per - i0), off = n * per + i0;
      const float *zf = asF32(z + off, m, zb), *tf = asF32(t + off, m, tb);
      float *df = db;
      if constexpr (std::is_same_v<TZ, float>) df = dz + off;
      const float a1 = c1[n], a0 = c0[n];
#pragma omp simd
      for (int64_t i = 0; i < m; i++) {
        const float zz = zf[i], tt = tf[i], e = expNeg(-std::fabs(zz));
        const float r = 1.f / (1.f + e), s = e * r;  // sigmoid(|z|) and sigmoid(-|z|); NaN z: s NaN
        float v = 0.f;
        // p - t, as (1 - t) - (1 - p) where p is near 1 (exact for binary t)
        if constexpr (kTerm) v = ts * (zz >= 0.f ? (1.f - tt) - s : s - tt);
        if constexpr (kDice) v += (a1 * tt + a0) * (s * r);  // p (1 - p) = s r
        df[i] = v;
      }
      if constexpr (!std::is_same_v<TZ, float>) storeGrad(db, dz + off, m);
    }
  }
}

template <class TZ, class TT>
static void lossGradT(const LossGeo &g, const TZ *z, const TT *t, const float *dy, TZ *dz) {
  const int64_t K = g.k, HW = g.h * g.w, P = g.n * HW;
  // d(1 - sum_j w_j D_j)/dp = -w_j (2 t den - num) / den^2: keep num, den and w per group.
  GradCoef k;
  if (g.dice()) {
    DiceCoef c = diceCoef(g, stats(g, z, t, false));
    k.num = std::move(c.num), k.den = std::move(c.den), k.w = std::move(c.w);
  }
  const double up = dy[0];
  k.termScale = g.kind == kDice ? 0.0
              : g.softmax()     ? up / (double)(g.n * g.h * g.w)
              : (g.kind == kBceDice ? g.bceWeight : 1.0) * up / (double)g.size();
  k.diceScale = g.dice() ? -up : 0.0;
  if (!g.softmax()) {
    if (g.kind == kBce) sigmoidGrad<true, false>(g, k, z, t, dz);
    else if (g.kind == kDice) sigmoidGrad<false, true>(g, k, z, t, dz);
    else sigmoidGrad<true, true>(g, k, z, t, dz);
    return;
  }
  constexpr bool f32 = std::is_same_v<TZ, float> && std::is_same_v<TT, float>;
#pragma omp parallel if ((P * K) >= kParMin)
  {
    std::vector<double> prob(K), gp(K);
    if constexpr (f32) {  // float32 in and out: straight from the arrays
#pragma omp for schedule(static)
      for (int64_t q = 0; q < P; q++) pixelGrad(g, k, q, z + q * K, t + q * K, dz + q * K, prob.data(), gp.data());
    } else {
      std::vector<float> zb(kPixBlk * K), tb(kPixBlk * K), db(kPixBlk * K);
#pragma omp for schedule(static)
      for (int64_t q0 = 0; q0 < P; q0 += kPixBlk) {
        const int64_t m = P - q0 < kPixBlk ? P - q0 : kPixBlk;
        const float *zf = asF32(z + q0 * K, m * K, zb.data()), *tf = asF32(t + q0 * K, m * K, tb.data());
        for (int64_t q = 0; q < m; q++)
          pixelGrad(g, k, q0 + q, zf + q * K, tf + q * K, db.data() + q * K, prob.data(), gp.data());
        storeGrad(db.data(), dz + q0 * K, m * K);
      }
    }
  }
}

// lossGrad(z, t, dy[1], dz, kind, bceWeight, n,k,h,w[, flags]): d loss / d logits, times dy[0]; dz has z's
// dtype, dy is a float32 scalar.
static Napi::Value lossGrad(const Args &a) {
  LossGeo g = lossGeo(a, 4);
  Act z = a.act(0, g.size(), "logits"), t = a.act(1, g.size(), "target");
  const float *dy = a.f32(2, 1, "dy");
  Act dz = a.act(3, g.size(), "dlogits");
  a.sameType({{"logits", z}, {"dlogits", dz}});
  dispatch(z.bf16, [&](auto *zt) {
    dispatch(t.bf16, [&](auto *tt) {
      using TZ = std::remove_pointer_t<decltype(zt)>;
      using TT = std::remove_pointer_t<decltype(tt)>;
      lossGradT(g, z.as<TZ>(), t.as<TT>(), dy, dz.as<TZ>());
    });
  });
  return a.env().Undefined();
}

void registerLoss(Napi::Env env, Napi::Object ex) {
  def(env, ex, "loss", loss);
  def(env, ex, "lossGrad", lossGrad);
}

}  // namespace un
