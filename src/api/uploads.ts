import { createHash } from 'node:crypto';
import { finished } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { DomainError, type FieldProblem } from '../domain/errors.ts';

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

/** Names of the characters a file name may not hold, where a code point alone would not say much. */
const CHARACTER_NAMES: Record<number, string> = {
  0x00: 'NULL',
  0x09: 'CHARACTER TABULATION',
  0x0a: 'LINE FEED',
  0x0d: 'CARRIAGE RETURN',
  0x1b: 'ESCAPE',
  0x7f: 'DELETE',
  0x061c: 'ARABIC LETTER MARK',
  0x200e: 'LEFT-TO-RIGHT MARK',
  0x200f: 'RIGHT-TO-LEFT MARK',
  0x2028: 'LINE SEPARATOR',
  0x2029: 'PARAGRAPH SEPARATOR',
  0x202a: 'LEFT-TO-RIGHT EMBEDDING',
  0x202b: 'RIGHT-TO-LEFT EMBEDDING',
  0x202c: 'POP DIRECTIONAL FORMATTING',
  0x202d: 'LEFT-TO-RIGHT OVERRIDE',
  0x202e: 'RIGHT-TO-LEFT OVERRIDE',
  0x2066: 'LEFT-TO-RIGHT ISOLATE',
  0x2067: 'RIGHT-TO-LEFT ISOLATE',
  0x2068: 'FIRST STRONG ISOLATE',
  0x2069: 'POP DIRECTIONAL ISOLATE',
};

const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
// Controls (C0, DEL, C1), line and paragraph separators, and the bidirectional controls.
const REFUSED_IN_NAMES = /[\p{Cc}\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** "U+202E RIGHT-TO-LEFT OVERRIDE, a bidirectional control …": what a refused character is. */
function describeCharacter(ch: string): string {
  const code = ch.codePointAt(0)!;
  const point = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  const name = CHARACTER_NAMES[code];
  const what = BIDI_CONTROLS.test(ch)
    ? 'a bidirectional control, which makes a name display other than it reads'
    : code === 0x2028 || code === 0x2029
      ? 'a line break'
      : 'a control character';
  return `${point}${name ? ` ${name}` : ''}, ${what}`;
}

/**
 * Why a file name sent with an upload is refused, or null: a name that holds a control character
 * (a line feed, a tab, NUL), a line separator, or a bidirectional control (U+202E before
 * "fdp.exe" shows it as "exe.pdf") would show, be logged or be saved as something else than it is.
 */
export function fileNameProblem(name: string): string | null {
  const found = REFUSED_IN_NAMES.exec(name);
  return found ? `the file name holds ${describeCharacter(found[0])}: rename the file without it` : null;
}

function fileNameRefused(field: string, problem: string): DomainError {
  return new DomainError('VALIDATION_ERROR', `${field}: ${problem}`, [{ field, message: problem }]);
}

/** Where a part's headers end can be this far from where they begin, at most, for watchDroppedParts. */
const PART_HEADERS_MAX = 16 * 1024;

/** A name or file name (a Content-Disposition parameter) holding a line break, which the parser drops unread. */
function lineBreakIn(headers: string): FieldProblem | null {
  const disposition = headers.split('\r\n').find((line) => /^content-disposition\s*:/i.test(line));
  if (!disposition) return null;
  const params = [...disposition.matchAll(/;\s*(name|filename\*?)\s*=\s*("(?:[^"\\]|\\[\s\S])*"|[^;]*)/gi)];
  const field = params.find((p) => p[1]!.toLowerCase() === 'name')?.[2]!.replace(/^"|"$/g, '');
  for (const p of params) {
    const key = p[1]!.toLowerCase();
    const raw = p[2]!;
    // RFC 5987 (`filename*=UTF-8''a%0Ab.pdf`) is percent-decoded by the parser; the others are taken as they are.
    const broken = key.endsWith('*') ? /%0([ad])/i.exec(raw) : /[\r\n]/.exec(raw);
    if (!broken) continue;
    const ch = key.endsWith('*') ? (broken[1]!.toLowerCase() === 'a' ? '\n' : '\r') : broken[0];
    if (key === 'name')
      return { field: 'form', message: `a field name holds ${describeCharacter(ch)}: name the field without it` };
    const at = field && !/[\r\n]/.test(field) ? field : 'file';
    return { field: at, message: `the file name holds ${describeCharacter(ch)}: rename the file without it` };
  }
  return null;
}

/**
 * busboy drops, without a word, a part whose name or file name holds a line break (CR or LF): the
 * route would see a form without that part ("no file"). This reads the part headers as the body
 * streams past (a listener beside the parser's, so nothing is consumed or held back), so that such
 * a form is refused naming the character instead.
 */
function watchDroppedParts(request: FastifyRequest): { stop(): FieldProblem | null } {
  const type = request.headers['content-type'] ?? '';
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(type);
  if (!boundary) return { stop: () => null };
  const delimiter = `--${boundary[1] ?? boundary[2]}\r\n`;
  let carry = '';
  let found: FieldProblem | null = null;
  const onData = (chunk: Buffer) => {
    if (found) return;
    const text = carry + chunk.toString('latin1');
    carry = '';
    for (let from = 0; ;) {
      const at = text.indexOf(delimiter, from);
      if (at < 0) {
        carry = text.slice(Math.max(from, text.length - delimiter.length));
        return;
      }
      const end = text.indexOf('\r\n\r\n', at + delimiter.length);
      if (end < 0) {
        carry = text.length - at <= PART_HEADERS_MAX ? text.slice(at) : '';
        return;
      }
      found = lineBreakIn(text.slice(at + delimiter.length, end));
      if (found) return;
      from = end;
    }
  };
  request.raw.on('data', onData);
  return {
    stop: () => {
      request.raw.off('data', onData);
      return found;
    },
  };
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
  const dropped = watchDroppedParts(request);
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const problem = fileNameProblem(part.filename);
        if (problem) {
          await finished(part.file.resume());
          throw fileNameRefused(part.fieldname, problem);
        }
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
    dropped.stop();
    throw uploadProblem(err);
  }
  const lost = dropped.stop();
  if (lost) throw fileNameRefused(lost.field, lost.message);
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
