// The uploaded file of a request: the raw body (any Content-Type), or the first file part of
// a multipart/form-data body.
import type { FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';

export interface Upload { bytes: Buffer; name: string }

export async function readUpload(req: FastifyRequest): Promise<Upload> {
  if (req.isMultipart()) {
    const part = await req.file();
    if (!part) throw new HttpError(400, 'bad_request', 'multipart body has no file part');
    const bytes = await part.toBuffer(); // throws a 413 past the size limit
    return { bytes, name: part.filename || part.fieldname };
  }
  if (!Buffer.isBuffer(req.body) || !req.body.length) throw new HttpError(400, 'bad_request', 'empty body: send the image or volume as the body, or as multipart/form-data');
  return { bytes: req.body, name: 'request body' };
}
