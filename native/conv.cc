// conv and conv_transpose, forward and backward, on oneDNN primitives. Activations are NHWC
// or, in the blocked layout, nChw16c where their channels allow (common.h, the call's geometry),
// float32 or bf16 (then weights are converted to bf16 on the fly and weight gradients stay f32);
// weights come plain (OIHW, or IOHW for transposed convs as PyTorch stores them) and are
// reordered to the layout the primitive prefers ("format any"), through cached reorders.
#include "conv.h"
#include "conv3d-slices.h"
#include "head.h"
#include "winograd.h"
#include "winograd3d.h"

#include <omp.h>

#include <cmath>
#include <type_traits>
#include <vector>

namespace un {

using dnnl::prop_kind;
using dnnl::algorithm;

static std::string dimsStr(const memory::dims &d) {
  std::string s("[");
  for (size_t i = 0; i < d.size(); i++) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

std::string ConvGeo::str() const {
  memory::dims wd = wei();
  if (deconv) std::swap(wd[0], wd[1]);
  return "x " + dimsStr(src()) + ", w " + dimsStr(wd) + ", y " + dimsStr(dst()) + ", stride " + std::to_string(stride) +
         ", pad " + (pad >= 0 ? std::to_string(pad) : dimsStr(vol ? memory::dims{padD, padH, padW} : memory::dims{padH, padW}));
}

static Napi::Object geoObject(const Args &a, size_t i) {
  if (i >= a.info.Length() || !a.info[i].IsObject() || a.info[i].IsArray())
    throw OpError("argument " + std::to_string(i) + " must be the geometry {n, c, o, size, kernel, stride, pad, layout}");
  return a.info[i].As<Napi::Object>();
}

bool volGeo(const Args &a, size_t i) {
  Napi::Value s = geoObject(a, i).Get("size");
  return s.IsArray() && s.As<Napi::Array>().Length() == 3;
}

ConvGeo convGeo(const Args &a, size_t i, bool deconv, bool vol) {
  Napi::Object o = geoObject(a, i);
  const std::vector<int64_t> size = sizesOf(o.Get("size"), "geometry.size"), k = sizesOf(o.Get("kernel"), "geometry.kernel");
  if (size.size() != (vol ? 3u : 2u) || k.size() != size.size())
    throw OpError(std::string("geometry: size and kernel must both have ") + (vol ? "3" : "2") + " values");
  ConvGeo g{};
  g.vol = vol;
  g.deconv = deconv;
  g.n = numProp(o, "n"); g.c = numProp(o, "c"); g.o = numProp(o, "o");
  g.stride = numProp(o, "stride");
  // pad: one number for every axis, or one per axis (volumes with per-axis kernels)
  const Napi::Value pv = o.Get("pad");
  const std::vector<int64_t> p = pv.IsArray() ? sizesOf(pv, "geometry.pad") : std::vector<int64_t>(size.size(), numProp(o, "pad"));
  if (p.size() != size.size()) throw OpError("geometry: pad must be a number or have as many values as size");
  g.layout = layoutOf(o.Get("layout"), "geometry.layout");
  if (vol) {
    // transposed convs: stride = kernel, one value (the caches key on it)
    if (deconv && (k[0] != k[1] || k[1] != k[2]))
      throw OpError("a transposed conv's kernel must be cubic, got " + shape({k[0], k[1], k[2]}));
    g.d = size[0]; g.h = size[1]; g.w = size[2];
    g.kd = k[0]; g.kh = k[1]; g.kw = k[2];
    g.padD = p[0]; g.padH = p[1]; g.padW = p[2];
  } else {
    g.h = size[0]; g.w = size[1]; g.kh = k[0]; g.kw = k[1];
    g.padD = 0; g.padH = p[0]; g.padW = p[1];
  }
  g.pad = (!vol || g.padD == g.padH) && g.padH == g.padW ? g.padH : -1;
  auto out = [&](int64_t in, int64_t k, int64_t pad) {
    if (deconv) return (in - 1) * g.stride - 2 * pad + k;
    return g.stride > 0 ? (in + 2 * pad - k) / g.stride + 1 : 0;
  };
  g.ho = out(g.h, g.kh, g.padH); g.wo = out(g.w, g.kw, g.padW);
  g.dout = vol ? out(g.d, g.kd, g.padD) : 1;
  if (g.n < 1 || g.c < 1 || g.d < 1 || g.h < 1 || g.w < 1 || g.o < 1 || g.kd < 1 || g.kh < 1 || g.kw < 1 ||
      g.stride < 1 || g.padD < 0 || g.padH < 0 || g.padW < 0 || g.dout < 1 || g.ho < 1 || g.wo < 1)
    throw OpError("invalid geometry " + g.str());
  return g;
}

static int64_t numel(const memory::dims &d) {
  int64_t n = 1;
  for (auto v : d) n *= v;
  return n;
}

static memory::desc actMd(ActLayout l, const memory::dims &d, dt t) { return {d, t, l.act(d[1], (int)d.size())}; }
static memory::desc anyMd(const memory::dims &d, dt t) { return {d, t, tag::any}; }
static memory::desc userWei(const ConvGeo &g) {
  return {g.wei(), dt::f32, g.vol ? (g.deconv ? tag::iodhw : tag::oidhw) : (g.deconv ? tag::iohw : tag::oihw)};
}
static memory::desc biasMd(const ConvGeo &g) { return {{g.o}, dt::f32, tag::x}; }
static memory::dims strides(const ConvGeo &g) { return memory::dims(g.rank(), g.stride); }
static memory::dims pads(const ConvGeo &g) { return g.vol ? memory::dims{g.padD, g.padH, g.padW} : memory::dims{g.padH, g.padW}; }
/** Cache-key entry telling volumes (their depth) from images (0). */
static int64_t volKey(const ConvGeo &g) { return g.vol ? g.d : 0; }
/** Cache-key entry of the activation layout. */
static int64_t layoutKey(const ConvGeo &g) { return g.layout.blocked; }

// Conv and deconv primitives have the same shape of API; Kind selects the family.
struct ConvKind {
  using Fwd = dnnl::convolution_forward;
  using BwdD = dnnl::convolution_backward_data;
  using BwdW = dnnl::convolution_backward_weights;
  static constexpr algorithm alg = algorithm::convolution_direct;
};
struct DeconvKind {
  using Fwd = dnnl::deconvolution_forward;
  using BwdD = dnnl::deconvolution_backward_data;
  using BwdW = dnnl::deconvolution_backward_weights;
  static constexpr algorithm alg = algorithm::deconvolution_direct;
};

/** How much of the layout choice jitOrAny leaves to the primitive. */
enum Any { kOurs, kSmall, kAll };
/** Our layout of an activation, or "any" (the primitive chooses; see jitOrAny). */
static memory::desc act(ActLayout l, const memory::dims &d, dt t, Any any) {
  return any == kAll || (any == kSmall && !l.blockedC(d[1])) ? anyMd(d, t) : actMd(l, d, t);
}

static bool isRef(const dnnl::primitive_desc_base &pd) { return std::string(pd.impl_info_str()).rfind("ref", 0) == 0; }

/** make(any) builds a primitive descriptor on our activation layouts (kOurs) or on the
 *  primitive's own. oneDNN 2.6 has no fast kernel for some mixes of blocked and NHWC (a
 *  blocked 32-channel input with a 1-channel NHWC output, for one: its reference kernel, ~100x
 *  slower); then the primitive first chooses the layout of the tensors with few channels only
 *  (kSmall: cheap to stage; for the first conv, C3 -> 32, this keeps its 32-channel output
 *  blocked: 0.45 ms instead of 1.0 for the whole choice, N16 96x96 bf16), then of all
 *  (kAll), and Stage reorders. */
template <class Make>
static auto jitOrAny(ActLayout l, Make make) {
  auto pd = make(kOurs);
  if (!l.blocked || !isRef(pd)) return pd;
  for (Any any : {kSmall, kAll}) {
    auto alt = make(any);
    if (!isRef(alt)) return alt;
  }
  return pd;
}

/** An activation as the primitive takes it: ours in place, or staged through a buffer in the
 *  primitive's layout with a cached reorder (in: before the run; out: after it). */
struct Stage {
  memory::desc ours;
  bool needed = false;
  memory buf;
  dnnl::reorder re;
  void init(const memory::desc &o, const memory::desc &want, bool input) {
    ours = o;
    needed = o != want;
    if (!needed) return;
    buf = memory(want, engine());
    if (input) re = dnnl::reorder(memory(o, engine(), nullptr), buf);
    else re = dnnl::reorder(buf, memory(o, engine(), nullptr));
  }
  /** An input: ours, or a copy in the primitive's layout. */
  memory in(void *p) {
    if (!needed) return wrap(ours, p);
    memory src = wrap(ours, p);
    re.execute(stream(), src, buf);
    stream().wait();
    return buf;
  }
  /** An output: ours, or the staging buffer (then finish() copies it into ours). */
  memory out(void *p) { return needed ? buf : wrap(ours, p); }
  void finish(void *p) {
    if (!needed) return;
    memory dst = wrap(ours, p);
    re.execute(stream(), buf, dst);
    stream().wait();
  }
};

bool fp32WinogradTakes(const ConvGeo &g, bool bf16) {
  static const int64_t minSide = [] {
    const char *e = std::getenv("UNETPP_WINOGRAD_MIN_SIDE_F32");
    return e && *e ? std::atoll(e) : 12;
  }();
  return winogradEnabled() && !bf16 && !g.vol && g.c % 16 == 0 && g.o % 16 == 0 && g.kh == 3 && g.kw == 3 && g.stride == 1 &&
         g.pad == 1 && g.h >= minSide && g.w >= minSide;
}

size_t maxWinogradScratch() {
  static const size_t mb = [] {
    const char *e = std::getenv("UNETPP_WINOGRAD_MAX_SCRATCH_MB");
    return e && *e ? (size_t)std::atoll(e) : (size_t)160;
  }();
  return mb << 20;
}

/** The algorithm a conv of geometry g runs: Winograd where fp32WinogradTakes, in the blocked
 *  layout (oneDNN's Winograd takes nChw16c only), else direct. */
template <class K>
static algorithm algFor(const ConvGeo &g, bool bf16) {
  if constexpr (std::is_same_v<K, ConvKind>)
    return g.layout.blocked && fp32WinogradTakes(g, bf16) ? algorithm::convolution_winograd : K::alg;
  return K::alg;
}
/** make(alg) (a primitive descriptor) with alg = algFor(g); with the direct algorithm instead
 *  where oneDNN has no Winograd kernel for the shape, or where its kernel's scratchpad would
 *  exceed 160 MB: for C160 and C192 -> 32 at 96x96, batch 16, oneDNN switches to a variant
 *  needing 262-304 MB (the others need 7-137 MB), which raised training's peak RSS by ~280 MB
 *  for a forward 7% faster than direct. */
template <class K, class Make>
static auto withAlg(const ConvGeo &g, bool bf16, Make make) {
  const algorithm alg = algFor<K>(g, bf16);
  if (alg == K::alg) return make(alg);
  try {
    auto pd = make(alg);
    if (pd.scratchpad_desc().get_size() <= maxWinogradScratch()) return pd;
  } catch (const dnnl::error &) {
  }
  return make(K::alg);
}

template <class K>
static typename K::Fwd::primitive_desc fwdPd(const ConvGeo &g, bool bias, bool relu, dt t,
                                             prop_kind kind = prop_kind::forward_training, Any any = kOurs,
                                             algorithm alg = K::alg) {
  typename K::Fwd::desc d(kind, alg, act(g.layout, g.src(), t, any), anyMd(g.wei(), t),
                          bias ? biasMd(g) : memory::desc(), act(g.layout, g.dst(), t, any), strides(g), pads(g), pads(g));
  auto attr = baseAttr();
  if (relu) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(po);
  }
  return {d, attr, engine()};
}

/** Weights this small reorder faster on one thread than a parallel region costs. */
static bool small(const memory::desc &md) { return md.get_size() < (size_t)kParMin * 8 * sizeof(float); }

/** Plain weights -> the primitive's layout, into a buffer owned by the cache entry. */
struct WeightIn {
  memory::desc user, want;
  bool needed = false;
  memory buf;
  dnnl::reorder re;
  void init(const memory::desc &u, const memory::desc &w) {
    user = u; want = w; needed = u != w;
    if (needed) { buf = memory(w, engine()); re = dnnl::reorder(memory(u, engine(), nullptr), buf); }
  }
  memory get(float *p) {
    if (!needed) return wrap(want, p);
    auto src = wrap(user, p);
    SerialScope one(small(user));
    re.execute(stream(), src, buf);
    stream().wait();
    return buf;
  }
};

template <class K>
struct FwdEntry {
  typename K::Fwd::primitive_desc pd;
  typename K::Fwd prim;
  WeightIn wei;
  Stage x, y;
  void init(const ConvGeo &g, bool bias, bool relu, dt t, prop_kind kind, algorithm alg = K::alg) {
    pd = jitOrAny(g.layout, [&](Any any) { return fwdPd<K>(g, bias, relu, t, kind, any, alg); });
    prim = typename K::Fwd(pd);
    wei.init(userWei(g), pd.weights_desc());
    x.init(actMd(g.layout, g.src(), t), pd.src_desc(), true);
    y.init(actMd(g.layout, g.dst(), t), pd.dst_desc(), false);
  }
};

/** Per-image strides of a forward conv's x and y, from optional arguments i and i + 1: values
 *  between consecutive images, 0 (or the image size) when dense. A strided tensor is a channel
 *  range of a wider per-image buffer (the plan's in-place concatenation, engine/concat-views.ts);
 *  oneDNN 2.6's fast kernels take dense tensors only, so such a conv runs once per image
 *  (runImages). */
struct ImageStrides {
  int64_t x = 0, y = 0;
  bool any() const { return x || y; }
};
static ImageStrides imageStrides(const Args &a, size_t i, const ConvGeo &g) {
  ImageStrides s;
  const int64_t xs = g.srcImage(), ys = g.dstImage();
  if (i < a.info.Length() && a.info[i].IsNumber()) s.x = a.i64(i);
  if (i + 1 < a.info.Length() && a.info[i + 1].IsNumber()) s.y = a.i64(i + 1);
  if (s.x && s.x < xs) throw OpError("x's image stride " + std::to_string(s.x) + " is below its image size " + std::to_string(xs));
  if (s.y && s.y < ys) throw OpError("y's image stride " + std::to_string(s.y) + " is below its image size " + std::to_string(ys));
  if (s.x == xs) s.x = 0;
  if (s.y == ys) s.y = 0;
  return s;
}
/** Runs needed: g.n on views (g then describes one image), else 1 (the whole batch at once). */
static int64_t runsFor(ConvGeo &g, const ImageStrides &st) {
  if (!st.any()) return 1;
  const int64_t n = g.n;
  g.n = 1;
  return n;
}
/** Values n images of `per` values span at image stride s (0: dense). */
static int64_t span(int64_t n, int64_t per, int64_t s) { return s ? (n - 1) * s + per : n * per; }
/** Image i of a tensor of images of `per` values at stride s. */
static void *image(Act t, int64_t i, int64_t per, int64_t s) {
  return static_cast<char *>(t.p) + (size_t)(i * (s ? s : per)) * (t.bf16 ? 2 : 4);
}

/** Runs p once per image (convs on strided views), the images spread over the threads, each
 *  with its own stream and scratchpad; oneDNN runs single-threaded inside our parallel region.
 *  Measured faster than running each image on all threads: UNet++ bf16 inference (N16 96x96)
 *  with in-place concatenation gains ~4-6 ms a batch instead of ~2 over copying. args(i): the
 *  primitive's arguments for image i (no staging: callers run staged convs image by image). */
template <class MakeArgs>
static void runImages(const dnnl::primitive &p, const dnnl::primitive_desc_base &pd, int64_t images, MakeArgs args) {
  const int nt = threads();
  // per environment (see common.cc); a reference, as inside the parallel region the name of a
  // thread_local would be each OpenMP thread's own (empty) vector
  static thread_local std::vector<dnnl::stream> callerStreams;
  std::vector<dnnl::stream> &streams = callerStreams;
  while ((int)streams.size() < nt) streams.emplace_back(engine());
  const auto sd = pd.scratchpad_desc();
  const size_t sp = (sd.get_size() + 4095) / 4096 * 4096;
  char *pads = static_cast<char *>(scratch(kDnnlScratchpad, sp * nt + 64));
  std::string failed;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < images; i++) {
    const int t = omp_get_thread_num();
    try {
      std::unordered_map<int, memory> m = args(i);
      if (sd.get_size()) m.emplace(DNNL_ARG_SCRATCHPAD, wrap(sd, pads + t * sp));
      p.execute(streams[t], m);
      streams[t].wait();
    } catch (const std::exception &e) {
#pragma omp critical
      if (failed.empty()) failed = e.what();
    }
  }
  if (!failed.empty()) throw OpError(failed);
}

