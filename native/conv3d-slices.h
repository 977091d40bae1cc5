// Volumes' weight gradients as 2D ones over depth slices (conv3d-slices.cc).
#pragma once
#include "conv.h"

namespace un {

/** dw (OIDHW, float32) of a stride-1 same-size 3D conv on NDHWC float32 activations, through
 *  oneDNN's 2D kernel, where its 3D one is im2col + GEMM or reference; false (nothing done)
 *  where that does not apply. */
bool volumeWeightGradBySlices(const ConvGeo &g, Act x, Act dy, float *dw);

}  // namespace un
