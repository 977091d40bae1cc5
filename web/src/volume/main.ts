// The volume page: open a bundle made for volumes, open NIfTI file(s), segment in a worker
// (progress, cancel), show the labels over the volume in NiiVue with per-class visibility,
// opacity and volume in ml, save the mask as NIfTI on the input's grid. State for tests and
// people is on document.body.dataset.state (loading | ready | running | done | error).
import { folderSource, readManifest, urlSource, type BundleSource } from '../bundle.js';
import type { WebManifest, WebModelEntry } from '../../../src/web/index.js';
import { readCase, readDicomCase } from './inputs.js';
import { niftiLabelFile, type NiftiVolume } from './nifti.js';
import { classVoxels, labelClasses, labelCounts, mib, runBytes, TAB_LIMIT_BYTES, voxelMl } from './measure.js';
import { CLASS_COLOURMAPS, Viewer } from './viewer.js';
import type { RunRequest, WorkerReply } from './protocol.js';
import { webgpuAvailable } from '../webgpu.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  bundleUrl: $<HTMLInputElement>('bundle-url'), bundleLoad: $<HTMLButtonElement>('bundle-load'), bundleFolder: $<HTMLInputElement>('bundle-folder'),
  bundleInfo: $('bundle-info'), dicom: $<HTMLInputElement>('dicom-folder'), model: $<HTMLSelectElement>('model'), backend: $<HTMLSelectElement>('backend'), drop: $('drop'), dropText: $('drop-text'), file: $<HTMLInputElement>('volume-input'),
  volumeInfo: $('volume-info'), run: $<HTMLButtonElement>('run'), cancel: $<HTMLButtonElement>('cancel'), progress: $<HTMLProgressElement>('progress'),
  save: $<HTMLButtonElement>('save'), status: $('status'), classes: $<HTMLTableSectionElement>('classes'), runs: $<HTMLTableSectionElement>('runs'),
  canvas: $<HTMLCanvasElement>('viewer'), viewerNote: $('viewer-note'),
};
const THREADS = globalThis.crossOriginIsolated ? 2 : 1;
const ORT_BASE = new URL('ort/', document.baseURI).href;
// ?limitMiB=N lowers the tab's limit (to see the message without a huge volume)
const LIMIT = Number(new URLSearchParams(location.search).get('limitMiB')) * 2 ** 20 || TAB_LIMIT_BYTES;

let bundle: { manifest: WebManifest; source: BundleSource } | null = null;
let volume: NiftiVolume | null = null;
let labels: Uint8Array | null = null;
let worker: { w: Worker; file: string | null } | null = null;
let viewer: Viewer | null = null;
let runCount = 0;
/** Rejects the run in progress (cancel). */
let stopRun: ((e: Error) => void) | null = null;
const CANCELLED = 'cancelled';

function setState(state: string, text: string): void {
  document.body.dataset.state = state;
  ui.status.textContent = text;
  ui.status.className = state === 'error' ? 'error' : '';
}

async function openBundle(src: BundleSource): Promise<void> {
  setState('loading', `opening ${src.label} …`);
  bundle = null;
  labels = null;
  endWorker();
  try {
    const m = await readManifest(src);
    if (!m.volume) throw new Error(`${src.label} is a bundle for pictures: open it in the 2D page, or export one for volumes (unetpp export --web DIR --volumes, or a 3D model)`);
    bundle = { manifest: m, source: src };
    ui.model.replaceChildren(...m.models.map((e) => new Option(e.mode === 'accurate' ? `Accurate (L${e.level})` : `Fast L${e.level}`, e.id)));
    const v = m.volume;
    ui.bundleInfo.textContent = `${src.label}: ${v.dims}D UNet++ (filters ${m.model.filters.join(',')}${v.dims === 2 ? ', slice by slice' : ''}), ` +
      `modalities ${v.modalities.map((n, k) => `${n} (${v.normalize[k]})`).join(', ')}, window ${m.input.tile.join('x')} overlap ${m.input.overlap}, ` +
      `classes ${labelClasses(m).map((c) => c.name).join(', ')}`;
    ui.dropText.textContent = `Drop NIfTI volume(s) here: ${v.modalities.length === 1 ? 'one file' : `${v.modalities.length} files (${v.modalities.join(', ')}) or one 4D file`}, or click to choose`;
    ui.run.disabled = !volume;
    setState('ready', volume ? 'bundle ready: press Segment' : 'bundle ready: open a NIfTI volume');
  } catch (e) {
    setState('error', `${(e as Error).message}. Serve a bundle with the page (scripts/serve-web.mjs --bundle DIR), enter its URL, or choose its folder.`);
  }
}

