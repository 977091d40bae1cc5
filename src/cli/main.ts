#!/usr/bin/env node
// The `unetpp` command line. Each subcommand lives in commands/<name>.ts; this file only
// assembles them and turns errors into one clear line (stack traces with --verbose or DEBUG).
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { predictCommand } from './commands/predict.js';
import { trainCommand } from './commands/train.js';
import { evalCommand } from './commands/eval.js';
import { exportCommand } from './commands/export.js';
import { infoCommand } from './commands/info.js';
import { benchCommand } from './commands/bench.js';
import { demoCommand } from './commands/demo.js';
import { serveCommand } from './commands/serve.js';
import { workerCommand } from './commands/worker.js';
import { submitCommand } from './commands/submit.js';
import { cvCommand } from './commands/cv.js';
import { postprocessCommand } from './commands/postprocess.js';
import { planCommand } from './commands/plan.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('unetpp')
    .description('UNet++ (nested U-Net) segmentation: train, predict, evaluate, export')
    .version(pkg.version)
    .showHelpAfterError('(add --help for usage)');
  for (const make of [planCommand, trainCommand, predictCommand, evalCommand, postprocessCommand, exportCommand, infoCommand, demoCommand, benchCommand, cvCommand, serveCommand, workerCommand, submitCommand]) program.addCommand(make().showHelpAfterError('(add --help for usage)'));
  return program;
}

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode; // commander printed it already
    const verbose = argv.includes('--verbose') || !!process.env.DEBUG;
    const err = e as Error;
    console.error(verbose && err.stack ? err.stack : `unetpp: error: ${err.message ?? String(e)}`);
    return 1;
  }
}

process.exitCode = await main();
