// The BraTS section of docs/results.md, from experiments/brats/results/*.json alone (written by
// run.ts): per model and region, Dice and HD95 as "mean (case 1 / case 2)", the training facts,
// and the PyTorch twin of unetpp3d beside ours. Called by experiments/paper-table/report.ts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Row { id: string; dice: number[]; hd95: (number | null)[]; meanDice: number }
interface Epoch { epoch: number; trainLoss: number; valDice: number | null; seconds: number }
interface BratsResult {
  name: string; classes: string[]; patch: number[]; epochs: number; trainSeconds: number; epochsRun: number; bestEpoch: number; stepMs: number;
  history?: Epoch[]; rows: Row[]; firstStepLoss?: { ours: number; peer: number } | null;
}

export const BRATS_COMMAND = 'npm run build && OMP_WAIT_POLICY=passive node dist/experiments/brats/run.js --epochs 48   # then the twin: experiments/brats/README.md';
const MODELS: [string, string][] = [
  ['unetpp3d', '3D UNet++ (DS)'], ['unet3d', '3D U-Net'], ['unetpp2d', '2D UNet++ (DS), slice by slice'], ['unetpp3d-peer', '3D UNet++ (DS) trained by PyTorch'],
  ['unetpp3d-peer-2', '3D UNet++ (DS) trained by PyTorch again, weights x (1 + 1e-7 noise)'],
];

const num = (x: number | null | undefined, d: number) => (x === null || x === undefined || !Number.isFinite(x) ? 'inf' : x.toFixed(d));
function cell(xs: (number | null)[], d: number): string {
  const ok = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  const mean = ok.length === xs.length && ok.length ? num(ok.reduce((a, b) => a + b, 0) / ok.length, d) : '-';
  return `${mean} (${xs.map((x) => num(x, d)).join(' / ')})`;
}

