// Instance norm (PyTorch's InstanceNorm with affine=True): per image and channel, statistics over
// the spatial positions (biased variance), the same in training and eval; optional fused ReLU.
// Ours rather than oneDNN's batch norm on a reshaped view: that view ([1, N*C, S]) would need
// per-(n, c) gamma/beta copies and an NHWC -> channel-major reorder; here each task (an image
// and a run of up to 16 channels) reads its values where they are: NHWC/NDHWC (channels at
// stride C) or blocked (16 channels contiguous). Any spatial rank: S = d*h*w or h*w.
#include <cmath>
#include <type_traits>
#include <vector>

#include "common.h"

namespace un {

/** One task's values: pixel p, lane l at base + p * stride + l (lanes < n). */
struct Run {
  int64_t base, stride;
  int n;
};
struct Geo {
  int64_t n, c, s;
  bool blocked;
  int64_t chunks() const { return (c + 15) / 16; }
  /** Task t = image * chunks + chunk; channels chunk*16 ... */
  Run run(int64_t t) const {
    const int64_t img = t / chunks(), ch = t % chunks();
    const int lanes = (int)std::min<int64_t>(16, c - ch * 16);
    if (blocked) return {(img * c + ch * 16) * s, 16, lanes};
    return {img * c * s + ch * 16, c, lanes};
  }
  int64_t size() const { return n * c * s; }
};

/** Per-lane sums of x (and x^2), in double over float blocks of 256 pixels. */
template <class T>
static void moments(const T *x, const Run &r, int64_t S, double sum[16], double sq[16]) {
  for (int l = 0; l < 16; l++) sum[l] = sq[l] = 0;
  for (int64_t p0 = 0; p0 < S; p0 += 256) {
    float a[16] = {0}, b[16] = {0};
    const int64_t p1 = std::min<int64_t>(S, p0 + 256);
    for (int64_t p = p0; p < p1; p++) {
      const T *v = x + r.base + p * r.stride;
      if (r.n == 16) {
#pragma omp simd
        for (int l = 0; l < 16; l++) { const float e = load(v[l]); a[l] += e; b[l] += e * e; }
      } else {
        for (int l = 0; l < r.n; l++) { const float e = load(v[l]); a[l] += e; b[l] += e * e; }
      }
    }
    for (int l = 0; l < 16; l++) { sum[l] += a[l]; sq[l] += b[l]; }
  }
}

template <class T>
static void forward(const Geo &g, const T *x, const float *gamma, const float *beta, T *y, float *mean, float *rstd,
                    float eps, bool relu) {
  const int64_t tasks = g.n * g.chunks(), S = g.s;
#pragma omp parallel for schedule(dynamic, 1) if (g.size() >= kParMin)
  for (int64_t t = 0; t < tasks; t++) {
    const Run r = g.run(t);
    const int64_t img = t / g.chunks(), c0 = (t % g.chunks()) * 16;
    double sum[16], sq[16];
    moments(x, r, S, sum, sq);
    float sc[16] = {0}, sh[16] = {0};
    for (int l = 0; l < r.n; l++) {
      const double m = sum[l] / S, var = std::max(sq[l] / S - m * m, 0.0);
      const float rs = (float)(1.0 / std::sqrt(var + eps));
      mean[img * g.c + c0 + l] = (float)m;
      rstd[img * g.c + c0 + l] = rs;
      sc[l] = gamma[c0 + l] * rs;
      sh[l] = beta[c0 + l] - (float)m * sc[l];
    }
    const float lo = relu ? 0.f : -INFINITY;
    for (int64_t p = 0; p < S; p++) {
      const T *v = x + r.base + p * r.stride;
      T *o = y + r.base + p * r.stride;
      if (r.n == 16) {
#pragma omp simd
        for (int l = 0; l < 16; l++) o[l] = cast<T>(std::max(load(v[l]) * sc[l] + sh[l], lo));
      } else {
        for (int l = 0; l < r.n; l++) o[l] = cast<T>(std::max(load(v[l]) * sc[l] + sh[l], lo));
      }
    }
  }
}

/** g = dy (masked by y > 0 with relu), xh = (x - mean) rstd:
 *  dbeta = sum g, dgamma = sum g xh, dx = gamma rstd (g - mean(g) - xh mean(g xh)). */
template <class T>
static void backward(const Geo &g, const T *x, const float *gamma, const float *mean, const float *rstd, const T *dy,
                     const T *y, T *dx, float *dgamma, float *dbeta, bool relu) {
  const int64_t tasks = g.n * g.chunks(), S = g.s;
  std::vector<double> sg(g.n * g.c), sgx(g.n * g.c);
#pragma omp parallel for schedule(dynamic, 1) if (g.size() >= kParMin)
  for (int64_t t = 0; t < tasks; t++) {
    const Run r = g.run(t);
    const int64_t k0 = (t / g.chunks()) * g.c + (t % g.chunks()) * 16, c0 = (t % g.chunks()) * 16;
    float m[16] = {0}, rs[16] = {0};
    for (int l = 0; l < r.n; l++) { m[l] = mean[k0 + l]; rs[l] = rstd[k0 + l]; }
    double a[16] = {0}, b[16] = {0};
    for (int64_t p0 = 0; p0 < S; p0 += 256) {
      float pa[16] = {0}, pb[16] = {0};
      const int64_t p1 = std::min<int64_t>(S, p0 + 256);
      for (int64_t p = p0; p < p1; p++) {
        const int64_t o = r.base + p * r.stride;
#pragma omp simd
        for (int l = 0; l < 16; l++) {
          if (l >= r.n) continue;
          float gv = load(dy[o + l]);
          if (relu && !(load(y[o + l]) > 0.f)) gv = 0.f;
          pa[l] += gv;
          pb[l] += gv * (load(x[o + l]) - m[l]) * rs[l];
        }
      }
      for (int l = 0; l < 16; l++) { a[l] += pa[l]; b[l] += pb[l]; }
    }
    float ka[16] = {0}, kb[16] = {0}, kg[16] = {0};
    for (int l = 0; l < r.n; l++) {
      sg[k0 + l] = a[l];
      sgx[k0 + l] = b[l];
      ka[l] = (float)(a[l] / S);
      kb[l] = (float)(b[l] / S);
      kg[l] = gamma[c0 + l] * rs[l];
    }
    for (int64_t p = 0; p < S; p++) {
      const int64_t o = r.base + p * r.stride;
#pragma omp simd
      for (int l = 0; l < 16; l++) {
        if (l >= r.n) continue;
        float gv = load(dy[o + l]);
        if (relu && !(load(y[o + l]) > 0.f)) gv = 0.f;
        const float xh = (load(x[o + l]) - m[l]) * rs[l];
        dx[o + l] = cast<T>(kg[l] * (gv - ka[l] - xh * kb[l]));
      }
    }
  }
  for (int64_t c = 0; c < g.c; c++) {
    double a = 0, b = 0;
    for (int64_t i = 0; i < g.n; i++) { a += sg[i * g.c + c]; b += sgx[i * g.c + c]; }
    dbeta[c] = (float)a;
    dgamma[c] = (float)b;
  }
}

static Geo geo(const Args &a, size_t i) {
  Geo g{a.i64(i), a.i64(i + 1), a.i64(i + 2), false};
  if (g.n < 1 || g.c < 1 || g.s < 1) throw OpError("invalid shape: n " + std::to_string(g.n) + ", c " +
                                                   std::to_string(g.c) + ", spatial " + std::to_string(g.s));
  g.blocked = blockedC(g.c);
  return g;
}

// instnormFwd(x, gamma, beta, y, mean, rstd, n, c, s, eps, relu): mean and rstd [n*c] are
// written for the backward kernel. s: spatial positions per image (h*w or d*h*w).
static Napi::Value fwdJs(const Args &a) {
  const Geo g = geo(a, 6);
  Act x = a.act(0, g.size(), "x"), y = a.act(3, g.size(), "y");
  const float *gamma = a.f32(1, g.c, "gamma"), *beta = a.f32(2, g.c, "beta");
  float *mean = a.f32(4, g.n * g.c, "mean"), *rstd = a.f32(5, g.n * g.c, "rstd");
  a.sameType({{"x", x}, {"y", y}});
  const float eps = (float)a.num(9);
  const bool relu = a.flag(10);
  dispatch(x.bf16, [&](auto *t) {
    using T = std::remove_pointer_t<decltype(t)>;
    forward(g, x.as<T>(), gamma, beta, y.as<T>(), mean, rstd, eps, relu);
  });
  return a.env().Undefined();
}

// instnormBwd(x, gamma, mean, rstd, dy, y, dx, dgamma, dbeta, n, c, s, relu)
static Napi::Value bwdJs(const Args &a) {
  const Geo g = geo(a, 9);
  Act x = a.act(0, g.size(), "x"), dy = a.act(4, g.size(), "dy"), y = a.act(5, g.size(), "y"), dx = a.act(6, g.size(), "dx");
  const float *gamma = a.f32(1, g.c, "gamma"), *mean = a.f32(2, g.n * g.c, "mean"), *rstd = a.f32(3, g.n * g.c, "rstd");
  float *dgamma = a.f32(7, g.c, "dgamma"), *dbeta = a.f32(8, g.c, "dbeta");
  a.sameType({{"x", x}, {"dy", dy}, {"y", y}, {"dx", dx}});
  const bool relu = a.flag(12);
  dispatch(x.bf16, [&](auto *t) {
    using T = std::remove_pointer_t<decltype(t)>;
    backward(g, x.as<T>(), gamma, mean, rstd, dy.as<T>(), y.as<T>(), dx.as<T>(), dgamma, dbeta, relu);
  });
  return a.env().Undefined();
}

void registerInstanceNorm(Napi::Env env, Napi::Object ex) {
  def(env, ex, "instnormFwd", fwdJs);
  def(env, ex, "instnormBwd", bwdJs);
}

}  // namespace un
