// Element-wise ops and their gradients, dropout and small reductions. Layout-agnostic except
// softmax (channels contiguous in NHWC) and dropout (mask indexed by the logical NCHW index).
// Activations are float32 or bf16 (one dtype per call; meanAll's out stays float32). The bf16
// kernels compute in float32, the same operations in the same order as the float32 ones, and
// round each result once (nearest even): mostly a float32 block, then roundBf16 (layout.cc).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"
#include "simd16.h"

namespace un {

/** dst[i] = toBf16(src[i]) for i < n, vectorised (layout.cc). */
void roundBf16(const float *src, bf16 *dst, int64_t n);

/** Elements per block of the bf16 kernels (a float32 block of this size lives on the stack). */
static constexpr int64_t kBlk = 2048;

/** y[i] = toBf16(v_i) for i < N, where f(i0, n, t) writes v_i0 .. v_i0+n-1 (float32) to t. */
template <class F>
static void blocksBf16(bf16 *y, int64_t N, F f) {
#pragma omp parallel for schedule(static) if ((N) >= kParMin)
  for (int64_t b = 0; b < N; b += kBlk) {
    alignas(64) float t[kBlk];
    const int64_t n = N - b < kBlk ? N - b : kBlk;
    f(b, n, t);
    roundBf16(t, y + b, n);
  }
}

/** t[i] = x[i] as float32 (exact), vectorised. */
static inline void toFloat(const bf16 *x, float *t, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) t[i] = load(x[i]);
}

/** bf16 bits > 0 as an integer test (0 < bits <= +Inf; NaN is not > 0). The bf16 relu/leaky
 *  loops select with bit masks: written as "x > 0 ? x : alpha x", GCC keeps a branch around the
 *  multiply (it may trap) and the loop does not vectorise. */
static inline bool positive(uint16_t bits) {
  const int16_t b = (int16_t)bits;
  return (b > 0) & (b <= 0x7f80);
}

enum Unary { kRelu = 0, kLeaky = 1, kSigmoid = 2, kScale = 3 };

/** t[i] = 1 / (1 + e^-t[i]) in place. With AVX-512, 16 lanes at a time with Cephes' expf
 *  (x = n ln2 + r, degree-6 polynomial in r: within 2 ulp of float32 e^x) for the bf16 kernels,
 *  whose results are rounded to 8 bits of mantissa anyway (exactly rounded on all 65536 bf16
 *  inputs, tested); glibc's scalar expf made the bf16 sigmoid ~11x slower. */
static void sigmoidBlock(float *t, int64_t n) {
  int64_t i = 0;
#ifdef __AVX512BW__
  const __m512 one = _mm512_set1_ps(1.f);
  for (; i + 16 <= n; i += 16) {
    const __m512 x = _mm512_loadu_ps(t + i);
    const __m512 z = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), x), _mm512_set1_ps(-87.f)), _mm512_set1_ps(88.f));
    const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), z);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, one));
    const __m512 y = _mm512_div_ps(one, _mm512_add_ps(one, _mm512_scalef_ps(p, k)));
    _mm512_storeu_ps(t + i, _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x));  // NaN stays NaN
  }
#endif
  for (; i < n; i++) t[i] = 1.f / (1.f + std::exp(-t[i]));
}

static void unaryF32(int kind, const float *x, float *y, float al, int64_t N) {
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
}

