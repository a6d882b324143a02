import { z } from 'zod';
import { defineRoute, type AnyRoute, type RouteContext } from '../route.ts';
import { Code, TransactionId } from '../schemas.ts';
import { DomainError } from '../../domain/errors.ts';
import {
  addAttachment,
  type AttachmentInfo,
  type AttachmentOwner,
  getAttachment,
  listAttachments,
} from '../../ledger/attachments.ts';
import { attachBreakdown } from '../../ledger/breakdown.ts';

// bigint ids: past 2^53 a JavaScript number would name another row.
const Id = TransactionId.refine((n) => Number.isSafeInteger(n), { message: 'is too large' });
const AttachmentId = z.coerce
  .number()
  .int('must be an integer')
  .positive('must be positive')
  .refine((n) => Number.isSafeInteger(n), { message: 'is too large' })
  .meta({ description: 'An attachment id as returned when it was attached.' });

const AttachmentSchema = z.object({
  attachmentId: z.number(),
  fileName: z.string(),
  contentType: z.enum([
    'text/csv',
    'application/pdf',
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ]),
  kind: z.enum(['upload', 'breakdown']).meta({
    description: '`upload`: sent by a user; `breakdown`: the invoice breakdown ledgerlink generated.',
  }),
  size: z.number().meta({ description: 'In bytes.' }),
  sha256: z.string().meta({ description: 'The SHA-256 of the content, in hex.' }),
  createdAt: z.string(),
  createdBy: z.string().meta({ description: 'Who attached it (the credential, as in the audit trail).' }),
});

const ListSchema = z.object({ attachments: z.array(AttachmentSchema) });

const UPLOAD_DESCRIPTION =
  'Send `multipart/form-data` with the file in the field `file`. A CSV, XLSX or PDF of at most 10 MB is kept, byte ' +
  'for byte, in the database. Its type is judged by its content (PDF: the `%PDF-` header; XLSX: a zip holding ' +
  '`[Content_Types].xml` and `xl/workbook.xml`; CSV: UTF-8 text without NUL or other control bytes) and must agree ' +
  "with the file name's extension: anything else is refused (ATTACHMENT_TYPE_NOT_ALLOWED, ATTACHMENT_TYPE_MISMATCH, " +
  'ATTACHMENT_TOO_LARGE; a body beyond the server limit is PAYLOAD_TOO_LARGE) and nothing is stored. Attachments are ' +
  'never changed or deleted; each one is in the audit trail. With an `Idempotency-Key`, a retry of the same file answers ' +
  'the first attachment. A file name holding a control character (a line feed, a tab) or a bidirectional control ' +
  '(U+202E and the like, which make a name display other than it reads) is refused (VALIDATION_ERROR naming the character).';

const UploadFields = z.strictObject({});

/** The one file of the form, checked to be in the field `file`, with no other field. */
function uploadedFile(ctx: RouteContext<unknown, unknown, unknown>): { name: string; bytes: Buffer } {
  const { fields, file } = ctx.upload ?? { fields: {}, file: null };
  const extra = Object.keys(fields);
  if (extra.length > 0) {
    throw new DomainError('VALIDATION_ERROR', `Unexpected form field "${extra[0]}"; send only the field "file"`, [
      { field: extra[0]!, message: 'unexpected field' },
    ]);
  }
  if (!file || file.field !== 'file') {
    throw new DomainError('VALIDATION_ERROR', 'file: the form has no file (send it in the field "file")', [
      { field: 'file', message: 'required' },
    ]);
  }
  return file;
}

