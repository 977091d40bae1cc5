// The sizes a NIfTI-1/2 header declares, read from its fixed offsets without touching the
// voxels: what a service checks before it decompresses or decodes anything.

export interface NiftiSizes {
  /** dim[1..dim[0]], each at least 1. */
  dims: number[];
  /** Product of dims (channels and time included). */
  voxels: number;
  bitsPerVoxel: number;
  /** Voxel size along x, y, z (pixdim[1..3]; 1 where unset, as the reader takes it). */
  spacing: [number, number, number];
  /** Byte offset of the voxel data. */
  voxOffset: number;
  /** Bytes an uncompressed file needs: vox_offset plus the voxels. */
  fileBytes: number;
}

/** Bytes of the header alone (NIfTI-2's is the larger). */
export const NIFTI_HEADER_BYTES = 540;

/** The header's sizes; null when the bytes do not start with a NIfTI-1 or NIfTI-2 header. */
export function niftiSizes(b: Uint8Array): NiftiSizes | null {
  if (b.length < 348) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (const le of [true, false]) {
    const size = v.getInt32(0, le);
    if (size === 348) {
      const nd = v.getInt16(40, le);
      if (nd < 1 || nd > 7) return null;
      const dims = Array.from({ length: nd }, (_, i) => Math.max(1, v.getInt16(42 + 2 * i, le)));
      const pix = [1, 2, 3].map((i) => v.getFloat32(76 + 4 * i, le));
      return sizes(dims, pix, v.getInt16(72, le), v.getFloat32(108, le));
    }
    if (size === 540 && b.length >= 540) {
      const nd = Number(v.getBigInt64(16, le));
      if (nd < 1 || nd > 7) return null;
      const dims = Array.from({ length: nd }, (_, i) => Math.max(1, Number(v.getBigInt64(24 + 8 * i, le))));
      const pix = [1, 2, 3].map((i) => v.getFloat64(104 + 8 * i, le));
      return sizes(dims, pix, v.getInt16(14, le), Number(v.getBigInt64(168, le)));
    }
  }
  return null;
}

function sizes(dims: number[], pix: number[], bits: number, offset: number): NiftiSizes {
  const voxels = dims.reduce((a, d) => a * d, 1); // a float: a forged header cannot wrap it around
  const bitsPerVoxel = bits > 0 ? bits : 8;
  const voxOffset = Number.isFinite(offset) && offset > 0 ? Math.floor(offset) : 352;
  const sp = pix.map((p) => (Number.isFinite(p) && p > 0 ? p : 1)) as [number, number, number];
  const fileBytes = voxOffset + Math.ceil((voxels * bitsPerVoxel) / 8);
  return { dims, voxels, spacing: sp, bitsPerVoxel, voxOffset, fileBytes };
}
