// Weight reorders between plain and oneDNN's blocked layouts. oneDNN 2.6's generic reorder runs
// these (e.g. OIHW -> ABcd16a16b) at well under 1 GB/s; here a blocked layout's offset is a sum
// of one table per dimension, so a reorder is a table-driven copy at memory speed.
#include <omp.h>

#include <cstring>
#include <vector>

#include "wreorder.h"

namespace un {

namespace {

/** Offsets of one 4D memory desc as four per-dimension tables: off(a,b,c,d) = T0[a]+T1[b]+T2[c]+T3[d]. */
struct Tables {
  std::vector<int64_t> t[4];
  bool init(const memory::desc &md) {
    const dnnl_memory_desc_t &d = md.data;
    if (d.ndims != 4 || d.format_kind != dnnl_blocked || d.extra.flags != 0 || d.data_type != dnnl_f32) return false;
    const dnnl_blocking_desc_t &b = d.format_desc.blocking;
    for (int k = 0; k < 4; k++) {
      t[k].resize(d.dims[k]);
      for (int64_t x = 0; x < d.dims[k]; x++) {
        int64_t inner = 0, div = 1, istride = 1;
        for (int j = b.inner_nblks - 1; j >= 0; j--) {  // innermost block first
          if (b.inner_idxs[j] == k) { inner += ((x / div) % b.inner_blks[j]) * istride; div *= b.inner_blks[j]; }
          istride *= b.inner_blks[j];
        }
        t[k][x] = (x / div) * b.strides[k] + inner + (k == 0 ? d.offset0 : 0);
      }
    }
    return true;
  }
};

}  // namespace

bool fastReorder(const memory::desc &from, const float *src, const memory::desc &to, float *dst) {
  Tables s, t;
  if (from.data.ndims != 4 || !s.init(from) || !t.init(to)) return false;
  for (int k = 0; k < 4; k++) if (from.data.dims[k] != to.data.dims[k]) return false;
  // Padding (e.g. one output channel blocked by 16) must read as zeros.
  if (to.get_size() != (size_t)(to.data.dims[0] * to.data.dims[1] * to.data.dims[2] * to.data.dims[3]) * sizeof(float))
    std::memset(dst, 0, to.get_size());
  const int64_t A = to.data.dims[0], B = to.data.dims[1], C = to.data.dims[2], D = to.data.dims[3];
  const int64_t *s0 = s.t[0].data(), *s1 = s.t[1].data(), *s2 = s.t[2].data(), *s3 = s.t[3].data();
  const int64_t *t0 = t.t[0].data(), *t1 = t.t[1].data(), *t2 = t.t[2].data(), *t3 = t.t[3].data();
#pragma omp parallel for collapse(2) schedule(static) if (A * B * C * D >= kParMin)
  for (int64_t a = 0; a < A; a++)
    for (int64_t b = 0; b < B; b++) {
      const float *sp = src + s0[a] + s1[b];
      float *dp = dst + t0[a] + t1[b];
      for (int64_t c = 0; c < C; c++)
        for (int64_t e = 0; e < D; e++) dp[t2[c] + t3[e]] = sp[s2[c] + s3[e]];
    }
  return true;
}

}  // namespace un