static void unaryBf16(int kind, const bf16 *x, bf16 *y, float al, int64_t N) {
  switch (kind) {
    case kRelu:  // x < 0 ? 0 : x on the bits: x < 0 is 0x8001 (-tiny) ..= 0xff80 (-Inf); -0 and NaN kept
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
      for (int64_t i = 0; i < N; i++) {
        const int16_t b = (int16_t)x[i].bits;
        y[i].bits = (uint16_t)b & (uint16_t)((b > -32768) & (b <= -128) ? 0 : 0xffff);
      }
      break;
    case kLeaky:  // x > 0 ? x : round(alpha x)
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
      for (int64_t i = 0; i < N; i++) {
        const uint16_t h = x[i].bits, m = (uint16_t)-(uint16_t)positive(h);
        y[i].bits = (h & m) | (toBf16(al * toF32(bf16{h})).bits & (uint16_t)~m);
      }
      break;
    case kSigmoid:
      blocksBf16(y, N, [&](int64_t b, int64_t n, float *t) {
        toFloat(x + b, t, n);
        sigmoidBlock(t, n);
      });
      break;
    case kScale:
      blocksBf16(y, N, [&](int64_t b, int64_t n, float *t) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) t[i] = al * load(x[b + i]);
      });
      break;
    default:
      throw OpError("unknown kind " + std::to_string(kind));
  }
}

// unary(kind, x, y, alpha): relu, leaky_relu (alpha), sigmoid, scale (alpha = s)
static Napi::Value unary(const Args &a) {
  int kind = (int)a.i64(0);
  size_t n = a.length(1);
  Act x = a.act(1, n, "x"), y = a.act(2, n, "y");
  a.sameType({{"x", x}, {"y", y}});
  const float al = (float)a.num(3);
  if (x.bf16) unaryBf16(kind, x.as<bf16>(), y.as<bf16>(), al, (int64_t)n);
  else unaryF32(kind, x.as<float>(), y.as<float>(), al, (int64_t)n);
  return a.env().Undefined();
}

static void unaryGradF32(int kind, const float *s, const float *dy, float *dx, float al, int64_t N) {
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
}

static void unaryGradBf16(int kind, const bf16 *s, const bf16 *dy, bf16 *dx, float al, int64_t N) {
  switch (kind) {
    case kRelu:  // s > 0 ? dy : 0
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
      for (int64_t i = 0; i < N; i++) dx[i].bits = dy[i].bits & (uint16_t)-(uint16_t)positive(s[i].bits);
      break;
    case kLeaky:  // s > 0 ? dy : round(alpha dy)
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
      for (int64_t i = 0; i < N; i++) {
        const uint16_t g = dy[i].bits, m = (uint16_t)-(uint16_t)positive(s[i].bits);
        dx[i].bits = (g & m) | (toBf16(al * toF32(bf16{g})).bits & (uint16_t)~m);
      }
      break;
    case kSigmoid:
      blocksBf16(dx, N, [&](int64_t b, int64_t n, float *t) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
          const float v = load(s[b + i]);
          t[i] = load(dy[b + i]) * v * (1.f - v);
        }
      });
      break;
    default:
      throw OpError("unknown kind " + std::to_string(kind));
  }
}

// unaryGrad(kind, s, dy, dx, alpha): relu (s = y), leaky_relu (s = x), sigmoid (s = y)
static Napi::Value unaryGrad(const Args &a) {
  int kind = (int)a.i64(0);
  size_t n = a.length(1);
  Act s = a.act(1, n, "saved"), dy = a.act(2, n, "dy"), dx = a.act(3, n, "dx");
  a.sameType({{"saved", s}, {"dy", dy}, {"dx", dx}});
  const float al = (float)a.num(4);
  if (s.bf16) unaryGradBf16(kind, s.as<bf16>(), dy.as<bf16>(), dx.as<bf16>(), al, (int64_t)n);
  else unaryGradF32(kind, s.as<float>(), dy.as<float>(), dx.as<float>(), al, (int64_t)n);
  return a.env().Undefined();
}

static void binaryF32(int kind, const float *p, const float *q, float *y, int64_t N) {
  if (kind == 0) {
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
    for (int64_t i = 0; i < N; i++) y[i] = p[i] + q[i];
  } else {
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
    for (int64_t i = 0; i < N; i++) y[i] = p[i] * q[i];
  }
}

