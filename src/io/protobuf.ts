// A minimal protobuf writer (proto3 wire format): just what ONNX serialisation needs, so the
// package does not depend on a protobuf library. Fields are written in call order.
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array) { this.chunks.push(b); this.size += b.length; }

  private varint(v: number | bigint) {
    let x = BigInt.asUintN(64, BigInt(v)); // negative int64 -> two's complement, as protobuf
    const out: number[] = [];
    while (x >= 0x80n) { out.push(Number(x & 0x7fn) | 0x80); x >>= 7n; }
    out.push(Number(x));
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number) { this.varint((field << 3) | wire); }

  int(field: number, v: number | bigint): this { this.tag(field, 0); this.varint(v); return this; }

  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }

  bytes(field: number, b: Uint8Array): this { this.tag(field, 2); this.varint(b.length); this.push(b); return this; }
  string(field: number, s: string): this { return this.bytes(field, new TextEncoder().encode(s)); }
  message(field: number, m: ProtoWriter): this { return this.bytes(field, m.finish()); }

  /** Repeated int64 as one packed field. */
  packedInts(field: number, vs: readonly (number | bigint)[]): this {
    const w = new ProtoWriter();
    for (const v of vs) w.varint(v);
    return this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    return out;
  }
}
