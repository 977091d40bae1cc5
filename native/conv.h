// Convolution geometry shared by the conv kernels and the raw-oneDNN benchmark.
#pragma once
#include "common.h"

namespace un {

struct ConvGeo {
  // pad: the padding of every axis, or -1 where the axes differ (per-axis kernels such as 1x3x3: pad [0, 1, 1])
  int64_t n, c, h, w, o, kh, kw, stride, pad, ho, wo;
  bool deconv;  // transposed conv: weights [C,O,k,k(,k)] (PyTorch), stride = k, no padding
  // Volumes (vol): a depth axis in front of h, a kernel per axis (kd x kh x kw; transposed convs cubic); 2D: all 1.
  bool vol = false;
  int64_t d = 1, kd = 1, dout = 1;
  int64_t padD = 0, padH = 0, padW = 0;  // per axis, always set (padD 0 for images)
  ActLayout layout{};  // of x and y (the geometry object's `layout`)
  memory::dims src() const { return vol ? memory::dims{n, c, d, h, w} : memory::dims{n, c, h, w}; }
  memory::dims dst() const { return vol ? memory::dims{n, o, dout, ho, wo} : memory::dims{n, o, ho, wo}; }
  // oneDNN's logical order for both kinds
  memory::dims wei() const { return vol ? memory::dims{o, c, kd, kh, kw} : memory::dims{o, c, kh, kw}; }
  int64_t srcImage() const { return c * d * h * w; }  // values per image of x and y
  int64_t dstImage() const { return o * dout * ho * wo; }
  /** Spatial axes (2 or 3). */
  int rank() const { return vol ? 3 : 2; }
  std::string str() const;
};

/** Reads the geometry object {n, c, o, size, kernel, stride, pad, layout} at args[i] (vol: 3 sizes and 3 kernel
 *  sizes, cubic for transposed convs, else 2; pad a number or one per axis; layout 'nhwc' or 'blocked'); checks
 *  the output size. */
ConvGeo convGeo(const Args &a, size_t i, bool deconv, bool vol = false);
/** Whether the geometry object at args[i] is a volume's (size has 3 values). */
bool volGeo(const Args &a, size_t i);

/** float32 convs (inference, and training's forward and both backward passes) run oneDNN's
 *  Winograd F(4x4, 3x3) (jit_wino_4x3, blocked activations only) when this holds: 3x3, stride 1,
 *  pad 1, C and O multiples of 16 (and the activations blocked), sides of at least UNETPP_WINOGRAD_MIN_SIDE_F32
 *  (default 12), Winograd not turned off (UNETPP_WINOGRAD=0, as for the bf16 kernel). */
bool fp32WinogradTakes(const ConvGeo &g, bool bf16);
/** A float32 Winograd primitive needing more scratchpad than this runs direct instead (conv.cc;
 *  UNETPP_WINOGRAD_MAX_SCRATCH_MB, default 160). */
size_t maxWinogradScratch();

}  // namespace un
