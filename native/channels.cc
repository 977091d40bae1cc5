// Channel concatenation and its gradient (slice) over NHWC: per pixel, a run of channels.
#include <vector>

#include "common.h"

namespace un {

// concat([x1..xk], y, pixels): y[p] = x1[p] ++ ... ++ xk[p]; channel counts from the lengths.
// One pass writing whole output pixels (rather than k strided passes).
static Napi::Value concat(const Args &a) {
  if (!a.info[0].IsArray()) throw OpError("inputs must be an array of Float32Array");
  auto arr = a.info[0].As<Napi::Array>();
  const int64_t P = a.i64(2);
  if (P < 1) throw OpError("pixels must be >= 1");
  std::vector<const float *> xs;
  std::vector<int64_t> cs;
  int64_t ct = 0;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr[k];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw OpError("input " + std::to_string(k) + " must be a Float32Array");
    auto f = v.As<Napi::Float32Array>();
    if (f.ElementLength() % P || f.ElementLength() == 0)
      throw OpError("input " + std::to_string(k) + " has " + std::to_string(f.ElementLength()) + " values, not whole pixels of " + std::to_string(P));
    xs.push_back(f.Data());
    cs.push_back((int64_t)f.ElementLength() / P);
    ct += cs.back();
  }
  float *y = a.f32(1, P * ct, "y");
  const int K = (int)xs.size();
#pragma omp parallel for schedule(static) if ((P * ct) >= kParMin)
  for (int64_t p = 0; p < P; p++) {
    float *d = y + p * ct;
    for (int k = 0; k < K; k++) {
      const int64_t c = cs[k];
      const float *s = xs[k] + p * c;
#pragma omp simd
      for (int64_t i = 0; i < c; i++) d[i] = s[i];
      d += c;
    }
  }
  return a.env().Undefined();
}

// sliceChannels(dy, dx, pixels, ctot, start, count): dx[p, c] = dy[p, start + c]
static Napi::Value slice(const Args &a) {
  const int64_t P = a.i64(2), ct = a.i64(3), st = a.i64(4), cnt = a.i64(5);
  if (P < 1 || cnt < 1 || st < 0 || st + cnt > ct) throw OpError("channels " + std::to_string(st) + ".." + std::to_string(st + cnt) + " outside " + std::to_string(ct));
  const float *dy = a.f32(0, P * ct, "dy");
  float *dx = a.f32(1, P * cnt, "dx");
#pragma omp parallel for schedule(static) if ((P * cnt) >= kParMin)
  for (int64_t p = 0; p < P; p++) {
    const float *s = dy + p * ct + st;
    float *d = dx + p * cnt;
#pragma omp simd
    for (int64_t c = 0; c < cnt; c++) d[c] = s[c];
  }
  return a.env().Undefined();
}

// splitChannels(dy, [dx1..dxk], pixels): the inverse of concat, in one pass over dy (k slices
// would each stream all of dy through the cache to read their channels).
static Napi::Value split(const Args &a) {
  if (!a.info[1].IsArray()) throw OpError("outputs must be an array of Float32Array");
  auto arr = a.info[1].As<Napi::Array>();
  const int64_t P = a.i64(2);
  if (P < 1) throw OpError("pixels must be >= 1");
  std::vector<float *> xs;
  std::vector<int64_t> cs;
  int64_t ct = 0;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr[k];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw OpError("output " + std::to_string(k) + " must be a Float32Array");
    auto f = v.As<Napi::Float32Array>();
    if (f.ElementLength() % P || f.ElementLength() == 0)
      throw OpError("output " + std::to_string(k) + " has " + std::to_string(f.ElementLength()) + " values, not whole pixels of " + std::to_string(P));
    xs.push_back(f.Data());
    cs.push_back((int64_t)f.ElementLength() / P);
    ct += cs.back();
  }
  const float *dy = a.f32(0, P * ct, "dy");
  const int K = (int)xs.size();
#pragma omp parallel for schedule(static) if ((P * ct) >= kParMin)
  for (int64_t p = 0; p < P; p++) {
    const float *s = dy + p * ct;
    for (int k = 0; k < K; k++) {
      const int64_t c = cs[k];
      float *d = xs[k] + p * c;
#pragma omp simd
      for (int64_t i = 0; i < c; i++) d[i] = s[i];
      s += c;
    }
  }
  return a.env().Undefined();
}

void registerChannels(Napi::Env env, Napi::Object ex) {
  def(env, ex, "concat", concat);
  def(env, ex, "sliceChannels", slice);
  def(env, ex, "splitChannels", split);
}

}  // namespace un
