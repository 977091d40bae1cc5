// Channel concatenation and its gradient (slice) over NHWC: per pixel, a run of channels.
// Activations are float32 or bf16 (one dtype per call); either way these are plain copies.
#include <string>
#include <type_traits>
#include <vector>

#include "common.h"

namespace un {

/** The storage copied for an activation dtype (a loop copying bf16 structs does not vectorise). */
template <class T> using Raw = std::conditional_t<std::is_same_v<T, float>, float, uint16_t>;

/** The activations of a JS array argument (Float32Array or bf16 Uint16Array, whole pixels of P). */
struct ActList {
  std::vector<Act> acts;
  std::vector<int64_t> cs;  // channels of each
  int64_t ct = 0;           // their sum
};

static ActList actList(const Args &a, size_t i, int64_t P, const char *what) {
  if (i >= a.count() || !a.info[i].IsArray()) throw OpError(std::string(what) + " must be an array of Float32Array or bf16 Uint16Array");
  auto arr = a.info[i].As<Napi::Array>();
  ActList l;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr[k];
    const std::string name = std::string(what) + "[" + std::to_string(k) + "]";
    if (!v.IsTypedArray()) throw OpError(name + " must be a Float32Array or a bf16 Uint16Array");
    auto t = v.As<Napi::TypedArray>();
    const bool isF = t.TypedArrayType() == napi_float32_array, isH = t.TypedArrayType() == napi_uint16_array;
    if (!isF && !isH) throw OpError(name + " must be a Float32Array or a bf16 Uint16Array");
    const int64_t len = (int64_t)t.ElementLength();
    if (len % P || len == 0)
      throw OpError(name + " has " + std::to_string(len) + " values, not whole pixels of " + std::to_string(P));
    l.acts.push_back(Act{static_cast<uint8_t *>(t.ArrayBuffer().Data()) + t.ByteOffset(), isH});
    l.cs.push_back(len / P);
    l.ct += l.cs.back();
  }
  return l;
}

/** Every member of l has the dtype of `other` (an error names both otherwise). */
static void sameTypes(const Args &a, const ActList &l, const char *what, const char *otherName, Act other) {
  for (size_t k = 0; k < l.acts.size(); k++) {
    const std::string name = std::string(what) + "[" + std::to_string(k) + "]";
    a.sameType({{otherName, other}, {name.c_str(), l.acts[k]}});
  }
}

template <class R>
static void concatT(const ActList &l, int64_t P, R *y) {
  const int64_t ct = l.ct;
  const int K = (int)l.acts.size();
#pragma omp parallel for schedule(static) if ((P * ct) >= kParMin)
  for (int64_t p = 0; p < P; p++) {
    R *d = y + p * ct;
    for (int k = 0; k < K; k++) {
      const int64_t c = l.cs[k];
      const R *s = l.acts[k].as<R>() + p * c;
#pragma omp simd
      for (int64_t i = 0; i < c; i++) d[i] = s[i];
      d += c;
    }
  }
}

// concat([x1..xk], y, pixels): y[p] = x1[p] ++ ... ++ xk[p]; channel counts from the lengths.
// One pass writing whole output pixels (rather than k strided passes).
static Napi::Value concat(const Args &a) {
  const int64_t P = a.i64(2);
  if (P < 1) throw OpError("pixels must be >= 1");
  ActList l = actList(a, 0, P, "inputs");
  Act y = a.act(1, P * l.ct, "y");
  sameTypes(a, l, "inputs", "y", y);
  dispatch(y.bf16, [&](auto *tag) {
    using R = Raw<std::remove_pointer_t<decltype(tag)>>;
    concatT<R>(l, P, y.as<R>());
  });
  return a.env().Undefined();
}

template <class R>
static void sliceT(const R *dy, R *dx, int64_t P, int64_t ct, int64_t st, int64_t cnt) {
#pragma omp parallel for schedule(static) if ((P * cnt) >= kParMin)
  for (int64_t p = 0; p < P; p++) {
    const R *s = dy + p * ct + st;
    R *d = dx + p * cnt;
#pragma omp simd
    for (int64_t c = 0; c < cnt; c++) d[c] = s[c];
  }
}

// sliceChannels(dy, dx, pixels, ctot, start, count): dx[p, c] = dy[p, start + c]
static Napi::Value slice(const Args &a) {
  const int64_t P = a.i64(2), ct = a.i64(3), st = a.i64(4), cnt = a.i64(5);
  if (P < 1 || cnt < 1 || st < 0 || st + cnt > ct) throw OpError("channels " + std::to_string(st) + ".." + std::to_string(st + cnt) + " outside " + std::to_string(ct));
  Act dy = a.act(0, P * ct, "dy"), dx = a.act(1, P * cnt, "dx");
  a.sameType({{"dy", dy}, {"dx", dx}});
  dispatch(dy.bf16, [&](auto *tag) {
    using R = Raw<std::remove_pointer_t<decltype(tag)>>;
    sliceT<R>(dy.as<R>(), dx.as<R>(), P, ct, st, cnt);
  });
  return a.env().Undefined();
}

template <class R>
static void splitT(const R *dy, const ActList &l, int64_t P) {
  const int64_t ct = l.ct;
  const int K = (int)l.acts.size();
#pragma omp parallel for schedule(static) if ((P * ct) >= kParMin)
  for (int64_t p = 0; p < P; p++) {
    const R *s = dy + p * ct;
    for (int k = 0; k < K; k++) {
      const int64_t c = l.cs[k];
      R *d = l.acts[k].as<R>() + p * c;
#pragma omp simd
      for (int64_t i = 0; i < c; i++) d[i] = s[i];
      s += c;
    }
  }
}

// splitChannels(dy, [dx1..dxk], pixels): the inverse of concat, in one pass over dy (k slices
// would each stream all of dy through the cache to read their channels).
static Napi::Value split(const Args &a) {
  const int64_t P = a.i64(2);
  if (P < 1) throw OpError("pixels must be >= 1");
  ActList l = actList(a, 1, P, "outputs");
  Act dy = a.act(0, P * l.ct, "dy");
  sameTypes(a, l, "outputs", "dy", dy);
  dispatch(dy.bf16, [&](auto *tag) {
    using R = Raw<std::remove_pointer_t<decltype(tag)>>;
    splitT<R>(dy.as<R>(), l, P);
  });
  return a.env().Undefined();
}

void registerChannels(Napi::Env env, Napi::Object ex) {
  def(env, ex, "concat", concat);
  def(env, ex, "sliceChannels", slice);
  def(env, ex, "splitChannels", split);
}

}  // namespace un
