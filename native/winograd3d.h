// Winograd F(2x2x2, 3x3x3) for float32 volume convs (training and inference, nCdhw16c).
#pragma once
#include "conv.h"

namespace un {

/** Transformed weights U[64][K][N] (N contiguous): for each of the 64 positions p, the K x N
 *  matrix the tiles' transformed inputs (K channels) are multiplied by to give N channels. */
struct Winograd3dWeights {
  int64_t k = 0, n = 0;
  std::vector<float> u;
};

/** The pass a conv runs; the rule may take Winograd for some passes of a shape and not others. */
enum class Pass { kFwd, kBwdData, kBwdWeights };

/** Whether a volume conv of geometry g runs this kernel for `pass`: float32, blocked in and out
 *  (C and O multiples of 16), 3x3x3, stride 1, pad 1, a CPU with AVX-512, Winograd enabled
 *  (UNETPP_WINOGRAD=0 / setWinograd(false) turn all Winograd off; UNETPP_WINOGRAD3D or
 *  setWinograd3d: 0 off, 1 where measured faster (default), 2 every shape the kernel can run). */
bool winograd3dTakes(const ConvGeo &g, bool bf16, Pass pass);
/** Whether this build has the kernel (AVX-512; not the portable prebuilt addon). */
bool winograd3dBuilt();
void setWinograd3dMode(int mode);

/** U from w [O][C][3][3][3] (OIDHW): K = C, N = O. flip: the data gradient's weights instead,
 *  w turned by 180 degrees in all three axes with C and O swapped (K = O, N = C). */
void winograd3dWeights(const float *w, int64_t o, int64_t c, bool flip, Winograd3dWeights &out);

/** y = relu?(conv3x3x3(x, w) + bias) over n volumes d x h x w of nCdhw16c float32 (pad 1, stride 1);
 *  xs, ys: values between consecutive volumes (0 when dense); bias may be null. */
void winograd3dConv(const float *x, int64_t xs, float *y, int64_t ys, int64_t n, int64_t d, int64_t h, int64_t w,
                    const Winograd3dWeights &u, const float *bias, bool relu);

/** dw [O][C][3][3][3] of that conv from x (C channels) and dy (O channels), both dense nCdhw16c;
 *  db[o] = sum of dy's channel o, if db is not null. */
void winograd3dWeightGrad(const float *x, const float *dy, int64_t n, int64_t c, int64_t o, int64_t d, int64_t h,
                          int64_t w, float *dw, float *db);

}  // namespace un