/** `filename` for ASCII clients and `filename*` (RFC 6266) with the name as it was given. */
export function contentDisposition(kind: 'attachment' | 'inline', fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

interface OwnerRoutes {
  name: string;
  path: string;
  params: z.ZodType;
  owner: (params: unknown) => AttachmentOwner;
  objectType: string;
}

function ownerRoutes(o: OwnerRoutes): AnyRoute[] {
  const upload = defineRoute({
    method: 'POST',
    path: `${o.path}/attachments`,
    operationId: `attach${o.name}Document`,
    summary: `Attach a CSV, XLSX or PDF file to a ${o.objectType}`,
    description: `AccountsIQ AttachDocument. ${UPLOAD_DESCRIPTION}`,
    tags: ['attachments'],
    auth: 'entity',
    params: o.params,
    multipart: {
      fields: UploadFields.extend({
        file: z.string().meta({ format: 'binary', description: 'The .csv, .xlsx or .pdf file.' }),
      }),
    },
    success: { status: 201, description: 'The attachment (without its content).', schema: AttachmentSchema },
    errors: [
      'NOT_FOUND',
      'ATTACHMENT_TYPE_NOT_ALLOWED',
      'ATTACHMENT_TYPE_MISMATCH',
      'ATTACHMENT_TOO_LARGE',
      'PAYLOAD_TOO_LARGE',
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    handler: async (ctx) => {
      const file = uploadedFile(ctx);
      const owner = o.owner(ctx.params);
      const info = await addAttachment(ctx.db, ctx.entity.id, owner, file, ctx.principal.actor);
      await ctx.audit({
        action: 'attachment.added',
        objectType: o.objectType,
        objectId: 'transactionId' in owner ? owner.transactionId : owner.customerCode,
        after: info,
      });
      return info;
    },
  });

  const list = defineRoute({
    method: 'GET',
    path: `${o.path}/attachments`,
    operationId: `list${o.name}Attachments`,
    summary: `The files attached to a ${o.objectType}`,
    description: 'Oldest first, without their content: id, file name, content type, size, SHA-256, when and by whom.',
    tags: ['attachments'],
    auth: 'entity',
    params: o.params,
    success: { status: 200, description: 'The attachments.', schema: ListSchema },
    errors: ['NOT_FOUND'],
    handler: async ({ db, entity, params }) => ({
      attachments: await listAttachments(db, entity.id, o.owner(params)),
    }),
  });

  const download = defineRoute({
    method: 'GET',
    path: `${o.path}/attachments/{attachmentId}`,
    operationId: `get${o.name}Attachment`,
    summary: `Download a file attached to a ${o.objectType}`,
    description:
      'The file byte for byte, with its content type, `Content-Disposition: attachment` and its name, and its ' +
      'SHA-256 in `Digest`-style header `X-Content-SHA256`. Another owner’s or entity’s attachment is NOT_FOUND.',
    tags: ['attachments'],
    auth: 'entity',
    params: (o.params as z.ZodObject).extend({ attachmentId: AttachmentId }),
    success: { status: 200, description: 'The file.', contentType: 'application/octet-stream' },
    errors: ['NOT_FOUND'],
    handler: async ({ db, entity, params, reply }) => {
      const p = params as { attachmentId: number };
      const a = await getAttachment(db, entity.id, o.owner(params), p.attachmentId);
      void reply.type(a.contentType);
      void reply.header('Content-Disposition', contentDisposition('attachment', a.fileName));
      void reply.header('X-Content-SHA256', a.sha256);
      return a.content;
    },
  });
  return [upload, list, download];
}

const transactionRoutes = ownerRoutes({
  name: 'Transaction',
  path: '/v1/transactions/{id}',
  params: z.strictObject({ id: Id }),
  owner: (p) => ({ transactionId: (p as { id: number }).id }),
  objectType: 'transaction',
});

const customerRoutes = ownerRoutes({
  name: 'Customer',
  path: '/v1/customers/{code}',
  params: z.strictObject({ code: Code }),
  owner: (p) => ({ customerCode: (p as { code: string }).code }),
  objectType: 'customer',
});

export const breakdownRoute = defineRoute({
  method: 'POST',
  path: '/v1/transactions/{id}/attachments/breakdown',
  operationId: 'attachInvoiceBreakdown',
  summary: "Generate an invoice's detailed breakdown as XLSX and attach it",
  description:
    'The summarised invoice with its breakdown attached: ledgerlink writes the lines of the invoice or credit note ' +
    '(description, quantity and unit price where the line has them, net, VAT rate, VAT, gross), the totals and VAT ' +
    'per rate into an .xlsx workbook and attaches it (`kind: "breakdown"`). Asked again, it answers the same ' +
    'attachment with 200 instead of 201 and makes no second file.',
  tags: ['attachments'],
  auth: 'entity',
  params: z.strictObject({ id: Id }),
  success: {
    status: 201,
    description: 'The breakdown attachment (200 when it existed already).',
    schema: AttachmentSchema,
  },
  errors: ['NOT_FOUND', 'TRANSACTION_HAS_NO_LINES'],
  handler: async ({ db, entity, params, principal, audit, setStatus }) => {
    const { attachment, created } = await attachBreakdown(db, entity, params.id, principal.actor);
    if (created) {
      await audit({
        action: 'attachment.breakdownGenerated',
        objectType: 'transaction',
        objectId: params.id,
        after: attachment,
      });
    } else {
      setStatus(200);
      await audit({ action: 'attachment.breakdownReturned', objectType: 'transaction', objectId: params.id });
    }
    return attachment satisfies AttachmentInfo;
  },
});

/** Attachments of transactions and customers, and the generated invoice breakdown. */
export const attachmentRoutes: AnyRoute[] = [...transactionRoutes, breakdownRoute, ...customerRoutes];
