// In-place concatenation. UNet++ concatenates, for each node X(i,j), all earlier nodes of its row
// and the up-sampled node below; copying them into every concatenation costs ~5 ms of a ~170 ms
// bf16 inference batch (N16 96x96). Where the backend takes per-image strided views (a channel
// range of a wider buffer, each image dense), a row's nodes are written once into one buffer and
// each concatenation of the row is a prefix of it, per image:
//
//   [ X(i,0) | X(i,1) | ... | X(i,j-1) | U_j ...... ]   concat j = this prefix (U_j: the up-sampling)
//
// concat_up j then writes only U_j. X(i,j) later overwrites U_j's first channels, which is safe
// once concat j's last reader has run (checked). Generally: a chain of concat_ups whose parts
// each extend the previous one's by one value; everything stored in the buffer must be produced
// and read by kernels that take views (asked of the backend), else the chain is not used.
import type { Node, Shape, Value } from './graph.js';

export interface ConcatRow {
  /** [N, channels, H, W] of the shared buffer. */
  shape: [number, number, number, number];
  /** Values stored in it (keyed `${node.id}:${index}`, as the plan keys tensors), at a channel offset. */
  members: Map<string, number>;
}

/** What the backend says about views (see BTensor.imageStride). */
export interface ViewSupport {
  /** Whether a channel range of this 4D activation is dense within each image. */
  viewable(shape: Shape): boolean;
  /** Whether node's kernel takes its input (or output) i as a per-image strided view. */
  acceptsView(node: Node, io: 'in' | 'out', i: number): boolean;
}

const key = (v: Value) => `${v.node.id}:${v.index}`;

interface Chain { parts: Value[]; concats: Node[] }

/** The rows to store in shared buffers; pinned: values the plan returns (never views). */
export function concatRows(schedule: Node[], pinned: Set<string>, views: ViewSupport): ConcatRow[] {
  const at = new Map(schedule.map((n, t) => [n.id, t]));
  const readers = new Map<string, { node: Node; i: number }[]>();
  const lastUse = new Map<string, number>();
  schedule.forEach((n, t) => n.inputs.forEach((v, i) => {
    const k = key(v);
    (readers.get(k) ?? readers.set(k, []).get(k)!).push({ node: n, i });
    lastUse.set(k, t);
  }));

  const chains: Chain[] = [];
  for (const n of schedule) {
    if (n.op !== 'concat_up' || n.inputs.length < 2) continue;
    const parts = n.inputs.slice(0, -1), last = parts[parts.length - 1];
    const prefix = parts.slice(0, -1).map(key).join(',');
    const ch = chains.find((c) => c.parts.map(key).join(',') === prefix &&
      (lastUse.get(`${c.concats[c.concats.length - 1].id}:0`) ?? -1) < at.get(last.node.id)!);
    if (ch) { ch.parts.push(last); ch.concats.push(n); } else if (parts.length === 1) chains.push({ parts: [last], concats: [n] });
  }
  return chains.filter((c) => usable(c)).map((c) => {
    const members = new Map<string, number>();
    let off = 0;
    for (const p of c.parts) { members.set(key(p), off); off += p.shape[1]; }
    for (const y of c.concats) members.set(`${y.id}:0`, 0);
    const channels = Math.max(off, ...c.concats.map((y) => y.shapes[0][1]));
    const [n, , h, w] = c.concats[0].shapes[0];
    return { shape: [n, channels, h, w] as [number, number, number, number], members };
  });

  function usable(c: Chain): boolean {
    const [n, , h, w] = c.concats[0].shapes[0];
    const values: Value[] = [...c.parts, ...c.concats.map((y) => ({ node: y, index: 0, shape: y.shapes[0] }))];
    for (const v of values) {
      const s = v.shape;
      if (s.length !== 4 || s[0] !== n || s[2] !== h || s[3] !== w || !views.viewable(s)) return false;
      if (pinned.has(key(v)) || v.node.op === 'input' || v.node.op === 'param' || v.node.layouts[v.index] !== 'act') return false;
      if (!views.acceptsView(v.node, 'out', v.index)) return false;
      for (const r of readers.get(key(v)) ?? []) {
        const asPart = r.node.op === 'concat_up' && r.i < r.node.inputs.length - 1;
        // a part read as a part by a concat_up outside the chain would be copied from a view
        if (asPart && !c.concats.includes(r.node)) return false;
        if (!asPart && !views.acceptsView(r.node, 'in', r.i)) return false;
      }
    }
    return true;
  }
}
