// Vite build of the page (web/ -> web/dist). onnxruntime-web is taken in its "extern wasm"
// form, whose .mjs/.wasm files are copied to dist/ort/ and loaded from there at run time
// (ort.env.wasm.wasmPaths): the page needs no CDN. COOP/COEP let ort use threads.
import { createRequire } from 'node:module';
import { copyFileSync, createReadStream, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, defaultClientConditions } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const ortDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm'));
// The files ort.min.mjs imports at run time (its WASM and WebGPU-capable JSEP build).
export const ORT_FILES = ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm'];
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

function ortFiles() {
  return {
    name: 'unetpp-ort-files',
    writeBundle(opts) {
      const out = join(opts.dir, 'ort');
      mkdirSync(out, { recursive: true });
      for (const f of ORT_FILES) copyFileSync(join(ortDir, f), join(out, f));
    },
    configureServer(server) {
      // `vite web` dev server: the same /ort/ files, straight from node_modules, and the
      // bundle in $UNETPP_BUNDLE at /bundle/
      server.middlewares.use('/ort/', (req, res, next) => {
        const name = (req.url ?? '').split('?')[0].replace(/^\//, '');
        if (!ORT_FILES.includes(name) || !existsSync(join(ortDir, name))) return next();
        for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
        res.setHeader('Content-Type', name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
        createReadStream(join(ortDir, name)).pipe(res);
      });
      const bundle = process.env.UNETPP_BUNDLE;
      if (bundle) server.middlewares.use('/bundle/', (req, res, next) => {
        const name = decodeURIComponent((req.url ?? '').split('?')[0].replace(/^\//, ''));
        if (!/^[\w.-]+$/.test(name) || !existsSync(join(bundle, name))) return next();
        for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
        res.setHeader('Content-Type', name.endsWith('.json') ? 'application/json' : 'application/octet-stream');
        createReadStream(join(bundle, name)).pipe(res);
      });
    },
  };
}

/**
 * The DICOM codecs' Emscripten glue (@cornerstonejs/codec-*, loaded on first use) requires fs and
 * path on its Node path only; the page gets empty modules instead of Vite's externalisation notice.
 */
function codecNodeBuiltins() {
  const EMPTY = '\0unetpp-empty-node-builtin';
  return {
    name: 'unetpp-codec-node-builtins',
    enforce: 'pre',
    resolveId(id, importer) {
      if ((id === 'fs' || id === 'path') && importer && importer.includes('@cornerstonejs/codec-')) return EMPTY;
      return null;
    },
    load(id) {
      return id === EMPTY ? 'export default {};' : null;
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  logLevel: 'warn',
  resolve: { conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions] },
  server: { headers: ISOLATION_HEADERS },
  preview: { headers: ISOLATION_HEADERS },
  build: {
    outDir: join(here, 'dist'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4000,
    // two pages: pictures (index.html) and volumes (volume.html, with its worker)
    rollupOptions: { input: { index: join(here, 'index.html'), volume: join(here, 'volume.html') } },
  },
  // the worker is built on its own: it needs the codecs' stand-ins too (the unetpp/web entry names them)
  worker: {
    format: 'es', plugins: () => [codecNodeBuiltins()],
    // the entry's DICOM and NIfTI code is unused here; their CommonJS packages would stay for their possible side effects
    rollupOptions: {
      treeshake: { moduleSideEffects: (id) => !/[\\/]node_modules[\\/](dicom-parser|nifti-reader-js)[\\/]/.test(id) },
    },
  },
  plugins: [ortFiles(), codecNodeBuiltins()],
});
