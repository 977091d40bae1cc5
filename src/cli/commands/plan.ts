// `unetpp plan -d DIR`: the dataset's fingerprint and the training plan derived from it (src/plan),
// written as JSON (-o) and printed as a short table.
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { addCommon, action, CliError } from '../common.js';
import { duration, memorySize } from '../parse.js';
import { cachePathFor, parseDuration, planDataset, planTable } from '../../plan/index.js';

export function planCommand(): Command {
  const cmd = new Command('plan')
    .description('fingerprint a dataset and derive a training plan (spacing, patch, network, batch, normalisation, ' +
      'steps for a time budget)')
    .requiredOption('-d, --data <dir>', 'dataset folder (volumes or 2D images)')
    .option('-o, --out <file>', 'the plan as JSON; its cache (fingerprint, timings) goes next to it as <name>.fingerprint.json',
      'plan.json')
    .option('--time-budget <t>', 'training time the schedule is planned for: 30m, 1h, 2h, 90s', duration, '1h')
    .option('--max-memory <size>', 'memory a training run may use (default 8G)', memorySize)
    .option('--refresh', 'recompute the fingerprint even when the cached one matches the files')
    .option('--no-measure', 'do not time training steps (no schedule)')
    .option('--seed <n>', 'seed of the split when the dataset has none', (v) => Number(v), 0)
    .option('--json', 'print the plan as JSON instead of the table');
  addCommon(cmd);
  cmd.action(action(async (_args, opts) => {
    const dir: string = opts.data;
    if (!existsSync(dir)) throw new CliError(`--data ${dir}: no such folder`);
    const seconds = parseDuration(opts.timeBudget);
    const tty = !!process.stderr.isTTY;
    const started = Date.now();
    const { plan, fingerprintCached } = await planDataset(dir, {
      out: opts.out, timeBudgetSeconds: seconds, timeBudgetText: opts.timeBudget, maxMemory: opts.maxMemory,
      backend: opts.backend, ...(cmd.getOptionValueSource('precision') !== 'default' && opts.precision === 'fp32'
        ? { precision: 'fp32' as const } : {}),
      measure: opts.measure !== false, refresh: !!opts.refresh, seed: opts.seed,
      onCase: (done, total) => {
        if (tty) process.stderr.write(`\rfingerprint: ${done}/${total} cases${done === total ? '\n' : ''}`);
      },
      log: (line) => process.stderr.write(`plan: ${line}\n`),
    });
    process.stderr.write(`plan: fingerprint ${fingerprintCached ? 'from the cache' : 'computed'} (${cachePathFor(opts.out)}); ` +
      `planned in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    console.log(opts.json ? JSON.stringify(plan, null, 2) : planTable(plan));
    if (!opts.json) console.log(`plan written to ${opts.out}`);
  }));
  return cmd;
}
