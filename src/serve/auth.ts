// Bearer-token authentication: the key is compared in constant time (SHA-256 of both sides,
// so neither the length nor a common prefix shows in the timing).
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** A check of an Authorization header against the key: true when it is "Bearer <key>". */
export function bearerCheck(key: string): (authorization: string | undefined) => boolean {
  if (!key) throw new Error('serve: the API key is empty');
  const want = digest(key);
  return (authorization) => {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    return timingSafeEqual(digest(m ? m[1] : ''), want) && !!m;
  };
}
