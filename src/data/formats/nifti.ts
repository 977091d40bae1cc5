// NIfTI volumes (.nii, .nii.gz) <-> host Float32Array, through nifti-reader-js.
// Data order is NIfTI's: x fastest, then y, then z. A z-slice is a W=X, H=Y grey image.
import { readFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as nifti from 'nifti-reader-js';
import { writeFileAtomic } from '../atomic.js';
import { fileError, type Image } from '../images/read-image.js';
import { encodeNifti, type EncodableVolume, type NiftiDatatype } from './nifti-encode.js';

export interface Volume {
  dims: [number, number, number]; // X, Y, Z
  spacing: [number, number, number]; // voxel size, mm when the file says so
  data: Float32Array;
  /** 4x4 voxel-to-world matrix (sform, else qform), kept so that predictions line up. */
  affine: number[][];
}

/** Reads a 3D (or 2D) NIfTI-1/2 file; scl_slope/inter are applied. */
export async function readNifti(path: string): Promise<Volume> {
  const v = await readNiftiChannels(path);
  if (v.channels > 1) throw fileError(path, `is 4D (${v.dims.join('x')}x${v.channels}): expected one 3D volume (several modalities go in one 4D file only as a case's image)`);
  return { dims: v.dims, spacing: v.spacing, data: v.data, affine: v.affine };
}

/** A volume with channels (a 4D NIfTI's 4th axis, e.g. the modalities of an MSD case): data is [C, Z, Y, X]. */
export interface ChannelVolume extends Volume {
  channels: number;
}

/** Gunzips when the file starts with the gzip magic; a corrupt gzip names the file and the fix. */
function gunzipIfNeeded(buf: Buffer, path: string): ArrayBuffer {
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw fileError(path, `corrupt gzip (${(e as Error).message}): the file is truncated or damaged; copy or export it again`);
    }
  }
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

/** Reads a 2D, 3D or 4D NIfTI-1/2 file (4th axis = channels); scl_slope/inter are applied. */
export async function readNiftiChannels(path: string): Promise<ChannelVolume> {
  let header: nifti.NIFTI1 | nifti.NIFTI2;
  let raw: ArrayBuffer;
  const ab = gunzipIfNeeded(await readFile(path).catch((e) => { throw fileError(path, 'cannot read NIfTI volume', e); }), path);
  try {
    if (!nifti.isNIFTI(ab)) throw new Error('not a NIfTI file');
    header = nifti.readHeader(ab);
    raw = nifti.readImage(header, ab);
  } catch (e) {
    throw fileError(path, 'cannot read NIfTI volume', e);
  }
  const d = header.dims;
  const nd = d[0];
  if (nd < 2 || nd > 7 || d.slice(5, nd + 1).some((v) => v > 1)) throw fileError(path, `only 2D/3D/4D volumes are supported (dims ${d.slice(1, nd + 1).join('x')})`);
  const dims: [number, number, number] = [d[1], d[2], nd >= 3 ? d[3] : 1];
  const channels = nd >= 4 ? Math.max(1, d[4]) : 1;
  const n = dims[0] * dims[1] * dims[2] * channels;
  const bytes = header.numBitsPerVoxel / 8;
  if (raw.byteLength < n * bytes) throw fileError(path, `truncated: ${raw.byteLength} bytes of voxel data, expected ${n * bytes}`);
  const data = decodeVoxels(new DataView(raw), header.datatypeCode, n, header.littleEndian, path);
  const slope = header.scl_slope;
  if (slope && !(slope === 1 && header.scl_inter === 0)) {
    for (let i = 0; i < n; i++) data[i] = data[i] * slope + header.scl_inter;
  }
  const p = header.pixDims;
  const sp = (v: number | undefined) => (v && v > 0 ? v : 1);
  return { dims, channels, spacing: [sp(p[1]), sp(p[2]), sp(p[3])], data, affine: header.affine.map((r) => [...r]) };
}

function decodeVoxels(v: DataView, code: number, n: number, le: boolean, path: string): Float32Array {
  const T = nifti.NIFTI1;
  // little-endian files on a little-endian host: a native typed-array conversion, ~10x faster
  const view: Record<number, new (b: ArrayBuffer, o: number, n: number) => ArrayLike<number>> = {
    [T.TYPE_UINT8]: Uint8Array, [T.TYPE_INT8]: Int8Array, [T.TYPE_INT16]: Int16Array, [T.TYPE_UINT16]: Uint16Array,
    [T.TYPE_INT32]: Int32Array, [T.TYPE_UINT32]: Uint32Array, [T.TYPE_FLOAT32]: Float32Array, [T.TYPE_FLOAT64]: Float64Array,
  };
  const Ctor = view[code];
  const hostLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (Ctor && le === hostLE && v.byteOffset % (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT === 0) {
    return new Float32Array(new Ctor(v.buffer as ArrayBuffer, v.byteOffset, n) as unknown as ArrayLike<number>);
  }
  const out = new Float32Array(n);
  const read: Record<number, [number, (o: number) => number]> = {
    [T.TYPE_UINT8]: [1, (o) => v.getUint8(o)],
    [T.TYPE_INT8]: [1, (o) => v.getInt8(o)],
    [T.TYPE_INT16]: [2, (o) => v.getInt16(o, le)],
    [T.TYPE_UINT16]: [2, (o) => v.getUint16(o, le)],
    [T.TYPE_INT32]: [4, (o) => v.getInt32(o, le)],
    [T.TYPE_UINT32]: [4, (o) => v.getUint32(o, le)],
    [T.TYPE_FLOAT32]: [4, (o) => v.getFloat32(o, le)],
    [T.TYPE_FLOAT64]: [8, (o) => v.getFloat64(o, le)],
  };
  const r = read[code];
  if (!r) throw fileError(path, `unsupported NIfTI datatype ${code}`);
  const [size, get] = r;
  for (let i = 0; i < n; i++) out[i] = get(i * size);
  return out;
}

/** One axial (z) slice as a one-channel image (raw values, not rescaled). */
export function volumeSlice(vol: Volume, z: number): Image {
  const [X, Y, Z] = vol.dims;
  if (z < 0 || z >= Z) throw new RangeError(`slice ${z} out of 0..${Z - 1}`);
  return { width: X, height: Y, channels: 1, data: vol.data.slice(z * X * Y, (z + 1) * X * Y) };
}

/** Stacks equally sized one-channel slices back into a volume's data. */
export function stackSlices(slices: Image[]): Float32Array {
  if (!slices.length) return new Float32Array(0);
  const plane = slices[0].width * slices[0].height;
  const out = new Float32Array(plane * slices.length);
  slices.forEach((s, z) => {
    if (s.width * s.height !== plane || s.channels !== 1) throw new Error(`slice ${z}: size or channels differ`);
    out.set(s.data, z * plane);
  });
  return out;
}

export interface WriteNiftiOptions {
  /** Voxel type: uint8 (default, labels 0..255), int16 or float32. */
  datatype?: NiftiDatatype;
}

/** Writes a volume (e.g. predicted labels), gzipped when the name ends .gz, atomically. */
export async function writeNifti(path: string, vol: EncodableVolume, opts: WriteNiftiOptions = {}): Promise<void> {
  let file: Uint8Array;
  try { file = encodeNifti(vol, opts.datatype ?? 'uint8'); } catch (e) { throw fileError(path, (e as Error).message); }
  await writeFileAtomic(path, path.endsWith('.gz') ? gzipSync(file) : file);
}
