// Element-wise ops and their gradients, dropout and small reductions. Layout-agnostic except
// softmax (channels contiguous in NHWC) and dropout (mask indexed by the logical NCHW index).
#include <cmath>
#include <cstdint>
#include <vector>

#include "common.h"

namespace un {

enum Unary { kRelu = 0, kLeaky = 1, kSigmoid = 2, kScale = 3 };

// unary(kind, x, y, alpha): relu, leaky_relu (alpha), sigmoid, scale (alpha = s)
static Napi::Value unary(const Args &a) {
  int kind = (int)a.i64(0);
  size_t n = a.length(1);
  const float *x = a.f32(1, n, "x");
  float *y = a.f32(2, n, "y");
  const float al = (float)a.num(3);
  const int64_t N = (int64_t)n;
  switch (kind) {
    case kRelu:
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
      for (int64_t i = 0; i < N; i++) y[i] = x[i] < 0.f ? 0.f : x[i];  // keeps NaN
      break;
    case kLeaky:
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
      for (int64_t i = 0; i < N; i++) y[i] = x[i] > 0.f ? x[i] : al * x[i];
      break;
    case kSigmoid:
#pragma omp parallel for schedule(static) if ((N) >= kParMin)
      for (int64_t i = 0; i < N; i++) y[i] = 1.f / (1.f + std::exp(-x[i]));
      break;
    case kScale:
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
      for (int64_t i = 0; i < N; i++) y[i] = al * x[i];
      break;
    default:
      throw OpError("unknown kind " + std::to_string(kind));
  }
  return a.env().Undefined();
}

// unaryGrad(kind, s, dy, dx, alpha): relu (s = y), leaky_relu (s = x), sigmoid (s = y)
static Napi::Value unaryGrad(const Args &a) {
  int kind = (int)a.i64(0);
  size_t n = a.length(1);
  const float *s = a.f32(1, n, "saved"), *dy = a.f32(2, n, "dy");
  float *dx = a.f32(3, n, "dx");
  const float al = (float)a.num(4);
  const int64_t N = (int64_t)n;
  switch (kind) {
    case kRelu:
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
      for (int64_t i = 0; i < N; i++) dx[i] = s[i] > 0.f ? dy[i] : 0.f;
      break;
    case kLeaky:
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
      for (int64_t i = 0; i < N; i++) dx[i] = s[i] > 0.f ? dy[i] : al * dy[i];
      break;
    case kSigmoid:
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
      for (int64_t i = 0; i < N; i++) dx[i] = dy[i] * s[i] * (1.f - s[i]);
      break;
    default:
      throw OpError("unknown kind " + std::to_string(kind));
  }
  return a.env().Undefined();
}

// binary(kind, a, b, y): 0 add, 1 mul
static Napi::Value binary(const Args &a) {
  int kind = (int)a.i64(0);
  size_t n = a.length(1);
  const float *p = a.f32(1, n, "a"), *q = a.f32(2, n, "b");
  float *y = a.f32(3, n, "y");
  const int64_t N = (int64_t)n;
  if (kind == 0) {
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
    for (int64_t i = 0; i < N; i++) y[i] = p[i] + q[i];
  } else {
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
    for (int64_t i = 0; i < N; i++) y[i] = p[i] * q[i];
  }
  return a.env().Undefined();
}

// addN([x1..xk], y)
static Napi::Value addN(const Args &a) {
  if (!a.info[0].IsArray()) throw OpError("inputs must be an array of Float32Array");
  auto arr = a.info[0].As<Napi::Array>();
  size_t n = a.length(1);
  float *y = a.f32(1, n, "y");
  std::vector<const float *> xs;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr[k];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
        v.As<Napi::Float32Array>().ElementLength() != n)
      throw OpError("input " + std::to_string(k) + " must be a Float32Array of " + std::to_string(n) + " values");
    xs.push_back(v.As<Napi::Float32Array>().Data());
  }
  if (xs.empty()) throw OpError("no inputs");
  const int64_t N = (int64_t)n;
  const int K = (int)xs.size();
#pragma omp parallel for schedule(static) if ((N) >= kParMin)
  for (int64_t b = 0; b < N; b += 4096) {  // blocks, so each input streams through cache once
    const int64_t e = b + 4096 < N ? b + 4096 : N;
    const float *x0 = xs[0];
#pragma omp simd
    for (int64_t i = b; i < e; i++) y[i] = x0[i];
    for (int k = 1; k < K; k++) {
      const float *xk = xs[k];
#pragma omp simd
      for (int64_t i = b; i < e; i++) y[i] += xk[i];
    }
  }
  return a.env().Undefined();
}

// meanAll(x, out[1]): double accumulation
static Napi::Value meanAll(const Args &a) {
  size_t n = a.length(0);
  const float *x = a.f32(0, n, "x");
  float *out = a.f32(1, 1, "out");
  double s = 0;
  const int64_t N = (int64_t)n;
#pragma omp parallel for reduction(+ : s) schedule(static) if ((N) >= kParMin)
  for (int64_t i = 0; i < N; i++) s += x[i];
  out[0] = (float)(s / (double)n);
  return a.env().Undefined();
}

