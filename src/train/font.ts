// A 3x5 pixel font (digits, a few capitals and signs) for labelling plots without a font stack.
const GLYPHS: Record<string, string> = {
  '0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111',
  '4': '101101111001001', '5': '111100111001111', '6': '111100111101111', '7': '111001010010010',
  '8': '111101111101111', '9': '111101111001111', '.': '000000000000010', '-': '000000111000000',
  ' ': '000000000000000', ':': '000010000010000', 'A': '010101111101101', 'C': '111100100100111',
  'D': '110101101101110', 'E': '111100111100111', 'H': '101101111101101', 'I': '111010010010111',
  'L': '100100100100111', 'N': '110101101101101', 'O': '111101101101111', 'P': '111101111100100',
  'R': '110101110101101', 'S': '111100111001111', 'T': '111010010010010', 'U': '101101101101111',
  'V': '101101101101010', 'B': '110101110101110', 'G': '111100101101111', 'K': '101101110101101',
  'M': '101111111101101', 'W': '101101111111101', 'X': '101101010101101', 'Y': '101101010010010',
  'F': '111100111100100', 'Z': '111001010100111', 'J': '001001001101111', 'Q': '111101101111011',
};

export type Rgb = [number, number, number];

/** Draws text at (x, y) (top left) into an RGB buffer of width w, each font pixel `scale` wide. */
export function drawText(buf: Uint8Array, w: number, h: number, x: number, y: number, text: string, color: Rgb, scale = 2): void {
  let cx = x;
  for (const ch of text.toUpperCase()) {
    const g = GLYPHS[ch] ?? GLYPHS[' '];
    for (let r = 0; r < 5; r++)
      for (let c = 0; c < 3; c++) {
        if (g[r * 3 + c] !== '1') continue;
        for (let dy = 0; dy < scale; dy++)
          for (let dx = 0; dx < scale; dx++) {
            const px = cx + c * scale + dx, py = y + r * scale + dy;
            if (px < 0 || py < 0 || px >= w || py >= h) continue;
            buf.set(color, (py * w + px) * 3);
          }
      }
    cx += 4 * scale;
  }
}

export const textWidth = (text: string, scale = 2) => text.length * 4 * scale - scale;
