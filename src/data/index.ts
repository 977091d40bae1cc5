// Data: readers, folder datasets, transforms, augmentation, batching, synthetic nuclei.
export * from './atomic.js';
export * from './rng.js';
export * from './read-image.js';
export * from './nifti.js';
export * from './transforms.js';
export * from './augment.js';
export * from './folder.js';
export * from './loader.js';
export * from './synthetic.js';
