import { createHash } from 'node:crypto';
import type { Queryable } from '../db/database.ts';
import { DomainError, fieldError } from '../domain/errors.ts';
import { ATTACHMENT_CONTENT_TYPES, sniffAttachment, typeFromFileName } from '../domain/file-types.ts';

/** The largest attachment kept (10 MB), as the table's check says. */
export const ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024;

/** What an attachment belongs to: a transaction or a customer of the entity. */
export type AttachmentOwner = { transactionId: number } | { customerCode: string };

export interface AttachmentInfo {
  attachmentId: number;
  fileName: string;
  contentType: string;
  kind: 'upload' | 'breakdown';
  size: number;
  sha256: string;
  createdAt: string;
  createdBy: string;
}

interface AttachmentRow {
  id: string;
  file_name: string;
  content_type: string;
  kind: 'upload' | 'breakdown';
  size: number;
  sha256: string;
  created_at: string;
  created_by: string;
}

const COLUMNS = `id, file_name, content_type, kind, size, sha256, created_by,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at`;

const toInfo = (r: AttachmentRow): AttachmentInfo => ({
  attachmentId: Number(r.id),
  fileName: r.file_name,
  contentType: r.content_type,
  kind: r.kind,
  size: Number(r.size),
  sha256: r.sha256,
  createdAt: r.created_at,
  createdBy: r.created_by,
});

/**
 * The owner as a row of this entity, or NOT_FOUND (another entity's transaction or customer is
 * not found either). Returns the transaction's type, or null for a customer.
 */
export async function requireOwner(
  db: Queryable,
  entityId: string,
  owner: AttachmentOwner,
  lock = false,
): Promise<{ type: string | null; customerCode: string | null }> {
  if ('transactionId' in owner) {
    const { rows } = await db.query<{ type: string }>(
      `SELECT type FROM transactions WHERE id = $1 AND entity_id = $2${lock ? ' FOR SHARE' : ''}`,
      [owner.transactionId, entityId],
    );
    if (!rows[0]) throw new DomainError('NOT_FOUND', `No transaction ${owner.transactionId} in this entity`);
    return { type: rows[0].type, customerCode: null };
  }
  const { rows } = await db.query<{ code: string }>(
    `SELECT code FROM customers WHERE entity_id = $1 AND code = $2${lock ? ' FOR SHARE' : ''}`,
    [entityId, owner.customerCode],
  );
  if (!rows[0]) throw new DomainError('NOT_FOUND', `No customer ${owner.customerCode} in this entity`);
  return { type: null, customerCode: rows[0].code };
}

/** A file name as stored: its last path segment, control characters out, at most 255 characters. */
export function cleanFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f"]/g, '').trim();
  if (clean.length <= 255) return clean;
  const ext = /\.[A-Za-z0-9]{1,8}$/.exec(clean)?.[0] ?? '';
  return clean.slice(0, 255 - ext.length) + ext;
}

/**
 * The type of an uploaded file, judged by its content and checked against its name's extension:
 * a CSV, XLSX or PDF whose name says the same. Throws ATTACHMENT_TOO_LARGE,
 * ATTACHMENT_TYPE_NOT_ALLOWED or ATTACHMENT_TYPE_MISMATCH; nothing has been stored then.
 */
export function checkAttachmentFile(fileName: string, bytes: Buffer): keyof typeof ATTACHMENT_CONTENT_TYPES {
  if (bytes.length > ATTACHMENT_MAX_BYTES) {
    throw new DomainError(
      'ATTACHMENT_TOO_LARGE',
      `The file is ${bytes.length} bytes; at most ${ATTACHMENT_MAX_BYTES} are taken`,
      [{ field: 'file', message: `larger than ${ATTACHMENT_MAX_BYTES} bytes` }],
    );
  }
  if (bytes.length === 0) throw fieldError('file', 'is empty');
  const claimed = typeFromFileName(fileName);
  const actual = sniffAttachment(bytes);
  if (!actual || !claimed) {
    const why = !actual
      ? 'its content is not a CSV (UTF-8 text), an XLSX workbook or a PDF'
      : `its name "${fileName}" does not end in .csv, .xlsx or .pdf`;
    throw new DomainError('ATTACHMENT_TYPE_NOT_ALLOWED', `The file is refused: ${why}`, [
      { field: 'file', message: why },
    ]);
  }
  if (claimed !== actual) {
    throw new DomainError(
      'ATTACHMENT_TYPE_MISMATCH',
      `The file "${fileName}" is named as ${claimed.toUpperCase()} but its content is ${actual.toUpperCase()}`,
      [{ field: 'file', message: `named .${claimed}, content is ${actual}` }],
    );
  }
  return actual;
}