static void binaryBf16(int kind, const bf16 *p, const bf16 *q, bf16 *y, int64_t N) {
  if (kind == 0) {
    blocksBf16(y, N, [&](int64_t b, int64_t n, float *t) {
#pragma omp simd
      for (int64_t i = 0; i < n; i++) t[i] = load(p[b + i]) + load(q[b + i]);
    });
  } else {
    blocksBf16(y, N, [&](int64_t b, int64_t n, float *t) {
#pragma omp simd
      for (int64_t i = 0; i < n; i++) t[i] = load(p[b + i]) * load(q[b + i]);
    });
  }
}

// binary(kind, a, b, y): 0 add, 1 mul
static Napi::Value binary(const Args &a) {
  int kind = (int)a.i64(0);
  size_t n = a.length(1);
  Act p = a.act(1, n, "a"), q = a.act(2, n, "b"), y = a.act(3, n, "y");
  a.sameType({{"a", p}, {"b", q}, {"y", y}});
  if (p.bf16) binaryBf16(kind, p.as<bf16>(), q.as<bf16>(), y.as<bf16>(), (int64_t)n);
  else binaryF32(kind, p.as<float>(), q.as<float>(), y.as<float>(), (int64_t)n);
  return a.env().Undefined();
}

static void addNF32(const std::vector<Act> &acts, float *y, int64_t N) {
  std::vector<const float *> xs;
  for (auto &x : acts) xs.push_back(x.as<float>());
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
}

/** bf16: the same sums in a float32 block, rounded once. */
static void addNBf16(const std::vector<Act> &acts, bf16 *y, int64_t N) {
  std::vector<const bf16 *> xs;
  for (auto &x : acts) xs.push_back(x.as<bf16>());
  const int K = (int)xs.size();
  blocksBf16(y, N, [&](int64_t b, int64_t n, float *t) {
    const bf16 *x0 = xs[0] + b;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) t[i] = load(x0[i]);
    for (int k = 1; k < K; k++) {
      const bf16 *xk = xs[k] + b;
#pragma omp simd
      for (int64_t i = 0; i < n; i++) t[i] += load(xk[i]);
    }
  });
}

// addN([x1..xk], y): float32 or bf16, one dtype
static Napi::Value addN(const Args &a) {
  if (!a.info[0].IsArray()) throw OpError("inputs must be an array of Float32Array or bf16 Uint16Array");
  auto arr = a.info[0].As<Napi::Array>();
  size_t n = a.length(1);
  Act y = a.act(1, n, "y");
  std::vector<Act> xs;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr[k];
    const std::string name = "inputs[" + std::to_string(k) + "]";
    const bool typed = v.IsTypedArray();
    const napi_typedarray_type t = typed ? v.As<Napi::TypedArray>().TypedArrayType() : napi_int8_array;
    if ((t != napi_float32_array && t != napi_uint16_array) || v.As<Napi::TypedArray>().ElementLength() != n)
      throw OpError(name + " must be a Float32Array or bf16 Uint16Array of " + std::to_string(n) + " values");
    auto ta = v.As<Napi::TypedArray>();
    xs.push_back(Act{static_cast<uint8_t *>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), t == napi_uint16_array});
    a.sameType({{"y", y}, {name.c_str(), xs.back()}});
  }
  if (xs.empty()) throw OpError("no inputs");
  if (y.bf16) addNBf16(xs, y.as<bf16>(), (int64_t)n);
  else addNF32(xs, y.as<float>(), (int64_t)n);
  return a.env().Undefined();
}

