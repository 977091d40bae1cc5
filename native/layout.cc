// Layout changes of activations for upload/download and the NHWC fallback (NCHW, NHWC, nChw16c),
// through oneDNN's reorders: source and destination float32 or bf16 each, a float32 -> bf16
// reorder rounds (nearest even), bf16 -> float32 is exact. Plus the plain element-wise
// conversions f32ToBf16 / bf16ToF32.
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common.h"

namespace un {

#ifdef __SSE2__
/** toBf16 on 4 lanes without NaN, as the bf16 bits sign-extended to 32 (ready for a signed pack). */
static inline __m128i rne4(__m128 f) {
  const __m128i u = _mm_castps_si128(f);
  const __m128i lsb = _mm_and_si128(_mm_srli_epi32(u, 16), _mm_set1_epi32(1));
  return _mm_srai_epi32(_mm_add_epi32(_mm_add_epi32(u, _mm_set1_epi32(0x7fff)), lsb), 16);
}
/** toBf16 on 8 lanes; a NaN (rare) takes the scalar path. */
static inline __m128i round8(__m128 a, __m128 b) {
  if (__builtin_expect(_mm_movemask_ps(_mm_cmpunord_ps(a, b)) != 0, 0)) {
    alignas(16) float f[8];
    alignas(16) uint16_t h[8];
    _mm_store_ps(f, a);
    _mm_store_ps(f + 4, b);
    for (int k = 0; k < 8; k++) h[k] = toBf16(f[k]).bits;
    return _mm_load_si128(reinterpret_cast<const __m128i *>(h));
  }
  return _mm_packs_epi32(rne4(a), rne4(b));
}
#endif

/** dst[i] = toBf16(src[i]) for i < n, on one thread; the bf16 kernels compute float32 blocks and
 *  round them through this. GCC vectorises a toBf16 loop too, but narrows 32-bit lanes to 16
 *  with a chain of shuffles (~2.5x slower); a signed pack of the shifted lanes is one instruction. */
void roundBf16(const float *src, bf16 *dst, int64_t n) {
  int64_t i = 0;
#ifdef __SSE2__
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i *>(dst + i), round8(_mm_loadu_ps(src + i), _mm_loadu_ps(src + i + 4)));
#endif
  for (; i < n; i++) dst[i] = toBf16(src[i]);
}

// f32ToBf16(src: Float32Array, dst: bf16 Uint16Array): round to nearest even, NaN kept
static Napi::Value f32ToBf16(const Args &a) {
  const size_t n = a.length(0);
  const float *src = a.f32(0, n, "src");
  Act dst = a.act(1, n, "dst");
  if (!dst.bf16) throw OpError("dst (argument 1) must be a bf16 Uint16Array");
  bf16 *d = dst.as<bf16>();
  const int64_t N = (int64_t)n, kB = 4096;
#pragma omp parallel for schedule(static) if ((N) >= kParMin)
  for (int64_t b = 0; b < N; b += kB) roundBf16(src + b, d + b, N - b < kB ? N - b : kB);
  return a.env().Undefined();
}

// bf16ToF32(src: bf16 Uint16Array, dst: Float32Array): exact
static Napi::Value bf16ToF32(const Args &a) {
  const size_t n = a.length(0);
  Act src = a.act(0, n, "src");
  if (!src.bf16) throw OpError("src (argument 0) must be a bf16 Uint16Array");
  float *d = a.f32(1, n, "dst");
  const bf16 *s = src.as<bf16>();
  const int64_t N = (int64_t)n;
#pragma omp parallel for simd schedule(static) if ((N) >= kParMin)
  for (int64_t i = 0; i < N; i++) d[i] = toF32(s[i]);
  return a.env().Undefined();
}

static tag formatTag(int64_t f) {
  switch (f) {
    case 0: return tag::nchw;
    case 1: return tag::nhwc;
    case 2: return tag::nChw16c;
    default: throw OpError("unknown activation format " + std::to_string(f) + " (0 nchw, 1 nhwc, 2 nChw16c)");
  }
}

/** src (argument 0, format sfi) -> dst (argument dstArg, format dfi), n,c,h,w from argument
 *  dims: any of nchw / nhwc / nChw16c (0/1/2) to any, float32 or bf16 either side (oneDNN's
 *  reorder: rounds to nearest even into bf16). */
static Napi::Value reorderAct(const Args &a, int64_t sfi, int64_t dfi, size_t dstArg, size_t dims) {
  const int64_t N = a.i64(dims), C = a.i64(dims + 1), H = a.i64(dims + 2), W = a.i64(dims + 3);
  if (N < 1 || C < 1 || H < 1 || W < 1) throw OpError("invalid shape " + shape({N, C, H, W}));
  const tag sf = formatTag(sfi), df = formatTag(dfi);
  if ((sf == tag::nChw16c || df == tag::nChw16c) && C % 16) throw OpError("nChw16c needs a multiple of 16 channels, got " + std::to_string(C));
  Act src = a.act(0, N * C * H * W, "src"), dst = a.act(dstArg, N * C * H * W, "dst");
  memory::desc smd({N, C, H, W}, src.type(), sf), dmd({N, C, H, W}, dst.type(), df);
  auto &re = cached<dnnl::reorder>(key("reorderAct", {N, C, H, W, sfi, dfi, src.bf16, dst.bf16}), [&] {
    return new dnnl::reorder(memory(smd, engine(), nullptr), memory(dmd, engine(), nullptr));
  });
  memory from = wrap(smd, src.p), to = wrap(dmd, dst.p);
  SerialScope one(N * C * H * W < kParMin);
  re.execute(stream(), from, to);
  stream().wait();
  return a.env().Undefined();
}

// reorderAct(src, srcFormat, dst, dstFormat, n,c,h,w); nchwToNhwc(src, dst, n,c,h,w) and
// nhwcToNchw(...), the same between formats 0 and 1 (oneDNN's jit reorder: 5.7x faster than our
// tiled transpose was on the 3-channel input upload).
void registerLayout(Napi::Env env, Napi::Object ex) {
  def(env, ex, "reorderAct", [](const Args &a) { return reorderAct(a, a.i64(1), a.i64(3), 2, 4); });
  def(env, ex, "nchwToNhwc", [](const Args &a) { return reorderAct(a, 0, 1, 1, 2); });
  def(env, ex, "nhwcToNchw", [](const Args &a) { return reorderAct(a, 1, 0, 1, 2); });
  def(env, ex, "f32ToBf16", f32ToBf16);
  def(env, ex, "bf16ToF32", bf16ToF32);
}

}  // namespace un
