// NIfTI in the tab: a .nii / .nii.gz file to float voxels with its geometry, and a label volume
// back to a .nii.gz with the same geometry (sform and, when it fits, qform: as Node's writer).
// gzip through the browser's own (De)CompressionStream; nothing leaves the page.
import * as nifti from 'nifti-reader-js';
import { encodeNifti } from '../../../src/web/index.js';

/** Voxels [C, Z, Y, X] (x fastest: NIfTI's order), C > 1 for a 4D file. */
export interface NiftiVolume {
  name: string;
  dims: [number, number, number]; // X, Y, Z
  channels: number;
  spacing: [number, number, number];
  affine: number[][];
  data: Float32Array;
}

async function pipe(bytes: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const out = new Response(new Blob([bytes as BlobPart]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

const fail = (name: string, why: string): never => { throw new Error(`${name}: ${why}`); };

export async function readNiftiFile(name: string, buffer: ArrayBuffer): Promise<NiftiVolume> {
  let bytes: Uint8Array = new Uint8Array(buffer);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try { bytes = await pipe(bytes, new DecompressionStream('gzip')); } catch (e) { fail(name, `corrupt gzip (${(e as Error).message}): the file is truncated or damaged`); }
  }
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  if (!nifti.isNIFTI(ab)) fail(name, 'not a NIfTI-1/2 file (open a .nii or .nii.gz volume)');
  let header: nifti.NIFTI1 | nifti.NIFTI2, raw: ArrayBuffer;
  try {
    header = nifti.readHeader(ab)!;
    raw = nifti.readImage(header, ab);
  } catch (e) { return fail(name, `cannot read the NIfTI header or voxels (${(e as Error).message})`); }
  const d = header.dims, nd = d[0];
  if (nd < 2 || nd > 4 || d.slice(1, nd + 1).some((v) => !(v >= 1))) fail(name, `unsupported dimensions ${d.slice(1, nd + 1).join('x')} (2D, 3D or 4D only)`);
  const dims: [number, number, number] = [d[1], d[2], nd >= 3 ? d[3] : 1];
  const channels = nd >= 4 ? d[4] : 1;
  const n = dims[0] * dims[1] * dims[2] * channels;
  const bpv = header.numBitsPerVoxel / 8;
  if (raw.byteLength < n * bpv) fail(name, `truncated: ${raw.byteLength} bytes of voxels, the header says ${n * bpv}`);
  const data = decode(new DataView(raw), header.datatypeCode, n, header.littleEndian, name);
  const { scl_slope: slope, scl_inter: inter } = header;
  if (slope && !(slope === 1 && inter === 0)) for (let i = 0; i < n; i++) data[i] = data[i] * slope + inter;
  const p = header.pixDims, sp = (v: number) => (v > 0 ? v : 1);
  return { name, dims, channels, spacing: [sp(p[1]), sp(p[2]), sp(p[3])], affine: header.affine.map((r) => [...r]), data };
}

function decode(v: DataView, code: number, n: number, le: boolean, name: string): Float32Array {
  const T = nifti.NIFTI1;
  const get: Record<number, [number, (o: number) => number]> = {
    [T.TYPE_UINT8]: [1, (o) => v.getUint8(o)], [T.TYPE_INT8]: [1, (o) => v.getInt8(o)],
    [T.TYPE_INT16]: [2, (o) => v.getInt16(o, le)], [T.TYPE_UINT16]: [2, (o) => v.getUint16(o, le)],
    [T.TYPE_INT32]: [4, (o) => v.getInt32(o, le)], [T.TYPE_UINT32]: [4, (o) => v.getUint32(o, le)],
    [T.TYPE_FLOAT32]: [4, (o) => v.getFloat32(o, le)], [T.TYPE_FLOAT64]: [8, (o) => v.getFloat64(o, le)],
  };
  const g = get[code];
  if (!g) fail(name, `voxel type ${code} is not supported (integers and floats only; not RGB or complex)`);
  const [size, at] = g;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = at(v.byteOffset + i * size);
  return out;
}

/** A uint8 label volume as .nii.gz bytes on the geometry of `like` (src/data/formats/nifti-encode.ts, as Node writes it). */
export async function niftiLabelFile(labels: Uint8Array, like: Pick<NiftiVolume, 'dims' | 'spacing' | 'affine'>, gzip = true): Promise<Uint8Array> {
  const [X, Y, Z] = like.dims;
  if (labels.length !== X * Y * Z) throw new Error(`mask has ${labels.length} voxels, the volume ${X}x${Y}x${Z}`);
  const file = encodeNifti({ dims: like.dims, spacing: like.spacing, affine: like.affine, data: labels }, 'uint8', 'unetpp web');
  return gzip ? pipe(file, new CompressionStream('gzip')) : file;
}
