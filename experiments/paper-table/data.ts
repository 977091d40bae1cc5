// The dataset folders as `unetpp plan`, `train` and `eval` see them, so that no run needs a data
// flag: dsb2018 and Hippocampus as they are; ISBI 2012 once rewritten into the work folder with
// membranes as foreground and its fixed split in split.csv; smoke runs on a folder of links to a
// few cases per split. Each folder is built under a temporary name and renamed when complete.
import {
  existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { isbiSplit, loadFolder, writeFolder } from '../../src/data/images/folder.js';
import { parseSplitCsv } from '../../src/data/split-csv.js';
import { SMOKE, type DatasetKey } from './settings.js';

/** Builds `dir` with `make(tmp)` unless it is there; a half-built folder from a killed run is rebuilt. */
async function once(dir: string, make: (tmp: string) => Promise<void> | void): Promise<string> {
  if (existsSync(dir)) return dir;
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await make(tmp);
  renameSync(tmp, dir);
  return dir;
}

/** ISBI 2012 with the membrane (0 in the given masks) as foreground and the challenge's fixed split. */
function membranes(src: string, dir: string): Promise<string> {
  return once(dir, async (tmp) => {
    const { samples } = await loadFolder(src, { invertMasks: true, splitOf: isbiSplit, splitFile: false, channels: 1 });
    await writeFolder(tmp, samples);
  });
}

/** Links to the first n cases of each split (files whose name before the first dot is a case id), and their split.csv. */
function subset(src: string, dir: string, n: { train: number; val: number; test: number }): Promise<string> {
  return once(dir, (tmp) => {
    const rows = parseSplitCsv(readFileSync(join(src, 'split.csv'), 'utf8'), join(src, 'split.csv'));
    const kept = (['train', 'val', 'test'] as const).flatMap((sp) => rows.filter((r) => r.split === sp).slice(0, n[sp]));
    const ids = new Set(kept.map((r) => r.id));
    const link = (from: string, to: string) => {
      for (const f of readdirSync(from)) {
        const path = join(from, f);
        if (statSync(path).isDirectory()) {
          mkdirSync(join(to, f));
          link(path, join(to, f));
        } else if (ids.has(f.split('.')[0]) || (from === src && f !== 'split.csv')) symlinkSync(path, join(to, f));
      }
    };
    link(src, tmp);
    writeFileSync(join(tmp, 'split.csv'), ['id,split', ...kept.map((r) => `${r.id},${r.split}`)].join('\n') + '\n');
  });
}

/** The folder a dataset's plan and runs read (built in WORK/data when it differs from the shared one). */
export async function datasetFolder(dataRoot: string, work: string, ds: DatasetKey, smoke: boolean): Promise<string> {
  const src = join(dataRoot, ds);
  if (!existsSync(src)) throw new Error(`${src}: no such folder (--data DIR names the folder of the datasets)`);
  const full = ds === 'isbi2012-em' ? await membranes(src, join(work, 'data', ds)) : src;
  return smoke ? subset(full, join(work, 'data', `${ds}-smoke`), SMOKE.subset[ds]) : full;
}
