// The part of dcmjs (0.51, no bundled types) that the DICOM SEG writer uses.
declare module 'dcmjs' {
  type Dataset = Record<string, unknown> & { _meta?: Record<string, unknown> };
  interface DicomDict { dict: Record<string, unknown>; meta: Record<string, unknown> }
  class Segmentation {
    constructor(datasets: Dataset[], options?: { includeSliceSpacing?: boolean });
    dataset: Dataset & { PerFrameFunctionalGroupsSequence: unknown[] };
    referencedDataset: Dataset & { PerFrameFunctionalGroupsSequence: { PlanePositionSequence: { ImagePositionPatient: number[] } }[] };
    setNumberOfFrames(n: number): void;
    addSegment(segment: Record<string, unknown>, pixelData: Uint8Array, referencedFrameNumbers: number[]): void;
    bitPackPixelData(): void;
  }
  const _default: {
    data: {
      DicomMessage: { readFile(buffer: ArrayBuffer): DicomDict };
      DicomMetaDictionary: { naturalizeDataset(dict: Record<string, unknown>): Dataset; namifyDataset(dict: Record<string, unknown>): Record<string, unknown> };
      datasetToBuffer(dataset: Dataset): Buffer;
    };
    derivations: { Segmentation: typeof Segmentation };
    normalizers: { Normalizer: { normalizeToDataset(datasets: Dataset[]): Dataset | undefined } };
    log: { setLevel(level: string): void };
  };
  export default _default;
}
