// Segmentation heads (1x1 conv, blocked input, < 16 output channels): see head.cc. Each returns
// false, doing nothing, when g is not such a head (g.layout blocked, its input channels a multiple of 16).
#pragma once
#include "conv.h"

namespace un {

/** Whether g is such a head (in g's layout). */
bool isHead(const ConvGeo &g);
/** y = conv1x1(x, w) + b (ReLU if relu). */
bool headFwd(const ConvGeo &g, Act x, const float *w, const float *b, Act y, bool relu);
/** dx = the gradient of x given dy. */
bool headBwdData(const ConvGeo &g, Act dy, const float *w, Act dx);
/** dw (OIHW, float32) and db (optional) given x and dy. */
bool headBwdWeights(const ConvGeo &g, Act x, Act dy, float *dw, float *db);

}  // namespace un