/** Runs a forward entry with weights wm (and bias, may be null) over x and y: once when dense;
 *  image by image on views, in parallel (runImages) unless a tensor is staged. */
template <class K>
static void runForward(FwdEntry<K> &e, const ConvGeo &g, Act x, Act y, const ImageStrides &st, int64_t images,
                       const memory &wm, float *bias) {
  const int64_t xs = g.srcImage(), ys = g.dstImage();
  auto args = [&](const memory &src, const memory &dst) {
    std::unordered_map<int, memory> m{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, dst}};
    if (bias) m.emplace(DNNL_ARG_BIAS, wrap(biasMd(g), bias));
    return m;
  };
  if (images > 1 && !e.x.needed && !e.y.needed) {
    runImages(e.prim, e.pd, images, [&](int64_t i) {
      return args(wrap(e.x.ours, image(x, i, xs, st.x)), wrap(e.y.ours, image(y, i, ys, st.y)));
    });
    return;
  }
  for (int64_t i = 0; i < images; i++) {
    void *xi = image(x, i, xs, st.x), *yi = image(y, i, ys, st.y);
    run(e.prim, e.pd, args(e.x.in(xi), e.y.out(yi)));
    e.y.finish(yi);
  }
}

/** Transformed weights and a bias for bf16 training's Winograd convs (see forward, backwardData). */
struct TrainWinograd {
  WinogradWeights u;
  std::vector<float> bias;
};

