import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../domain/errors.ts';

/** A `multipart/form-data` request read in full: its text fields and its one file, if any. */
export interface Upload {
  fields: Record<string, string>;
  file: { field: string; name: string; bytes: Buffer } | null;
}

/** A part that cannot be read (too large, truncated, malformed) is a 4xx with a stable code, never a 5xx. */
function uploadProblem(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : 'the upload could not be read';
  if (e?.statusCode === 413 || e?.code === 'FST_REQ_FILE_TOO_LARGE')
    return new DomainError('PAYLOAD_TOO_LARGE', `The upload is too large: ${message}`);
  return new DomainError('VALIDATION_ERROR', `The upload could not be read: ${message}`, [{ field: 'file', message }]);
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
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const bytes = await part.toBuffer();
        if (file) {
          throw new DomainError('VALIDATION_ERROR', `Send one file (got a second, in "${part.fieldname}")`, [
            { field: part.fieldname, message: 'unexpected file' },
          ]);
        }
        file = { field: part.fieldname, name: part.filename || 'upload', bytes };
      } else {
        fields[part.fieldname] = String(part.value);
      }
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
