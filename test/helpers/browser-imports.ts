// What stops a module from running in a browser: esbuild (Vite's own) bundles it for the browser
// platform, and every import of a package or built-in on the way, static, dynamic or require(), is
// looked at: Node built-ins are refused, and so is any package not known to work in the page.
import { builtinModules, createRequire } from 'node:module';
import { relative } from 'node:path';

/** Packages the page bundles (web/ builds and runs them): their own Node-only paths are guarded. */
export const BROWSER_PACKAGES = [
  'dicom-parser', 'nifti-reader-js', '@cornerstonejs/codec-charls', '@cornerstonejs/codec-openjpeg',
  '@cornerstonejs/codec-libjpeg-turbo-8bit', '@cornerstonejs/jpeg-lossless-decoder-js',
];

// typed by hand: esbuild is Vite's dependency, not ours
interface ResolveArgs { path: string; importer: string; kind: string }
interface EsbuildPlugin {
  name: string;
  setup(b: { onResolve(o: { filter: RegExp }, f: (a: ResolveArgs) => { path: string; external: boolean } | undefined): void }): void;
}
interface Esbuild {
  build(o: { entryPoints: string[]; bundle: boolean; write: boolean; platform: 'browser'; format: 'esm'; logLevel: 'silent';
    plugins: EsbuildPlugin[] }): Promise<unknown>;
}

/** esbuild as Vite resolves it, so that a hoisting change does not hide it. */
function esbuild(): Esbuild {
  const fromHere = createRequire(import.meta.url);
  return createRequire(fromHere.resolve('vite'))('esbuild') as Esbuild;
}

const packageName = (spec: string) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
const isBuiltin = (spec: string) => spec.startsWith('node:') || builtinModules.includes(packageName(spec));

/** One line per import that a browser cannot follow, as "importer: imports spec (why)"; none = browser-safe. */
export async function browserImportProblems(entry: string, root: string, allowed = BROWSER_PACKAGES): Promise<string[]> {
  const problems: string[] = [];
  const plugin: EsbuildPlugin = {
    name: 'browser-imports',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (a) => {
        if (a.kind === 'entry-point') return undefined;
        const from = relative(root, a.importer);
        if (isBuiltin(a.path)) problems.push(`${from}: imports ${a.path} (a Node built-in)`);
        else if (!allowed.includes(packageName(a.path))) problems.push(`${from}: imports ${a.path} (not a package known to run in a browser)`);
        return { path: a.path, external: true };
      });
    },
  };
  await esbuild().build({ entryPoints: [entry], bundle: true, write: false, platform: 'browser', format: 'esm',
    logLevel: 'silent', plugins: [plugin] });
  return problems;
}
