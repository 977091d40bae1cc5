// The package's `install` script: builds the oneDNN addon (build/Release/unetpp_native.node)
// with node-gyp, unless the prebuilt platform package (unetpp-linux-x64-gnu, an optional
// dependency) loads here, or UNETPP_BUILD_FROM_SOURCE is set. It never fails the install: without
// oneDNN or a compiler the engine falls back to the reference backend, so we print one clear line and exit 0.
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const header = '/usr/include/oneapi/dnnl/dnnl.hpp';

if (process.env.UNETPP_SKIP_NATIVE) {
  console.log('unetpp: UNETPP_SKIP_NATIVE is set, not building the native backend');
  process.exit(0);
}
/** The prebuilt addon's package name if it loads in this process, else null (also in a clone before tsc). */
async function prebuiltLoads() {
  const platform = join(root, 'dist', 'src', 'engine', 'backends', 'native', 'platform.js');
  if (!existsSync(platform)) return null;
  const pkg = (await import(platform)).platformPackage();
  if (!pkg) return null;
  const req = createRequire(join(root, 'package.json'));
  try {
    req(join(dirname(req.resolve(`${pkg.name}/package.json`)), 'unetpp_native.node'));
    return pkg.name;
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') console.log(`unetpp: the prebuilt ${pkg.name} does not load here (${String(e.message).split('\n')[0]}); building from source`);
    return null;
  }
}

if (!process.env.UNETPP_BUILD_FROM_SOURCE) {
  const name = await prebuiltLoads();
  if (name) {
    console.log(`unetpp: using the prebuilt native backend (${name}); not building (UNETPP_BUILD_FROM_SOURCE=1 npm rebuild unetpp builds one for this CPU)`);
    process.exit(0);
  }
}
if (!existsSync(header)) {
  console.log(`unetpp: oneDNN not found (${header}); using the slower reference backend. To build the native one: apt-get install -y libdnnl-dev, then node scripts/build-native.mjs (or npm rebuild unetpp)`);
  process.exit(0);
}

/** node-gyp: npm's choice, else the copy bundled with npm (no download, no extra dependency). */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const bundled = (npmCli) => join(dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (process.env.npm_execpath) candidates.push(bundled(process.env.npm_execpath));
  const prefix = resolve(dirname(process.execPath), '..');
  candidates.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const which = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) {
    try { candidates.push(bundled(realpathSync(which.stdout.trim()))); } catch { /* not a file */ }
  }
  return candidates.find((p) => existsSync(p));
}

const gyp = findNodeGyp();
if (!gyp) {
  console.log('unetpp: node-gyp not found (it ships with npm); using the reference backend. Fix: reinstall npm, then npm rebuild unetpp');
  process.exit(0);
}
const args = [gyp, 'rebuild', `--jobs=${process.env.JOBS || 2}`];
// No Node headers can be downloaded here: use the system's unless npm names a nodedir.
if (!process.env.npm_config_nodedir) args.push('--nodedir=/usr');
const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  const out = `${r.stdout || ''}${r.stderr || ''}`.split('\n').filter((l) => !l.startsWith('gyp info')).join('\n');
  console.log(out.trim() || String(r.error));
  console.log('unetpp: WARNING: the native backend failed to build (see above); the engine will use the slower reference backend');
  process.exit(0);
}
console.log('unetpp: native backend built (build/Release/unetpp_native.node)');
