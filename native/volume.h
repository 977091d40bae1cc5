// The volume (5D) paths of the rank-generic pooling and up-sampling entries (native/volume.cc),
// called by pool.cc and resample.cc when the sizes argument has 3 values [d, h, w].
#pragma once
#include "common.h"

namespace un {

Napi::Value maxpool3dFwd(const Args &a);
Napi::Value maxpool3dBwd(const Args &a);
Napi::Value upsample3dFwd(const Args &a);
Napi::Value upsample3dBwd(const Args &a);
Napi::Value concatUp3dFwd(const Args &a);
Napi::Value concatUp3dBwd(const Args &a);

}  // namespace un
