// The WebAssembly DICOM codecs (Emscripten builds, no bundled types) that src/data/formats/dicom-codecs.ts
// loads on first use. Each default export is the Emscripten module factory.
declare module '@cornerstonejs/codec-charls/decodewasmjs' {
  const factory: (options?: Record<string, unknown>) => Promise<Record<string, unknown>>;
  export default factory;
}
declare module '@cornerstonejs/codec-openjpeg/decodewasmjs' {
  const factory: (options?: Record<string, unknown>) => Promise<Record<string, unknown>>;
  export default factory;
}
declare module '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs' {
  const factory: (options?: Record<string, unknown>) => Promise<Record<string, unknown>>;
  export default factory;
}
