import type { Queryable } from '../../db/database.ts';
import { isDomainError } from '../../domain/errors.ts';
import { computeItems } from '../../domain/documents.ts';
import { parseAmount } from '../../domain/money.ts';
import { Batch, type PostPayAllocateInput } from '../../ledger/posting/post-pay-allocate.ts';
import { resolveSucceeded } from '../exceptions.ts';
import type { CanonicalInvoice } from '../canonical.ts';
import { type LedgerProduct, mapInvoiceLines } from '../mapping.ts';
import { type PageOutcome, type SyncContext, mappedIds, queueWriteBack, saveMapping } from './context.ts';
import { createDrafts } from './drafts.ts';

/** Gross of a canonical invoice in minor units, for reconciliation; null when its amounts do not parse. */
export function canonicalGross(inv: CanonicalInvoice): bigint | null {
  const lines = [];
  for (const l of inv.lines) {
    const net = parseAmount(l.netAmount, inv.currency);
    const vat = l.vatAmount === null || l.vatAmount === undefined ? null : parseAmount(l.vatAmount, inv.currency);
    if (typeof net !== 'bigint' || (vat !== null && typeof vat !== 'bigint')) return null;
    lines.push({
      glAccountCode: '',
      taxCode: '',
      taxRate: l.vatRate,
      description: '',
      departmentId: null,
      net,
      tax: vat,
    });
  }
  return computeItems(lines).totals.gross;
}

/** Records what the source sent, for reconciliation (updated when the source sends it again). */
export async function recordSourceDocuments(
  db: Queryable,
  pipelineId: string,
  docs: {
    kind: string;
    sourceId: string;
    externalReference: string;
    customerSourceId: string;
    customerCode: string | null;
    date: string;
    currency: string;
    gross: bigint;
    location?: string | null | undefined;
    payload: unknown;
  }[],
): Promise<void> {
  if (docs.length === 0) return;
  await db.query(
    `INSERT INTO source_documents (pipeline_id, kind, source_id, external_reference, customer_source_id, customer_code, document_date, currency, gross, location, payload)
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::date[], $8::text[], $9::bigint[], $10::text[], $11::jsonb[])
     ON CONFLICT (pipeline_id, kind, source_id) DO UPDATE SET external_reference = EXCLUDED.external_reference, customer_code = EXCLUDED.customer_code,
       document_date = EXCLUDED.document_date, currency = EXCLUDED.currency, gross = EXCLUDED.gross, payload = EXCLUDED.payload, last_seen_at = now()`,
    [
      pipelineId,
      docs.map((d) => d.kind),
      docs.map((d) => d.sourceId),
      docs.map((d) => d.externalReference),
      docs.map((d) => d.customerSourceId),
      docs.map((d) => d.customerCode),
      docs.map((d) => d.date),
      docs.map((d) => d.currency),
      docs.map((d) => d.gross),
      docs.map((d) => d.location ?? null),
      docs.map((d) => JSON.stringify(d.payload ?? {})),
    ],
  );
}

async function loadProducts(
  db: Queryable,
  entityId: string,
  codesBySource: Map<string, string>,
): Promise<Map<string, LedgerProduct>> {
  const codes = [...new Set(codesBySource.values())];
  const { rows } = await db.query<{
    code: string;
    gl_account_code: string | null;
    tax_code: string | null;
    department_id: string | null;
    vat_rate: string | null;
  }>(
    `SELECT code, gl_account_code, tax_code, department_id, vat_rate::text AS vat_rate FROM products WHERE entity_id = $1 AND code = ANY($2::text[])`,
    [entityId, codes],
  );
  const byCode = new Map(
    rows.map((r) => [
      r.code,
      {
        code: r.code,
        glAccountCode: r.gl_account_code,
        taxCode: r.tax_code,
        departmentId: r.department_id,
        vatRate: r.vat_rate,
      },
    ]),
  );
  const out = new Map<string, LedgerProduct>();
  for (const [sourceId, code] of codesBySource) {
    const p = byCode.get(code);
    if (p) out.set(sourceId, p);
  }
  return out;
}

export interface InvoiceInput {
  record: CanonicalInvoice;
  raw: unknown;
}

/**
 * Posts a page's invoices, exactly once. An invoice already in the map is skipped; one whose
 * external reference the ledger already has for the customer (posted by an earlier, interrupted
 * run or by hand) is adopted into the map instead of posted again. The postings, the map, the
 * write-back queue and the closing of earlier exceptions commit together.
 */