template <class K>
static Napi::Value forward(const Args &a, bool deconv, bool vol = false) {
  ConvGeo g = convGeo(a, 4, deconv, vol);
  bool relu = a.flag(5);
  const ImageStrides st = deconv ? ImageStrides{} : imageStrides(a, 6, g);
  const int64_t xs = g.srcImage(), ys = g.dstImage();
  Act x = a.act(0, span(g.n, xs, st.x), "x");
  float *w = a.f32(1, numel(g.wei()), "w");
  float *b = a.f32opt(2, g.o, "bias");
  Act y = a.act(3, span(g.n, ys, st.y), "y");
  a.sameType({{"x", x}, {"y", y}});
  const int64_t images = runsFor(g, st);
  if (isHead(g)) {
    for (int64_t i = 0; i < images; i++) headFwd(g, {image(x, i, xs, st.x), x.bf16}, w, b, {image(y, i, ys, st.y), y.bf16}, relu);
    return a.env().Undefined();
  }
  if (!deconv && !g.vol && bf16WinogradTakes(g.layout, g.c, g.o, g.h, g.w, g.kh == g.kw ? g.kh : 0, g.stride, g.pad, x.bf16)) {
    // bf16 training's forward: the weights change every step, so they are transformed per call
    // (~0.1 ms for a 192 -> 32 layer), into a buffer shared by the layers of this shape.
    auto &tw = cached<TrainWinograd>(key("winogradFwd", {g.c, g.o}), [] { return new TrainWinograd(); });
    winogradWeights(w, g.o, g.c, tw.u);
    tw.bias.assign(g.o, 0.f);
    if (b) std::copy(b, b + g.o, tw.bias.begin());
    winogradConv(x.as<bf16>(), st.x, y.as<bf16>(), st.y, g.n * images, g.h, g.w, tw.u, tw.bias.data(), relu);
    return a.env().Undefined();
  }
  if (winograd3dTakes(g, x.bf16, Pass::kFwd)) {
    // float32 volumes: our F(2x2x2, 3x3x3) (winograd3d.cc); the weights change every training
    // step, so they are transformed per call, into a buffer shared by the layers of this shape
    auto &u = cached<Winograd3dWeights>(key("winograd3dFwd", {g.c, g.o}), [] { return new Winograd3dWeights(); });
    winograd3dWeights(w, g.o, g.c, false, u);
    winograd3dConv(x.as<float>(), st.x, y.as<float>(), st.y, g.n * images, g.d, g.h, g.w, u, b, relu);
    return a.env().Undefined();
  }
  auto &e = cached<FwdEntry<K>>(key(a.op, {volKey(g), layoutKey(g), g.n, g.c, g.h, g.w, g.o, g.kd, g.kh, g.kw, g.stride, g.padD, g.padH, g.padW, b != nullptr, relu, x.bf16, (int64_t)algFor<K>(g, x.bf16)}), [&] {
    auto *e = new FwdEntry<K>();
    withAlg<K>(g, x.bf16, [&](algorithm alg) { e->init(g, b != nullptr, relu, x.type(), prop_kind::forward_training, alg); return e->pd; });
    return e;
  });
  runForward(e, g, x, y, st, images, e.wei.get(w), b);
  return a.env().Undefined();
}