// meanAll(x, out[1]): double accumulation; x float32 or bf16, out float32
static Napi::Value meanAll(const Args &a) {
  size_t n = a.length(0);
  Act x = a.act(0, n, "x");
  float *out = a.f32(1, 1, "out");
  double s = 0;
  const int64_t N = (int64_t)n;
  if (!x.bf16) {
    const float *xf = x.as<float>();
#pragma omp parallel for reduction(+ : s) schedule(static) if ((N) >= kParMin)
    for (int64_t i = 0; i < N; i++) s += xf[i];
  } else {  // per block, a vectorised double sum
    const bf16 *xh = x.as<bf16>();
#pragma omp parallel for reduction(+ : s) schedule(static) if ((N) >= kParMin)
    for (int64_t b = 0; b < N; b += kBlk) {
      const int64_t e = N - b < kBlk ? N - b : kBlk;
      double bs = 0;
#pragma omp simd reduction(+ : bs)
      for (int64_t i = 0; i < e; i++) bs += load(xh[b + i]);
      s += bs;
    }
  }
  out[0] = (float)(s / (double)n);
  return a.env().Undefined();
}

// fill(y, value): y float32 or bf16 (value rounded to nearest even)
static Napi::Value fill(const Args &a) {
  size_t n = a.length(0);
  Act y = a.act(0, n, "y");
  const float v = (float)a.num(1);
  const int64_t N = (int64_t)n;
  if (!y.bf16) {
    float *yf = y.as<float>();
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
    for (int64_t i = 0; i < N; i++) yf[i] = v;
  } else {
    uint16_t *yh = y.as<uint16_t>();
    const uint16_t h = toBf16(v).bits;
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
    for (int64_t i = 0; i < N; i++) yh[i] = h;
  }
  return a.env().Undefined();
}

// allFinite(x): no NaN or Inf in x (float32 or bf16: exponent bits all set)
static Napi::Value allFinite(const Args &a) {
  size_t n = a.length(0);
  Act x = a.act(0, n, "x");
  const int64_t N = (int64_t)n;
  bool ok;
  if (!x.bf16) {
    const uint32_t *u = x.as<uint32_t>();
    uint32_t bad = 0;
#pragma omp parallel for simd reduction(| : bad) schedule(static) if ((N) >= kParMin)
    for (int64_t i = 0; i < N; i++) bad |= (uint32_t)((u[i] & 0x7f800000u) == 0x7f800000u);
    ok = !bad;
  } else {
    const uint16_t *u = x.as<uint16_t>();
    uint16_t bad = 0;
#pragma omp parallel for simd reduction(| : bad) schedule(static) if ((N) >= kParMin)
    for (int64_t i = 0; i < N; i++) bad |= (uint16_t)((u[i] & 0x7f80u) == 0x7f80u);
    ok = !bad;
  }
  return Napi::Boolean::New(a.env(), ok);
}

static void softmaxF32(const float *x, float *y, int64_t P, int64_t C) {
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
}

/** bf16: whole pixels per float32 block, the float32 kernel's steps in place. */
static void softmaxBf16(const bf16 *x, bf16 *y, int64_t P, int64_t C) {
  const int64_t bp = C >= kBlk ? 1 : kBlk / C;
#pragma omp parallel if ((P * C) >= kParMin)
  {
    std::vector<float> e(bp * C);
#pragma omp for schedule(static)
    for (int64_t p0 = 0; p0 < P; p0 += bp) {
      const int64_t np = P - p0 < bp ? P - p0 : bp;
      toFloat(x + p0 * C, e.data(), np * C);
      for (int64_t p = 0; p < np; p++) {
        float *yi = e.data() + p * C;
        float m = yi[0];
        for (int64_t c = 1; c < C; c++) m = yi[c] > m ? yi[c] : m;
        float s = 0.f;
        for (int64_t c = 0; c < C; c++) { yi[c] = std::exp(yi[c] - m); s += yi[c]; }
        const float inv = 1.f / s;
        for (int64_t c = 0; c < C; c++) yi[c] *= inv;
      }
      roundBf16(e.data(), y + p0 * C, np * C);
    }
  }
}

