// Atomic file writes: write a temporary file next to the target, then rename it over the
// target, so a crash never leaves a half-written mask, volume or table behind.
import { rename, unlink, writeFile } from 'node:fs/promises';

let counter = 0;

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${counter++}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}