template <class K>
struct BwdDEntry {
  typename K::BwdD::primitive_desc pd;
  typename K::BwdD prim;
  WeightIn wei;
  Stage dy, dx;
};

template <class K>
static Napi::Value backwardData(const Args &a, bool deconv, bool vol = false) {
  ConvGeo g = convGeo(a, 3, deconv, vol);
  Act dy = a.act(0, numel(g.dst()), "dy");
  float *w = a.f32(1, numel(g.wei()), "w");
  Act dx = a.act(2, numel(g.src()), "dx");
  a.sameType({{"dy", dy}, {"dx", dx}});
  if (headBwdData(g, dy, w, dx)) return a.env().Undefined();
  if (!deconv && !g.vol && g.ho == g.h && g.wo == g.w &&
      bf16WinogradTakes(g.layout, g.o, g.c, g.h, g.w, g.kh == g.kw ? g.kh : 0, g.stride, g.pad, dy.bf16)) {
    // The data gradient of a 3x3 stride-1 pad-1 conv is itself one: dx = conv(dy, w'), w'[c][o]
    // the kernel w[o][c] turned by 180 degrees; so bf16 training's backward runs Winograd too.
    auto &tw = cached<TrainWinograd>(key("winogradBwdData", {g.o, g.c}), [] { return new TrainWinograd(); });
    const int64_t k2 = g.kh * g.kw;
    float *wt = static_cast<float *>(scratch(kTmp1, g.o * g.c * k2 * sizeof(float)));
#pragma omp parallel for schedule(static) if (g.o * g.c * k2 >= kParMin)
    for (int64_t c = 0; c < g.c; c++)
      for (int64_t o = 0; o < g.o; o++)
        for (int64_t k = 0; k < k2; k++) wt[(c * g.o + o) * k2 + k] = w[(o * g.c + c) * k2 + (k2 - 1 - k)];
    winogradWeights(wt, g.c, g.o, tw.u);
    tw.bias.assign(g.c, 0.f);
    winogradConv(dy.as<bf16>(), 0, dx.as<bf16>(), 0, g.n, g.h, g.w, tw.u, tw.bias.data(), false);
    return a.env().Undefined();
  }
  if (winograd3dTakes(g, dy.bf16, Pass::kBwdData)) {  // as above: the kernel turned, channels swapped
    auto &u = cached<Winograd3dWeights>(key("winograd3dBwdData", {g.o, g.c}), [] { return new Winograd3dWeights(); });
    winograd3dWeights(w, g.o, g.c, true, u);
    winograd3dConv(dy.as<float>(), 0, dx.as<float>(), 0, g.n, g.d, g.h, g.w, u, nullptr, false);
    return a.env().Undefined();
  }
  const dt t = dy.type();
  auto &e = cached<BwdDEntry<K>>(key(a.op, {volKey(g), layoutKey(g), g.n, g.c, g.h, g.w, g.o, g.kd, g.kh, g.kw, g.stride, g.padD, g.padH, g.padW, dy.bf16, (int64_t)algFor<K>(g, dy.bf16)}), [&] {
    auto *e = new BwdDEntry<K>();
    e->pd = withAlg<K>(g, dy.bf16, [&](algorithm alg) { return jitOrAny(g.layout, [&](Any any) {
      auto hint = fwdPd<K>(g, false, false, t, prop_kind::forward_training, any, alg);
      typename K::BwdD::desc d(alg, act(g.layout, g.src(), t, any), anyMd(g.wei(), t), act(g.layout, g.dst(), t, any),
                               strides(g), pads(g), pads(g));
      typename K::BwdD::primitive_desc pd(d, baseAttr(), engine(), hint);
      // oneDNN 2.6's bf16 1x1 backward-data kernel returns wrong values on some small images
      // (measured: garbage on N2 C17->1 6x5, 13% error on N16 C32->16 6x6); the next
      // implementation is right, and 1x1 convs are a small part of any network here.
      // (next_impl needs the hint alive: it stays inside this lambda.)
      if (t == dt::bf16 && g.kd == 1 && g.kh == 1 && g.kw == 1)
        while (std::string(pd.impl_info_str()).find("jit_bf16_1x1") != std::string::npos && pd.next_impl()) {}
      return pd;
    }); });
    e->prim = typename K::BwdD(e->pd);
    e->wei.init(userWei(g), e->pd.weights_desc());
    e->dy.init(actMd(g.layout, g.dst(), t), e->pd.diff_dst_desc(), true);
    e->dx.init(actMd(g.layout, g.src(), t), e->pd.diff_src_desc(), false);
    return e;
  });
  run(e.prim, e.pd, {{DNNL_ARG_DIFF_DST, e.dy.in(dy.p)},
                     {DNNL_ARG_WEIGHTS, e.wei.get(w)},
                     {DNNL_ARG_DIFF_SRC, e.dx.out(dx.p)}});
  e.dx.finish(dx.p);
  return a.env().Undefined();
}

