// Connected components of a label map of any rank: one raster scan with union-find over
// provisional labels (typed arrays, no recursion, no queue), then a relabelling pass. dims run
// from the fastest axis out ([x, y] for an image laid out [H, W]; [x, y, z] for a volume laid
// out [Z, Y, X]), as NIfTI's and src/metrics'. No Node imports: the browser's worker runs it.

/** 'face': neighbours share a face (4 in 2D, 6 in 3D, nnU-Net's and scipy's default); 'full': any
 *  touching voxel (8 in 2D, 26 in 3D). */
export type Connectivity = 'face' | 'full';

export interface Components {
  /** Component id per voxel, 1..count in order of first appearance; 0 = not in the set. */
  ids: Int32Array;
  count: number;
  /** sizes[k] = voxels of component k (sizes[0] = 0). */
  sizes: Int32Array;
}

export interface ComponentOptions {
  /** Label values that make up the set, taken together; default every non-zero value. */
  values?: readonly number[];
  connectivity?: Connectivity;
}

/** A 256-entry membership table of the set (labels are bytes). */
export function valueTable(values?: readonly number[]): Uint8Array {
  const t = new Uint8Array(256);
  if (!values) t.fill(1, 1);
  else for (const v of values) {
    if (!Number.isInteger(v) || v < 1 || v > 255) throw new Error(`label value ${v}: components are of values 1..255 (0 is background)`);
    t[v] = 1;
  }
  return t;
}

/** Offsets of the neighbours scanned before a voxel (negative linear offset), as per-axis steps. */
function backwardNeighbours(rank: number, connectivity: Connectivity): Int8Array[] {
  const out: Int8Array[] = [];
  if (connectivity === 'face') {
    for (let a = 0; a < rank; a++) { const d = new Int8Array(rank); d[a] = -1; out.push(d); }
    return out;
  }
  // every step in {-1, 0, 1}^rank whose outermost non-zero step is -1 comes earlier in raster order
  for (let code = 0; code < 3 ** rank; code++) {
    const d = new Int8Array(rank);
    for (let a = 0, c = code; a < rank; a++, c = Math.floor(c / 3)) d[a] = (c % 3) - 1;
    let outer = rank - 1;
    while (outer >= 0 && d[outer] === 0) outer--;
    if (outer >= 0 && d[outer] === -1) out.push(d);
  }
  return out;
}

export function connectedComponents(labels: Uint8Array, dims: readonly number[], o: ComponentOptions = {}): Components {
  const n = dims.reduce((a, b) => a * b, 1);
  if (labels.length !== n) throw new Error(`connectedComponents: ${labels.length} voxels for dims ${dims.join('x')}`);
  const inSet = valueTable(o.values);
  const rank = dims.length;
  const strides = dims.map((_, a) => dims.slice(0, a).reduce((x, y) => x * y, 1));
  const steps = backwardNeighbours(rank, o.connectivity ?? 'face');
  const offsets = steps.map((d) => d.reduce((s, v, a) => s + v * strides[a], 0));
  const ids = new Int32Array(n);
  // union-find over provisional labels; a root is the smallest label of its set
  let parent = new Int32Array(1024);
  let next = 1;
  const find = (x: number) => {
    while (parent[x] !== x) { parent[x] = parent[parent[x]]; x = parent[x]; }
    return x;
  };
  const coord = new Int32Array(rank);
  for (let i = 0; i < n; i++) {
    if (inSet[labels[i]]) {
      let root = 0;
      for (let s = 0; s < steps.length; s++) {
        const d = steps[s];
        let inside = true;
        for (let a = 0; a < rank; a++) {
          if ((d[a] < 0 && coord[a] === 0) || (d[a] > 0 && coord[a] === dims[a] - 1)) { inside = false; break; }
        }
        if (!inside) continue;
        const j = ids[i + offsets[s]];
        if (!j) continue;
        const r = find(j);
        if (!root) root = r;
        else if (r !== root) {
          const lo = r < root ? r : root;
          parent[r] = lo;
          parent[root] = lo;
          root = lo;
        }
      }
      if (!root) {
        if (next === parent.length) { const grown = new Int32Array(parent.length * 2); grown.set(parent); parent = grown; }
        parent[next] = next;
        root = next++;
      }
      ids[i] = root;
    }
    for (let a = 0; a < rank && ++coord[a] === dims[a]; a++) coord[a] = 0;
  }
  // roots -> 1..count in label order (= order of first appearance); a non-root's root is smaller
  const final = new Int32Array(next);
  let count = 0;
  for (let l = 1; l < next; l++) final[l] = parent[l] === l ? ++count : final[find(l)];
  const sizes = new Int32Array(count + 1);
  for (let i = 0; i < n; i++) {
    if (ids[i]) { ids[i] = final[ids[i]]; sizes[ids[i]]++; }
  }
  return { ids, count, sizes };
}

/** Sets the voxels of the components `drop` says yes to back to background (0), in place. */
export function dropComponents(labels: Uint8Array, c: Components, drop: (id: number, size: number) => boolean): number {
  const gone = new Uint8Array(c.count + 1);
  let any = false;
  for (let k = 1; k <= c.count; k++) if (drop(k, c.sizes[k])) { gone[k] = 1; any = true; }
  if (!any) return 0;
  let removed = 0;
  for (let i = 0; i < labels.length; i++) if (gone[c.ids[i]]) { labels[i] = 0; removed++; }
  return removed;
}

/** Keeps only the largest component of the set (ties: the first in raster order); in place. Returns the voxels removed. */
export function keepLargest(labels: Uint8Array, dims: readonly number[], o: ComponentOptions = {}): number {
  const c = connectedComponents(labels, dims, o);
  if (c.count < 2) return 0;
  let best = 1;
  for (let k = 2; k <= c.count; k++) if (c.sizes[k] > c.sizes[best]) best = k;
  return dropComponents(labels, c, (k) => k !== best);
}

/** Removes the set's components smaller than minVoxels; in place. Returns the voxels removed. */
export function removeSmall(labels: Uint8Array, dims: readonly number[], minVoxels: number, o: ComponentOptions = {}): number {
  if (minVoxels <= 1) return 0;
  const c = connectedComponents(labels, dims, o);
  return dropComponents(labels, c, (_, size) => size < minVoxels);
}
