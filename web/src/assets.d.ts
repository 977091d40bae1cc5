// Vite's `?url` imports: the URL of a file emitted with the build (the codecs' .wasm files).
declare module '*?url' {
  const url: string;
  export default url;
}
