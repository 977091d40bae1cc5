// Segmentation losses on NHWC logits and targets, and their gradients (docs/engine.md):
// bce, dice, bce_dice (sigmoid per value), ce, ce_dice (softmax over channels). Every sum is
// accumulated in double, per thread, then combined; Dice terms are per image (and class).
// Logits and targets are float32 or bf16 each (they may differ); bf16 is read as float32 a
// block of pixels at a time (one vectorised conversion), the gradient has the logits' dtype
// (rounded once), and the loss and its upstream gradient stay float32 scalars.
#include <omp.h>

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
  return g;
}

static inline double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

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

/** Adds pixel q's terms (logits zi, targets ti) to the thread's sums. */
static inline void pixelStats(const LossGeo &g, int64_t q, const float *zi, const float *ti, double *prob, double *acc) {
  const int64_t K = g.k, G = g.groups(), n = q / (g.h * g.w);
  double *spt = acc + 1, *sp = spt + G, *st = sp + G;
  if (g.softmax()) {
    double lse = softmaxPixel(zi, K, prob);
    for (int64_t c = 0; c < K; c++) {
      acc[0] -= ti[c] * (zi[c] - lse);
      if (g.kind == kCeDice) {
        spt[n * K + c] += prob[c] * ti[c]; sp[n * K + c] += prob[c]; st[n * K + c] += ti[c];
      }
    }
  } else {
    for (int64_t c = 0; c < K; c++) {
      const double zz = zi[c], tt = ti[c];
      acc[0] += (zz > 0 ? zz : 0) - zz * tt + std::log1p(std::exp(-std::fabs(zz)));
      const double pp = sigmoid(zz);
      spt[n] += pp * tt; sp[n] += pp; st[n] += tt;
    }
  }
}

