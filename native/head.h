// Segmentation heads (1x1 conv, blocked input, < 16 output channels): see head.cc.
#pragma once
#include "conv.h"

namespace un {

/** y = conv1x1(x, w) + b (ReLU if relu), when g is such a head in blocked mode; false otherwise. */
bool headFwd(const ConvGeo &g, Act x, const float *w, const float *b, Act y, bool relu);

}  // namespace un