export function bratsSection(dir: string): string[] {
  const runs = MODELS.filter(([n]) => existsSync(join(dir, `${n}.json`)))
    .map(([n, label]) => ({ label, r: JSON.parse(readFileSync(join(dir, `${n}.json`), 'utf8')) as BratsResult }));
  const head = ['## Volumes: BraTS (issue 17)', ''];
  if (!runs.length) return [...head, 'pending (no finished run yet): `' + BRATS_COMMAND + '`', ''];
  const classes = runs[0].r.classes, cases = runs[0].r.rows.map((x) => x.id);
  const out = [...head,
    '`../shared/data/brats2015-6cases`: 6 BraTS 2015 cases (FLAIR + T1c), 2 train / 2 validation / 2 test by name, cropped to the brain; ' +
    'the three nested regions as sigmoid planes, 0.5 BCE + Dice over the heads, Adam 1e-3. The 3D models train the same fixed schedule ' +
    `(${runs[0].r.epochs} epochs of 16 random 64^3 patches, a third centred on tumour, 3D augmentation, batch 2; filters 16..256, instance norm), ` +
    'validated every 8 epochs by sliding windows over the validation volumes; the 2D UNet++ (32..512, batch norm) trains on 96x96 crops of axial slices ' +
    'for a fixed wall-clock budget. The best validation checkpoint is scored on the test cases through the predictor (windows of the patch, overlap 0.5) ' +
    `and the labels \`predict\` writes; ms/step is a training step's median and train min the training wall time (validations included), both measured while other jobs shared the 2 cores. Cells: mean (${cases.join(' / ')}); two test volumes, so the spread is the two cases, not a confidence interval.`,
    '',
    `| model | ${classes.map((c) => `Dice ${c}`).join(' | ')} | mean Dice | ${classes.map((c) => `HD95 ${c} (mm)`).join(' | ')} | epochs (best) | ms/step | train min |`,
    `|---|${classes.map(() => '---|').join('')}---|${classes.map(() => '---|').join('')}---|---|---|`,
    ...runs.map(({ label, r }) => `| ${label} | ${classes.map((_, k) => cell(r.rows.map((x) => x.dice[k]), 3)).join(' | ')} | ${cell(r.rows.map((x) => x.meanDice), 3)} | ` +
      `${classes.map((_, k) => cell(r.rows.map((x) => x.hd95[k]), 1)).join(' | ')} | ${r.epochsRun} (${r.bestEpoch}) | ${Math.round(r.stepMs)} | ${(r.trainSeconds / 60).toFixed(0)} |`),
    '',
  ];
  // the twin: the same run trained by PyTorch, epoch by epoch
  const ours = runs.find((x) => x.r.name === 'unetpp3d')?.r, peer = runs.find((x) => x.r.name === 'unetpp3d-peer')?.r;
  if (ours?.history && peer?.history) {
    const both = ours.history.filter((e) => peer.history!.some((p) => p.epoch === e.epoch));
    const rel = both.map((e) => Math.abs(e.trainLoss - peer.history!.find((p) => p.epoch === e.epoch)!.trainLoss) / Math.abs(e.trainLoss));
    const val = both.filter((e) => e.valDice !== null).map((e) => `${e.epoch}: ${e.valDice!.toFixed(3)} / ${num(peer.history!.find((p) => p.epoch === e.epoch)!.valDice, 3)}`);
    out.push('**The PyTorch twin.** `unetpp3d-peer` is unetpp3d trained by the PyTorch peer from the same initial weights on the very same patches ' +
      '(dumped from our loader), with the same optimiser and loss, then validated and scored by our code. ' +
      (peer.firstStepLoss ? `Step 1 loss: ours ${peer.firstStepLoss.ours}, the peer's ${peer.firstStepLoss.peer}. ` : '') +
      `Mean training loss per epoch: largest relative difference ${(100 * Math.max(...rel)).toFixed(2)}% over ${both.length} epochs; ` +
      `validation Dice (ours / the peer's) at epochs ${val.join(', ')}. Step time: ours ${Math.round(ours.stepMs)} ms, the peer's ${Math.round(peer.stepMs)} ms ` +
      '(both measured while other jobs shared the 2 cores; the bench gives the clean ratio).', '');
    // the peer against itself on another float32 trajectory (the initial weights moved by about an
    // ulp): the spread that the ours-vs-peer differences are to be read against
    const again = runs.find((x) => x.r.name === 'unetpp3d-peer-2')?.r;
    if (again?.history) {
      const pairs = again.history.map((e) => ({ e, p: peer.history!.find((x) => x.epoch === e.epoch) })).filter((x) => x.p);
      const relA = pairs.map(({ e, p }) => Math.abs(e.trainLoss - p!.trainLoss) / Math.abs(p!.trainLoss));
      const valA = pairs.filter(({ e, p }) => e.valDice !== null && p!.valDice !== null).map(({ e, p }) => `${e.epoch}: ${p!.valDice!.toFixed(3)} / ${e.valDice!.toFixed(3)}`);
      const relO = pairs.map(({ e }) => ours.history!.find((x) => x.epoch === e.epoch)).filter((o) => o)
        .map((o) => Math.abs(o!.trainLoss - peer.history!.find((x) => x.epoch === o!.epoch)!.trainLoss) / Math.abs(o!.trainLoss));
      const valO = pairs.filter(({ e }) => e.valDice !== null).map(({ e }) => ours.history!.find((x) => x.epoch === e.epoch)).filter((o) => o && o.valDice !== null)
        .map((o) => `${o!.epoch}: ${o!.valDice!.toFixed(3)}`);
      out.push(`**The peer against itself.** \`unetpp3d-peer-2\` is the same PyTorch run again with every initial weight multiplied by (1 + 1e-7 x N(0, 1)) ` +
        '(`peer_train.py --perturb 1e-7`, about one float32 ulp: PyTorch alone is bitwise reproducible here, even in channels_last_3d), so another float32 ' +
        `trajectory of the same engine, ${again.epochsRun} epochs: its per-epoch training loss differs from the first PyTorch run's by up to ` +
        `${(100 * Math.max(...relA)).toFixed(2)}% (ours from it over the same epochs: ${(100 * Math.max(...relO)).toFixed(2)}%), and validation Dice (the first PyTorch run / this one) reads ${valA.join(', ')} ` +
        `(ours at those epochs: ${valO.join(', ')}): the spread between two runs of one engine, against which the differences between the engines above are to be read.`, '');
    }
    const same = join(dir, 'same-epoch.json');
    if (existsSync(same)) {
      type Row = { meanDice: number };
      const eps = (JSON.parse(readFileSync(same, 'utf8')) as { epochs: { epoch: number; ours: Row[]; peer: Row[] }[] }).epochs;
      const mean = (rows: Row[]) => rows.reduce((t, r) => t + r.meanDice, 0) / rows.length;
      out.push('The same epochs on the test cases (`same-epoch.js`: each engine\'s weights at the epoch, so that the checkpoint choice does not differ), ' +
        `mean Dice ours / the peer's: ${eps.map((e) => `epoch ${e.epoch}: ${mean(e.ours).toFixed(3)} / ${mean(e.peer).toFixed(3)}`).join(', ')}. ` +
        'The two float32 trajectories start equal and drift apart (different convolution algorithms and summation orders); the training loss, ' +
        'averaged over an epoch\'s 8 batches, stays within the percent above, while the Dice of either run moves by several hundredths from one ' +
        'checkpoint to the next on these two validation and two test volumes. Two test volumes cannot tell whether a gap at one epoch is systematic; ' +
        'the check would be a second PyTorch run on another thread count (the same engine on another float32 trajectory) as the spread to compare ' +
        'with: not done.', '');
    }
  }
  out.push(...reading(runs.map((x) => x.r)), '');
  return out;
}

function reading(rs: BratsResult[]): string[] {
  const lines: string[] = [];
  const ranked = [...rs].filter((r) => !r.name.startsWith('unetpp3d-peer')).map((r) => ({ r, mean: r.rows.reduce((a, x) => a + x.meanDice, 0) / r.rows.length })).sort((a, b) => b.mean - a.mean);
  lines.push(`- Mean test Dice over regions and cases: ${ranked.map((x) => `${x.r.name} ${x.mean.toFixed(3)}`).join(' > ')}.`);
  const still = rs.filter((r) => r.name !== 'unetpp2d' && r.name !== 'unetpp3d-peer-2' && r.bestEpoch === r.epochsRun).map((r) => r.name);
  if (still.length) lines.push(`- ${still.join(', ')}: the best validation Dice came at the last epoch, so ${still.length > 1 ? 'these runs were' : 'this run was'} still improving: ` +
    `the schedule (${8 * Math.max(...rs.filter((r) => r.name !== 'unetpp2d').map((r) => r.epochs))} steps) undertrains them, ` + 'and the ranking between 2D and 3D reflects the budget more than the models. Resume with a larger `--epochs` to extend them.');
  lines.push('- Six cases (two for testing) cannot separate models in general; these numbers show the volume pipeline working end to end, not a benchmark.');
  return lines;
}

if (process.argv[1]?.endsWith('brats/report.js')) {
  const dir = new URL('../../../experiments/brats/results', import.meta.url).pathname;
  console.log(bratsSection(dir).join('\n'));
}
