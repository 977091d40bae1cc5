// NCHW <-> NHWC copies for upload/download of activations: tiled transposes of each image's
// C x HW matrix, so both sides stream through cache.
#include "common.h"

namespace un {

static constexpr int64_t kTile = 32;

static void transpose(const float *src, float *dst, int64_t N, int64_t R, int64_t Cc) {
  // per image: src is R x Cc (row-major), dst is Cc x R
#pragma omp parallel for collapse(3) schedule(static) if ((N * R * Cc) >= kParMin)
  for (int64_t n = 0; n < N; n++)
    for (int64_t r0 = 0; r0 < R; r0 += kTile)
      for (int64_t c0 = 0; c0 < Cc; c0 += kTile) {
        const float *s = src + n * R * Cc;
        float *d = dst + n * R * Cc;
        const int64_t r1 = r0 + kTile < R ? r0 + kTile : R, c1 = c0 + kTile < Cc ? c0 + kTile : Cc;
        for (int64_t c = c0; c < c1; c++)
          for (int64_t r = r0; r < r1; r++) d[c * R + r] = s[r * Cc + c];
      }
}

static Napi::Value reorder(const Args &a, bool toNhwc) {
  const int64_t N = a.i64(2), C = a.i64(3), H = a.i64(4), W = a.i64(5);
  if (N < 1 || C < 1 || H < 1 || W < 1) throw OpError("invalid shape " + shape({N, C, H, W}));
  const float *src = a.f32(0, N * C * H * W, "src");
  float *dst = a.f32(1, N * C * H * W, "dst");
  if (toNhwc) transpose(src, dst, N, C, H * W);  // C x HW -> HW x C
  else transpose(src, dst, N, H * W, C);         // HW x C -> C x HW
  return a.env().Undefined();
}

// nchwToNhwc(src, dst, n,c,h,w), nhwcToNchw(src, dst, n,c,h,w)
void registerLayout(Napi::Env env, Napi::Object ex) {
  def(env, ex, "nchwToNhwc", [](const Args &a) { return reorder(a, true); });
  def(env, ex, "nhwcToNchw", [](const Args &a) { return reorder(a, false); });
}

}  // namespace un
