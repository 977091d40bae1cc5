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
      // `vite` dev server: the same /ort/ files, straight from node_modules
      server.middlewares.use('/ort/', (req, res, next) => {
        const name = (req.url ?? '').split('?')[0].replace(/^\//, '');
        if (!ORT_FILES.includes(name) || !existsSync(join(ortDir, name))) return next();
        res.setHeader('Content-Type', name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
        createReadStream(join(ortDir, name)).pipe(res);
      });
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
  build: { outDir: join(here, 'dist'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 1500 },
  plugins: [ortFiles()],
});
