// unetpp as users install it: the prebuilt platform package built into a temporary folder (scripts/prebuild.mjs,
// where this platform has one and oneDNN's headers are here: CI's set-up installs them), the release tarballs
// (scripts/pack.mjs) installed into an empty project with a clean HOME from npm's cache, then `npx unetpp --help`,
// `npx unetpp demo` for one epoch on the prebuilt native backend (its libdnnl resolved inside the package), a
// TypeScript file importing every subpath type-checked and run (it writes a tiny model and an image),
// `npx unetpp predict` on them, the queue's and onnxruntime-node's missing packages named, and after
// `npm install onnxruntime-node`, `npx unetpp predict` with the native addon unloadable, on the ONNX fallback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { platformPackage } from '../../src/engine/backends/native/platform.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const npmCache = spawnSync('npm', ['config', 'get', 'cache'], { cwd: ROOT, encoding: 'utf8' });
const missing = npmCache.error ? 'npm not found (it ships with Node.js)' : !existsSync(join(ROOT, 'node_modules', 'typescript'))
  ? 'typescript not installed: npm ci' : '';
// CI must run it: a missing tool fails there instead of skipping
const skip = missing && !process.env.CI ? missing : false;
const platform = platformPackage();
// oneDNN's headers (Debian's libdnnl-dev, scripts/setup.sh): the prebuilt package is built from them
const prebuilt = !!platform && existsSync('/usr/include/oneapi/dnnl/dnnl.hpp');
const ORT_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['onnxruntime-node'];

const USE_TS = `
import { SegModel, getBackend, io } from 'unetpp';
import { syntheticNuclei, writeImagePng } from 'unetpp/data';
import { train, type TrainOptions } from 'unetpp/train';
import { parseDuration } from 'unetpp/plan';
import { makeFolds } from 'unetpp/cv';
import { createPredictor, type Predictor } from 'unetpp/infer';
import { binaryScores } from 'unetpp/metrics';
import { saveModel } from 'unetpp/io';
import type { ServeOptions } from 'unetpp/serve';
import { connectRedis } from 'unetpp/queue';
import { parseWebManifest } from 'unetpp/web';

const model = new SegModel({ preset: 'bn', inChannels: 3, deepSupervision: true, filters: [4, 8, 16], seed: 1 });
saveModel('model.safetensors', model, io.completeMeta(model.config, { input: { kind: 'image', normalize: { kind: 'zscore' } } }, 'train'));
const [sample] = syntheticNuclei({ count: 1, width: 40, height: 40 });
await writeImagePng('cell.png', sample.image);
const predictor: Predictor = createPredictor(model, { backend: getBackend('auto', 'fp32', 'infer') });
const opts: Partial<TrainOptions> = { epochs: 1 };
const serve: Partial<ServeOptions> = { maxBatch: 2 };
console.log(JSON.stringify({ budget: parseDuration('1h'), folds: typeof makeFolds, train: typeof train, scores: typeof binaryScores, predictor: typeof predictor, web: typeof parseWebManifest, opts, serve }));
try {
  await connectRedis('redis://127.0.0.1:6379', 500);
  console.log('queue: connected');
} catch (e) {
  console.log('queue: ' + (e as Error).message);
}
`;

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeout = 300_000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

