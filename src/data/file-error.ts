// Errors about a file start with its path, so that a user knows which of many files to fix.
// Apart from read-image.ts (which needs sharp) so that browser code can use it too.
export function fileError(path: string, what: string, cause?: unknown): Error {
  const why = cause instanceof Error ? `: ${cause.message}` : '';
  return new Error(`${path}: ${what}${why}`, cause === undefined ? undefined : { cause });
}
