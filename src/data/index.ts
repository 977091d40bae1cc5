/**
 * Data: readers, folder datasets, transforms, augmentation, batching, synthetic nuclei.
 * @module unetpp/data
 */
export * from './atomic.js';
export * from './rng.js';
export * from './images/read-image.js';
export * from './formats/nifti.js';
export * from './images/transforms.js';
export * from './augmentation/augment.js';
export * from './images/folder.js';
export * from './loaders/loader.js';
export * from './images/synthetic.js';
export * from './split-csv.js';
export * from './labels.js';
export * from './volumes/resample.js';
export * from './volumes/intensity.js';
export * from './volumes/volume-layout.js';
export * from './volumes/volume-load.js';
export * from './volumes/volume-store.js';
export * from './augmentation/augment3d.js';
export * from './loaders/patches.js';
export * from './loaders/patch-loader.js';
export * from './volumes/reorient.js';
export * from './volumes/crop-box.js';
export * from './formats/dicom.js';
export * from './formats/dicom-codecs.js';
export * from './formats/dicom-seg.js';
export * from './volumes/volume-dataset.js';
export * from './volumes/synthetic-volumes.js';
export * from './formats/qform.js';
export * from './volumes/volume-slices.js';
// Types named by the exports above, public so that the API reference can link them.
export type { PreparedVolume } from './volumes/volume-prepare.js';
export type { EncodableVolume, NiftiDatatype } from './formats/nifti-encode.js';