const isNifti = (f: File) => /\.nii(\.gz)?$/i.test(f.name);

/** NIfTI file(s), or the files of a DICOM folder (any other names). */
async function openVolume(files: File[]): Promise<void> {
  if (!bundle) { setState('error', 'open a model bundle first'); return; }
  cancel(false);
  labels = null;
  ui.save.disabled = true;
  ui.run.disabled = true;
  ui.classes.replaceChildren();
  setState('loading', `reading ${files.map((f) => f.name).join(', ')} …`);
  try {
    const mods = bundle.manifest.volume!.modalities;
    const v = files.some(isNifti) ? await readCase(files, mods) : await readDicomCase(files, mods);
    const need = runBytes(bundle.manifest, v.dims, v.spacing);
    if (need > LIMIT)
      throw new Error(`${v.name}: ${v.dims.join('x')} voxels x ${v.channels} modalities need about ${mib(need)} to segment here, more than this tab's limit ` +
        `(${mib(LIMIT)}): crop or resample the volume, or segment it in Node (unetpp predict)`);
    volume = v;
    ui.volumeInfo.textContent = `${v.name}: ${v.dims.join('x')} voxels, ${v.channels} modalit${v.channels > 1 ? 'ies' : 'y'}, spacing ${v.spacing.map((s) => +s.toFixed(3)).join('x')} mm; needs about ${mib(need)}`;
    if (viewer) await viewer.show(v);
    ui.run.disabled = false;
    await run();
  } catch (e) {
    volume = null;
    setState('error', (e as Error).message);
  }
}

function endWorker(): void {
  worker?.w.terminate();
  worker = null;
}

function cancel(say = true): void {
  if (document.body.dataset.state !== 'running') return;
  endWorker(); // onnxruntime cannot stop a run midway: the worker goes, a new one comes next time
  stopRun?.(new Error(CANCELLED));
  ui.cancel.disabled = true;
  ui.run.disabled = false;
  ui.progress.value = 0;
  if (say) setState('ready', 'cancelled: press Segment to run again');
}

async function run(): Promise<void> {
  if (!bundle || !volume) return;
  const m = bundle.manifest;
  const entry: WebModelEntry = m.models.find((e) => e.id === ui.model.value) ?? m.models[0];
  const v = volume;
  const backend = ui.backend.value as RunRequest['backend'];
  const how = backend === 'wasm' ? `WASM x${THREADS}` : 'WebGPU';
  setState('running', `segmenting with ${entry.id} (${how}) …`);
  ui.run.disabled = true;
  ui.cancel.disabled = false;
  ui.save.disabled = true;
  ui.progress.value = 0;
  try {
    const fresh = !worker || worker.file !== `${entry.file}@${backend}`;
    if (!worker) worker = { w: new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }), file: null };
    const model = fresh ? await bundle.source.read(entry.file) : null;
    const w = worker;
    const data = v.data.slice(); // the worker normalises its own copy
    const req: RunRequest = { type: 'run', manifest: m, entry, model, ortBase: ORT_BASE, threads: THREADS, backend, data, geometry: { dims: v.dims, spacing: v.spacing, affine: v.affine } };
    const reply = await new Promise<Extract<WorkerReply, { type: 'done' }>>((ok, fail) => {
      stopRun = fail;
      w.w.onmessage = (e: MessageEvent<WorkerReply>) => {
        const r = e.data;
        if (r.type === 'progress') { ui.progress.value = r.done / r.total; ui.status.textContent = `segmenting with ${entry.id}: ${r.done}/${r.total} …`; }
        else if (r.type === 'done') ok(r);
        else fail(new Error(r.message));
      };
      w.w.onerror = (e) => fail(new Error(e.message || 'the worker failed'));
      w.w.postMessage(req, [data.buffer, ...(model ? [model] : [])]);
    });
    w.file = `${entry.file}@${backend}`;
    labels = reply.labels;
    runCount++;
    await showResult(entry, reply);
  } catch (e) {
    if ((e as Error).message !== CANCELLED) { endWorker(); setState('error', `${entry.id}: ${(e as Error).message}`); }
  } finally {
    stopRun = null;
    ui.run.disabled = !volume;
    ui.cancel.disabled = true;
  }
}

