// `npm run pack:release [-- OUT [PLATFORMS]]`: the tarballs to publish, in OUT (default .tmp/pack): unetpp,
// with each prebuilt platform package under PLATFORMS (default npm/; scripts/prebuild.mjs) in its
// optionalDependencies, and those packages. The repository's package.json does not list them: `npm ci` would fail while they are unpublished.
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, '.tmp', 'pack'));
const npmDir = resolve(process.argv[3] ?? join(root, 'npm'));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function npmPack(dir, extra = []) {
  const r = spawnSync(npm, ['pack', '--ignore-scripts', '--json', ...extra], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pack: npm pack in ${dir} failed: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout)[0];
}

if (!existsSync(join(root, 'dist', 'src', 'index.js'))) throw new Error(`pack: ${join(root, 'dist/src/index.js')} missing: npm run build first`);
mkdirSync(out, { recursive: true });
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const platforms = existsSync(npmDir) ? readdirSync(npmDir).filter((d) => existsSync(join(npmDir, d, 'package.json'))) : [];
const optional = {};
const made = [];
for (const d of platforms) {
  const p = JSON.parse(readFileSync(join(npmDir, d, 'package.json'), 'utf8'));
  if (p.version !== pkg.version) throw new Error(`pack: npm/${d}/package.json is version ${p.version}, unetpp ${pkg.version}: npm run build:prebuilt`);
  optional[p.name] = p.version;
  made.push(npmPack(join(npmDir, d), ['--pack-destination', out]));
}

// unetpp itself: the files npm would pack, staged with the platform packages added
const stage = join(out, '.stage');
rmSync(stage, { recursive: true, force: true });
for (const f of npmPack(root, ['--dry-run']).files) {
  mkdirSync(dirname(join(stage, f.path)), { recursive: true });
  cpSync(join(root, f.path), join(stage, f.path));
}
const staged = { ...pkg, optionalDependencies: { ...pkg.optionalDependencies, ...optional } };
if (!Object.keys(staged.optionalDependencies).length) delete staged.optionalDependencies;
writeFileSync(join(stage, 'package.json'), JSON.stringify(staged, null, 2) + '\n');
made.unshift(npmPack(stage, ['--pack-destination', out]));
rmSync(stage, { recursive: true, force: true });
for (const m of made) console.log(`${join(out, m.filename)} ${(m.size / 2 ** 20).toFixed(1)} MB packed, ${(m.unpackedSize / 2 ** 20).toFixed(1)} MB unpacked`);
