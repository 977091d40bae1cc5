// Errors a request can end with: the HTTP status, a short kind (the metrics' label and the
// JSON body's "error") and a message that names the problem, without the server's paths.
export type ErrorKind = 'bad_request' | 'unauthorized' | 'forbidden' | 'unsupported_type' | 'too_large' | 'unknown_model'
  | 'method_not_allowed' | 'overloaded' | 'timeout' | 'not_found' | 'internal';

export class HttpError extends Error {
  constructor(readonly status: number, readonly kind: ErrorKind, message: string, readonly retryAfterSeconds?: number) {
    super(message);
  }
}

/** The kind for a status that did not come from an HttpError (fastify's own 413, 415, 404...). */
export function kindOfStatus(status: number): ErrorKind {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 405) return 'method_not_allowed';
  if (status === 413) return 'too_large';
  if (status === 415) return 'unsupported_type';
  if (status === 404) return 'not_found';
  if (status === 503) return 'overloaded';
  if (status === 504 || status === 408) return 'timeout';
  return status < 500 ? 'bad_request' : 'internal';
}

/** Absolute paths in a message (a temporary folder, a checkpoint) cut to their last part. */
export function redactPaths(message: string): string {
  return message.replace(/(^|[\s'"`(=:,[])(?:\/[^\s'"`():,/\]]+)+\/([^\s'"`():,/\]]*)/g, '$1$2');
}