template <class K>
struct BwdWEntry {
  typename K::BwdW::primitive_desc pd;
  typename K::BwdW prim;
  memory::desc user;
  bool reorderOut = false;
  memory buf;
  dnnl::reorder re;
  Stage x, dy;
};

/** db[o] = sum of dy over N, H, W (NHWC: a column sum). oneDNN 2.6's nhwc backward-weights
 *  kernel made the bias gradient cost ~35% of the whole weight gradient (C32 -> 32, 96x96);
 *  this reduction costs one read of dy. Per-thread partial sums in double, no atomics. */
template <class T>
static void biasGrad(const T *dy, float *db, int64_t pixels, int64_t o) {
  const int nt = threads();
  std::vector<double> part(nt * o, 0.0);
#pragma omp parallel num_threads(nt) if (pixels * o >= kParMin)
  {
    double *acc = &part[omp_get_thread_num() * o];
    float *blk = static_cast<float *>(__builtin_alloca(o * sizeof(float)));
    // float sums over blocks of 256 pixels (fast), double across blocks (accurate)
#pragma omp for schedule(static)
    for (int64_t p0 = 0; p0 < pixels; p0 += 256) {
      for (int64_t c = 0; c < o; c++) blk[c] = 0.f;
      const int64_t p1 = p0 + 256 < pixels ? p0 + 256 : pixels;
      for (int64_t p = p0; p < p1; p++) {
        const T *row = dy + p * o;
#pragma omp simd
        for (int64_t c = 0; c < o; c++) blk[c] += load(row[c]);
      }
      for (int64_t c = 0; c < o; c++) acc[c] += blk[c];
    }
  }
  for (int64_t c = 0; c < o; c++) {
    double v = 0;
    for (int t = 0; t < nt; t++) v += part[t * o + c];
    db[c] = (float)v;
  }
}

