// benchConvRaw: oneDNN's own convolution primitives with the layouts they prefer ("format any"
// everywhere), timed on pre-filled buffers: the kernel floor our graph is compared against.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common.h"
#include "conv.h"

namespace un {

using dnnl::algorithm;
using dnnl::prop_kind;

static memory filled(const memory::desc &md, uint32_t seed) {
  memory m(md, engine());
  const bool bf16 = md.data_type() == dt::bf16;
  size_t n = md.get_size() / (bf16 ? 2 : 4);
  for (size_t i = 0; i < n; i++) {  // uniform in [-1, 1): never denormal
    seed = seed * 1664525u + 1013904223u;
    float v = (float)((seed >> 8) * (1.0 / 8388608.0) - 1.0);
    if (bf16) {
      uint32_t u;
      std::memcpy(&u, &v, 4);
      static_cast<uint16_t *>(m.get_data_handle())[i] = (uint16_t)(u >> 16);
    } else {
      static_cast<float *>(m.get_data_handle())[i] = v;
    }
  }
  return m;
}

static double medianMs(int iters, const std::function<void()> &f) {
  for (int i = 0; i < 3; i++) f();  // warm-up: JIT, caches, page faults
  std::vector<double> t;
  for (int i = 0; i < iters; i++) {
    auto a = std::chrono::steady_clock::now();
    f();
    auto b = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double, std::milli>(b - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

static int64_t opt(Napi::Object o, const char *k, int64_t d) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : d;
}

// benchConvRaw({n,c,o,d,h,w,k,pad,iters,bias,bf16,nhwc,winograd}): d > 0 for volumes (3D conv,
// cubic kernel, k^3; nhwc then means ndhwc; no Winograd) -> {fwdMs, bwdDataMs, bwdWeightsMs, impl: {...}}
// bf16: activations and weights in bf16, bias and weight gradients in f32 (mixed precision).
static Napi::Value benchConvRaw(const Args &a) {
  if (!a.info[0].IsObject()) throw OpError("expects an options object {n,c,o,h,w,k,pad,iters}");
  auto o = a.info[0].As<Napi::Object>();
  const int64_t n = opt(o, "n", 16), c = opt(o, "c", 32), oc = opt(o, "o", c), h = opt(o, "h", 96), w = opt(o, "w", h);
  const int64_t k = opt(o, "k", 3), pad = opt(o, "pad", k / 2), iters = opt(o, "iters", 20), d = opt(o, "d", 0);
  const int64_t dout = d > 0 ? d + 2 * pad - k + 1 : 0;
  const bool bias = !o.Get("bias").IsBoolean() || o.Get("bias").As<Napi::Boolean>().Value();
  const int64_t ho = h + 2 * pad - k + 1, wo = w + 2 * pad - k + 1;
  if (n < 1 || c < 1 || oc < 1 || ho < 1 || wo < 1 || iters < 1 || d < 0 || (d > 0 && dout < 1)) throw OpError("invalid shape");
  const bool vol = d > 0;
  /** Spatial dims of a volume or an image, after n and channels. */
  auto dims = [&](int64_t a, int64_t b, int64_t dd, int64_t hh, int64_t ww) {
    return vol ? memory::dims{a, b, dd, hh, ww} : memory::dims{a, b, hh, ww};
  };
  const bool bf16 = o.Get("bf16").IsBoolean() && o.Get("bf16").As<Napi::Boolean>().Value();
  const dt act = bf16 ? dt::bf16 : dt::f32;
  // nhwc: activations in our layout (weights still "any"), to separate the layout's cost from ours
  const bool nhwc = o.Get("nhwc").IsBoolean() && o.Get("nhwc").As<Napi::Boolean>().Value();
  auto any = [](memory::dims d, dt t) { return memory::desc(d, t, tag::any); };
  auto actMd = [&](memory::dims dd) { return memory::desc(dd, act, nhwc ? (vol ? tag::ndhwc : tag::nhwc) : tag::any); };
  // winograd: float32 3x3 convs as the engine runs them in blocked mode (oneDNN's F(4x4, 3x3) on
  // nChw16c where fp32WinogradTakes), if oneDNN has it for this shape; the direct conv otherwise.
  ConvGeo geo{n, c, h, w, oc, k, k, 1, pad, ho, wo, false};
  geo.padH = geo.padW = pad;
  const bool wino = !vol && o.Get("winograd").IsBoolean() && o.Get("winograd").As<Napi::Boolean>().Value() && !nhwc &&
                    fp32WinogradTakes(geo, bf16);
  const memory::dims wdims = vol ? memory::dims{oc, c, k, k, k} : memory::dims{oc, c, k, k};
  memory::desc dwei = any(wdims, dt::f32);
  memory::desc bmd = bias ? memory::desc({oc}, dt::f32, tag::x) : memory::desc();
  memory::dims st(vol ? 3 : 2, 1), pd(vol ? 3 : 2, pad);
  auto attr = baseAttr();
  struct Pds {
    dnnl::convolution_forward::primitive_desc f;
    dnnl::convolution_backward_data::primitive_desc d;
    dnnl::convolution_backward_weights::primitive_desc w;
  };
  auto make = [&](algorithm alg) {
    const bool blk = alg == algorithm::convolution_winograd;
    auto md = [&](memory::dims dd) { return blk ? memory::desc(dd, act, tag::nChw16c) : actMd(dd); };
    memory::desc src = md(dims(n, c, d, h, w)), wei = any(wdims, act), dst = md(dims(n, oc, dout, ho, wo));
    dnnl::convolution_forward::desc fd(prop_kind::forward_training, alg, src, wei, bmd, dst, st, pd, pd);
    dnnl::convolution_forward::primitive_desc fpd(fd, attr, engine());
    dnnl::convolution_backward_data::desc dd(alg, src, wei, dst, st, pd, pd);
    dnnl::convolution_backward_weights::desc wd(alg, src, dwei, bmd, dst, st, pd, pd);
    return Pds{fpd, {dd, attr, engine(), fpd}, {wd, attr, engine(), fpd}};
  };
  // The engine's choice (withAlg in conv.cc), primitive by primitive: Winograd where oneDNN has
  // it for the shape and its scratchpad is within maxWinogradScratch(), else direct.
  Pds pds = make(algorithm::convolution_direct);
  if (wino) try {
      Pds w = make(algorithm::convolution_winograd);
      const size_t cap = maxWinogradScratch();
      if (w.f.scratchpad_desc().get_size() <= cap) pds.f = w.f;
      if (w.d.scratchpad_desc().get_size() <= cap) pds.d = w.d;
      if (w.w.scratchpad_desc().get_size() <= cap) pds.w = w.w;
    } catch (const dnnl::error &) {
    }
  auto &fpd = pds.f;
  auto &dpd = pds.d;
  auto &wpd = pds.w;

  memory x = filled(fpd.src_desc(), 1), wt = filled(fpd.weights_desc(), 2), y = filled(fpd.dst_desc(), 3);
  memory b = bias ? filled(bmd, 4) : memory();
  memory dy = filled(dpd.diff_dst_desc(), 5), wt2 = filled(dpd.weights_desc(), 6), dx = filled(dpd.diff_src_desc(), 7);
  memory x3 = filled(wpd.src_desc(), 8), dy3 = filled(wpd.diff_dst_desc(), 9), dw = filled(wpd.diff_weights_desc(), 10);
  memory db = bias ? filled(bmd, 11) : memory();

  dnnl::convolution_forward fp(fpd);
  dnnl::convolution_backward_data dp(dpd);
  dnnl::convolution_backward_weights wp(wpd);
  std::unordered_map<int, memory> fa{{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, wt}, {DNNL_ARG_DST, y}};
  std::unordered_map<int, memory> wa{{DNNL_ARG_SRC, x3}, {DNNL_ARG_DIFF_DST, dy3}, {DNNL_ARG_DIFF_WEIGHTS, dw}};
  if (bias) { fa.emplace(DNNL_ARG_BIAS, b); wa.emplace(DNNL_ARG_DIFF_BIAS, db); }
  const int it = (int)iters;
  double tf = medianMs(it, [&] { run(fp, fpd, fa); });
  double td = medianMs(it, [&] { run(dp, dpd, {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, wt2}, {DNNL_ARG_DIFF_SRC, dx}}); });
  double tw = medianMs(it, [&] { run(wp, wpd, wa); });

  Napi::Env env = a.env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("fwdMs", tf);
  r.Set("bwdDataMs", td);
  r.Set("bwdWeightsMs", tw);
  r.Set("gflop", 2.0 * n * oc * ho * wo * c * k * k * (vol ? dout * k : 1) / 1e9);  // one pass (forward, or each backward)
  r.Set("threads", threads());
  Napi::Object impl = Napi::Object::New(env);
  impl.Set("fwd", fpd.impl_info_str());
  impl.Set("bwdData", dpd.impl_info_str());
  impl.Set("bwdWeights", wpd.impl_info_str());
  r.Set("impl", impl);
  return r;
}

void registerBench(Napi::Env env, Napi::Object ex) { def(env, ex, "benchConvRaw", benchConvRaw); }

}  // namespace un
