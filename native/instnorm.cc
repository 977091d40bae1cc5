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
#include "simd16.h"

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

/** Work items: each task's positions cut into pieces, so that both threads stay busy when
 *  there are few tasks (batch 2 with 16 channels: 2 tasks) and a preempted thread's share is
 *  small. Partial sums per piece, combined in order: results do not depend on the threads. */
struct Pieces {
  int64_t tasks, per, len;  // len positions per piece (the last may be shorter)
  Pieces(const Geo &g) : tasks(g.n * g.chunks()) {
    const int64_t want = std::max<int64_t>(1, 8 * threads() / std::max<int64_t>(tasks, 1));
    per = std::max<int64_t>(1, std::min<int64_t>(want, g.s / 2048));
    len = (g.s + per - 1) / per;
    per = (g.s + len - 1) / len;
  }
  int64_t count() const { return tasks * per; }
};

/** Per-lane sums of f(p, l) over positions [p0, p1) of run r: float within blocks of 256
 *  positions (fast), double across them (accurate). f sees the value offset of (p, lane 0). */
template <class F>
static void sums(const Run &r, int64_t p0, int64_t p1, double a[16], double b[16], F f) {
  for (int l = 0; l < 16; l++) a[l] = b[l] = 0;
  for (int64_t q0 = p0; q0 < p1; q0 += 256) {
    float pa[16] = {0}, pb[16] = {0};
    const int64_t q1 = std::min<int64_t>(p1, q0 + 256);
    if (r.n == 16) {
      for (int64_t p = q0; p < q1; p++) {
        const int64_t o = r.base + p * r.stride;
#pragma omp simd
        for (int l = 0; l < 16; l++) f(o, l, pa[l], pb[l]);
      }
    } else {
      for (int64_t p = q0; p < q1; p++)
        for (int l = 0; l < r.n; l++) f(r.base + p * r.stride, l, pa[l], pb[l]);
    }
    for (int l = 0; l < 16; l++) { a[l] += pa[l]; b[l] += pb[l]; }
  }
}

/** Runs body(task, run, p0, p1) over every piece, in parallel. */
template <class Body>
static void eachPiece(const Geo &g, const Pieces &pc, Body body) {
#pragma omp parallel for schedule(dynamic, 1) if (g.size() >= kParMin)
  for (int64_t i = 0; i < pc.count(); i++) {
    const int64_t t = i / pc.per, p0 = (i % pc.per) * pc.len, p1 = std::min(g.s, p0 + pc.len);
    if (p0 < p1) body(t, g.run(t), p0, p1);
  }
}

