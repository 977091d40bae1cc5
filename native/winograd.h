// Winograd F(2x2, 3x3) convolution for bf16 inference (conv + folded batch norm + ReLU).
#pragma once
#include "common.h"

namespace un {

/** Weights transformed once per layer: U[16][C/2][O][2] bf16 (input-channel pairs side by side,
 *  as vdpbf16ps multiplies them). */
struct WinogradWeights {
  int64_t c = 0, o = 0;
  std::vector<uint16_t> u;
};

/** Whether the Winograd kernel takes this conv: bf16, nChw16c in and out (the blocked layout, C % 16, O % 32), 3x3,
 *  stride 1, pad 1, even H and W of at least minSide (smaller images measured slower than oneDNN's
 *  direct kernel), the CPU has AVX512_BF16 and it is enabled (UNETPP_WINOGRAD=0 or
 *  setWinograd(false) turns it off). */
bool bf16WinogradTakes(ActLayout layout, int64_t c, int64_t o, int64_t h, int64_t w, int64_t k, int64_t stride, int64_t pad,
                       bool bf16);
bool winogradEnabled();
void setWinogradEnabled(bool on);

/** w: folded float32 weights [O][C][3][3]. */
void winogradWeights(const float *w, int64_t o, int64_t c, WinogradWeights &out);

/** y = relu?(conv3x3(x, w) + bias) over n images of nChw16c bf16; xs, ys: values between
 *  consecutive images (channel ranges of wider buffers), 0 when dense. */
void winogradConv(const bf16 *x, int64_t xs, bf16 *y, int64_t ys, int64_t n, int64_t h, int64_t w,
                  const WinogradWeights &u, const float *bias, bool relu);

}  // namespace un
