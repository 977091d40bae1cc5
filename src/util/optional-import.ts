// Optional npm packages (the HTTP service's, the queue's, the DICOM codecs, onnxruntime-node) are
// optional peer dependencies: `npm install unetpp` leaves them out, so each is imported on first use
// and, when absent, the error names the package and the command that installs it.
// The browser page bundles this file too (DICOM codecs): no static node: import, no literal URL for Vite to bundle.
const PACKAGE_JSON = '../../../package.json'; // from dist/src/util

/** The range package.json asks for (peer or dev dependency), so the fix installs a version that works. */
function wantedRange(pkg: string): string | undefined {
  try {
    // typed by hand: the page's type-check has no Node types
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const fs = proc?.getBuiltinModule?.('node:fs') as { readFileSync(u: URL, enc: 'utf8'): string } | undefined;
    if (!fs) return undefined;
    const json = JSON.parse(fs.readFileSync(new URL(PACKAGE_JSON, import.meta.url), 'utf8')) as Record<string, any>;
    return json.peerDependencies?.[pkg] ?? json.devDependencies?.[pkg] ?? json.dependencies?.[pkg];
  } catch {
    return undefined;
  }
}

export class MissingPackageError extends Error {
  constructor(readonly packageName: string, readonly feature: string) {
    const range = wantedRange(packageName);
    const spec = range ? `'${packageName}@${range}'` : packageName;
    super(`${feature} needs the npm package ${packageName}, which is not installed; fix: npm install ${spec}`);
    this.name = 'MissingPackageError';
  }
}

/** True when `e` says that `pkg` itself (not a file inside it, nor one of its own imports) is missing. */
function isMissing(e: unknown, pkg: string): boolean {
  const err = e as { code?: string; message?: string };
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' && err?.code !== 'MODULE_NOT_FOUND') return false;
  return new RegExp(`['"]${pkg.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(/[^'"]*)?['"]`).test(err.message ?? '');
}

const loaded = new Map<string, Promise<unknown>>();

/**
 * `load` is the literal `() => import('pkg')` (so TypeScript types the module); `pkg` names it in the
 * error and `feature` says what needs it ("the HTTP service (unetpp serve)"). Loaded once per process;
 * a failure is not cached, so installing the package and retrying works.
 */
export function optionalImport<T>(load: () => Promise<T>, pkg: string, feature: string): Promise<T> {
  const key = `${pkg}\0${load.toString()}`;
  let p = loaded.get(key) as Promise<T> | undefined;
  if (!p) {
    p = load().catch((e: unknown) => {
      loaded.delete(key);
      throw isMissing(e, pkg) ? new MissingPackageError(pkg, feature) : e;
    });
    loaded.set(key, p);
  }
  return p;
}
