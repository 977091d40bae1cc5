// What a request body holds, from its first bytes (the Content-Type header is not trusted).
export type InputKind = 'png' | 'jpeg' | 'tiff' | 'nifti' | 'nifti-gz';

export function sniff(b: Buffer): InputKind | null {
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a))) return 'tiff';
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'nifti-gz'; // checked when read
  if (b.length >= 4 && [348, 540].some((n) => b.readInt32LE(0) === n || b.readInt32BE(0) === n)) return 'nifti';
  return null;
}

export const SUPPORTED = 'PNG, JPEG, TIFF, NIfTI (.nii, .nii.gz)';
