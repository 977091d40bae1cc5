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

}  // namespace un