template <class T>
static void forward(const Geo &g, const T *x, const float *gamma, const float *beta, T *y, float *mean, float *rstd,
                    float eps, bool relu) {
  const Pieces pc(g);
  const int64_t S = g.s;
  std::vector<double> part(pc.count() * 32);
  eachPiece(g, pc, [&](int64_t t, const Run &r, int64_t p0, int64_t p1) {
    double *a = &part[(t * pc.per + p0 / pc.len) * 32];
#ifdef __AVX512BW__
    if (r.n == 16) {  // one register per position (bf16: widened in registers)
      for (int l = 0; l < 32; l++) a[l] = 0;
      for (int64_t q0 = p0; q0 < p1; q0 += 256) {
        __m512 sa = _mm512_setzero_ps(), sb = _mm512_setzero_ps();
        for (int64_t p = q0, q1 = std::min<int64_t>(p1, q0 + 256); p < q1; p++) {
          const __m512 e = load16(x + r.base + p * r.stride);
          sa = _mm512_add_ps(sa, e);
          sb = _mm512_fmadd_ps(e, e, sb);
        }
        alignas(64) float fa[16], fb[16];
        _mm512_store_ps(fa, sa);
        _mm512_store_ps(fb, sb);
        for (int l = 0; l < 16; l++) { a[l] += fa[l]; a[16 + l] += fb[l]; }
      }
      return;
    }
#endif
    sums(r, p0, p1, a, a + 16, [&](int64_t o, int l, float &sa, float &sb) {
      const float e = load(x[o + l]);
      sa += e;
      sb += e * e;
    });
  });
  std::vector<float> sc(pc.tasks * 16, 0.f), sh(pc.tasks * 16, 0.f);
  for (int64_t t = 0; t < pc.tasks; t++) {
    const Run r = g.run(t);
    const int64_t k0 = (t / g.chunks()) * g.c + (t % g.chunks()) * 16, c0 = (t % g.chunks()) * 16;
    for (int l = 0; l < r.n; l++) {
      double s1 = 0, s2 = 0;
      for (int64_t i = 0; i < pc.per; i++) { s1 += part[(t * pc.per + i) * 32 + l]; s2 += part[(t * pc.per + i) * 32 + 16 + l]; }
      const double m = s1 / S, var = std::max(s2 / S - m * m, 0.0);
      const float rs = (float)(1.0 / std::sqrt(var + eps));
      mean[k0 + l] = (float)m;
      rstd[k0 + l] = rs;
      sc[t * 16 + l] = gamma[c0 + l] * rs;
      sh[t * 16 + l] = beta[c0 + l] - (float)m * sc[t * 16 + l];
    }
  }
  const float lo = relu ? 0.f : -INFINITY;
  eachPiece(g, pc, [&](int64_t t, const Run &r, int64_t p0, int64_t p1) {
    const float *a = &sc[t * 16], *b = &sh[t * 16];
#ifdef __AVX512BW__
    if (r.n == 16) {
      const __m512 va = _mm512_loadu_ps(a), vb = _mm512_loadu_ps(b), vlo = _mm512_set1_ps(lo);
      for (int64_t p = p0; p < p1; p++) {
        const int64_t o = r.base + p * r.stride;
        store16(y + o, _mm512_max_ps(vlo, _mm512_fmadd_ps(load16(x + o), va, vb)));  // NaN in: NaN out (maxps returns its 2nd operand)
      }
      return;
    }
#endif
    for (int64_t p = p0; p < p1; p++) {
      const int64_t o = r.base + p * r.stride;
      if (r.n == 16) {
#pragma omp simd
        for (int l = 0; l < 16; l++) y[o + l] = cast<T>(std::max(load(x[o + l]) * a[l] + b[l], lo));
      } else {
        for (int l = 0; l < r.n; l++) y[o + l] = cast<T>(std::max(load(x[o + l]) * a[l] + b[l], lo));
      }
    }
  });
}

/** g = dy (masked by y > 0 with relu), xh = (x - mean) rstd:
 *  dbeta = sum g, dgamma = sum g xh, dx = gamma rstd (g - mean(g) - xh mean(g xh)). */
