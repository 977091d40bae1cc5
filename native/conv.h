// Convolution geometry shared by the conv kernels and the raw-oneDNN benchmark.
#pragma once
#include "common.h"

namespace un {

struct ConvGeo {
  int64_t n, c, h, w, o, kh, kw, stride, pad, ho, wo;
  bool deconv;  // transposed conv: weights [C,O,k,k] (PyTorch), stride = k, no padding
  memory::dims src() const { return {n, c, h, w}; }
  memory::dims dst() const { return {n, o, ho, wo}; }
  memory::dims wei() const { return {o, c, kh, kw}; }  // oneDNN's logical order for both kinds
  int64_t srcImage() const { return c * h * w; }       // values per image of x and y
  int64_t dstImage() const { return o * ho * wo; }
  std::string str() const;
};

/** Reads n,c,h,w,o,kh,kw,stride,pad from args[i..i+8]; checks the output size. */
ConvGeo convGeo(const Args &a, size_t i, bool deconv);

/** float32 convs (inference, and training's forward and both backward passes) run oneDNN's
 *  Winograd F(4x4, 3x3) (jit_wino_4x3, blocked activations only) when this holds: 3x3, stride 1,
 *  pad 1, C and O multiples of 16 (and the activations blocked), sides of at least UNETPP_WINOGRAD_MIN_SIDE_F32
 *  (default 12), Winograd not turned off (UNETPP_WINOGRAD=0, as for the bf16 kernel). */
bool fp32WinogradTakes(const ConvGeo &g, bool bf16);
/** A float32 Winograd primitive needing more scratchpad than this runs direct instead (conv.cc;
 *  UNETPP_WINOGRAD_MAX_SCRATCH_MB, default 160). */
size_t maxWinogradScratch();

}  // namespace un
