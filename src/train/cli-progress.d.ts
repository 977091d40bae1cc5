// The part of cli-progress (3.12, no bundled types) that the trainer and submit use.
declare module 'cli-progress' {
  export interface Options { format?: string; hideCursor?: boolean; clearOnComplete?: boolean; etaBuffer?: number; stream?: NodeJS.WritableStream }
  export class SingleBar {
    constructor(opts: Options, preset?: object);
    start(total: number, start: number, payload?: Record<string, unknown>): void;
    update(value: number, payload?: Record<string, unknown>): void;
    stop(): void;
  }
  export const Presets: { shades_classic: object };
  const _default: { SingleBar: typeof SingleBar; Presets: typeof Presets };
  export default _default;
}
