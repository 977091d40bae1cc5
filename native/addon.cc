// Entry point of unetpp_native: flush-to-zero, threads, and the kernel families' exports.
#include <omp.h>

#include <cstdlib>

#include "common.h"

namespace un {
void registerLayout(Napi::Env, Napi::Object);
void registerConv(Napi::Env, Napi::Object);
void registerBatchNorm(Napi::Env, Napi::Object);
void registerPool(Napi::Env, Napi::Object);
void registerResample(Napi::Env, Napi::Object);
void registerEltwise(Napi::Env, Napi::Object);
void registerChannels(Napi::Env, Napi::Object);
void registerLoss(Napi::Env, Napi::Object);
void registerOptim(Napi::Env, Napi::Object);
void registerBench(Napi::Env, Napi::Object);
}  // namespace un

using namespace un;

static Napi::Object Init(Napi::Env env, Napi::Object ex) {
  // Threads: UNETPP_THREADS, else all cores; applying them also sets FTZ/DAZ in every thread.
  int n = omp_get_num_procs();
  if (const char *s = std::getenv("UNETPP_THREADS")) {
    int v = std::atoi(s);
    if (v > 0) n = v;
  }
  setThreads(n);
  def(env, ex, "setThreads", [](const Args &a) {
    setThreads((int)a.i64(0));
    return a.env().Undefined();
  });
  def(env, ex, "getThreads", [](const Args &a) { return Napi::Number::New(a.env(), threads()); });
  def(env, ex, "info", [](const Args &a) {
    auto v = dnnl::version();
    Napi::Object o = Napi::Object::New(a.env());
    o.Set("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
    o.Set("threads", threads());
    const int isa = (int)dnnl::get_effective_cpu_isa();
    o.Set("isa", (double)isa);
    // native bf16 dot products (AVX512_BF16, or AMX): oneDNN's bf16 convs are fast only there.
    // ONEDNN_MAX_CPU_ISA caps the effective ISA, which is how the fp32 fallback is tested.
    const int bf16Isa = (int)dnnl::cpu_isa::avx512_core_bf16;
    o.Set("bf16", (isa & bf16Isa) == bf16Isa);
    return o;
  });
  registerLayout(env, ex);
  registerConv(env, ex);
  registerBatchNorm(env, ex);
  registerPool(env, ex);
  registerResample(env, ex);
  registerEltwise(env, ex);
  registerChannels(env, ex);
  registerLoss(env, ex);
  registerOptim(env, ex);
  registerBench(env, ex);
  return ex;
}

NODE_API_MODULE(unetpp_native, Init)
