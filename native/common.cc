#include "common.h"

#include <omp.h>
#include <xmmintrin.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include <cstdlib>
#include <sstream>

namespace un {

void streamCopy(void *dst, const void *src, size_t bytes) {
#ifdef __AVX512F__
  if ((reinterpret_cast<uintptr_t>(dst) & 63) == 0) {
    char *d = static_cast<char *>(dst);
    const char *s = static_cast<const char *>(src);
    size_t i = 0;
    for (; i + 64 <= bytes; i += 64) _mm512_stream_si512(reinterpret_cast<__m512i *>(d + i), _mm512_loadu_si512(s + i));
    std::memcpy(d + i, s + i, bytes - i);
    _mm_sfence();
    return;
  }
#endif
  std::memcpy(dst, src, bytes);
}

dnnl::engine &engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// ---- per-environment state ----
// Each Node environment (the main thread, every worker_threads thread) calls the addon from its
// own thread only, so state kept per thread is state per environment: two workers predicting at
// once share neither scratch memory, cached primitives, a stream nor a thread count. OpenMP
// pool threads never touch it (kernels read it before their parallel regions). The activation
// layout is not kept here: each call passes its own (ActLayout).
struct Buf {
  void *p = nullptr;
  size_t n = 0;
};
struct ThreadState {
  int threads = 0;
  Buf scratch[kSlots];
  std::unordered_map<std::string, std::shared_ptr<void>> cache;
  std::unique_ptr<dnnl::stream> stream;
  /** Frees what the environment holds (its cleanup hook, and the thread's exit). */
  void release() {
    for (Buf &b : scratch) { std::free(b.p); b = Buf{}; }
    cache.clear();
    stream.reset();
  }
  ~ThreadState() { release(); }
};
static thread_local ThreadState tState;

void releaseThreadState() { tState.release(); }

dnnl::stream &stream() {
  if (!tState.stream) tState.stream = std::make_unique<dnnl::stream>(engine());
  return *tState.stream;
}

int threads() { return tState.threads ? tState.threads : omp_get_max_threads(); }

void enableFtz() { _mm_setcsr(_mm_getcsr() | 0x8040); }  // FTZ (bit 15) | DAZ (bit 6)

void setThreads(int n) {
  if (n < 1) n = 1;
  tState.threads = n;
  omp_set_num_threads(n);  // the calling thread's ICV: each environment keeps its own count
  enableFtz();
#pragma omp parallel num_threads(n)
  enableFtz();
}

SerialScope::SerialScope(bool on) {
  if (on) { saved = threads(); omp_set_num_threads(1); }
}
SerialScope::~SerialScope() {
  if (saved) omp_set_num_threads(saved);
}

// ---- arguments ----
static std::string pos(const Args &a, size_t i, const char *what) {
  return std::string(what) + " (argument " + std::to_string(i) + ")";
}

float *Args::f32(size_t i, size_t expect, const char *what) const {
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw OpError(pos(*this, i, what) + " must be a Float32Array");
  auto a = info[i].As<Napi::Float32Array>();
  if (expect && a.ElementLength() != expect)
    throw OpError(pos(*this, i, what) + " has " + std::to_string(a.ElementLength()) + " values, expected " +
                  std::to_string(expect));
  return a.Data();
}

float *Args::f32opt(size_t i, size_t expect, const char *what) const {
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return f32(i, expect, what);
}

uint8_t *Args::u8(size_t i, size_t expect, const char *what) const {
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw OpError(pos(*this, i, what) + " must be a Uint8Array");
  auto a = info[i].As<Napi::Uint8Array>();
  if (expect && a.ElementLength() != expect)
    throw OpError(pos(*this, i, what) + " has " + std::to_string(a.ElementLength()) + " bytes, expected " +
                  std::to_string(expect));
  return a.Data();
}

Act Args::act(size_t i, size_t expect, const char *what) const {
  if (i < info.Length() && info[i].IsTypedArray()) {
    auto t = info[i].As<Napi::TypedArray>();
    const bool isF = t.TypedArrayType() == napi_float32_array, isH = t.TypedArrayType() == napi_uint16_array;
    if (isF || isH) {
      if (expect && t.ElementLength() != expect)
        throw OpError(pos(*this, i, what) + " has " + std::to_string(t.ElementLength()) + " values, expected " +
                      std::to_string(expect));
      uint8_t *base = static_cast<uint8_t *>(t.ArrayBuffer().Data()) + t.ByteOffset();
      return Act{base, isH};
    }
  }
  throw OpError(pos(*this, i, what) + " must be a Float32Array or a bf16 Uint16Array");
}

Act Args::actOpt(size_t i, size_t expect, const char *what) const {
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return Act{};
  return act(i, expect, what);
}

void Args::sameType(std::initializer_list<std::pair<const char *, Act>> acts) const {
  const std::pair<const char *, Act> *first = nullptr;
  for (auto &a : acts) {
    if (!a.second.p) continue;
    if (!first) first = &a;
    else if (a.second.bf16 != first->second.bf16)
      throw OpError(std::string(a.first) + " is " + (a.second.bf16 ? "bf16" : "float32") + " but " + first->first +
                    " is " + (first->second.bf16 ? "bf16" : "float32"));
  }
}

size_t Args::length(size_t i) const {
  if (i >= info.Length() || !info[i].IsTypedArray()) throw OpError("argument " + std::to_string(i) + " must be a typed array");
  return info[i].As<Napi::TypedArray>().ElementLength();
}

int64_t Args::i64(size_t i) const {
  if (i >= info.Length() || !info[i].IsNumber()) throw OpError("argument " + std::to_string(i) + " must be a number");
  return info[i].As<Napi::Number>().Int64Value();
}

double Args::num(size_t i) const {
  if (i >= info.Length() || !info[i].IsNumber()) throw OpError("argument " + std::to_string(i) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

bool Args::flag(size_t i) const { return i < info.Length() && info[i].ToBoolean().Value(); }

std::vector<int64_t> sizesOf(const Napi::Value &v, const char *what) {
  if (!v.IsArray()) throw OpError(std::string(what) + " must be an array of 2 or 3 sizes");
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() != 2 && arr.Length() != 3)
    throw OpError(std::string(what) + " must have 2 or 3 sizes, got " + std::to_string(arr.Length()));
  std::vector<int64_t> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value e = arr.Get(k);
    if (!e.IsNumber()) throw OpError(std::string(what) + " must hold numbers");
    out[k] = e.As<Napi::Number>().Int64Value();
  }
  return out;
}

std::vector<int64_t> Args::sizes(size_t i, const char *what) const {
  if (i >= info.Length()) throw OpError("argument " + std::to_string(i) + " (" + what + ") is missing");
  return sizesOf(info[i], what);
}

size_t Args::rank(size_t i) const { return i < info.Length() && info[i].IsArray() ? info[i].As<Napi::Array>().Length() : 0; }

int64_t numProp(const Napi::Object &o, const char *name) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw OpError(std::string("geometry.") + name + " must be a number");
  return v.As<Napi::Number>().Int64Value();
}

