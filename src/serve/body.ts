// The uploaded file of a request: the raw body (any Content-Type), or the first file part of
// a multipart/form-data body. A multipart body the parser cannot follow is the client's
// error (400), not the server's.
import type { FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';

export interface Upload { bytes: Buffer; name: string }

const malformed = (e: Error & { statusCode?: number }) => (e instanceof HttpError || (e.statusCode && e.statusCode < 500)
  ? e : new HttpError(400, 'bad_request', `malformed multipart body: ${e.message}`));

export async function readUpload(req: FastifyRequest): Promise<Upload> {
  if (req.isMultipart()) {
    try {
      const part = await req.file();
      if (!part) throw new HttpError(400, 'bad_request', 'multipart body has no file part');
      const bytes = await part.toBuffer(); // throws a 413 past the size limit
      return { bytes, name: part.filename || part.fieldname };
    } catch (e) {
      throw malformed(e as Error);
    }
  }
  if (!Buffer.isBuffer(req.body) || !req.body.length) throw new HttpError(400, 'bad_request', 'empty body: send the image or volume as the body, or as multipart/form-data');
  return { bytes: req.body, name: 'request body' };
}
