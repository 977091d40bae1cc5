// A minimal DICOM Part 10 writer for tests: explicit VR little endian (or implicit), one CT
// slice per file with the tags a volume reader and dcm2niix need. Not a general encoder.
// Stored values are 16-bit signed unless `bits` says otherwise (8-bit, 12 of 16 bits, unsigned).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

type Value = string | number[] | Uint8Array;
interface El { tag: number; vr: string; value: Value }

const LONG_VRS = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN']);

function bytesOf(e: El): Uint8Array {
  if (e.value instanceof Uint8Array) return e.value;
  if (e.vr === 'US') return new Uint8Array(Uint16Array.from(e.value as number[]).buffer);
  if (e.vr === 'UL') return new Uint8Array(Uint32Array.from(e.value as number[]).buffer);
  let s = e.value as string;
  const pad = e.vr === 'UI' ? '\0' : ' ';
  if (s.length % 2) s += pad; // even lengths
  return new TextEncoder().encode(s);
}

function encode(els: El[], explicit: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of [...els].sort((a, b) => a.tag - b.tag)) {
    const v = bytesOf(e);
    const head = new DataView(new ArrayBuffer(12));
    head.setUint16(0, e.tag >>> 16, true);
    head.setUint16(2, e.tag & 0xffff, true);
    let n: number;
    if (!explicit) { head.setUint32(4, v.length, true); n = 8; }
    else if (LONG_VRS.has(e.vr)) {
      head.setUint8(4, e.vr.charCodeAt(0)); head.setUint8(5, e.vr.charCodeAt(1));
      head.setUint32(8, v.length, true); n = 12;
    } else {
      head.setUint8(4, e.vr.charCodeAt(0)); head.setUint8(5, e.vr.charCodeAt(1));
      head.setUint16(6, v.length, true); n = 8;
    }
    parts.push(new Uint8Array(head.buffer, 0, n), v);
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export interface SliceSpec {
  seriesUid: string;
  instance: number;
  rows: number;
  columns: number;
  /** Stored values, row-major (int16 unless `bits` says otherwise). */
  pixels: Int16Array;
  bits?: PixelBits;
  position: number[];
  orientation: number[];
  pixelSpacing: [number, number]; // [row spacing, column spacing] as in the tag
  sliceThickness: number;
  slope?: number;
  intercept?: number;
  transferSyntax?: string;
}

/** BitsAllocated / BitsStored / PixelRepresentation; default 16 / 16 / signed. */
export interface PixelBits { allocated: 8 | 16; stored: number; signed: boolean }

const ds = (x: number) => String(+x.toFixed(6));

function pixelBytes(p: Int16Array, bits: PixelBits): Uint8Array {
  if (bits.allocated === 8) return Uint8Array.from(p, (v) => v & 0xff);
  const words = bits.signed ? Int16Array.from(p) : Uint16Array.from(p, (v) => v & 0xffff);
  return new Uint8Array(words.buffer);
}

/** The bytes of one slice file. */
export function dicomSlice(s: SliceSpec): Uint8Array {
  const ts = s.transferSyntax ?? '1.2.840.10008.1.2.1';
  const bits = s.bits ?? { allocated: 16, stored: 16, signed: true };
  const sop = `${s.seriesUid}.${s.instance}`;
  const ct = '1.2.840.10008.5.1.4.1.1.2';
  const body: El[] = [
    { tag: 0x00080016, vr: 'UI', value: ct },
    { tag: 0x00080018, vr: 'UI', value: sop },
    { tag: 0x00080020, vr: 'DA', value: '20240101' },
    { tag: 0x00080030, vr: 'TM', value: '120000' },
    { tag: 0x00080060, vr: 'CS', value: 'CT' },
    { tag: 0x0008103e, vr: 'LO', value: 'synthetic' },
    { tag: 0x00100010, vr: 'PN', value: 'Test^Patient' },
    { tag: 0x00100020, vr: 'LO', value: 'P1' },
    { tag: 0x00180050, vr: 'DS', value: ds(s.sliceThickness) },
    { tag: 0x0020000d, vr: 'UI', value: '1.2.826.0.1.3680043.2.1125.1' },
    { tag: 0x0020000e, vr: 'UI', value: s.seriesUid },
    { tag: 0x00200011, vr: 'IS', value: '1' },
    { tag: 0x00200013, vr: 'IS', value: String(s.instance) },
    { tag: 0x00200032, vr: 'DS', value: s.position.map(ds).join('\\') },
    { tag: 0x00200037, vr: 'DS', value: s.orientation.map(ds).join('\\') },
    { tag: 0x00200052, vr: 'UI', value: '1.2.826.0.1.3680043.2.1125.2' },
    { tag: 0x00280002, vr: 'US', value: [1] },
    { tag: 0x00280004, vr: 'CS', value: 'MONOCHROME2' },
    { tag: 0x00280010, vr: 'US', value: [s.rows] },
    { tag: 0x00280011, vr: 'US', value: [s.columns] },
    { tag: 0x00280030, vr: 'DS', value: s.pixelSpacing.map(ds).join('\\') },
    { tag: 0x00280100, vr: 'US', value: [bits.allocated] },
    { tag: 0x00280101, vr: 'US', value: [bits.stored] },
    { tag: 0x00280102, vr: 'US', value: [bits.stored - 1] },
    { tag: 0x00280103, vr: 'US', value: [bits.signed ? 1 : 0] },
    { tag: 0x00281052, vr: 'DS', value: ds(s.intercept ?? 0) },
    { tag: 0x00281053, vr: 'DS', value: ds(s.slope ?? 1) },
    { tag: 0x7fe00010, vr: bits.allocated === 8 ? 'OB' : 'OW', value: pixelBytes(s.pixels, bits) },
  ];
  const metaEls: El[] = [
    { tag: 0x00020001, vr: 'OB', value: Uint8Array.from([0, 1]) },
    { tag: 0x00020002, vr: 'UI', value: ct },
    { tag: 0x00020003, vr: 'UI', value: sop },
    { tag: 0x00020010, vr: 'UI', value: ts },
    { tag: 0x00020012, vr: 'UI', value: '1.2.826.0.1.3680043.2.1125.3' },
  ];
  const meta = encode(metaEls, true);
  const groupLength = encode([{ tag: 0x00020000, vr: 'UL', value: [meta.length] }], true);
  const data = encode(body, ts !== '1.2.840.10008.1.2');
  const out = new Uint8Array(132 + groupLength.length + meta.length + data.length);
  out.set(new TextEncoder().encode('DICM'), 128);
  out.set(groupLength, 132);
  out.set(meta, 132 + groupLength.length);
  out.set(data, 132 + groupLength.length + meta.length);
  return out;
}

export interface SeriesSpec {
  uid: string;
  dims: [number, number, number]; // columns, rows, slices
  f: (x: number, y: number, z: number) => number; // stored value
  origin: number[];
  row: number[]; // direction along a row (increasing column), LPS
  col: number[]; // direction down a column (increasing row)
  spacing: [number, number, number]; // x (column), y (row), z (between slices)
  slope?: number;
  intercept?: number;
  /** z indices to leave out (a missing slice), or positions to perturb. */
  skip?: number[];
  jitter?: Record<number, number>;
  transferSyntax?: string;
  bits?: PixelBits;
}

/** Writes a series, one file per slice, in shuffled file order with shuffled instance numbers. */
export async function writeSeries(dir: string, s: SeriesSpec): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const [X, Y, Z] = s.dims;
  const n = [s.row[1] * s.col[2] - s.row[2] * s.col[1], s.row[2] * s.col[0] - s.row[0] * s.col[2], s.row[0] * s.col[1] - s.row[1] * s.col[0]];
  const paths: string[] = [];
  for (let z = 0; z < Z; z++) {
    if (s.skip?.includes(z)) continue;
    const pixels = new Int16Array(X * Y);
    for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) pixels[y * X + x] = s.f(x, y, z);
    const dz = s.spacing[2] * z + (s.jitter?.[z] ?? 0);
    const position = [0, 1, 2].map((a) => s.origin[a] + n[a] * dz);
    const instance = ((z * 7) % Z) + 1; // not in position order
    const path = join(dir, `IM${String((z * 5) % Z).padStart(4, '0')}_${z}.dcm`);
    await writeFile(path, dicomSlice({
      seriesUid: s.uid, instance, rows: Y, columns: X, pixels, position, orientation: [...s.row, ...s.col],
      pixelSpacing: [s.spacing[1], s.spacing[0]], sliceThickness: s.spacing[2], slope: s.slope, intercept: s.intercept, transferSyntax: s.transferSyntax, bits: s.bits,
    }));
    paths.push(path);
  }
  return paths;
}