test('npm pack, npm install into an empty project, npx unetpp, subpath imports type-checked and run', { skip, timeout: 900_000 }, () => {
  assert.equal(missing, '', missing);
  // CI on a platform with a prebuilt package must build and install it
  if (process.env.CI && platform) assert.ok(prebuilt, `CI: /usr/include/oneapi/dnnl missing (bash scripts/setup.sh): the ${platform.name} package cannot be built`);
  const tmp = mkdtempSync(join(tmpdir(), 'unetpp-package-'));
  try {
    const packed = join(tmp, 'pack');
    const app = join(tmp, 'app');
    const home = join(tmp, 'home');
    mkdirSync(app);
    mkdirSync(home);
    const platforms = join(tmp, 'npm');
    if (prebuilt) run(process.execPath, [join(ROOT, 'scripts', 'prebuild.mjs'), platforms], ROOT, { ...process.env, JOBS: '2' });
    run(process.execPath, [join(ROOT, 'scripts', 'pack.mjs'), packed, platforms], ROOT, process.env);
    const tarballs = readdirSync(packed).filter((f) => f.endsWith('.tgz')).map((f) => join(packed, f));
    assert.equal(tarballs.length, prebuilt ? 2 : 1, `tarballs: ${tarballs.join(', ')}`);

    // a user's environment: no npmrc of ours, only npm's cache; no compiling when the prebuilt is there
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, UNETPP_THREADS: '1', npm_config_cache: npmCache.stdout.trim(),
      npm_config_update_notifier: 'false', npm_config_audit: 'false', npm_config_fund: 'false', ...(prebuilt ? {} : { UNETPP_SKIP_NATIVE: '1' }) };
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    const install = ['install', '--foreground-scripts', ...tarballs];
    // --offline needs npm's metadata of every dependency in the cache; npm ci caches only tarballs
    let r = spawnSync('npm', [...install, '--offline'], { cwd: app, env, encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0 && /ENOTCACHED/.test(r.stderr)) r = spawnSync('npm', [...install, '--prefer-offline'], { cwd: app, env, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `npm install failed:\n${r.stdout}\n${r.stderr}`);
    const installLog = r.stdout + r.stderr;
    if (prebuilt) assert.match(installLog, new RegExp(`using the prebuilt native backend \\(${platform!.name}\\); not building`));
    else assert.match(installLog, /UNETPP_SKIP_NATIVE is set/);
    for (const lean of ['fastify', 'bullmq', 'ioredis', 'onnxruntime-node', 'onnxruntime-web', '@niivue/niivue', 'dcmjs'])
      assert.ok(!existsSync(join(app, 'node_modules', lean)), `${lean} was installed: it should be an optional peer or a dev dependency`);

    assert.match(run('npx', ['--offline', 'unetpp', '--help'], app, env).stdout, /predict \[options\] <inputs\.\.\.>/);

    if (prebuilt) {
      // the addon's oneDNN is the package's own copy (rpath $ORIGIN), not the system's
      const dir = join(app, 'node_modules', platform!.name);
      const ldd = run('ldd', [join(dir, 'unetpp_native.node')], app, env).stdout;
      assert.match(ldd, new RegExp(`libdnnl\\.so\\.\\d+ => ${dir.replace(/[.+]/g, '\\$&')}/libdnnl`), ldd);
      const demo = run('npx', ['--offline', 'unetpp', 'demo', '--epochs', '1', '--no-progress', '-o', 'demo'], app, env);
      assert.match(demo.stdout.split('\n')[0], new RegExp(`^backend: native \\(prebuilt ${platform!.name}\\), fp32$`), demo.stdout);
      assert.match(demo.stdout, /demo done: IoU [\d.]+/);
    }

    writeFileSync(join(app, 'use.ts'), USE_TS);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, outDir: 'out',
        typeRoots: [join(ROOT, 'node_modules', '@types')], types: ['node'] },
      files: ['use.ts'],
    }));
    run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], app, env);
    const used = run(process.execPath, ['out/use.js'], app, env).stdout;
    assert.match(used, /"train":"function","scores":"function","predictor":"object","web":"function"/);
    assert.match(used, /queue: the queue \(unetpp worker, submit, cv --redis\) needs the npm package ioredis, which is not installed; fix: npm install 'ioredis@\^5/);

    const p = run('npx', ['--offline', 'unetpp', 'predict', 'cell.png', '-m', 'model.safetensors', '-o', 'masks'], app, env);
    assert.ok(readdirSync(join(app, 'masks')).some((f) => f.endsWith('.png')), `no mask written:\n${p.stdout}\n${p.stderr}`);
    // the first line names the backend and where its addon came from
    if (prebuilt) assert.match(p.stdout.split('\n')[0], new RegExp(`^backend: native \\(prebuilt ${platform!.name}\\), fp32$`));
    else assert.match(p.stdout.split('\n')[0], /^backend: reference \(native addon not built/);

    // without the native addon: the install hint for onnxruntime-node, then, once installed, the ONNX fallback
    const noNative = { ...env, UNETPP_NATIVE_PATH: join(app, 'no-native-addon.node') };
    const predict = ['--offline', 'unetpp', 'predict', 'cell.png', '-m', 'model.safetensors', '-o', 'masks-onnx'];
    const hint = spawnSync('npx', [...predict, '--backend', 'onnx'], { cwd: app, env: noNative, encoding: 'utf8', timeout: 300_000 });
    assert.notEqual(hint.status, 0);
    assert.match(hint.stderr, /needs the npm package onnxruntime-node, which is not installed; fix: npm install 'onnxruntime-node@\^1\.\d+\.\d+'/);
    // onnxruntime-node's own install script would fetch CUDA libraries on linux x64: not needed on the CPU
    const ortEnv = { ...env, ONNXRUNTIME_NODE_INSTALL: 'skip' };
    r = spawnSync('npm', ['install', '--offline', `onnxruntime-node@${ORT_VERSION}`], { cwd: app, env: ortEnv, encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0 && /ENOTCACHED/.test(r.stderr))
      r = spawnSync('npm', ['install', '--prefer-offline', `onnxruntime-node@${ORT_VERSION}`], { cwd: app, env: ortEnv, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `npm install onnxruntime-node failed:\n${r.stdout}\n${r.stderr}`);
    const onnx = run('npx', predict, app, noNative);
    assert.match(onnx.stdout.split('\n')[0], /^backend: onnx \(onnxruntime-node [\d.]+; native addon UNETPP_NATIVE_PATH=\S+ failed to load/, onnx.stdout);
    assert.deepEqual(readFileSync(join(app, 'masks-onnx', 'cell.png')), readFileSync(join(app, 'masks', 'cell.png')), 'the ONNX fallback\'s mask differs');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
