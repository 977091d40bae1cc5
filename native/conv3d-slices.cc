// The weight gradient of a stride-1 "same" 3D convolution on NDHWC activations, as 2D weight
// gradients over depth slices. oneDNN 2.6 has no jit kernel for 3D weight gradients on AVX2 (it
// runs im2col + GEMM on NDHWC and its reference kernel on nCdhw8c) while its 2D AVX2 kernel
// takes NHWC directly. For each depth tap kd (offset t = kd - padD; a 1xkxk kernel has one, t = 0):
//   dw[:, :, kd] = sum over n and valid d of conv2d_weight_grad(x[n, d + t], dy[n, d])
// where the slices of x and dy are consecutive NHWC images in NDHWC memory. Measured for
// C80 -> 16 at 48^3, batch 2 (2 threads, AVX2): 3 x 67 ms against 465 ms for the 3D kernel.
#include "conv3d-slices.h"

#include <vector>

namespace un {

using BwdW = dnnl::convolution_backward_weights;
using Fwd = dnnl::convolution_forward;

namespace {

/** One 2D weight-gradient primitive over `batch` slices, its result reordered to OIHW. */
struct SliceGrad {
  BwdW::primitive_desc pd;
  BwdW prim;
  bool reorderOut = false;
  memory buf;
  dnnl::reorder re;
  memory::desc x, dy, user;
};

memory::desc nhwc(int64_t n, int64_t c, int64_t h, int64_t w) { return {{n, c, h, w}, dt::f32, tag::nhwc}; }

bool slow(const dnnl::primitive_desc_base &pd) {
  const std::string impl = pd.impl_info_str();
  return impl.rfind("ref", 0) == 0 || impl.find("gemm") != std::string::npos;
}

BwdW::primitive_desc slicePd(const ConvGeo &g, int64_t batch) {
  const memory::desc x = nhwc(batch, g.c, g.h, g.w), dy = nhwc(batch, g.o, g.ho, g.wo);
  const memory::desc w({g.o, g.c, g.kh, g.kw}, dt::f32, tag::any);
  const memory::dims st{1, 1}, pad{g.padH, g.padW};
  Fwd::desc fd(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, x, w, dy, st, pad, pad);
  Fwd::primitive_desc hint(fd, baseAttr(), engine());
  BwdW::desc d(dnnl::algorithm::convolution_direct, x, w, dy, st, pad, pad);
  return BwdW::primitive_desc(d, baseAttr(), engine(), hint);
}

SliceGrad &sliceGrad(const ConvGeo &g, int64_t batch) {
  return cached<SliceGrad>(key("convBwdWSlices", {g.c, g.h, g.w, g.o, g.kh, g.kw, g.padH, g.padW, batch}), [&] {
    auto *e = new SliceGrad();
    e->pd = slicePd(g, batch);
    e->prim = BwdW(e->pd);
    e->x = e->pd.src_desc();
    e->dy = e->pd.diff_dst_desc();
    e->user = memory::desc({g.o, g.c, g.kh, g.kw}, dt::f32, tag::oihw);
    e->reorderOut = e->pd.diff_weights_desc() != e->user;
    if (e->reorderOut) {
      e->buf = memory(e->pd.diff_weights_desc(), engine());
      e->re = dnnl::reorder(e->buf, memory(e->user, engine(), nullptr));
    }
    return e;
  });
}

/** The 2D weight gradient of `batch` slices starting at x and dy, into out (OIHW). */
void runSlices(const ConvGeo &g, int64_t batch, const float *x, const float *dy, float *out) {
  SliceGrad &e = sliceGrad(g, batch);
  memory outUser = wrap(e.user, out);
  run(e.prim, e.pd, {{DNNL_ARG_SRC, wrap(e.x, const_cast<float *>(x))},
                     {DNNL_ARG_DIFF_DST, wrap(e.dy, const_cast<float *>(dy))},
                     {DNNL_ARG_DIFF_WEIGHTS, e.reorderOut ? e.buf : outUser}});
  if (e.reorderOut) {
    e.re.execute(stream(), e.buf, outUser);
    stream().wait();
  }
}

}  // namespace

bool volumeWeightGradBySlices(const ConvGeo &g, Act x, Act dy, float *dw) {
  if (!g.vol || g.deconv || x.bf16 || g.stride != 1 || g.dout != g.d || g.ho != g.h || g.wo != g.w) return false;
  if (g.layout.blockedC(g.c) || g.layout.blockedC(g.o)) return false;
  // Only where oneDNN's own 3D kernel is the slow one and its 2D kernel is not (decided once).
  const bool take = cached<bool>(key("convBwdW3dBySlices", {g.n, g.c, g.d, g.h, g.w, g.o, g.kd, g.kh, g.kw, g.padD, g.padH, g.padW}), [&] {
    const memory::desc x5({g.n, g.c, g.d, g.h, g.w}, dt::f32, tag::ndhwc), y5({g.n, g.o, g.d, g.h, g.w}, dt::f32, tag::ndhwc);
    const memory::desc w5({g.o, g.c, g.kd, g.kh, g.kw}, dt::f32, tag::any);
    const memory::dims st(3, 1), pad{g.padD, g.padH, g.padW};
    Fwd::desc fd(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, x5, w5, y5, st, pad, pad);
    Fwd::primitive_desc hint(fd, baseAttr(), engine());
    BwdW::primitive_desc pd3(BwdW::desc(dnnl::algorithm::convolution_direct, x5, w5, y5, st, pad, pad), baseAttr(),
                             engine(), hint);
    return new bool(slow(pd3) && !slow(slicePd(g, g.n * g.d)));
  });
  if (!take) return false;

  const int64_t k = g.kd, plane = g.kh * g.kw, taps = g.o * g.c * plane;
  const int64_t xSlice = g.c * g.h * g.w, ySlice = g.o * g.ho * g.wo;
  const float *xp = x.as<float>(), *yp = dy.as<float>();
  float *part = static_cast<float *>(scratch(kTmp0, 2 * taps * sizeof(float)));
  float *sum = part + taps;
  for (int64_t kd = 0; kd < k; kd++) {
    const int64_t t = kd - g.padD;
    if (t == 0) {
      runSlices(g, g.n * g.d, xp, yp, sum);  // every slice pairs with its own: one call
    } else {
      const int64_t count = g.d - (t < 0 ? -t : t), d0 = t < 0 ? -t : 0;
      std::fill(sum, sum + taps, 0.f);
      for (int64_t n = 0; count > 0 && n < g.n; n++) {  // images apart: slices of two must not pair
        runSlices(g, count, xp + (n * g.d + d0 + t) * xSlice, yp + (n * g.d + d0) * ySlice, part);
        for (int64_t i = 0; i < taps; i++) sum[i] += part[i];
      }
    }
    // OIHW of tap kd -> dw[o][c][kd][kh][kw]
    for (int64_t oc = 0; oc < g.o * g.c; oc++)
      std::copy(sum + oc * plane, sum + (oc + 1) * plane, dw + (oc * k + kd) * plane);
  }
  return true;
}

}  // namespace un
