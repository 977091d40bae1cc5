// The two image datasets as train/val/test sample lists, through the library's folder loader:
// dsb2018 resized to 96x96 with its split.csv; isbi2012-em at full 512x512 with membranes as
// foreground (inverted masks) and the fixed split (training crops are the trainer's job).
import { join } from 'node:path';
import { loadFolder, isbiSplit, type LoadedSample } from '../../src/data/images/folder.js';
import { CHANNELS, type ImageDatasetKey as DatasetKey, type Settings } from './settings.js';

export interface SplitData {
  train: LoadedSample[];
  val: LoadedSample[];
  test: LoadedSample[];
}

export const DATASET_NOTES: Record<DatasetKey, string> = {
  'dsb2018': 'resized to 96x96 (images linear, masks nearest), split.csv 464/66/134; scored at 96x96',
  'isbi2012-em': 'membrane = foreground (inverted masks), em_00-19 train / 20-23 val / 24-29 test; ' +
    'trained on random 96x96 crops, validated and tested on whole 512x512 images',
};

export async function loadDataset(dataRoot: string, ds: DatasetKey, s: Settings): Promise<SplitData> {
  const dir = join(dataRoot, ds);
  const opts = ds === 'dsb2018'
    ? { size: { width: s.size, height: s.size }, channels: CHANNELS[ds] }
    : { invertMasks: true, splitOf: isbiSplit, splitFile: false as const, channels: CHANNELS[ds] };
  const { samples } = await loadFolder(dir, opts);
  const pick = (split: 'train' | 'val' | 'test') => {
    const all = samples.filter((x) => x.split === split);
    return s.subset ? all.slice(0, s.subset[split]) : all;
  };
  return { train: pick('train'), val: pick('val'), test: pick('test') };
}

/** The training list: ISBI images repeat so that an epoch holds enough random crops. */
export function trainingSamples(ds: DatasetKey, d: SplitData, s: Settings): LoadedSample[] {
  if (ds !== 'isbi2012-em') return d.train;
  return Array.from({ length: s.isbiRepeats }, () => d.train).flat();
}