/** Stores a checked file against its owner; the caller audits it in the same transaction. */
export async function addAttachment(
  db: Queryable,
  entityId: string,
  owner: AttachmentOwner,
  file: { name: string; bytes: Buffer; kind?: 'upload' | 'breakdown' },
  actor: string,
): Promise<AttachmentInfo> {
  const fileName = cleanFileName(file.name);
  if (fileName === '') throw fieldError('file', 'has no file name');
  const type = checkAttachmentFile(fileName, file.bytes);
  await requireOwner(db, entityId, owner, true);
  const { rows } = await db.query<AttachmentRow>(
    `INSERT INTO attachments (entity_id, transaction_id, customer_code, file_name, content_type, kind, size, sha256, content, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, decode($9, 'base64'), $10)
     RETURNING ${COLUMNS}`,
    [
      entityId,
      'transactionId' in owner ? owner.transactionId : null,
      'customerCode' in owner ? owner.customerCode : null,
      fileName,
      ATTACHMENT_CONTENT_TYPES[type],
      file.kind ?? 'upload',
      file.bytes.length,
      createHash('sha256').update(file.bytes).digest('hex'),
      // As base64 text: PGlite turns a bytea parameter into hex a byte at a time (seconds per megabyte).
      file.bytes.toString('base64'),
      actor,
    ],
  );
  return toInfo(rows[0]!);
}

function ownerWhere(owner: AttachmentOwner): [string, string | number] {
  return 'transactionId' in owner
    ? ['transaction_id = $2', owner.transactionId]
    : ['customer_code = $2', owner.customerCode];
}

/** The attachments of a transaction or customer of the entity, oldest first, without their content. */
export async function listAttachments(
  db: Queryable,
  entityId: string,
  owner: AttachmentOwner,
): Promise<AttachmentInfo[]> {
  await requireOwner(db, entityId, owner);
  const [where, value] = ownerWhere(owner);
  const { rows } = await db.query<AttachmentRow>(
    `SELECT ${COLUMNS} FROM attachments WHERE entity_id = $1 AND ${where} ORDER BY id`,
    [entityId, value],
  );
  return rows.map(toInfo);
}

/** One attachment with its content; NOT_FOUND unless it belongs to this owner of this entity. */
export async function getAttachment(
  db: Queryable,
  entityId: string,
  owner: AttachmentOwner,
  attachmentId: number,
): Promise<AttachmentInfo & { content: Buffer }> {
  await requireOwner(db, entityId, owner);
  const [where, value] = ownerWhere(owner);
  const { rows } = await db.query<AttachmentRow & { content: string }>(
    `SELECT ${COLUMNS}, encode(content, 'base64') AS content FROM attachments WHERE entity_id = $1 AND ${where} AND id = $3`,
    [entityId, value, attachmentId],
  );
  const r = rows[0];
  if (!r) throw new DomainError('NOT_FOUND', `No attachment ${attachmentId} here`);
  return { ...toInfo(r), content: Buffer.from(r.content, 'base64') };
}

/** The breakdown already generated for a transaction, if any. */
export async function findBreakdown(
  db: Queryable,
  entityId: string,
  transactionId: number,
): Promise<AttachmentInfo | null> {
  const { rows } = await db.query<AttachmentRow>(
    `SELECT ${COLUMNS} FROM attachments WHERE entity_id = $1 AND transaction_id = $2 AND kind = 'breakdown'`,
    [entityId, transactionId],
  );
  return rows[0] ? toInfo(rows[0]) : null;
}
