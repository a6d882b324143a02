import { createHash } from 'node:crypto';
import { finished } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../domain/errors.ts';

/** A `multipart/form-data` request read in full: its text fields and its one file, if any. */
export interface Upload {
  fields: Record<string, string>;
  file: { field: string; name: string; bytes: Buffer } | null;
}

/** No upload route takes more text fields than this; a form with more is refused. */
export const MAX_FORM_FIELDS = 20;

/**
 * The parser's limits (src/api/server.ts). An upload holds one file, but the parser lets a second
 * through so that readUpload can name its field; left to the parser, it would be a bare
 * "reach files limit" without a field.
 */
export function uploadLimits(fileSizeBytes: number): { fileSize: number; files: number; fields: number } {
  return { fileSize: fileSizeBytes, files: 2, fields: MAX_FORM_FIELDS };
}

/**
 * The parser's count limits are about the shape of the form, not its size: a 400 naming what to
 * change, not a 413 that would send the client looking for a smaller file.
 */
const COUNT_LIMITS: Record<string, { field: string; message: string }> = {
  FST_FILES_LIMIT: { field: 'file', message: 'send one file per request' },
  FST_FIELDS_LIMIT: { field: 'form', message: `send at most ${MAX_FORM_FIELDS} fields` },
  FST_PARTS_LIMIT: { field: 'form', message: 'the form has too many parts' },
};

/** A part that cannot be read (too large, truncated, malformed) is a 4xx with a stable code, never a 5xx. */
function uploadProblem(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : 'the upload could not be read';
  const count = typeof e?.code === 'string' ? COUNT_LIMITS[e.code] : undefined;
  if (count) return new DomainError('VALIDATION_ERROR', `${count.field}: ${count.message}`, [count]);
  if (e?.statusCode === 413 || e?.code === 'FST_REQ_FILE_TOO_LARGE')
    return new DomainError('PAYLOAD_TOO_LARGE', `The upload is too large: ${message}`);
  return new DomainError('VALIDATION_ERROR', `The upload could not be read: ${message}`, [{ field: 'file', message }]);
}

/** A field sent twice: refused, as neither value can be told to be the one meant. */
function repeated(field: string): DomainError {
  return new DomainError('VALIDATION_ERROR', `${field}: sent more than once; send each field once`, [
    { field, message: 'sent more than once' },
  ]);
}

/**
 * Reads the whole form before the route runs, so that a truncated or malformed upload is refused
 * before any work starts, and an `Idempotency-Key` covers exactly the fields and file sent.
 */
export async function readUpload(request: FastifyRequest): Promise<Upload> {
  if (!request.isMultipart()) {
    throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'Send the file as multipart/form-data');
  }
  const fields: Record<string, string> = {};
  let file: Upload['file'] = null;
  const seen = new Set<string>();
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (file || seen.has(part.fieldname)) {
          // Read to its end and dropped, so that the parser is not left holding a half-read part.
          await finished(part.file.resume());
          if (!file) throw repeated(part.fieldname);
          throw new DomainError(
            'VALIDATION_ERROR',
            `${part.fieldname}: a second file; send one file per request (in the field "file")`,
            [{ field: part.fieldname, message: 'unexpected file: send one file per request' }],
          );
        }
        file = { field: part.fieldname, name: part.filename || 'upload', bytes: await part.toBuffer() };
      } else {
        if (seen.has(part.fieldname)) throw repeated(part.fieldname);
        fields[part.fieldname] = String(part.value);
      }
      seen.add(part.fieldname);
    }
  } catch (err) {
    throw uploadProblem(err);
  }
  return { fields, file };
}

/** The upload as it counts for an Idempotency-Key: its fields and its file's name and digest. */
export function uploadFingerprint(upload: Upload): unknown {
  const f = upload.file;
  return {
    fields: upload.fields,
    file: f && { field: f.field, name: f.name, sha256: createHash('sha256').update(f.bytes).digest('hex') },
  };
}
