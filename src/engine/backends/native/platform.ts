// The prebuilt platform package for this machine (sharp / esbuild convention): unetpp-<os>-<cpu>[-<libc>],
// e.g. unetpp-linux-x64-gnu. scripts/prebuild.mjs makes it; the addon loader looks for it.

export interface PlatformPackage {
  /** npm package name. */
  name: string;
  /** Folder under npm/ in the repository, e.g. linux-x64-gnu. */
  dir: string;
  /** npm's libc field on Linux. */
  libc?: 'glibc' | 'musl';
}

/** glibc or musl on Linux (Node's report says which C library it runs on), else undefined. */
function linuxLibc(): 'glibc' | 'musl' | undefined {
  if (process.platform !== 'linux') return undefined;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

export function platformPackage(platform = process.platform, arch = process.arch, libc = linuxLibc()): PlatformPackage | null {
  if (!['linux', 'darwin', 'win32'].includes(platform) || !['x64', 'arm64'].includes(arch)) return null;
  const suffix = platform === 'linux' ? (libc === 'musl' ? '-musl' : '-gnu') : '';
  const dir = `${platform}-${arch}${suffix}`;
  return { name: `unetpp-${dir}`, dir, ...(platform === 'linux' ? { libc: libc ?? 'glibc' } : {}) };
}