// fill(y, value)
static Napi::Value fill(const Args &a) {
  size_t n = a.length(0);
  float *y = a.f32(0, n, "y");
  const float v = (float)a.num(1);
  const int64_t N = (int64_t)n;
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
  for (int64_t i = 0; i < N; i++) y[i] = v;
  return a.env().Undefined();
}

// softmax(x, y, channels): over the contiguous channel axis of NHWC
static Napi::Value softmax(const Args &a) {
  size_t n = a.length(0);
  const int64_t C = a.i64(2);
  if (C < 1 || n % C) throw OpError(std::to_string(n) + " values are not whole pixels of " + std::to_string(C) + " channels");
  const float *x = a.f32(0, n, "x");
  float *y = a.f32(1, n, "y");
  const int64_t P = (int64_t)n / C;
#pragma omp parallel for schedule(static) if ((P * C) >= kParMin)
  for (int64_t p = 0; p < P; p++) {
    const float *xi = x + p * C;
    float *yi = y + p * C;
    float m = xi[0];
    for (int64_t c = 1; c < C; c++) m = xi[c] > m ? xi[c] : m;
    float s = 0.f;
    for (int64_t c = 0; c < C; c++) { yi[c] = std::exp(xi[c] - m); s += yi[c]; }
    const float inv = 1.f / s;
    for (int64_t c = 0; c < C; c++) yi[c] *= inv;
  }
  return a.env().Undefined();
}

// softmaxGrad(y, dy, dx, channels): dx = y (dy - sum_k y dy)
static Napi::Value softmaxGrad(const Args &a) {
  size_t n = a.length(0);
  const int64_t C = a.i64(3);
  if (C < 1 || n % C) throw OpError(std::to_string(n) + " values are not whole pixels of " + std::to_string(C) + " channels");
  const float *y = a.f32(0, n, "y"), *dy = a.f32(1, n, "dy");
  float *dx = a.f32(2, n, "dx");
  const int64_t P = (int64_t)n / C;
#pragma omp parallel for schedule(static) if ((P * C) >= kParMin)
  for (int64_t p = 0; p < P; p++) {
    const float *yi = y + p * C, *gi = dy + p * C;
    float s = 0.f;
    for (int64_t c = 0; c < C; c++) s += yi[c] * gi[c];
    for (int64_t c = 0; c < C; c++) dx[p * C + c] = yi[c] * (gi[c] - s);
  }
  return a.env().Undefined();
}

// The counter-based hash of src/engine/dropout-hash.ts (uint32 wrap-around arithmetic).
static inline uint32_t mix(uint32_t h) {
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}

// dropout(x, y, p, seed, step, n,c,h,w, nhwc): y = x / (1-p) where u >= p, else 0. With nhwc the
// buffer is NHWC and the hash index is the logical NCHW one; otherwise the index is linear.
static Napi::Value dropout(const Args &a) {
  size_t len = a.length(0);
  const float *x = a.f32(0, len, "x");
  float *y = a.f32(1, len, "y");
  const double p = a.num(2);
  const uint32_t seed = (uint32_t)(int64_t)a.num(3), step = (uint32_t)(int64_t)a.num(4);
  const int64_t N = a.i64(5), C = a.i64(6), H = a.i64(7), W = a.i64(8);
  const bool nhwc = a.flag(9);
  if (N * C * H * W != (int64_t)len) throw OpError("shape " + shape({N, C, H, W}) + " does not match " + std::to_string(len) + " values");
  const uint32_t stream = mix(seed ^ mix(step + 0x9e3779b9u));
  const double thr = p * 4294967296.0;  // u / 2^32 >= p  <=>  hash >= p * 2^32 (exact)
  const float sc = (float)(1.0 / (1.0 - p));
  if (!nhwc) {
    const int64_t L = (int64_t)len;
#pragma omp parallel for simd schedule(static) if ((L) >= kParMin)
    for (int64_t i = 0; i < L; i++) {
      uint32_t u = mix((uint32_t)i * 0x9e3779b1u + stream);
      y[i] = (double)u >= thr ? x[i] * sc : 0.f;
    }
    return a.env().Undefined();
  }
  const int64_t HW = H * W;
#pragma omp parallel for collapse(2) schedule(static) if ((N * HW * C) >= kParMin)
  for (int64_t n = 0; n < N; n++)
    for (int64_t s = 0; s < HW; s++) {
      const float *xi = x + (n * HW + s) * C;
      float *yi = y + (n * HW + s) * C;
      const uint32_t base = (uint32_t)(n * C * HW + s);
#pragma omp simd
      for (int64_t c = 0; c < C; c++) {
        uint32_t u = mix((base + (uint32_t)(c * HW)) * 0x9e3779b1u + stream);
        yi[c] = (double)u >= thr ? xi[c] * sc : 0.f;
      }
    }
  return a.env().Undefined();
}

void registerEltwise(Napi::Env env, Napi::Object ex) {
  def(env, ex, "unary", unary);
  def(env, ex, "unaryGrad", unaryGrad);
  def(env, ex, "binary", binary);
  def(env, ex, "addN", addN);
  def(env, ex, "meanAll", meanAll);
  def(env, ex, "fill", fill);
  def(env, ex, "softmax", softmax);
  def(env, ex, "softmaxGrad", softmaxGrad);
  def(env, ex, "dropout", dropout);
}

}  // namespace un
