// Batch norm over NHWC (or blocked: the call's layout, common.h) activations (float32 or bf16; statistics always float32). Training forward/backward are oneDNN primitives (scale and
// shift, optional fused ReLU whose mask lives in the workspace); the running statistics update
// and the eval-mode backward are ours (oneDNN keeps no running statistics).
#include <omp.h>

#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common.h"

namespace un {

using dnnl::normalization_flags;
using dnnl::prop_kind;
using BnF = dnnl::batch_normalization_forward;
using BnB = dnnl::batch_normalization_backward;

struct BnGeo {
  int64_t n, c, h, w;
  float eps;
  bool relu;
  ActLayout layout;
  bool bf16 = false;  // activations (x, y, dy, dx) in bf16; statistics and scale/shift stay f32
  memory::desc md() const { return {{n, c, h, w}, bf16 ? dt::bf16 : dt::f32, layout.act(c)}; }
  int64_t size() const { return n * c * h * w; }
  int64_t epsBits() const { int32_t b; std::memcpy(&b, &eps, 4); return b; }
  std::string str() const { return "x " + shape({n, c, h, w}); }
};

/** n, c, h, w, eps, relu, layout from args[i..i+6]. */
static BnGeo bnGeo(const Args &a, size_t i) {
  BnGeo g{a.i64(i), a.i64(i + 1), a.i64(i + 2), a.i64(i + 3), (float)a.num(i + 4), a.flag(i + 5), a.layout(i + 6)};
  if (g.n < 1 || g.c < 1 || g.h < 1 || g.w < 1) throw OpError("invalid shape " + g.str());
  return g;
}

static normalization_flags flags(bool relu, bool global) {
  auto f = normalization_flags::use_scale | normalization_flags::use_shift;
  if (relu) f = f | normalization_flags::fuse_norm_relu;
  if (global) f = f | normalization_flags::use_global_stats;
  return f;
}

struct FwdE {
  BnF::primitive_desc pd;
  BnF prim;
};

static FwdE &fwdEntry(const char *op, const BnGeo &g, bool training) {
  return cached<FwdE>(key(op, {g.n, g.c, g.h, g.w, g.epsBits(), g.relu, g.bf16, g.layout.blocked}), [&] {
    auto *e = new FwdE();
    BnF::desc d(training ? prop_kind::forward_training : prop_kind::forward_inference, g.md(), g.eps,
                flags(g.relu, !training));
    e->pd = BnF::primitive_desc(d, baseAttr(), engine());
    e->prim = BnF(e->pd);
    return e;
  });
}

static memory vec(float *p, int64_t c) { return wrap({{c}, dt::f32, tag::x}, p); }

// bnWorkspaceBytes(n,c,h,w,eps,relu,layout,bf16): bytes of the fused-ReLU mask kept from forward to backward.
static Napi::Value workspaceBytes(const Args &a) {
  BnGeo g = bnGeo(a, 0);
  g.bf16 = a.flag(7);
  auto &e = fwdEntry("bnFwdTrain", g, true);
  return Napi::Number::New(a.env(), (double)(g.relu ? e.pd.workspace_desc().get_size() : 0));
}

// bnFwdTrain(x, gamma, beta, y, mean, var, ws|null, n,c,h,w,eps,relu,layout): batch mean and biased variance out.
static Napi::Value fwdTrain(const Args &a) {
  BnGeo g = bnGeo(a, 7);
  Act x = a.act(0, g.size(), "x"), y = a.act(3, g.size(), "y");
  a.sameType({{"x", x}, {"y", y}});
  g.bf16 = x.bf16;
  auto &e = fwdEntry("bnFwdTrain", g, true);
  size_t wsBytes = g.relu ? e.pd.workspace_desc().get_size() : 0;
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, wrap(g.md(), x.p)},    {DNNL_ARG_SCALE, vec(a.f32(1, g.c, "gamma"), g.c)},
      {DNNL_ARG_SHIFT, vec(a.f32(2, g.c, "beta"), g.c)},        {DNNL_ARG_DST, wrap(g.md(), y.p)},
      {DNNL_ARG_MEAN, vec(a.f32(4, g.c, "mean"), g.c)},         {DNNL_ARG_VARIANCE, vec(a.f32(5, g.c, "var"), g.c)}};
  if (g.relu) args.emplace(DNNL_ARG_WORKSPACE, wrap(e.pd.workspace_desc(), a.u8(6, wsBytes, "workspace")));
  run(e.prim, e.pd, args);
  return a.env().Undefined();
}