export async function syncInvoices(
  ctx: SyncContext,
  invoices: InvoiceInput[],
  customers: Map<string, string>,
  products: Map<string, string>,
  unavailable: Map<string, { reasonCode: string; message: string }>,
  out: PageOutcome,
): Promise<void> {
  if (invoices.length === 0) return;
  const p = ctx.pipeline;
  const db = ctx.db;
  const mapped = await mappedIds(
    db,
    p.id,
    'invoice',
    invoices.map((i) => i.record.sourceId),
  );
  // Drafts (invoiceMode draft) count as booked in either mode: a mode switch never books twice.
  const drafted = await mappedIds(
    db,
    p.id,
    'draft',
    invoices.map((i) => i.record.sourceId),
  );
  const wantsWriteBack = ctx.source.writeBackKinds?.includes('invoice') ?? false;
  const ledgerProducts = await loadProducts(db, ctx.entity.id, products);
  const { rows: taxRows } = await db.query<{ code: string; rate: string }>(
    `SELECT code, rate::text AS rate FROM tax_codes WHERE entity_id = $1 AND is_active ORDER BY code`,
    [ctx.entity.id],
  );
  const customerCodes = [
    ...new Set(invoices.map((i) => customers.get(i.record.customerSourceId)).filter((c): c is string => !!c)),
  ];
  const { rows: custRows } = await db.query<{
    code: string;
    default_gl_account_code: string | null;
    default_tax_code: string | null;
    currency: string;
  }>(
    `SELECT code, default_gl_account_code, default_tax_code, currency FROM customers WHERE entity_id = $1 AND code = ANY($2::text[])`,
    [ctx.entity.id, customerCodes],
  );
  const custInfo = new Map(custRows.map((r) => [r.code, r]));

  const queries: { input: InvoiceInput; query: PostPayAllocateInput; customerCode: string }[] = [];
  const seen = new Set<string>();
  for (const input of invoices) {
    const inv = input.record;
    const park = (reasonCode: string, message: string, field?: string) =>
      out.park({
        kind: 'invoice',
        sourceId: inv.sourceId,
        reasonCode,
        message,
        field,
        payload: { record: inv, raw: input.raw },
      });
    if (seen.has(inv.sourceId)) {
      out.record({ kind: 'invoice', sourceId: inv.sourceId, outcome: 'skipped', message: 'repeated in the same page' });
      continue;
    }
    seen.add(inv.sourceId);
    const already = mapped.get(inv.sourceId);
    if (already) {
      out.record({
        kind: 'invoice',
        sourceId: inv.sourceId,
        outcome: 'skipped',
        targetId: already.targetId,
        message: 'already posted',
      });
      if (wantsWriteBack && already.writtenBack === null) {
        await queueWriteBack(db, p.id, [
          {
            kind: 'invoice',
            sourceId: inv.sourceId,
            payload: { transactionId: Number(already.targetId), externalReference: inv.externalReference },
          },
        ]);
      }
      continue;
    }
    const draft = drafted.get(inv.sourceId);
    if (draft) {
      out.record({
        kind: 'invoice',
        sourceId: inv.sourceId,
        outcome: 'skipped',
        targetId: `draft:${draft.targetId}`,
        message: 'already drafted',
      });
      if (wantsWriteBack && draft.writtenBack === null) {
        await queueWriteBack(db, p.id, [
          { kind: 'invoice', sourceId: inv.sourceId, payload: { draftId: Number(draft.targetId) } },
        ]);
      }
      continue;
    }
    const customerCode = customers.get(inv.customerSourceId);
    if (!customerCode) {
      const why = unavailable.get(inv.customerSourceId) ?? {
        reasonCode: 'CUSTOMER_NOT_SYNCED',
        message: `Customer ${inv.customerSourceId} is not in the ledger`,
      };
      park(why.reasonCode, why.message, 'customerSourceId');
      continue;
    }
    const badProduct = inv.lines.find((l) => l.productSourceId && unavailable.has(`product:${l.productSourceId}`));
    if (badProduct?.productSourceId) {
      const why = unavailable.get(`product:${badProduct.productSourceId}`)!;
      park(why.reasonCode, why.message, 'productSourceId');
      continue;
    }
    const info = custInfo.get(customerCode);
    if (info && info.currency.trim() !== inv.currency) {
      park(
        'CURRENCY_MISMATCH',
        `The invoice is in ${inv.currency}; customer ${customerCode} is in ${info.currency.trim()}`,
        'currency',
      );
      continue;
    }
    const lines = mapInvoiceLines(inv, {
      mapping: p.mapping,
      products: ledgerProducts,
      taxCodes: taxRows,
      customerDefaultGl: info?.default_gl_account_code ?? null,
      customerDefaultTax: info?.default_tax_code ?? null,
    });
    if (!Array.isArray(lines)) {
      park(lines.reasonCode, lines.message, lines.field);
      continue;
    }
    queries.push({
      input,
      customerCode,
      query: {
        batchInvoice: {
          customerCode,
          invoiceDate: inv.invoiceDate,
          ...(inv.dueDate ? { dueDate: inv.dueDate } : {}),
          externalReference: inv.externalReference,
          description: inv.description,
          lines,
        },
        performExternalReferenceDuplicateCheckOnInvoice: true,
        performExternalReferenceDuplicateCheckOnReceipt: true,
        performAllocation: false,
      },
    });
  }
  if (queries.length === 0) return;
  if (p.options.invoiceMode === 'draft') {
    // iXpole's draft mode: drafts instead of invoices, "D" + draft number written back (drafts.ts).
    const candidates = queries.map((q) => ({
      ...q.input,
      customerCode: q.customerCode,
      invoice: q.query.batchInvoice!,
    }));
    await createDrafts(ctx, candidates, wantsWriteBack, out);
    return;
  }

  await db.transaction(async (tx) => {
    const postingCtx = { db: tx, entity: ctx.entity, actor: ctx.actor };
    const batch = await Batch.load(
      postingCtx,
      queries.map((q) => q.query),
    );
    const posted: { q: (typeof queries)[number]; finish: ReturnType<Batch['add']> }[] = [];
    const adopt: (typeof queries)[number][] = [];
    for (const q of queries) {
      try {
        posted.push({ q, finish: batch.add(postingCtx, q.query) });
      } catch (err) {
        if (!isDomainError(err)) throw err;
        if (err.code === 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS') adopt.push(q);
        else {
          const field = Array.isArray(err.details) ? err.details[0]?.field : undefined;
          out.park({
            kind: 'invoice',
            sourceId: q.input.record.sourceId,
            reasonCode: err.code,
            message: err.message,
            field,
            payload: { record: q.input.record, raw: q.input.raw },
          });
        }
      }
    }
    const written = await batch.write(postingCtx);
    const maps: { sourceId: string; targetId: string; number: string }[] = [];
    for (const { q, finish } of posted) {
      const r = finish(written);
      maps.push({
        sourceId: q.input.record.sourceId,
        targetId: String(r.invoiceTransactionId),
        number: String(r.invoiceNumber),
      });
      out.record({
        kind: 'invoice',
        sourceId: q.input.record.sourceId,
        outcome: 'created',
        targetId: String(r.invoiceTransactionId),
      });
    }
    if (adopt.length) {
      const { rows } = await tx.query<{
        id: string;
        number: string;
        customer_code: string;
        external_reference: string;
      }>(
        `SELECT DISTINCT ON (customer_code, external_reference) id, number, customer_code, external_reference FROM transactions
          WHERE entity_id = $1 AND type = 'SI' AND (customer_code, external_reference) IN (SELECT * FROM unnest($2::text[], $3::text[]))
          ORDER BY customer_code, external_reference, id`,
        [ctx.entity.id, adopt.map((q) => q.customerCode), adopt.map((q) => q.input.record.externalReference)],
      );
      const byKey = new Map(rows.map((r) => [`${r.customer_code}\u0000${r.external_reference}`, r]));
      for (const q of adopt) {
        const found = byKey.get(`${q.customerCode}\u0000${q.input.record.externalReference}`)!;
        maps.push({ sourceId: q.input.record.sourceId, targetId: found.id, number: found.number });
        out.record({
          kind: 'invoice',
          sourceId: q.input.record.sourceId,
          outcome: 'skipped',
          targetId: found.id,
          message: 'already in the ledger; linked',
        });
      }
    }
    await saveMapping(tx, p.id, 'invoice', maps);
    if (wantsWriteBack) {
      await queueWriteBack(
        tx,
        p.id,
        maps.map((m) => ({ kind: 'invoice', sourceId: m.sourceId, payload: { transactionId: Number(m.targetId) } })),
      );
    }
    await resolveSucceeded(
      tx,
      p.id,
      'invoice',
      maps.map((m) => m.sourceId),
      ctx.actor,
    );
    const bySource = new Map(queries.map((q) => [q.input.record.sourceId, q]));
    await recordSourceDocuments(
      tx,
      p.id,
      maps.map((m) => {
        const q = bySource.get(m.sourceId)!;
        const inv = q.input.record;
        return {
          kind: 'invoice',
          sourceId: inv.sourceId,
          externalReference: inv.externalReference,
          customerSourceId: inv.customerSourceId,
          customerCode: q.customerCode,
          date: inv.invoiceDate,
          currency: inv.currency,
          gross: canonicalGross(inv) ?? 0n,
          location: inv.location,
          payload: {},
        };
      }),
    );
  });
}