// softmax(x, y, channels): over the contiguous channel axis of NHWC
static Napi::Value softmax(const Args &a) {
  size_t n = a.length(0);
  const int64_t C = a.i64(2);
  if (C < 1 || n % C) throw OpError(std::to_string(n) + " values are not whole pixels of " + std::to_string(C) + " channels");
  Act x = a.act(0, n, "x"), y = a.act(1, n, "y");
  a.sameType({{"x", x}, {"y", y}});
  if (x.bf16) softmaxBf16(x.as<bf16>(), y.as<bf16>(), (int64_t)n / C, C);
  else softmaxF32(x.as<float>(), y.as<float>(), (int64_t)n / C, C);
  return a.env().Undefined();
}

static void softmaxGradF32(const float *y, const float *dy, float *dx, int64_t P, int64_t C) {
#pragma omp parallel for schedule(static) if ((P * C) >= kParMin)
  for (int64_t p = 0; p < P; p++) {
    const float *yi = y + p * C, *gi = dy + p * C;
    float s = 0.f;
    for (int64_t c = 0; c < C; c++) s += yi[c] * gi[c];
    for (int64_t c = 0; c < C; c++) dx[p * C + c] = yi[c] * (gi[c] - s);
  }
}

/** bf16: whole pixels per float32 block, the float32 kernel's steps. */
static void softmaxGradBf16(const bf16 *y, const bf16 *dy, bf16 *dx, int64_t P, int64_t C) {
  const int64_t bp = C >= kBlk ? 1 : kBlk / C;
#pragma omp parallel if ((P * C) >= kParMin)
  {
    std::vector<float> ty(bp * C), tg(bp * C);
#pragma omp for schedule(static)
    for (int64_t p0 = 0; p0 < P; p0 += bp) {
      const int64_t np = P - p0 < bp ? P - p0 : bp;
      toFloat(y + p0 * C, ty.data(), np * C);
      toFloat(dy + p0 * C, tg.data(), np * C);
      for (int64_t p = 0; p < np; p++) {
        const float *yi = ty.data() + p * C;
        float *gi = tg.data() + p * C;
        float s = 0.f;
        for (int64_t c = 0; c < C; c++) s += yi[c] * gi[c];
        for (int64_t c = 0; c < C; c++) gi[c] = yi[c] * (gi[c] - s);
      }
      roundBf16(tg.data(), dx + p0 * C, np * C);
    }
  }
}

