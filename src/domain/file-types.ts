/**
 * What a file is, told from its bytes rather than from its name or the type a browser declared:
 * the attachments ledgerlink keeps (CSV, XLSX, PDF) and the logos it prints (PNG, JPEG). Pure logic.
 */

export type AttachmentType = 'csv' | 'xlsx' | 'pdf';

export const ATTACHMENT_CONTENT_TYPES: Record<AttachmentType, string> = {
  csv: 'text/csv',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pdf: 'application/pdf',
};

/** The attachment type a file name's extension claims (any case), or null. */
export function typeFromFileName(name: string): AttachmentType | null {
  const ext = /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase();
  return ext === 'csv' || ext === 'xlsx' || ext === 'pdf' ? ext : null;
}

const ZIP_LOCAL_HEADER = 0x04034b50;
const ZIP_CENTRAL_HEADER = 0x02014b50;
const ZIP_END = 0x06054b50;

/**
 * The names in a zip file's central directory, or null when it is not a readable zip. Reads only
 * the directory at the end (no decompression), which is where a zip says what it holds.
 */
export function zipEntryNames(bytes: Buffer): string[] | null {
  if (bytes.length < 22 || bytes.readUInt32LE(0) !== ZIP_LOCAL_HEADER) return null;
  // The end record is the last 22 bytes plus a comment of at most 65535 bytes.
  const lowest = Math.max(0, bytes.length - 22 - 0xffff);
  let end = -1;
  for (let i = bytes.length - 22; i >= lowest; i--) {
    if (bytes.readUInt32LE(i) === ZIP_END) {
      end = i;
      break;
    }
  }
  if (end < 0) return null;
  const count = bytes.readUInt16LE(end + 10);
  let at = bytes.readUInt32LE(end + 16);
  const names: string[] = [];
  for (let n = 0; n < count; n++) {
    if (at + 46 > end || bytes.readUInt32LE(at) !== ZIP_CENTRAL_HEADER) return null;
    const nameLength = bytes.readUInt16LE(at + 28);
    const extraLength = bytes.readUInt16LE(at + 30);
    const commentLength = bytes.readUInt16LE(at + 32);
    if (at + 46 + nameLength > end) return null;
    names.push(bytes.subarray(at + 46, at + 46 + nameLength).toString('utf8'));
    at += 46 + nameLength + extraLength + commentLength;
  }
  return names;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether the bytes read as text: valid UTF-8 without NUL or other control characters than tab, CR, LF, FF. */
export function isText(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c) return false;
  }
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * The attachment type of the content: PDF by its `%PDF-` header; XLSX as a zip holding
 * `[Content_Types].xml` and a workbook under `xl/`; CSV as text. Null for anything else (an image,
 * a Word file, an executable, a zip of something else).
 */
export function sniffAttachment(bytes: Buffer): AttachmentType | null {
  if (bytes.length === 0) return null;
  if (bytes.subarray(0, 5).toString('latin1') === '%PDF-') return 'pdf';
  const names = zipEntryNames(bytes);
  if (names) {
    return names.includes('[Content_Types].xml') && names.includes('xl/workbook.xml') ? 'xlsx' : null;
  }
  if (bytes.length >= 4 && bytes.readUInt32LE(0) === ZIP_LOCAL_HEADER) return null; // a zip that cannot be read
  return isText(bytes) ? 'csv' : null;
}

export type ImageType = 'png' | 'jpeg';

/** PNG or JPEG by their signatures, else null. */
export function sniffImage(bytes: Buffer): ImageType | null {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return 'png';
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}
