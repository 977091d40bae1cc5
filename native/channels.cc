// Channel concatenation and its gradient (split) over NHWC: per pixel, a run of channels.
// Activations are float32 or bf16 (one dtype per call); either way these are plain copies.
#include <string>
#include <type_traits>
#include <vector>

#include "common.h"

namespace un {

/** The storage copied for an activation dtype (a loop copying bf16 structs does not vectorise). */
template <class T> using Raw = std::conditional_t<std::is_same_v<T, float>, float, uint16_t>;

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
  def(env, ex, "splitChannels", split);
}

}  // namespace un
