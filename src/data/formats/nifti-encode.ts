// A volume as the bytes of a NIfTI-1 file (.nii, uncompressed): header with the voxel sizes,
// the affine as sform and, where it is a rotation with those voxel sizes, as qform too, then
// the voxels. Browser-safe: Node's writeNifti and the volume page's mask download both use it.
import * as nifti from 'nifti-reader-js';
import { qformFromAffine } from './qform.js';

export type NiftiDatatype = 'uint8' | 'int16' | 'float32';

export interface EncodableVolume {
  dims: readonly number[]; // X, Y, Z
  spacing: readonly number[];
  affine: number[][];
  /** x fastest; channels > 1: a 4D file, channels along the 4th axis. */
  data: ArrayLike<number>;
  channels?: number;
}

export function encodeNifti(vol: EncodableVolume, type: NiftiDatatype = 'uint8', description = 'unetpp'): Uint8Array {
  const [X, Y, Z] = vol.dims;
  const C = vol.channels ?? 1;
  const n = X * Y * Z * C;
  if (vol.data.length !== n) throw new Error(`${vol.data.length} voxels, dims say ${X}x${Y}x${Z}${C > 1 ? `x${C}` : ''} = ${n}`);
  const T = nifti.NIFTI1;
  const h = new nifti.NIFTI1();
  const [code, bits] = type === 'uint8' ? [T.TYPE_UINT8, 8] : type === 'int16' ? [T.TYPE_INT16, 16] : [T.TYPE_FLOAT32, 32];
  h.littleEndian = true;
  h.dims = C > 1 ? [4, X, Y, Z, C, 1, 1, 1] : [3, X, Y, Z, 1, 1, 1, 1];
  h.pixDims = [1, vol.spacing[0], vol.spacing[1], vol.spacing[2], 0, 0, 0, 0];
  h.datatypeCode = code;
  h.numBitsPerVoxel = bits;
  h.vox_offset = 352;
  h.xyzt_units = T.UNITS_MM;
  h.sform_code = 1; // the affine below is the geometry
  h.affine = vol.affine.map((r) => [...r]);
  const q = qformFromAffine(vol.affine);
  if (q && q.pixdim.every((d, i) => Math.abs(d - vol.spacing[i]) < 1e-4 * Math.max(1, d))) {
    // the same geometry as a qform, for readers that prefer it (when the affine's voxel sizes are the spacing)
    h.qform_code = 1;
    h.quatern_b = q.b; h.quatern_c = q.c; h.quatern_d = q.d;
    [h.qoffset_x, h.qoffset_y, h.qoffset_z] = q.offset;
    h.pixDims = [q.qfac, q.pixdim[0], q.pixdim[1], q.pixdim[2], 0, 0, 0, 0];
  }
  h.magic = 'n+1';
  h.description = description;
  const file = new Uint8Array(352 + n * (bits / 8));
  file.set(new Uint8Array(h.toArrayBuffer()).subarray(0, 348), 0); // 348-byte header, 4 zero extension bytes, voxels
  if (type === 'uint8' && vol.data instanceof Uint8Array) { file.set(vol.data, 352); return file; }
  const dv = new DataView(file.buffer, 352);
  for (let i = 0; i < n; i++) {
    const x = vol.data[i];
    if (type === 'uint8') dv.setUint8(i, Math.max(0, Math.min(255, Math.round(x))));
    else if (type === 'int16') dv.setInt16(i * 2, Math.max(-32768, Math.min(32767, Math.round(x))), true);
    else dv.setFloat32(i * 4, x, true);
  }
  return file;
}
