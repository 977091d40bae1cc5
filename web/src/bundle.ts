// Where a bundle comes from (a URL served with the page, or a folder the person picks) and its
// manifest.json, checked before any model is fetched.
import { parseWebManifest, type WebManifest } from '../../src/web/index.js';

export interface BundleSource {
  /** Shown to the person: the URL or the folder name. */
  label: string;
  read(name: string): Promise<ArrayBuffer>;
}

export function urlSource(base: string): BundleSource {
  const root = new URL(base.endsWith('/') ? base : `${base}/`, document.baseURI);
  return {
    label: root.href,
    async read(name) {
      const r = await fetch(new URL(name, root));
      if (!r.ok) throw new Error(`${new URL(name, root).href}: HTTP ${r.status}`);
      return r.arrayBuffer();
    },
  };
}

/** Files from <input type=file webkitdirectory>: matched by their base name. */
export function folderSource(files: FileList): BundleSource {
  const byName = new Map<string, File>();
  for (const f of Array.from(files)) byName.set(f.name, f);
  const first = files[0] as (File & { webkitRelativePath?: string }) | undefined;
  return {
    label: first?.webkitRelativePath?.split('/')[0] || 'chosen folder',
    async read(name) {
      const f = byName.get(name);
      if (!f) throw new Error(`${name} is not in the chosen folder`);
      return f.arrayBuffer();
    },
  };
}

export async function readManifest(src: BundleSource): Promise<WebManifest> {
  return parseWebManifest(new TextDecoder().decode(await src.read('manifest.json')), src.label);
}