ActLayout layoutOf(const Napi::Value &v, const char *what) {
  if (v.IsString()) {
    const std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "nhwc") return kNhwc;
    if (s == "blocked") return kBlocked;
  }
  throw OpError(std::string(what) + " must be the activation layout 'nhwc' or 'blocked'");
}

ActLayout Args::layout(size_t i) const {
  if (i >= info.Length()) throw OpError("argument " + std::to_string(i) + " (layout) is missing");
  return layoutOf(info[i], ("argument " + std::to_string(i) + " (layout)").c_str());
}

void def(Napi::Env env, Napi::Object exports, const char *name, Fn fn) {
  std::string op(name);
  auto f = Napi::Function::New(env, [op, fn](const Napi::CallbackInfo &info) -> Napi::Value {
    Args a{info, op.c_str()};
    try {
      return fn(a);
    } catch (const Napi::Error &) {
      throw;
    } catch (const dnnl::error &e) {
      throw Napi::Error::New(info.Env(), op + ": oneDNN error: " + e.what());
    } catch (const std::exception &e) {
      throw Napi::Error::New(info.Env(), op + ": " + e.what());
    }
  }, name);
  exports.Set(name, f);
}

// ---- scratch and cache ----
void *scratch(Slot slot, size_t bytes) {
  Buf &b = tState.scratch[slot];
  if (bytes > b.n) {
    std::free(b.p);
    size_t n = (bytes + 63) / 64 * 64;
    b.p = std::aligned_alloc(64, n);
    if (!b.p) throw std::bad_alloc();
    b.n = n;
  }
  return b.p;
}

std::shared_ptr<void> &cacheSlot(const std::string &key) {
  return tState.cache[key];
}

std::string key(const char *op, std::initializer_list<int64_t> v) {
  std::string s(op);
  s += ':';
  for (auto d : v) { s += std::to_string(d); s += ','; }
  s += 't' + std::to_string(threads());
  return s;
}

std::string shape(std::initializer_list<int64_t> v) {
  std::string s("[");
  bool first = true;
  for (auto d : v) { if (!first) s += ','; s += std::to_string(d); first = false; }
  return s + "]";
}

dnnl::primitive_attr baseAttr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

void run(const dnnl::primitive &p, const dnnl::primitive_desc_base &pd, std::unordered_map<int, memory> args) {
  auto sd = pd.scratchpad_desc();
  if (sd.get_size()) args.emplace(DNNL_ARG_SCRATCHPAD, wrap(sd, scratch(kDnnlScratchpad, sd.get_size())));
  p.execute(stream(), args);
  stream().wait();
}

ActList actList(const Args &a, size_t i, int64_t P, const char *what) {
  if (i >= a.count() || !a.info[i].IsArray()) throw OpError(std::string(what) + " must be an array of Float32Array or bf16 Uint16Array");
  auto arr = a.info[i].As<Napi::Array>();
  ActList l;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr[k];
    const std::string name = std::string(what) + "[" + std::to_string(k) + "]";
    if (!v.IsTypedArray()) throw OpError(name + " must be a Float32Array or a bf16 Uint16Array");
    auto t = v.As<Napi::TypedArray>();
    const bool isF = t.TypedArrayType() == napi_float32_array, isH = t.TypedArrayType() == napi_uint16_array;
    if (!isF && !isH) throw OpError(name + " must be a Float32Array or a bf16 Uint16Array");
    const int64_t len = (int64_t)t.ElementLength();
    if (len % P || len == 0)
      throw OpError(name + " has " + std::to_string(len) + " values, not whole pixels of " + std::to_string(P));
    l.acts.push_back(Act{static_cast<uint8_t *>(t.ArrayBuffer().Data()) + t.ByteOffset(), isH});
    l.cs.push_back(len / P);
    l.ct += l.cs.back();
  }
  return l;
}

void sameTypes(const Args &a, const ActList &l, const char *what, const char *otherName, Act other) {
  for (size_t k = 0; k < l.acts.size(); k++) {
    const std::string name = std::string(what) + "[" + std::to_string(k) + "]";
    a.sameType({{otherName, other}, {name.c_str(), l.acts[k]}});
  }
}

}  // namespace un
