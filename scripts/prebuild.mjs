// `npm run build:prebuilt [-- DIR]`: the platform package DIR/<platform>/ (default npm/<platform>/; (unetpp-linux-x64-gnu here), as sharp and
// the pack-and-install test builds one in a temporary DIR), as sharp and esbuild ship theirs: the addon built for any x86-64 CPU of its kind (not -march=native), the shared
// libraries it needs beside it (found with ldd, loaded through rpath $ORIGIN) and their licences.
// The release pack (scripts/pack.mjs) lists every such package in unetpp's optionalDependencies.
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { platformPackage } from '../dist/src/engine/backends/native/platform.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const npmDir = resolve(process.argv[2] ?? join(root, 'npm'));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const target = platformPackage();
if (!target) {
  console.error(`prebuild: no platform package for ${process.platform}-${process.arch}`);
  process.exit(1);
}
// What each supported platform's compiler may assume: x86-64-v2 (SSE4.2, 2009 on) runs on every
// x86-64 server in use; oneDNN picks AVX2/AVX-512/AMX kernels at run time by itself.
const MARCH = { x64: '-march=x86-64-v2 -mtune=generic', arm64: '-march=armv8-a' }[process.arch];
// Libraries every glibc system has: not copied.
const SYSTEM = /^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s)\.so/;

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`prebuild: ${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})`);
  return r;
}

// Build in a scratch copy, so that build/ (the clone's own -march=native build) is left alone.
const work = join(npmDir, '.build');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
cpSync(join(root, 'native'), join(work, 'native'), { recursive: true });
const gyp = JSON.parse(readFileSync(join(root, 'binding.gyp'), 'utf8'));
const t = gyp.targets[0];
// DT_RPATH (not RUNPATH), so that libdnnl's own dependencies are also looked up beside the addon
t.ldflags = [...t.ldflags, "-Wl,--disable-new-dtags,-rpath,'$$ORIGIN'"];
writeFileSync(join(work, 'binding.gyp'), JSON.stringify(gyp, null, 2));
const nodeGyp = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gypBin = process.env.npm_config_node_gyp || nodeGyp;
if (!existsSync(gypBin)) throw new Error(`prebuild: node-gyp not found at ${gypBin} (it ships with npm)`);
run(process.execPath, [gypBin, 'rebuild', `--jobs=${process.env.JOBS || 2}`, ...(process.env.npm_config_nodedir ? [] : ['--nodedir=/usr'])],
  // NODE_PATH: binding.gyp asks node for node-addon-api's headers, from a work folder that may be outside the package
  { cwd: work, env: { ...process.env, UNETPP_MARCH: MARCH, NODE_PATH: join(root, 'node_modules') } });

const out = join(npmDir, target.dir);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const addon = join(out, 'unetpp_native.node');
copyFileSync(join(work, 'build', 'Release', 'unetpp_native.node'), addon);

// The shared libraries it links, other than the system's, with each one's Debian copyright file.
const ldd = run('ldd', [addon], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout;
const libs = [...ldd.matchAll(/^\s*(\S+) => (\/\S+)/gm)].filter(([, name]) => !SYSTEM.test(name));
const licences = [];
for (const [, name, path] of libs) {
  copyFileSync(path, join(out, name));
  const owner = spawnSync('dpkg', ['-S', path.replace(/^\/lib\//, '/usr/lib/')], { encoding: 'utf8' }).stdout.split(':')[0];
  const copyright = owner && `/usr/share/doc/${owner}/copyright`;
  if (!copyright || !existsSync(copyright)) throw new Error(`prebuild: no licence found for ${name} (${path}); dpkg -S gave '${owner}'`);
  copyFileSync(copyright, join(out, `LICENSE.${name}`));
  licences.push(`${name}: ${owner} (Debian), LICENSE.${name}`);
}
const check = spawnSync('ldd', [addon], { encoding: 'utf8' }).stdout;
for (const [, name] of libs)
  if (!new RegExp(`${name.replace(/[.+]/g, '\\$&')} => ${out.replace(/[.+]/g, '\\$&')}/`).test(check))
    throw new Error(`prebuild: ${name} does not resolve beside the addon (rpath $ORIGIN missing?)\n${check}`);

writeFileSync(join(out, 'package.json'), JSON.stringify({
  name: target.name,
  version: pkg.version,
  description: `unetpp's native backend (oneDNN), prebuilt for ${target.dir}`,
  license: 'MIT AND Apache-2.0',
  os: [process.platform], cpu: [process.arch], ...(target.libc ? { libc: [target.libc] } : {}),
  main: 'unetpp_native.node',
  files: ['unetpp_native.node', ...libs.map(([, n]) => n), ...libs.map(([, n]) => `LICENSE.${n}`), 'README.md'],
}, null, 2) + '\n');
writeFileSync(join(out, 'README.md'), `# ${target.name}\n\nThe native backend of [unetpp](https://www.npmjs.com/package/unetpp) for ${target.dir}: ` +
  `the addon (built with ${MARCH}) and the shared libraries it loads from its own folder.\nInstalled by unetpp as an optional ` +
  `dependency; not meant to be used directly.\n\nBundled libraries and their licences:\n\n${licences.map((l) => `- ${l}`).join('\n')}\n`);
rmSync(work, { recursive: true, force: true });
const mb = (p) => (statSync(p).size / 2 ** 20).toFixed(1);
console.log(`prebuild: ${out}: unetpp_native.node ${mb(addon)} MB, ${libs.map(([, n]) => `${n} ${mb(join(out, n))} MB`).join(', ')}`);
