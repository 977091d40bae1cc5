// `unetpp submit`: queue predictions for files and folders on shared storage, then follow
// them to the end with a progress bar and a summary (failures per file, with the reason).
import { Command } from 'commander';
import cliProgress, { type SingleBar } from 'cli-progress';
import { addCommon, action, CliError } from '../common.js';
import { int } from '../parse.js';
import { addPredictorOptions, predictorSettings } from './predict.js';
import type { Normalize } from '../../data/images/transforms.js';
import type { SubmitStatus } from '../../queue/submit.js';

export function submitCommand(): Command {
  const cmd = new Command('submit')
    .description('queue predictions for workers (unetpp worker): inputs and outputs on storage every worker sees at the same path')
    .argument('<inputs...>', 'image files, folders of them, or .nii/.nii.gz volumes')
    .requiredOption('--redis <url>', 'Redis URL, e.g. redis://10.0.0.5:6379')
    .requiredOption('-m, --model <file>', 'unetpp checkpoint (on the shared storage)')
    .option('-o, --out <dir>', 'output folder: masks named as unetpp predict names them, each in its input\'s folder ' +
      'relative to the inputs given; masks of an earlier batch with the same checkpoint and options are not redone', 'predictions')
    .option('--overlay', 'also write <stem>_overlay.png')
    .option('--probabilities', 'also write <stem>_prob.png')
    .option('--attempts <n>', 'tries per file before it counts as failed', int(1, 100), 3)
    .option('--backoff <ms>', 'wait before the first retry (doubling after)', int(0), 1000)
    .option('--no-progress', 'no progress bar');
  addPredictorOptions(cmd);
  addCommon(cmd, { backend: false });
  cmd.action(action(async ([inputs], opts) => {
    const { submitPredictions } = await import('../../queue/submit.js');
    let bar: SingleBar | undefined;
    let lastLine = 0;
    const onProgress = (s: SubmitStatus) => {
      const done = s.alreadyDone + s.predicted + s.skipped + s.failed;
      if (opts.progress !== false && process.stderr.isTTY) {
        if (!bar) { bar = new cliProgress.SingleBar({ format: 'submit [{bar}] {value}/{total} | failed {failed} | {eta_formatted} left', stream: process.stderr }); bar.start(s.total, done, { failed: 0 }); }
        bar.update(done, { failed: s.failed });
      } else if (opts.progress !== false && Date.now() - lastLine > 5000) {
        lastLine = Date.now();
        console.error(`submit: ${done}/${s.total} done, ${s.failed} failed`);
      }
    };
    let r;
    try {
      r = await submitPredictions(inputs, {
        redis: opts.redis, attempts: opts.attempts, backoffMs: opts.backoff, onProgress,
        onConnection: (_event, detail) => { bar?.stop(); bar = undefined; console.error(`submit: ${detail}`); },
        job: {
          outDir: opts.out, checkpoint: opts.model, predictor: { ...predictorSettings(opts), onTiling: undefined }, threshold: opts.threshold,
          normalize: opts.normalize ? ({ kind: opts.normalize } as Normalize) : undefined,
          resize: opts.resize, overlay: !!opts.overlay, probabilities: !!opts.probabilities,
        },
      });
    } finally {
      bar?.stop();
    }
    const rate = r.predicted / Math.max(r.seconds, 1e-9);
    console.log(`${r.total} file(s): ${r.predicted} predicted, ${r.alreadyDone + r.skipped} already done, ${r.failed} failed, in ${r.seconds.toFixed(1)} s (${rate.toFixed(2)} img/s); masks in ${opts.out}`);
    for (const f of r.failures) console.log(`failed: ${f.input}: ${f.reason} (${f.attempts} attempt(s))`);
    if (r.failed) throw new CliError(`${r.failed} of ${r.total} file(s) failed (listed above)`);
  }));
  return cmd;
}