template <class K>
static Napi::Value backwardWeights(const Args &a, bool deconv, bool vol = false) {
  ConvGeo g = convGeo(a, 4, deconv, vol);
  Act x = a.act(0, numel(g.src()), "x");
  Act dy = a.act(1, numel(g.dst()), "dy");
  float *dw = a.f32(2, numel(g.wei()), "dw");
  float *db = a.f32opt(3, g.o, "db");
  a.sameType({{"x", x}, {"dy", dy}});
  if (headBwdWeights(g, x, dy, dw, db)) return a.env().Undefined();
  if (winograd3dTakes(g, x.bf16, Pass::kBwdWeights)) {
    winograd3dWeightGrad(x.as<float>(), dy.as<float>(), g.n, g.c, g.o, g.d, g.h, g.w, dw, db);
    return a.env().Undefined();
  }
  if (std::is_same_v<K, ConvKind> && volumeWeightGradBySlices(g, x, dy, dw)) {
    if (db) biasGrad(dy.as<float>(), db, g.n * g.dstImage() / g.o, g.o);
    return a.env().Undefined();
  }
  const dt t = x.type();
  // Blocked dy: oneDNN's own bias gradient is cheap there (on NHWC it is not, see biasGrad).
  const bool dnnlBias = db && g.layout.blockedC(g.o);
  auto &e = cached<BwdWEntry<K>>(key(a.op, {volKey(g), layoutKey(g), g.n, g.c, g.h, g.w, g.o, g.kd, g.kh, g.kw, g.stride, g.padD, g.padH, g.padW, x.bf16, dnnlBias, (int64_t)algFor<K>(g, x.bf16)}), [&] {
    auto *e = new BwdWEntry<K>();
    e->pd = withAlg<K>(g, x.bf16, [&](algorithm alg) { return jitOrAny(g.layout, [&](Any any) {
      auto hint = fwdPd<K>(g, dnnlBias, false, t, prop_kind::forward_training, any, alg);
      // bf16: the weight gradient is still accumulated and returned in float32 (mixed precision)
      typename K::BwdW::desc d = dnnlBias
          ? typename K::BwdW::desc(alg, act(g.layout, g.src(), t, any), anyMd(g.wei(), dt::f32), biasMd(g),
                                   act(g.layout, g.dst(), t, any), strides(g), pads(g), pads(g))
          : typename K::BwdW::desc(alg, act(g.layout, g.src(), t, any), anyMd(g.wei(), dt::f32),
                                   act(g.layout, g.dst(), t, any), strides(g), pads(g), pads(g));
      return typename K::BwdW::primitive_desc(d, baseAttr(), engine(), hint);
    }); });
    e->prim = typename K::BwdW(e->pd);
    e->x.init(actMd(g.layout, g.src(), t), e->pd.src_desc(), true);
    e->dy.init(actMd(g.layout, g.dst(), t), e->pd.diff_dst_desc(), true);
    e->user = userWei(g);
    e->reorderOut = e->pd.diff_weights_desc() != e->user;
    if (e->reorderOut) {
      e->buf = memory(e->pd.diff_weights_desc(), engine());
      e->re = dnnl::reorder(e->buf, memory(e->user, engine(), nullptr));
    }
    return e;
  });
  memory dwUser = wrap(e.user, dw);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e.x.in(x.p)},
                                       {DNNL_ARG_DIFF_DST, e.dy.in(dy.p)},
                                       {DNNL_ARG_DIFF_WEIGHTS, e.reorderOut ? e.buf : dwUser}};
  if (dnnlBias) args.emplace(DNNL_ARG_DIFF_BIAS, wrap(biasMd(g), db));
  run(e.prim, e.pd, args);
  if (db && !dnnlBias) dispatch(dy.bf16, [&](auto *tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    biasGrad(dy.as<T>(), db, g.n * g.dstImage() / g.o, g.o);
  });
  if (e.reorderOut) {
    SerialScope one(small(e.user));
    e.re.execute(stream(), e.buf, dwUser);
    stream().wait();
  }
  return a.env().Undefined();
}

