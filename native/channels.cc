// Channel concatenation and its gradient (slice) over NHWC: per pixel, a run of channels.
#include "common.h"

namespace un {

// concatPart(x, y, pixels, cx, ctot, offset): y[p, offset + c] = x[p, c]
static Napi::Value concatPart(const Args &a) {
  const int64_t P = a.i64(2), cx = a.i64(3), ct = a.i64(4), off = a.i64(5);
  if (P < 1 || cx < 1 || off < 0 || off + cx > ct) throw OpError("channels " + std::to_string(off) + ".." + std::to_string(off + cx) + " outside " + std::to_string(ct));
  const float *x = a.f32(0, P * cx, "x");
  float *y = a.f32(1, P * ct, "y");
#pragma omp parallel for schedule(static) if ((P * cx) >= kParMin)
  for (int64_t p = 0; p < P; p++) {
    const float *s = x + p * cx;
    float *d = y + p * ct + off;
#pragma omp simd
    for (int64_t c = 0; c < cx; c++) d[c] = s[c];
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

void registerChannels(Napi::Env env, Napi::Object ex) {
  def(env, ex, "concatPart", concatPart);
  def(env, ex, "sliceChannels", slice);
}

}  // namespace un
