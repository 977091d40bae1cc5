// Predictions as a DICOM SEG object (through dcmjs 0.51: 0.52 needs Node 22) that references
// the source series, so viewers that read DICOM SEG (3D Slicer, OHIF) overlay it on the series.
// One segment per target plane of the LabelSpec (regions may overlap, as SEG allows); frames
// are written only where a segment has voxels. The label map is on the series' own grid (as
// readDicomSeries returns it: x = column, y = row, z = slice along the normal).
import { readFile } from 'node:fs/promises';
import { optionalImport } from '../../util/optional-import.js';
import { writeFileAtomic } from '../atomic.js';
import { expandPlanes, planeNames, type LabelSpec } from '../labels.js';
import { fileError } from '../images/read-image.js';
import type { DicomVolume } from './dicom.js';
import type { Volume } from './nifti.js';
import { onImageGrid } from '../volumes/volume-load.js';
import { toLabelMap } from '../labels.js';

export interface DicomSegOptions {
  /** Algorithm name stored in every segment (AUTOMATIC). Default 'unetpp'. */
  algorithm?: string;
  seriesDescription?: string;
}

// A few distinct display colours (CIELab, scaled to 0..65535 as DICOM wants)
const COLOURS = [[54, 80, 67], [88, -79, 81], [32, 79, -108], [97, -21, 94], [60, 98, -60], [91, -48, -14]];
const lab16 = ([l, a, b]: number[]) => [Math.round((l / 100) * 65535), Math.round(((a + 128) / 255) * 65535), Math.round(((b + 128) / 255) * 65535)];

export async function writeDicomSeg(path: string, labels: Uint8Array, spec: LabelSpec, source: DicomVolume, o: DicomSegOptions = {}): Promise<void> {
  const [X, Y, Z] = source.dims;
  if (labels.length !== X * Y * Z) throw new Error(`writeDicomSeg: ${labels.length} labels for a ${X}x${Y}x${Z} series`);
  const { default: dcmjs } = await optionalImport(() => import('dcmjs'), 'dcmjs', 'writing DICOM SEG (writeDicomSeg)');
  dcmjs.log.setLevel('error');
  const { data } = dcmjs;
  const datasets = await Promise.all(source.files.map(async (f) => {
    const buf = await readFile(f);
    const dict = data.DicomMessage.readFile(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
    const ds = data.DicomMetaDictionary.naturalizeDataset(dict.dict);
    ds._meta = data.DicomMetaDictionary.namifyDataset(dict.meta);
    return ds;
  }));
  let seg: InstanceType<typeof dcmjs.derivations.Segmentation>;
  try {
    // dcmjs derives from one multiframe dataset: its normaliser turns the slices into one
    const multiframe = dcmjs.normalizers.Normalizer.normalizeToDataset(datasets);
    if (!multiframe) throw new Error(`no dcmjs normaliser for SOP class ${String(datasets[0].SOPClassUID)}`);
    seg = new dcmjs.derivations.Segmentation([multiframe], { includeSliceSpacing: true });
  } catch (e) {
    throw fileError(source.files[0], 'cannot derive a DICOM SEG from this series', e);
  }
  // dcmjs orders the frames itself: map each of its frames to our slice by position
  const ours = datasets.map((d, z) => ({ z, pos: d.ImagePositionPatient as number[] }));
  const frameOfSlice = new Int32Array(Z);
  seg.referencedDataset.PerFrameFunctionalGroupsSequence.forEach((g, i) => {
    const p = g.PlanePositionSequence.ImagePositionPatient.map(Number);
    const hit = ours.find((s) => s.pos.every((v, a) => Math.abs(Number(v) - p[a]) < 1e-3));
    if (!hit) throw fileError(source.files[0], `dcmjs frame ${i + 1} at ${p} matches no slice`);
    frameOfSlice[hit.z] = i + 1;
  });
  const names = planeNames(spec);
  const first = spec.kind === 'classes' && spec.background ? 1 : 0; // no segment for background
  const planes = expandPlanes(labels, spec);
  const plane = X * Y, vol = plane * Z;
  const frames: { k: number; z: number }[] = [];
  for (let k = first; k < names.length; k++) {
    const n0 = frames.length;
    for (let z = 0; z < Z; z++) if (planes.subarray(k * vol + z * plane, k * vol + (z + 1) * plane).some((v) => v > 0)) frames.push({ k, z });
    if (frames.length === n0) frames.push({ k, z: 0 }); // an empty segment still needs a frame to be valid
  }
  seg.setNumberOfFrames(frames.length);
  for (let k = first; k < names.length; k++) {
    const mine = frames.filter((f) => f.k === k);
    const pixels = new Uint8Array(mine.length * plane);
    mine.forEach((f, i) => { for (let j = 0; j < plane; j++) pixels[i * plane + j] = planes[k * vol + f.z * plane + j] > 0 ? 1 : 0; });
    seg.addSegment({
      SegmentLabel: names[k],
      SegmentAlgorithmType: 'AUTOMATIC',
      SegmentAlgorithmName: o.algorithm ?? 'unetpp',
      SegmentedPropertyCategoryCodeSequence: { CodeValue: '91723000', CodingSchemeDesignator: 'SCT', CodeMeaning: 'Anatomical Structure' },
      SegmentedPropertyTypeCodeSequence: { CodeValue: '85756007', CodingSchemeDesignator: 'SCT', CodeMeaning: 'Tissue' },
      RecommendedDisplayCIELabValue: lab16(COLOURS[(k - first) % COLOURS.length]),
    }, pixels, mine.map((f) => frameOfSlice[f.z]));
  }
  seg.bitPackPixelData();
  Object.assign(seg.dataset, { SeriesDescription: o.seriesDescription ?? 'unetpp segmentation', SeriesNumber: '300' });
  await writeFileAtomic(path, data.datasetToBuffer(seg.dataset));
}

/**
 * A label volume on any grid that is the series' grid up to axis flips/permutations (e.g. a
 * NIfTI prediction made on dcm2niix's conversion) written as DICOM SEG for that series.
 */
export async function writeDicomSegForVolume(path: string, labelVolume: Volume, spec: LabelSpec, source: DicomVolume, o: DicomSegOptions = {}, labelPath = 'label volume'): Promise<void> {
  const onSeries = onImageGrid({ ...labelVolume, channels: 1 }, labelPath, source, source.files[0]);
  await writeDicomSeg(path, toLabelMap(onSeries, labelPath, source.dims, spec), spec, source, o);
}
