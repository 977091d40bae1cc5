// Fused optimiser steps over plain float32 params (PyTorch semantics), for src/optim.
#include <cmath>

#include "common.h"

namespace un {

// adamStep(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step): torch.optim.Adam
// (L2 weight decay added to the gradient, bias corrections with step >= 1).
static Napi::Value adam(const Args &a) {
  size_t n = a.length(0);
  float *p = a.f32(0, n, "param"), *m = a.f32(2, n, "m"), *v = a.f32(3, n, "v");
  const float *g = a.f32(1, n, "grad");
  const double lr = a.num(4), b1 = a.num(5), b2 = a.num(6), eps = a.num(7), wd = a.num(8), step = a.num(9);
  if (!(step >= 1)) throw OpError("step must be >= 1, got " + std::to_string(step));
  const float c1 = (float)(1 - b1), c2 = (float)(1 - b2), fb1 = (float)b1, fb2 = (float)b2, fwd = (float)wd;
  const float stepSize = (float)(lr / (1 - std::pow(b1, step)));
  const float bc2Sqrt = (float)std::sqrt(1 - std::pow(b2, step));
  const float feps = (float)eps;
  const int64_t N = (int64_t)n;
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
  for (int64_t i = 0; i < N; i++) {
    const float gi = g[i] + fwd * p[i];
    const float mi = fb1 * m[i] + c1 * gi;
    const float vi = fb2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= stepSize * mi / (std::sqrt(vi) / bc2Sqrt + feps);
  }
  return a.env().Undefined();
}

// sgdStep(param, grad, buf, lr, momentum, weightDecay, step, dampening, nesterov): torch.optim.SGD;
// the momentum buffer starts as the first gradient (step 1).
static Napi::Value sgd(const Args &a) {
  size_t n = a.length(0);
  float *p = a.f32(0, n, "param"), *b = a.f32(2, n, "buf");
  const float *g = a.f32(1, n, "grad");
  const float lr = (float)a.num(3), mom = (float)a.num(4), wd = (float)a.num(5);
  const double step = a.num(6);
  const float damp = a.count() > 7 ? (float)a.num(7) : 0.f;
  const bool nesterov = a.flag(8), first = step <= 1;
  const int64_t N = (int64_t)n;
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
  for (int64_t i = 0; i < N; i++) {
    float gi = g[i] + wd * p[i];
    if (mom != 0.f) {
      const float bi = first ? gi : mom * b[i] + (1.f - damp) * gi;
      b[i] = bi;
      gi = nesterov ? gi + mom * bi : bi;
    }
    p[i] -= lr * gi;
  }
  return a.env().Undefined();
}

void registerOptim(Napi::Env env, Napi::Object ex) {
  def(env, ex, "adamStep", adam);
  def(env, ex, "sgdStep", sgd);
}

}  // namespace un
