// The page: open a bundle, open a picture, run a model (accurate or fast at a pruning level),
// show the overlay, the time per run and download the mask. State for tests and people is
// on document.body.dataset.state (loading | ready | running | done | error).
import { folderSource, readManifest, urlSource, type BundleSource } from './bundle.js';
import { Runner, threads, webgpuAvailable, type Backend } from './runner.js';
import { decodePicture, drawOverlay, maskPng, type Picture } from './render.js';
import { rgbaToPlanes, labelMap, type WebModelEntry } from '../../src/web/index.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  bundleUrl: $<HTMLInputElement>('bundle-url'), bundleLoad: $<HTMLButtonElement>('bundle-load'), bundleFolder: $<HTMLInputElement>('bundle-folder'),
  bundleInfo: $('bundle-info'), model: $<HTMLSelectElement>('model'), backend: $<HTMLSelectElement>('backend'),
  drop: $('drop'), file: $<HTMLInputElement>('image-input'), run: $<HTMLButtonElement>('run'), opacity: $<HTMLInputElement>('opacity'),
  canvas: $<HTMLCanvasElement>('view'), status: $('status'), runs: $<HTMLTableSectionElement>('runs'), download: $<HTMLButtonElement>('download'),
};

let runner: Runner | null = null;
let picture: Picture | null = null;
let planes: Float32Array | null = null;
let result: { labels: Uint8Array; entry: WebModelEntry } | null = null;
let runCount = 0;

function setState(state: string, text: string): void {
  document.body.dataset.state = state;
  ui.status.textContent = text;
  ui.status.className = state === 'error' ? 'error' : '';
}

const count = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(1)}k`);
const describe = (e: WebModelEntry) =>
  `${e.mode === 'accurate' ? `Accurate (L${e.level}, mean of heads)` : `Fast L${e.level} (pruned, head ${e.level})`} · ${count(e.params)} params · ${e.gflops.toFixed(3)} GFLOP/tile`;

async function openBundle(src: BundleSource): Promise<void> {
  setState('loading', `opening ${src.label} …`);
  runner = null;
  result = null;
  planes = null; // another bundle may take other channels
  try {
    const m = await readManifest(src);
    if (m.model.dims === 3) throw new Error(`${src.label} holds a 3D model: open it in the volume page (volume.html)`);
    runner = new Runner(m, src);
    ui.model.replaceChildren(...m.models.map((e) => new Option(describe(e), e.id)));
    const i = m.input;
    ui.bundleInfo.textContent = `${src.label}: UNet++ (${m.model.preset}, filters ${m.model.filters.join(',')}), ${i.channels} channel(s), ` +
      `normalise ${i.normalize.kind}, tile ${i.tile.join('x')} overlap ${i.overlap}, ${m.output.classes} class(es) ` +
      `${m.output.classNames.join(', ')}, threshold ${m.output.threshold}`;
    setState('ready', picture ? 'bundle ready: press Run' : 'bundle ready: open a PNG or JPEG');
    if (picture) await run();
  } catch (e) {
    setState('error', `${(e as Error).message}. Serve a bundle with the page (scripts/serve-web.mjs --bundle DIR), enter its URL, or choose its folder.`);
  }
}

async function openPicture(file: File): Promise<void> {
  try {
    picture = await decodePicture(file);
    result = null;
    ui.download.disabled = true;
    drawOverlay(ui.canvas, picture, null, 0);
    planes = runner ? rgbaToPlanes(picture.rgba, picture.width, picture.height, runner.manifest.input.channels) : null;
    if (runner) await run();
    else setState('loading', 'picture open: waiting for a bundle');
  } catch (e) {
    setState('error', (e as Error).message);
  }
}

async function run(): Promise<void> {
  if (!runner || !picture) return;
  const m = runner.manifest;
  const entry = m.models.find((e) => e.id === ui.model.value) ?? m.models[0];
  const backend = ui.backend.value as Backend;
  planes ??= rgbaToPlanes(picture.rgba, picture.width, picture.height, m.input.channels);
  setState('running', `running ${entry.id} on ${backend} …`);
  ui.run.disabled = true;
  try {
    const r = await runner.predict(entry, backend, planes, picture.width, picture.height);
    const labels = labelMap({ data: r.data, channels: r.channels }, m.output.activation, m.output.threshold);
    result = { labels, entry };
    const fg = labels.reduce((s, v) => s + (v ? 1 : 0), 0) / labels.length;
    drawOverlay(ui.canvas, picture, labels, Number(ui.opacity.value));
    runCount++;
    const row = ui.runs.insertRow(0);
    const how = backend === 'wasm' ? `wasm ×${threads()}` : backend;
    for (const v of [String(runCount), entry.id, how, `${picture.width}x${picture.height}`, String(r.windows), `${r.runMs.toFixed(0)} ms`,
      r.loadMs ? `${r.loadMs.toFixed(0)} ms` : '–', `${(100 * fg).toFixed(1)}%`]) row.insertCell().textContent = v;
    ui.download.disabled = false;
    document.body.dataset.runs = String(runCount);
    document.body.dataset.lastMs = r.runMs.toFixed(1);
    setState('done', `${entry.id}: ${r.runMs.toFixed(0)} ms on ${how} (${r.windows} window${r.windows > 1 ? 's' : ''})` +
      `${r.loadMs ? `, model loaded in ${r.loadMs.toFixed(0)} ms` : ''}; foreground ${(100 * fg).toFixed(1)}%`);
  } catch (e) {
    setState('error', `${entry.id} on ${backend}: ${(e as Error).message}`);
  } finally {
    ui.run.disabled = false;
  }
}

async function download(): Promise<void> {
  if (!result || !picture) return;
  const blob = await maskPng(result.labels, picture.width, picture.height, runner!.manifest.output.classes);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${picture.name.replace(/\.[^.]+$/, '')}_mask_${result.entry.id}.png`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

ui.bundleLoad.onclick = () => void openBundle(urlSource(ui.bundleUrl.value.trim() || 'bundle/'));
ui.bundleFolder.onchange = () => { if (ui.bundleFolder.files?.length) void openBundle(folderSource(ui.bundleFolder.files)); };
ui.file.onchange = () => { const f = ui.file.files?.[0]; if (f) void openPicture(f); };
ui.run.onclick = () => void run();
ui.model.onchange = () => void run();
ui.backend.onchange = () => void run();
ui.download.onclick = () => void download();
ui.opacity.oninput = () => { if (picture) drawOverlay(ui.canvas, picture, result?.labels ?? null, Number(ui.opacity.value)); };
ui.drop.ondragover = (e) => { e.preventDefault(); ui.drop.classList.add('over'); };
ui.drop.ondragleave = () => ui.drop.classList.remove('over');
ui.drop.ondrop = (e) => {
  e.preventDefault();
  ui.drop.classList.remove('over');
  const f = e.dataTransfer?.files[0];
  if (f) void openPicture(f);
};

void (async () => {
  if (await webgpuAvailable()) {
    ui.backend.add(new Option('WebGPU', 'webgpu'));
    ui.backend.value = 'webgpu';
  }
  // ?bundle=URL, else the bundle served beside the page
  ui.bundleUrl.value = new URLSearchParams(location.search).get('bundle') ?? 'bundle/';
  await openBundle(urlSource(ui.bundleUrl.value));
})();
