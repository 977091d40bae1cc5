// Shared plumbing of the addon: argument checking, error mapping, the oneDNN engine/stream,
// primitive cache and scratch buffers. Each Node environment (the main thread, a worker thread)
// calls the addon from its own thread; what it keeps between calls is per thread (common.cc).
#pragma once
#include <napi.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace un {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

/** The activation layout an op runs with, passed with each call of a layout-aware entry (JS:
 *  'nhwc' or 'blocked', read by Args::layout; a plan's backend chooses it). Blocked: a 4D
 *  activation whose channel count is a multiple of 16 is stored nChw16c (oneDNN's preferred
 *  layout: [N][C/16][H][W][16]), a 5D one nCdhw16c; every other activation is NHWC / NDHWC. */
struct ActLayout {
  bool blocked = false;
  bool blockedC(int64_t c) const { return blocked && c % 16 == 0; }
  /** The format of an activation of c channels and `rank` dimensions (5: volumes). */
  tag act(int64_t c, int rank = 4) const {
    if (rank == 5) return blockedC(c) ? tag::nCdhw16c : tag::ndhwc;
    return blockedC(c) ? tag::nChw16c : tag::nhwc;
  }
};
constexpr ActLayout kNhwc{false}, kBlocked{true};

/** Loops over fewer values run on one thread: a parallel region costs more than it saves there
 *  (and a lot more when the machine is oversubscribed and a worker has been descheduled). */
constexpr int64_t kParMin = 1 << 15;

/** memcpy for copies far larger than the cache into memory that the next kernel reads once:
 *  non-temporal stores where available (no read-for-ownership of dst; measured ~10% faster
 *  on concat_up's copies), memcpy otherwise. */
void streamCopy(void *dst, const void *src, size_t bytes);

/** Runs oneDNN calls made in its scope on one thread (small reorders). */
struct SerialScope {
  int saved = 0;
  explicit SerialScope(bool on);
  ~SerialScope();
};

dnnl::engine &engine();
dnnl::stream &stream();

int threads();
/** Sets the OpenMP thread count and re-applies flush-to-zero in every pool thread. */
void setThreads(int n);
/** Flush-to-zero + denormals-are-zero for the calling thread (denormals slow fp32 convs ~100x). */
void enableFtz();

