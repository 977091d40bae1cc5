// Fast f32 reorders of 4D weights between blocked layouts (plain OIHW included).
#pragma once
#include "common.h"

namespace un {

/** Copies src (layout `from`) to dst (layout `to`, same logical dims); false if a layout is not
 *  a plain f32 blocked one (the caller then uses oneDNN's reorder). */
bool fastReorder(const memory::desc &from, const float *src, const memory::desc &to, float *dst);

}  // namespace un