template <class T>
static void backward(const Geo &g, const T *x, const float *gamma, const float *mean, const float *rstd, const T *dy,
                     const T *y, T *dx, float *dgamma, float *dbeta, bool relu) {
  const Pieces pc(g);
  const int64_t S = g.s;
  auto k0Of = [&](int64_t t) { return (t / g.chunks()) * g.c + (t % g.chunks()) * 16; };
  std::vector<double> part(pc.count() * 32);
  eachPiece(g, pc, [&](int64_t t, const Run &r, int64_t p0, int64_t p1) {
    const int64_t k0 = k0Of(t);
    float m[16] = {0}, rs[16] = {0};
    for (int l = 0; l < r.n; l++) { m[l] = mean[k0 + l]; rs[l] = rstd[k0 + l]; }
    double *a = &part[(t * pc.per + p0 / pc.len) * 32];
#ifdef __AVX512BW__
    if (r.n == 16) {
      const __m512 vm = _mm512_loadu_ps(m), vr = _mm512_loadu_ps(rs), zero = _mm512_setzero_ps();
      for (int l = 0; l < 32; l++) a[l] = 0;
      for (int64_t q0 = p0; q0 < p1; q0 += 256) {
        __m512 sa = zero, sb = zero;
        for (int64_t p = q0, q1 = std::min<int64_t>(p1, q0 + 256); p < q1; p++) {
          const int64_t o = r.base + p * r.stride;
          __m512 gv = load16(dy + o);
          if (relu) gv = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(load16(y + o), zero, _CMP_GT_OQ), gv);
          sa = _mm512_add_ps(sa, gv);
          sb = _mm512_fmadd_ps(gv, _mm512_mul_ps(_mm512_sub_ps(load16(x + o), vm), vr), sb);
        }
        alignas(64) float fa[16], fb[16];
        _mm512_store_ps(fa, sa);
        _mm512_store_ps(fb, sb);
        for (int l = 0; l < 16; l++) { a[l] += fa[l]; a[16 + l] += fb[l]; }
      }
      return;
    }
#endif
    sums(r, p0, p1, a, a + 16, [&](int64_t o, int l, float &sa, float &sb) {
      float gv = load(dy[o + l]);
      if (relu && !(load(y[o + l]) > 0.f)) gv = 0.f;
      sa += gv;
      sb += gv * (load(x[o + l]) - m[l]) * rs[l];
    });
  });
  std::vector<double> sg(g.n * g.c), sgx(g.n * g.c);
  std::vector<float> ka(pc.tasks * 16, 0.f), kb(pc.tasks * 16, 0.f), kg(pc.tasks * 16, 0.f);
  for (int64_t t = 0; t < pc.tasks; t++) {
    const Run r = g.run(t);
    const int64_t k0 = k0Of(t), c0 = (t % g.chunks()) * 16;
    for (int l = 0; l < r.n; l++) {
      double s1 = 0, s2 = 0;
      for (int64_t i = 0; i < pc.per; i++) { s1 += part[(t * pc.per + i) * 32 + l]; s2 += part[(t * pc.per + i) * 32 + 16 + l]; }
      sg[k0 + l] = s1;
      sgx[k0 + l] = s2;
      ka[t * 16 + l] = (float)(s1 / S);
      kb[t * 16 + l] = (float)(s2 / S);
      kg[t * 16 + l] = gamma[c0 + l] * rstd[k0 + l];
    }
  }
  eachPiece(g, pc, [&](int64_t t, const Run &r, int64_t p0, int64_t p1) {
    const int64_t k0 = k0Of(t);
    float m[16] = {0}, rs[16] = {0};
    for (int l = 0; l < r.n; l++) { m[l] = mean[k0 + l]; rs[l] = rstd[k0 + l]; }
    const float *a = &ka[t * 16], *b = &kb[t * 16], *k = &kg[t * 16];
#ifdef __AVX512BW__
    if (r.n == 16) {
      const __m512 vm = _mm512_loadu_ps(m), vr = _mm512_loadu_ps(rs), va = _mm512_loadu_ps(a), vb = _mm512_loadu_ps(b),
                   vk = _mm512_loadu_ps(k), zero = _mm512_setzero_ps();
      for (int64_t p = p0; p < p1; p++) {
        const int64_t o = r.base + p * r.stride;
        __m512 gv = load16(dy + o);
        if (relu) gv = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(load16(y + o), zero, _CMP_GT_OQ), gv);
        const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(load16(x + o), vm), vr);
        store16(dx + o, _mm512_mul_ps(vk, _mm512_sub_ps(_mm512_sub_ps(gv, va), _mm512_mul_ps(xh, vb))));
      }
      return;
    }
#endif
    auto one = [&](int64_t o, int l) {
      float gv = load(dy[o + l]);
      if (relu && !(load(y[o + l]) > 0.f)) gv = 0.f;
      dx[o + l] = cast<T>(k[l] * (gv - a[l] - (load(x[o + l]) - m[l]) * rs[l] * b[l]));
    };
    for (int64_t p = p0; p < p1; p++) {
      const int64_t o = r.base + p * r.stride;
      if (r.n == 16) {
#pragma omp simd
        for (int l = 0; l < 16; l++) one(o, l);
      } else {
        for (int l = 0; l < r.n; l++) one(o, l);
      }
    }
  });
  for (int64_t c = 0; c < g.c; c++) {
    double a = 0, b = 0;
    for (int64_t i = 0; i < g.n; i++) { a += sg[i * g.c + c]; b += sgx[i * g.c + c]; }
    dbeta[c] = (float)a;
    dgamma[c] = (float)b;
  }
}

/** n, c, s from args[i..i+2]; the layout from args[layoutArg]. */
static Geo geo(const Args &a, size_t i, size_t layoutArg) {
  Geo g{a.i64(i), a.i64(i + 1), a.i64(i + 2), false};
  if (g.n < 1 || g.c < 1 || g.s < 1) throw OpError("invalid shape: n " + std::to_string(g.n) + ", c " +
                                                   std::to_string(g.c) + ", spatial " + std::to_string(g.s));
  g.blocked = a.layout(layoutArg).blockedC(g.c);
  return g;
}

// instnormFwd(x, gamma, beta, y, mean, rstd, n, c, s, eps, relu, layout): mean and rstd [n*c] are
// written for the backward kernel. s: spatial positions per image (h*w or d*h*w).
static Napi::Value fwdJs(const Args &a) {
  const Geo g = geo(a, 6, 11);
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

// instnormBwd(x, gamma, mean, rstd, dy, y, dx, dgamma, dbeta, n, c, s, relu, layout)
static Napi::Value bwdJs(const Args &a) {
  const Geo g = geo(a, 9, 13);
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
