// The volume (5D) paths of the rank-generic pooling and up-sampling entries (native/volume.cc),
// called by pool.cc and resample.cc when the sizes argument has 3 values [d, h, w]. Each takes
// optional per-axis factors [fd, fh, fw] as its last argument (volume.cc).
#pragma once
#include "common.h"

namespace un {

Napi::Value maxpool3dFwd(const Args &a);
Napi::Value maxpool3dBwd(const Args &a);
Napi::Value upsample3dFwd(const Args &a);
Napi::Value upsample3dBwd(const Args &a);
Napi::Value concatUp3dFwd(const Args &a);
Napi::Value concatUp3dBwd(const Args &a);
/** Image paths: throws if argument i (where a volume's factors go) is given (not undefined or null). */
void imageFactors(const Args &a, size_t i);

}  // namespace un