async function showResult(entry: WebModelEntry, r: Extract<WorkerReply, { type: 'done' }>): Promise<void> {
  const m = bundle!.manifest, v = volume!, lab = labels!;
  const classes = labelClasses(m), counts = labelCounts(lab), ml = voxelMl(v.spacing);
  const opacity = 0.5;
  ui.classes.replaceChildren();
  for (const [k, c] of classes.entries()) {
    const row = ui.classes.insertRow();
    row.dataset.class = c.values.join('+');
    row.insertCell().textContent = `${c.name} (${CLASS_COLOURMAPS[k % CLASS_COLOURMAPS.length]})`;
    const show = document.createElement('input');
    show.type = 'checkbox';
    show.checked = true;
    const slider = document.createElement('input');
    Object.assign(slider, { type: 'range', min: '0', max: '1', step: '0.05', value: String(opacity) });
    const apply = () => viewer?.setOpacity(k, show.checked ? Number(slider.value) : 0);
    show.onchange = apply;
    slider.oninput = apply;
    row.insertCell().append(show);
    row.insertCell().append(slider);
    row.insertCell().textContent = String(classVoxels(counts, c.values));
    const cell = row.insertCell();
    cell.textContent = (classVoxels(counts, c.values) * ml).toFixed(2);
    cell.className = 'ml';
  }
  if (viewer) await viewer.showLabels(lab, v, classes, opacity);
  const row = ui.runs.insertRow(0);
  const how = r.threads ? `wasm x${r.threads}` : 'webgpu';
  for (const s of [String(runCount), entry.id, how, v.dims.join('x'), String(r.windows), `${r.runMs.toFixed(0)} ms`, r.loadMs ? `${r.loadMs.toFixed(0)} ms` : '–'])
    row.insertCell().textContent = s;
  ui.save.disabled = false;
  ui.progress.value = 1;
  document.body.dataset.runs = String(runCount);
  document.body.dataset.lastMs = r.runMs.toFixed(1);
  const fg = classes.map((c) => `${c.name} ${(classVoxels(counts, c.values) * ml).toFixed(2)} ml`).join(', ');
  setState('done', `${entry.id}: ${(r.runMs / 1000).toFixed(1)} s on ${how} (${r.windows} windows); ${fg}`);
}

async function save(): Promise<void> {
  if (!labels || !volume) return;
  const bytes = await niftiLabelFile(labels, volume);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/gzip' }));
  a.download = `${volume.name.replace(/\.nii(\.gz)?$/i, '')}_mask_${ui.model.value}.nii.gz`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

ui.bundleLoad.onclick = () => void openBundle(urlSource(ui.bundleUrl.value.trim() || 'bundle/'));
ui.bundleFolder.onchange = () => { if (ui.bundleFolder.files?.length) void openBundle(folderSource(ui.bundleFolder.files)); };
ui.file.onchange = () => { if (ui.file.files?.length) void openVolume(Array.from(ui.file.files)); };
ui.dicom.onchange = () => { if (ui.dicom.files?.length) void openVolume(Array.from(ui.dicom.files)); };
ui.run.onclick = () => void run();
ui.cancel.onclick = () => cancel();
ui.save.onclick = () => void save();
ui.backend.onchange = () => { if (volume && document.body.dataset.state !== 'running') void run(); };
ui.model.onchange = () => { if (volume && document.body.dataset.state !== 'running') void run(); };
ui.drop.ondragover = (e) => { e.preventDefault(); ui.drop.classList.add('over'); };
ui.drop.ondragleave = () => ui.drop.classList.remove('over');
ui.drop.ondrop = (e) => {
  e.preventDefault();
  ui.drop.classList.remove('over');
  const files = Array.from(e.dataTransfer?.files ?? []);
  if (files.length) void openVolume(files);
};

void (async () => {
  if (await webgpuAvailable()) ui.backend.add(new Option('WebGPU', 'webgpu'));
  const made = await Viewer.create(ui.canvas);
  if (typeof made === 'string') { ui.viewerNote.textContent = made; ui.canvas.hidden = true; } else viewer = made;
  document.body.dataset.viewer = viewer ? 'niivue' : 'none';
  ui.bundleUrl.value = new URLSearchParams(location.search).get('bundle') ?? 'bundle/';
  await openBundle(urlSource(ui.bundleUrl.value));
})();