/** A 64-bit fingerprint of n floats: two wrapping 32-bit sums, of bits_i * (2i + 1) and of
 *  (bits_i ^ i * c) * c' (c' odd). One changed value always changes both (an odd multiplier is
 *  invertible mod 2^32). In 32-bit lanes it takes ~0.7 ms per UNet++ inference batch (all 30
 *  layers, 9.2M weights), against 1.25 ms for one sum of 64-bit products (measured). */
static uint64_t fingerprint(const float *p, int64_t n) {
  const uint32_t *u = reinterpret_cast<const uint32_t *>(p);
  uint32_t a = 0, b = 0;
#pragma omp parallel for simd reduction(+ : a, b) schedule(static) if (n >= 4 * kParMin)
  for (int64_t i = 0; i < n; i++) {
    const uint32_t k = (uint32_t)i;
    a += u[i] * (2 * k + 1);
    b += (u[i] ^ (k * 0x9E3779B9u)) * 0x85EBCA6Bu;
  }
  return ((uint64_t)b << 32 | a) ^ (uint64_t)n * 0x9E3779B97F4A7C15ull;
}

struct FoldedWeights {
  bool valid = false;
  uint64_t fingerprint = 0;
  memory weights;
  enum Kind { kDnnl, kWino2d, kWino3d } kind = kDnnl;  // weights in `weights`, `wino` (winograd.h) or `wino3d`
  WinogradWeights wino;
  Winograd3dWeights wino3d;
  std::vector<float> bias;
};
/** The layer's folded weights, kept on its JS cache object (the plan's per-node state) as an
 *  External freed with it: they live as long as the plan. */
static FoldedWeights &folded(const Args &a, size_t i) {
  if (!a.info[i].IsObject()) throw OpError("cache: expected the layer's state object");
  Napi::Object holder = a.info[i].As<Napi::Object>();
  Napi::Value v = holder.Get("foldedWeights");
  if (v.IsExternal()) return *v.As<Napi::External<FoldedWeights>>().Data();
  auto *f = new FoldedWeights();
  holder.Set("foldedWeights", Napi::External<FoldedWeights>::New(a.env(), f, [](Napi::Env, FoldedWeights *p) { delete p; }));
  return *f;
}