// bnFwdEval(x, gamma, beta, runningMean, runningVar, y, n,c,h,w,eps,relu,layout)
static Napi::Value fwdEval(const Args &a) {
  BnGeo g = bnGeo(a, 6);
  Act x = a.act(0, g.size(), "x"), y = a.act(5, g.size(), "y");
  a.sameType({{"x", x}, {"y", y}});
  g.bf16 = x.bf16;
  auto &e = fwdEntry("bnFwdEval", g, false);
  run(e.prim, e.pd,
      {{DNNL_ARG_SRC, wrap(g.md(), x.p)}, {DNNL_ARG_SCALE, vec(a.f32(1, g.c, "gamma"), g.c)},
       {DNNL_ARG_SHIFT, vec(a.f32(2, g.c, "beta"), g.c)},     {DNNL_ARG_MEAN, vec(a.f32(3, g.c, "runningMean"), g.c)},
       {DNNL_ARG_VARIANCE, vec(a.f32(4, g.c, "runningVar"), g.c)}, {DNNL_ARG_DST, wrap(g.md(), y.p)}});
  return a.env().Undefined();
}

struct BwdE {
  BnB::primitive_desc pd;
  BnB prim;
};

// bnBwdTrain(x, gamma, mean, var, dy, ws|null, dx, dgamma, dbeta, n,c,h,w,eps,relu,layout)
static Napi::Value bwdTrain(const Args &a) {
  BnGeo g = bnGeo(a, 9);
  Act x = a.act(0, g.size(), "x"), dy = a.act(4, g.size(), "dy"), dx = a.act(6, g.size(), "dx");
  a.sameType({{"x", x}, {"dy", dy}, {"dx", dx}});
  g.bf16 = x.bf16;
  auto &f = fwdEntry("bnFwdTrain", g, true);
  auto &e = cached<BwdE>(key(a.op, {g.n, g.c, g.h, g.w, g.epsBits(), g.relu, g.bf16, g.layout.blocked}), [&] {
    auto *e = new BwdE();
    BnB::desc d(prop_kind::backward, g.md(), g.md(), g.eps, flags(g.relu, false));
    e->pd = BnB::primitive_desc(d, baseAttr(), engine(), f.pd);
    e->prim = BnB(e->pd);
    return e;
  });
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, wrap(g.md(), x.p)},         {DNNL_ARG_SCALE, vec(a.f32(1, g.c, "gamma"), g.c)},
      {DNNL_ARG_MEAN, vec(a.f32(2, g.c, "mean"), g.c)},              {DNNL_ARG_VARIANCE, vec(a.f32(3, g.c, "var"), g.c)},
      {DNNL_ARG_DIFF_DST, wrap(g.md(), dy.p)},    {DNNL_ARG_DIFF_SRC, wrap(g.md(), dx.p)},
      {DNNL_ARG_DIFF_SCALE, vec(a.f32(7, g.c, "dgamma"), g.c)},      {DNNL_ARG_DIFF_SHIFT, vec(a.f32(8, g.c, "dbeta"), g.c)}};
  // oneDNN 2.6 lists the shift as an input of the backward pass though the result cannot depend on it.
  float *shift = static_cast<float *>(scratch(kTmp1, g.c * sizeof(float)));
  std::memset(shift, 0, g.c * sizeof(float));
  args.emplace(DNNL_ARG_SHIFT, vec(shift, g.c));
  if (g.relu) {
    auto wd = e.pd.workspace_desc();
    args.emplace(DNNL_ARG_WORKSPACE, wrap(wd, a.u8(5, wd.get_size(), "workspace")));
  }
  run(e.prim, e.pd, args);
  return a.env().Undefined();
}