/** An error in an op's arguments; the wrapper turns it into a JS Error naming the op. */
struct OpError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** bfloat16 as stored in JS: a Uint16Array of the upper 16 bits of each float32. */
struct bf16 {
  uint16_t bits;
};
inline float toF32(bf16 h) {
  uint32_t u = (uint32_t)h.bits << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
/** Round to nearest even; NaN stays NaN (quiet). */
inline bf16 toBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{(uint16_t)((u >> 16) | 0x40)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{(uint16_t)(u >> 16)};
}
/** Element access that works for float and bf16 buffers (kernels are templated on T). */
inline float load(float v) { return v; }
inline float load(bf16 v) { return toF32(v); }
template <class T> inline T cast(float v);
template <> inline float cast<float>(float v) { return v; }
template <> inline bf16 cast<bf16>(float v) { return toBf16(v); }

/** An activation argument: a Float32Array, or a Uint16Array holding bf16. */
struct Act {
  void *p = nullptr;
  bool bf16 = false;
  template <class T> T *as() const { return static_cast<T *>(p); }
  dt type() const { return bf16 ? dt::bf16 : dt::f32; }
};
/** Runs body with T = float or T = bf16 (a generic lambda taking a T* tag). */
template <class Body>
inline auto dispatch(bool isBf16, Body body) {
  if (isBf16) return body(static_cast<bf16 *>(nullptr));
  return body(static_cast<float *>(nullptr));
}

/** Typed, checked access to the JS arguments of one call. */
struct Args {
  const Napi::CallbackInfo &info;
  const char *op;
  Napi::Env env() const { return info.Env(); }
  size_t count() const { return info.Length(); }
  /** A Float32Array with `expect` values (0: any); no copy. */
  float *f32(size_t i, size_t expect, const char *what) const;
  /** As f32, but null/undefined gives nullptr. */
  float *f32opt(size_t i, size_t expect, const char *what) const;
  uint8_t *u8(size_t i, size_t expect, const char *what) const;
  /** An activation: Float32Array or bf16 Uint16Array with `expect` values (0: any); no copy. */
  Act act(size_t i, size_t expect, const char *what) const;
  /** As act, but null/undefined gives {nullptr}. */
  Act actOpt(size_t i, size_t expect, const char *what) const;
  /** Throws unless all the given activations share one dtype (names: for the message). */
  void sameType(std::initializer_list<std::pair<const char *, Act>> acts) const;
  size_t length(size_t i) const;  // element count of a typed array
  int64_t i64(size_t i) const;
  double num(size_t i) const;
  bool flag(size_t i) const;
  /** Spatial sizes of a rank-generic entry: a JS array of 2 ([h, w]) or 3 ([d, h, w]) numbers. */
  std::vector<int64_t> sizes(size_t i, const char *what) const;
  /** The length of array argument i (2: images, 3: volumes), 0 if it is not an array. */
  size_t rank(size_t i) const;
  /** Argument i as an activation layout: the string 'nhwc' or 'blocked'. */
  ActLayout layout(size_t i) const;
};

/** As Args::sizes, for a value read elsewhere (a property of a geometry object). */
std::vector<int64_t> sizesOf(const Napi::Value &v, const char *what);
/** Number property `name` of a geometry object. */
int64_t numProp(const Napi::Object &o, const char *name);
/** An activation layout read elsewhere (a geometry object's `layout`): 'nhwc' or 'blocked'. */
ActLayout layoutOf(const Napi::Value &v, const char *what);

/** The activations of a JS array argument (Float32Array or bf16 Uint16Array, whole pixels of P). */
struct ActList {
  std::vector<Act> acts;
  std::vector<int64_t> cs;  // channels of each
  int64_t ct = 0;           // their sum
};
/** Argument i as an ActList (may be empty); what names it in errors. */
ActList actList(const Args &a, size_t i, int64_t P, const char *what);
/** Every member of l has the dtype of `other` (an error names both otherwise). */
void sameTypes(const Args &a, const ActList &l, const char *what, const char *otherName, Act other);

using Fn = std::function<Napi::Value(const Args &)>;
/** Exports fn as `name`; dnnl::error and std::exception become JS Errors prefixed by name. */
void def(Napi::Env env, Napi::Object exports, const char *name, Fn fn);

/** Growable scratch memory, one buffer per slot, 64-byte aligned. */
enum Slot { kDnnlScratchpad = 0, kTmp0, kTmp1, kSlots };
void *scratch(Slot slot, size_t bytes);

/** Cache of primitives and their descriptors, created once per key (op + dims + attrs + threads; callers put
 *  the layout among the dims where it changes the primitive). */
std::shared_ptr<void> &cacheSlot(const std::string &key);
template <class T, class Make>
T &cached(const std::string &key, Make make) {
  auto &slot = cacheSlot(key);
  if (!slot) slot = std::shared_ptr<T>(make());
  return *static_cast<T *>(slot.get());
}
/** "op:d0,d1,...:t<threads>" */
std::string key(const char *op, std::initializer_list<int64_t> v);

/** A memory object over caller-owned data. */
inline memory wrap(const memory::desc &md, void *ptr) { return memory(md, engine(), ptr); }
/** Runs a primitive with the shared user scratchpad and waits for it. */
void run(const dnnl::primitive &p, const dnnl::primitive_desc_base &pd, std::unordered_map<int, memory> args);
/** Attributes every primitive uses: user-managed scratchpad. */
dnnl::primitive_attr baseAttr();

std::string shape(std::initializer_list<int64_t> v);  // "[a,b,c]"

}  // namespace un