// convBnFwd(x, w, b|null, gamma, beta, runningMean, runningVar, y, geometry, eps, relu,
//           xStride, yStride, cache, frozen):
// eval-mode conv + batch norm (+ ReLU) as one primitive. With fixed statistics the norm is a
// per-channel scale and shift, folded into the weights and the bias (one pass over the weights,
// cheaper than a batch-norm pass over the activations; binary post-ops measured slower).
// cache: an object kept per layer by the caller, where the folded weights live; frozen: the
// caller guarantees the params do not change while that object lives (no fingerprint).
static Napi::Value convBnFwd(const Args &a, bool vol) {
  ConvGeo g = convGeo(a, 8, false, vol);
  const float eps = (float)a.num(9);
  const bool relu = a.flag(10);
  const ImageStrides st = imageStrides(a, 11, g);
  const int64_t xs = g.srcImage(), ys = g.dstImage();
  Act x = a.act(0, span(g.n, xs, st.x), "x");
  const float *w = a.f32(1, numel(g.wei()), "w");
  const float *b = a.f32opt(2, g.o, "bias");
  const float *gamma = a.f32(3, g.o, "gamma"), *beta = a.f32(4, g.o, "beta");
  const float *rm = a.f32(5, g.o, "runningMean"), *rv = a.f32(6, g.o, "runningVar");
  Act y = a.act(7, span(g.n, ys, st.y), "y");
  a.sameType({{"x", x}, {"y", y}});
  const int64_t images = runsFor(g, st);
  const bool wino = !g.vol && bf16WinogradTakes(g.layout, g.c, g.o, g.h, g.w, g.kh == g.kw ? g.kh : 0, g.stride, g.pad, x.bf16);
  const bool wino3 = winograd3dTakes(g, x.bf16, Pass::kFwd);
  const FoldedWeights::Kind kind = wino ? FoldedWeights::kWino2d : wino3 ? FoldedWeights::kWino3d : FoldedWeights::kDnnl;
  FwdEntry<ConvKind> *e = kind != FoldedWeights::kDnnl ? nullptr : &cached<FwdEntry<ConvKind>>(key(a.op, {volKey(g), layoutKey(g), g.n, g.c, g.h, g.w, g.o, g.kd, g.kh, g.kw, g.stride, g.padD, g.padH, g.padW, relu, x.bf16, (int64_t)algFor<ConvKind>(g, x.bf16)}), [&] {
    auto *e = new FwdEntry<ConvKind>();
    withAlg<ConvKind>(g, x.bf16, [&](algorithm alg) { e->init(g, true, relu, x.type(), prop_kind::forward_inference, alg); return e->pd; });
    return e;
  });
  const int64_t O = g.o, K = g.c * g.kd * g.kh * g.kw;  // kd = 1 for images
  // Inference runs the same weights again and again: the folded weights, in the primitive's
  // layout and dtype, are kept per layer and rebuilt only when a fingerprint of the inputs
  // (weights, bias, batch-norm params, eps) changes. The fingerprint reads the weights once,
  // about a third of what folding and reordering them costs; but they are cold by then (~1 ms a
  // UNet++ batch), so callers whose params cannot change (frozen) skip it after the first run.
  auto &f = folded(a, 13);
  const bool frozen = a.flag(14);
  uint64_t fp = 0;
  if (!(frozen && f.valid))
    fp = fingerprint(w, O * K) ^ fingerprint(gamma, O) * 3 ^ fingerprint(beta, O) * 5 ^
         fingerprint(rm, O) * 7 ^ fingerprint(rv, O) * 11 ^ (b ? fingerprint(b, O) * 13 : 17) ^
         (uint64_t)std::hash<float>{}(eps);
  if (!f.valid || f.kind != kind || (!frozen && f.fingerprint != fp)) {
    float *wf = static_cast<float *>(scratch(kTmp1, O * K * sizeof(float)));
    f.bias.resize(O);
#pragma omp parallel for schedule(static) if (O * K >= kParMin)
    for (int64_t o = 0; o < O; o++) {
      const float s = gamma[o] / std::sqrt(rv[o] + eps);
      f.bias[o] = s * ((b ? b[o] : 0.f) - rm[o]) + beta[o];
      for (int64_t i = 0; i < K; i++) wf[o * K + i] = w[o * K + i] * s;
    }
    if (wino) {
      winogradWeights(wf, O, g.c, f.wino);
    } else if (wino3) {
      winograd3dWeights(wf, O, g.c, false, f.wino3d);
    } else {
      if (!f.valid || f.kind != FoldedWeights::kDnnl || f.weights.get_desc() != e->pd.weights_desc())
        f.weights = memory(e->pd.weights_desc(), engine());
      memory src = wrap(e->wei.user, wf);  // plain -> the primitive's layout, in one reorder
      SerialScope one(small(e->wei.user));
      dnnl::reorder(src, f.weights).execute(stream(), src, f.weights);
      stream().wait();
    }
    f.kind = kind;
    f.fingerprint = fp;
    f.valid = true;
  }
  if (wino)
    winogradConv(x.as<bf16>(), st.x, y.as<bf16>(), st.y, g.n * images, g.h, g.w, f.wino, f.bias.data(), relu);
  else if (wino3)
    winograd3dConv(x.as<float>(), st.x, y.as<float>(), st.y, g.n * images, g.d, g.h, g.w, f.wino3d, f.bias.data(), relu);
  else
    runForward(*e, g, x, y, st, images, f.weights, f.bias.data());
  return a.env().Undefined();
}

// Args: convFwd(x, w, b|null, y, geometry, relu[, xStride, yStride])
//       convBwdData(dy, w, dx, geometry)
//       convBwdWeights(x, dy, dw, db|null, geometry)
// geometry: {n, c, o, size: [h, w] or [d, h, w], kernel: the same rank, stride, pad, layout: 'nhwc' |
// 'blocked' (of x and y)}; 3 sizes run the volume (3D) primitives. deconv*: the same, with c, o the transposed conv's in/out channels,
// kernel = stride = k, pad 0.
void registerConv(Napi::Env env, Napi::Object ex) {
  def(env, ex, "convFwd", [](const Args &a) { return forward<ConvKind>(a, false, volGeo(a, 4)); });
  def(env, ex, "convBnFwd", [](const Args &a) { return convBnFwd(a, volGeo(a, 8)); });
  def(env, ex, "setWinograd", [](const Args &a) {
    setWinogradEnabled(a.flag(0));
    return a.env().Undefined();
  });
  def(env, ex, "setWinograd3d", [](const Args &a) {  // 0 off, 1 the measured rule, 2 every shape it can run
    setWinograd3dMode((int)a.i64(0));
    return a.env().Undefined();
  });
  def(env, ex, "convBwdData", [](const Args &a) { return backwardData<ConvKind>(a, false, volGeo(a, 3)); });
  def(env, ex, "convBwdWeights", [](const Args &a) { return backwardWeights<ConvKind>(a, false, volGeo(a, 4)); });
  def(env, ex, "deconvFwd", [](const Args &a) { return forward<DeconvKind>(a, true, volGeo(a, 4)); });
  def(env, ex, "deconvBwdData", [](const Args &a) { return backwardData<DeconvKind>(a, true, volGeo(a, 3)); });
  def(env, ex, "deconvBwdWeights", [](const Args &a) { return backwardWeights<DeconvKind>(a, true, volGeo(a, 4)); });
}

}  // namespace un
