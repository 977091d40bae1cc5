// Entry point of unetpp_native: flush-to-zero, threads, and the kernel families' exports.
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <mutex>
#include <sys/sysinfo.h>

#include "common.h"
#include "winograd3d.h"

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
void registerPeak(Napi::Env, Napi::Object);
void registerInstanceNorm(Napi::Env, Napi::Object);
void releaseThreadState();
}  // namespace un

using namespace un;

/** One aligned allocation; freed by releaseArray or by the GC's finalizer, whichever comes first. */
struct Block {
  void *p;
  size_t bytes;
};
// One table for the process, behind a lock: environments in several threads allocate and free.
static std::mutex gBlocksLock;
static std::unordered_map<void *, Block *> &blocks() {
  static std::unordered_map<void *, Block *> m;
  return m;
}
static Block *findBlock(void *p) {
  std::lock_guard<std::mutex> hold(gBlocksLock);
  auto it = blocks().find(p);
  return it == blocks().end() ? nullptr : it->second;
}
static void freeBlock(Napi::Env env, Block *b) {
  if (!b->p) return;
  {
    std::lock_guard<std::mutex> hold(gBlocksLock);
    blocks().erase(b->p);
  }
  std::free(b->p);
  b->p = nullptr;
  Napi::MemoryManagement::AdjustExternalMemory(env, -(int64_t)b->bytes);
}

// Node refuses external ArrayBuffers of more than this many bytes (node::Buffer::kMaxLength,
// 2^32 in Node 20), and its failure path ran our finalizer and then freed the same memory
// again: the "double free" of issue 15. Larger tensors take a V8-owned buffer instead.
constexpr size_t kMaxExternalBytes = (size_t)1 << 32;

// alignedArray(kind, n): a zeroed Float32Array (kind 0) or Uint16Array (kind 1) of n values whose
// memory is 64-byte aligned. Node's large ArrayBuffers come from malloc's mmap path at a 16-byte
// offset from a page, so every AVX-512 access of a tensor straddled two cache lines.
static Napi::Value alignedArray(const Args &a) {
  const int64_t kind = a.i64(0), n = a.i64(1);
  if ((kind != 0 && kind != 1) || n < 0) throw OpError("kind must be 0 (float32) or 1 (bf16) and n >= 0");
  const size_t elem = kind == 0 ? 4 : 2, bytes = (size_t)n * elem, padded = (bytes + 63) / 64 * 64 + 64;
  const auto typed = [&](Napi::ArrayBuffer buf, size_t offset) -> Napi::Value {
    if (kind == 0) return Napi::Float32Array::New(a.env(), (size_t)n, buf, offset);
    return Napi::Uint16Array::New(a.env(), (size_t)n, buf, offset);
  };
  const auto refuse = [&](const char *why) {
    throw OpError("cannot allocate " + std::to_string(bytes) + " bytes (" + std::to_string(n) + (kind == 0 ? " float32" : " bf16") +
                  " values): " + why);
  };
  // Linux refuses (or V8 aborts on) requests beyond memory + swap: say so first.
  struct sysinfo si;
  if (sysinfo(&si) == 0) {
    const double total = ((double)si.totalram + (double)si.totalswap) * si.mem_unit;
    if ((double)padded > total) refuse(("more than this machine's " + std::to_string((int64_t)(total / 1e9)) + " GB of memory").c_str());
  }
  Napi::Env env = a.env();
  if (padded > kMaxExternalBytes) {
    // V8 allocates (zeroed) and frees it; the view starts at the first 64-byte boundary.
    Napi::ArrayBuffer buf;
    try {
      buf = Napi::ArrayBuffer::New(env, padded);
    } catch (const Napi::Error &) {
      refuse("out of memory");
    }
    const size_t offset = (64 - (reinterpret_cast<uintptr_t>(buf.Data()) & 63)) & 63;
    return typed(buf, offset);
  }
  void *p = std::aligned_alloc(64, padded);
  if (!p) refuse("out of memory");
  std::memset(p, 0, padded);
  Napi::MemoryManagement::AdjustExternalMemory(env, (int64_t)padded);
  Block *blk = new Block{p, padded};
  {
    std::lock_guard<std::mutex> hold(gBlocksLock);
    blocks()[p] = blk;
  }
  auto buf = Napi::ArrayBuffer::New(env, p, bytes, [](Napi::Env e, void *, Block *b) {
    freeBlock(e, b);
    delete b;
  }, blk);
  return typed(buf, 0);
}

// releaseArray(a): frees an alignedArray's memory now and detaches its buffer (every view of it
// then has length 0), so a plan's memory can be given back without waiting for the GC.
// Returns false for arrays alignedArray did not make (left alone).
static Napi::Value releaseArray(const Args &a) {
  if (!a.info[0].IsTypedArray()) throw OpError("expects a typed array from alignedArray");
  Napi::ArrayBuffer buf = a.info[0].As<Napi::TypedArray>().ArrayBuffer();
  Block *blk = findBlock(buf.Data());
  if (!blk) {
    // A V8-owned buffer (over 4 GiB): detaching drops V8's last reference, which frees it.
    if (buf.ByteLength() <= kMaxExternalBytes) return Napi::Boolean::New(a.env(), false);
    buf.Detach();
    return Napi::Boolean::New(a.env(), true);
  }
  buf.Detach();
  freeBlock(a.env(), blk);
  return Napi::Boolean::New(a.env(), true);
}

static Napi::Object Init(Napi::Env env, Napi::Object ex) {
  // Loaded once per environment (the main thread, each worker thread): the environment's scratch
  // memory, cached primitives and stream go with it when it ends (a worker that exits or is
  // terminated), not at process exit.
  napi_add_env_cleanup_hook(env, [](void *) { releaseThreadState(); }, nullptr);
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
    const int avx512 = (int)dnnl::cpu_isa::avx512_core;
    o.Set("avx512", (isa & avx512) == avx512);
    // our float32 Winograd for 3x3x3 volume convs (winograd3d.cc): built with AVX-512 only
    o.Set("winograd3d", winograd3dBuilt());
    return o;
  });
  // trimMemory(): gives the allocator's free memory back to the system. A worker thread's
  // allocations come from its own malloc arena, which glibc keeps when the thread ends.
  def(env, ex, "trimMemory", [](const Args &a) { return Napi::Boolean::New(a.env(), malloc_trim(0) != 0); });
  def(env, ex, "alignedArray", alignedArray);
  def(env, ex, "releaseArray", releaseArray);
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
  registerPeak(env, ex);
  registerInstanceNorm(env, ex);
  return ex;
}

NODE_API_MODULE(unetpp_native, Init)