template <class TZ, class TT>
static Stats stats(const LossGeo &g, const TZ *z, const TT *t) {
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
        if (g.softmax()) {
          double lse = softmaxPixel(zi, K, prob.data());
          for (int64_t c = 0; c < K; c++) {
            acc[0] -= ti[c] * (zi[c] - lse);
            if (g.kind == kCeDice) {
              spt[n * K + c] += prob[c] * ti[c]; sp[n * K + c] += prob[c]; st[n * K + c] += ti[c];
            }
          }
        } else {
          for (int64_t c = 0; c < K; c++) {
            const double zz = zi[c], tt = ti[c];
            acc[0] += (zz > 0 ? zz : 0) - zz * tt + std::log1p(std::exp(-std::fabs(zz)));
            const double pp = sigmoid(zz);
            spt[n] += pp * tt; sp[n] += pp; st[n] += tt;
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

// loss(z, t, out[1], kind, bceWeight, n,k,h,w): z and t float32 or bf16 each, out float32
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
    const int64_t G = g.groups();
    double d = 0;
    for (int64_t j = 0; j < G; j++) d += (2 * s.pt[j] + kSmooth) / (s.p[j] + s.t[j] + kSmooth);
    l += 1 - d / (double)G;
  }
  out[0] = (float)l;
  return a.env().Undefined();
}

/** The gradient's factors: per Dice group num and den, and the term and Dice scales. */
struct GradCoef {
  std::vector<double> num, den;
  double termScale, diceScale;
};

/** Writes pixel q's d loss / d logits (logits zi, targets ti) to di. */
static inline void pixelGrad(const LossGeo &g, const GradCoef &k, int64_t q, const float *zi, const float *ti, float *di,
                             double *prob, double *gp) {
  const int64_t K = g.k, n = q / (g.h * g.w);
  const double termScale = k.termScale, diceScale = k.diceScale;
  const std::vector<double> &num = k.num, &den = k.den;
  if (g.softmax()) {
    softmaxPixel(zi, K, prob);
    double tsum = 0, pg = 0;
    for (int64_t c = 0; c < K; c++) tsum += ti[c];
    for (int64_t c = 0; c < K; c++) {
      const int64_t j = n * K + c;
      gp[c] = g.kind == kCeDice ? diceScale * (2 * ti[c] * den[j] - num[j]) / (den[j] * den[j]) : 0.0;
      pg += prob[c] * gp[c];
    }
    for (int64_t c = 0; c < K; c++)
      di[c] = (float)(termScale * (prob[c] * tsum - ti[c]) + prob[c] * (gp[c] - pg));
  } else {
    for (int64_t c = 0; c < K; c++) {
      const double pp = sigmoid(zi[c]), tt = ti[c];
      double v = termScale * (pp - tt);
      if (g.dice()) v += diceScale * (2 * tt * den[n] - num[n]) / (den[n] * den[n]) * pp * (1 - pp);
      di[c] = (float)v;
    }
  }
}

static inline void storeGrad(const float *src, float *dst, int64_t n) { std::memcpy(dst, src, n * sizeof(float)); }
static inline void storeGrad(const float *src, bf16 *dst, int64_t n) { roundBf16(src, dst, n); }

template <class TZ, class TT>
static void lossGradT(const LossGeo &g, const TZ *z, const TT *t, const float *dy, TZ *dz) {
  const int64_t K = g.k, HW = g.h * g.w, P = g.n * HW, G = g.groups();
  Stats s = g.dice() ? stats(g, z, t) : Stats{};
  // d(1 - mean_j D_j)/dp = -(2 t den - num) / den^2 / G: keep num, den and -1/G per group.
  GradCoef k;
  k.num.resize(G);
  k.den.resize(G);
  for (int64_t j = 0; j < G && g.dice(); j++) { k.num[j] = 2 * s.pt[j] + kSmooth; k.den[j] = s.p[j] + s.t[j] + kSmooth; }
  const double up = dy[0];
  k.termScale = g.kind == kDice ? 0.0
              : g.softmax()     ? up / (double)(g.n * g.h * g.w)
              : (g.kind == kBceDice ? g.bceWeight : 1.0) * up / (double)g.size();
  k.diceScale = g.dice() ? -up / (double)G : 0.0;
  constexpr bool f32 = std::is_same_v<TZ, float> && std::is_same_v<TT, float>;
#pragma omp parallel if ((P * K) >= kParMin)
  {
    std::vector<double> prob(K), gp(K);
    if constexpr (f32) {  // the float32 kernel as it was (pixelGrad, inline)
      const double termScale = k.termScale, diceScale = k.diceScale;
      const std::vector<double> &num = k.num, &den = k.den;
#pragma omp for schedule(static)
      for (int64_t q = 0; q < P; q++) {
        const int64_t n = q / HW;
        const float *zi = z + q * K, *ti = t + q * K;
        float *di = dz + q * K;
        if (g.softmax()) {
          softmaxPixel(zi, K, prob.data());
          double tsum = 0, pg = 0;
          for (int64_t c = 0; c < K; c++) tsum += ti[c];
          for (int64_t c = 0; c < K; c++) {
            const int64_t j = n * K + c;
            gp[c] = g.kind == kCeDice ? diceScale * (2 * ti[c] * den[j] - num[j]) / (den[j] * den[j]) : 0.0;
            pg += prob[c] * gp[c];
          }
          for (int64_t c = 0; c < K; c++)
            di[c] = (float)(termScale * (prob[c] * tsum - ti[c]) + prob[c] * (gp[c] - pg));
        } else {
          for (int64_t c = 0; c < K; c++) {
            const double pp = sigmoid(zi[c]), tt = ti[c];
            double v = termScale * (pp - tt);
            if (g.dice()) v += diceScale * (2 * tt * den[n] - num[n]) / (den[n] * den[n]) * pp * (1 - pp);
            di[c] = (float)v;
          }
        }
      }
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

// lossGrad(z, t, dy[1], dz, kind, bceWeight, n,k,h,w): d loss / d logits, times dy[0]; dz has z's
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