// softmaxGrad(y, dy, dx, channels): dx = y (dy - sum_k y dy)
static Napi::Value softmaxGrad(const Args &a) {
  size_t n = a.length(0);
  const int64_t C = a.i64(3);
  if (C < 1 || n % C) throw OpError(std::to_string(n) + " values are not whole pixels of " + std::to_string(C) + " channels");
  Act y = a.act(0, n, "y"), dy = a.act(1, n, "dy"), dx = a.act(2, n, "dx");
  a.sameType({{"y", y}, {"dy", dy}, {"dx", dx}});
  if (y.bf16) softmaxGradBf16(y.as<bf16>(), dy.as<bf16>(), dx.as<bf16>(), (int64_t)n / C, C);
  else softmaxGradF32(y.as<float>(), dy.as<float>(), dx.as<float>(), (int64_t)n / C, C);
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

static void dropoutF32(const float *x, float *y, int64_t len, double p, uint32_t stream, int64_t N, int64_t C,
                       int64_t H, int64_t W, bool nhwc) {
  const double thr = p * 4294967296.0;  // u / 2^32 >= p  <=>  hash >= p * 2^32 (exact)
  const float sc = (float)(1.0 / (1.0 - p));
  if (!nhwc) {
    const int64_t L = len;
#pragma omp parallel for simd schedule(static) if ((L) >= kParMin)
    for (int64_t i = 0; i < L; i++) {
      uint32_t u = mix((uint32_t)i * 0x9e3779b1u + stream);
      y[i] = (double)u >= thr ? x[i] * sc : 0.f;
    }
    return;
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
}

/** bf16: the same keep decisions as an integer compare (u >= ceil(p 2^32)) and a bit mask, so
 *  the loops have no branch and vectorise. */
static void dropoutBf16(const bf16 *x, bf16 *y, int64_t len, double p, uint32_t stream, int64_t N, int64_t C,
                        int64_t H, int64_t W, bool nhwc) {
  const double thr = std::ceil(p * 4294967296.0);
  if (!(thr <= 4294967295.0)) {  // nothing kept (p >= 1, or NaN as the float32 kernel)
#pragma omp parallel for simd schedule(static) if ((len) >= kParMin)
    for (int64_t i = 0; i < len; i++) y[i].bits = 0;
    return;
  }
  const uint32_t t = thr > 0 ? (uint32_t)thr : 0u;
  const float sc = (float)(1.0 / (1.0 - p));
  if (!nhwc) {
#pragma omp parallel for simd schedule(static) if ((len) >= kParMin)
    for (int64_t i = 0; i < len; i++) {
      const uint32_t u = mix((uint32_t)i * 0x9e3779b1u + stream);
      y[i].bits = toBf16(load(x[i]) * sc).bits & (uint16_t)-(u >= t);
    }
    return;
  }
  const int64_t HW = H * W;
#pragma omp parallel for collapse(2) schedule(static) if ((N * HW * C) >= kParMin)
  for (int64_t n = 0; n < N; n++)
    for (int64_t s = 0; s < HW; s++) {
      const bf16 *xi = x + (n * HW + s) * C;
      bf16 *yi = y + (n * HW + s) * C;
      const uint32_t base = (uint32_t)(n * C * HW + s);
#pragma omp simd
      for (int64_t c = 0; c < C; c++) {
        const uint32_t u = mix((base + (uint32_t)(c * HW)) * 0x9e3779b1u + stream);
        yi[c].bits = toBf16(load(xi[c]) * sc).bits & (uint16_t)-(u >= t);
      }
    }
}

// dropout(x, y, p, seed, step, n,c,h,w, nhwc): y = x / (1-p) where u >= p, else 0. With nhwc the
// buffer is NHWC and the hash index is the logical NCHW one; otherwise the index is linear.
static Napi::Value dropout(const Args &a) {
  size_t len = a.length(0);
  Act x = a.act(0, len, "x"), y = a.act(1, len, "y");
  a.sameType({{"x", x}, {"y", y}});
  const double p = a.num(2);
  const uint32_t seed = (uint32_t)(int64_t)a.num(3), step = (uint32_t)(int64_t)a.num(4);
  const int64_t N = a.i64(5), C = a.i64(6), H = a.i64(7), W = a.i64(8);
  const bool nhwc = a.flag(9);
  if (N * C * H * W != (int64_t)len) throw OpError("shape " + shape({N, C, H, W}) + " does not match " + std::to_string(len) + " values");
  const uint32_t stream = mix(seed ^ mix(step + 0x9e3779b9u));
  if (x.bf16) dropoutBf16(x.as<bf16>(), y.as<bf16>(), (int64_t)len, p, stream, N, C, H, W, nhwc);
  else dropoutF32(x.as<float>(), y.as<float>(), (int64_t)len, p, stream, N, C, H, W, nhwc);
  return a.env().Undefined();
}

void registerEltwise(Napi::Env env, Napi::Object ex) {
  def(env, ex, "unary", unary);
  def(env, ex, "unaryGrad", unaryGrad);
  def(env, ex, "binary", binary);
  def(env, ex, "addN", addN);
  def(env, ex, "meanAll", meanAll);
  def(env, ex, "allFinite", allFinite);
  def(env, ex, "fill", fill);
  def(env, ex, "softmax", softmax);
  def(env, ex, "softmaxGrad", softmaxGrad);
  def(env, ex, "dropout", dropout);
}

}  // namespace un
