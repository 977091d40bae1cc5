// A per-epoch progress bar (cli-progress) with loss, the last validation metric and the ETA;
// silent when stdout is not a terminal or in CI, where a line per epoch is printed instead.
import cliProgress, { type SingleBar } from 'cli-progress';

export interface Progress {
  start(epoch: number, epochs: number, steps: number): void;
  tick(loss: number): void;
  end(summary: string): void;
}

export function makeProgress(enabled?: boolean, print: (s: string) => void = (s) => console.log(s)): Progress {
  const tty = enabled ?? (!!process.stdout.isTTY && !process.env.CI);
  let bar: SingleBar | null = null;
  let metric = '-';
  let n = 0;
  let sum = 0;
  return {
    start(epoch, epochs, steps) {
      n = 0; sum = 0;
      if (!tty) return;
      bar = new cliProgress.SingleBar({
        format: 'epoch {epoch}/{epochs} |{bar}| {value}/{total} loss {loss} | val {metric} | ETA {eta_formatted}',
        hideCursor: true, clearOnComplete: true, etaBuffer: 20,
      }, cliProgress.Presets.shades_classic);
      bar.start(steps, 0, { epoch, epochs, loss: '-', metric });
    },
    tick(loss) {
      n++; sum += loss;
      bar?.update(n, { loss: (sum / n).toFixed(4) });
    },
    end(summary) {
      bar?.stop();
      bar = null;
      metric = summary.match(/iou [\d.]+/)?.[0] ?? metric;
      print(summary);
    },
  };
}