// bnBwdEval(x, gamma, runningMean, runningVar, dy, y, dx, dgamma, dbeta, n,c,h,w,eps,relu,layout):
// statistics are constants, so dx = dy * gamma / sqrt(rv + eps) (dy masked by y > 0 with relu).
template <class T>
static void bwdEvalT(const BnGeo &g, const T *x, const float *gamma, const float *rm, const float *rv, const T *dy,
                     const T *y, T *dx, float *dgamma, float *dbeta) {
  const int64_t C = g.c, P = g.n * g.h * g.w;
  std::vector<float> inv(C), k(C), mean(rm, rm + C);
  for (int64_t c = 0; c < C; c++) { inv[c] = 1.f / std::sqrt(rv[c] + g.eps); k[c] = gamma[c] * inv[c]; }
  const int nt = threads();
  std::vector<double> sg(nt * C, 0.0), sb(nt * C, 0.0);  // per-thread partial sums
  const bool relu = g.relu;
#pragma omp parallel num_threads(nt) if ((P * C) >= kParMin)
  {
    double *pg = &sg[omp_get_thread_num() * C], *pb = &sb[omp_get_thread_num() * C];
#pragma omp for schedule(static)
    for (int64_t p = 0; p < P; p++) {
      const int64_t o = p * C;
      for (int64_t c = 0; c < C; c++) {
        float d = relu && !(load(y[o + c]) > 0.f) ? 0.f : load(dy[o + c]);
        dx[o + c] = cast<T>(d * k[c]);
        pg[c] += (double)d * (load(x[o + c]) - mean[c]) * inv[c];
        pb[c] += d;
      }
    }
  }
  for (int64_t c = 0; c < C; c++) {
    double a1 = 0, b1 = 0;
    for (int t = 0; t < nt; t++) { a1 += sg[t * C + c]; b1 += sb[t * C + c]; }
    dgamma[c] = (float)a1;
    dbeta[c] = (float)b1;
  }
}

static Napi::Value bwdEval(const Args &a) {
  BnGeo g = bnGeo(a, 9);
  const int64_t C = g.c;
  if (g.layout.blockedC(C)) throw OpError("eval-mode batch-norm backward takes NHWC activations only (the JS side converts blocked ones)");
  Act x = a.act(0, g.size(), "x"), dy = a.act(4, g.size(), "dy"), y = a.act(5, g.size(), "y"), dx = a.act(6, g.size(), "dx");
  a.sameType({{"x", x}, {"dy", dy}, {"y", y}, {"dx", dx}});
  const float *gamma = a.f32(1, C, "gamma"), *rm = a.f32(2, C, "runningMean"), *rv = a.f32(3, C, "runningVar");
  float *dgamma = a.f32(7, C, "dgamma"), *dbeta = a.f32(8, C, "dbeta");
  dispatch(x.bf16, [&](auto *tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    bwdEvalT<T>(g, x.as<T>(), gamma, rm, rv, dy.as<T>(), y.as<T>(), dx.as<T>(), dgamma, dbeta);
  });
  return a.env().Undefined();
}

// bnUpdateRunning(runningMean, runningVar, mean, var, momentum, count): PyTorch's update,
// the running variance with the unbiased batch variance var * count / (count - 1).
static Napi::Value updateRunning(const Args &a) {
  size_t C = a.length(0);
  float *rm = a.f32(0, C, "runningMean"), *rv = a.f32(1, C, "runningVar");
  const float *m = a.f32(2, C, "mean"), *v = a.f32(3, C, "var");
  double mom = a.num(4), cnt = a.num(5);
  double unb = cnt > 1 ? cnt / (cnt - 1) : 1.0;
  for (size_t c = 0; c < C; c++) {
    rm[c] = (float)((1 - mom) * rm[c] + mom * m[c]);
    rv[c] = (float)((1 - mom) * rv[c] + mom * v[c] * unb);
  }
  return a.env().Undefined();
}

void registerBatchNorm(Napi::Env env, Napi::Object ex) {
  def(env, ex, "bnWorkspaceBytes", workspaceBytes);
  def(env, ex, "bnFwdTrain", fwdTrain);
  def(env, ex, "bnFwdEval", fwdEval);
  def(env, ex, "bnBwdTrain", bwdTrain);
  def(env, ex, "bnBwdEval", bwdEval);
  def(env, ex, "bnUpdateRunning", updateRunning);
}

}  // namespace un
