// 16 float32 lanes of bf16 values, AVX-512 (the addon is built with -march=native: these exist
// where the build machine has AVX-512). One nChw16c pixel per register. Rounding as toBf16.
#pragma once
#ifdef __AVX512BW__
#include <immintrin.h>

#include "common.h"

namespace un {

inline __m512 load16(const bf16 *p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p))), 16));
}
inline __m512 load16(const float *p) { return _mm512_loadu_ps(p); }

inline void store16(bf16 *p, __m512 f) {
  if (__builtin_expect(_mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q) != 0, 0)) {  // NaN: the scalar path
    alignas(64) float t[16];
    _mm512_store_ps(t, f);
    for (int k = 0; k < 16; k++) p[k] = toBf16(t[k]);
    return;
  }
  const __m512i u = _mm512_castps_si512(f);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
  _mm256_storeu_si256(reinterpret_cast<__m256i *>(p), _mm512_cvtepi32_epi16(r));
}
inline void store16(float *p, __m512 f) { _mm512_storeu_ps(p, f); }
/** Lanes holding bf16 values (loaded by load16, selected, not computed): stored without rounding. */
inline void storeExact16(bf16 *p, __m512 f) {
  _mm256_storeu_si256(reinterpret_cast<__m256i *>(p), _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(f), 16)));
}
inline void storeExact16(float *p, __m512 f) { _mm512_storeu_ps(p, f); }

}  // namespace un
#endif
