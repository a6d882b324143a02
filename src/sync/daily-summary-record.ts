import type { ExceptionCode } from './reasons.ts';
import { computeItems } from '../domain/documents.ts';
import { Dec, formatAmount, isStorable, parseAmount } from '../domain/money.ts';
import type { CanonicalInvoice, CanonicalPayment } from './canonical.ts';
import { type PageOutcome, type SyncContext, callContext } from './engine/context.ts';
import { type WaitsFor, resolveSucceeded } from './exceptions.ts';
import type { Unavailable } from './engine/waiting.ts';
import type { ItemError } from './target.ts';

/**
 * The recording half of daily summaries: in `mode: daily-summary` a page's sales (invoices and
 * payments from webhooks, imports, any source) are not posted one by one but stored in
 * `source_documents` with their day and location, already mapped to GL account, tax code and
 * department so that a mapping problem is parked the moment a sale arrives, not at midnight. The
 * summary run (daily-summary.ts) posts them.
 */

/** Source ids of the summaries themselves: `DS-2026-11-21-SHOP1@CUSTCODE`. */
const SUMMARY_ID = /^DS-\d{4}-\d{2}-\d{2}[^@]*@./;

export function isSummarySourceId(sourceId: string): boolean {
  return SUMMARY_ID.test(sourceId);
}

/** A summarised line's key and amounts, as stored with each sale (decimal text). */
export interface DailyLine {
  glAccountCode: string;
  taxCode: string;
  departmentId: string | null;
  vatRate: string;
  net: string;
  vat: string;
}

/** What a recorded sale keeps for its summary, under `payload.daily`. */
export type DailyData =
  | { lines: DailyLine[] }
  | {
      amount: string;
      fee: string | null;
      method: string | null;
      bankAccountCode: string | null;
      allocateTo?: string | null;
    };

type Input<T> = { record: T; raw: unknown };

interface Row {
  kind: 'invoice' | 'payment';
  sourceId: string;
  externalReference: string;
  customerSourceId: string;
  customerCode: string;
  date: string;
  currency: string;
  gross: bigint;
  location: string | null;
  daily: DailyData;
  record: CanonicalInvoice | CanonicalPayment;
}

/**
 * What the target says of the page's customers and invoice lines: which customers it has, and
 * each invoice's lines on its accounts and tax codes (a day's summary groups sales by them).
 */
async function mappingData(
  ctx: SyncContext,
  invoices: { record: CanonicalInvoice; customerTargetId: string; productTargetIds: Record<string, string> }[],
  customerCodes: string[],
) {
  const tctx = callContext(ctx);
  const known = new Set<string>();
  for (const code of new Set(customerCodes))
    if (await ctx.target.findByReference(tctx, 'customer', code, null)) known.add(code);
  const lines =
    invoices.length === 0
      ? []
      : ctx.target.lineAccounts
        ? await ctx.target.lineAccounts(tctx, invoices)
        : invoices.map((): ItemError => ({
            code: 'TARGET_CAPABILITY_MISSING',
            message: `The ${ctx.target.type} target cannot say which accounts a line goes to; daily summaries need it`,
            retryable: false,
          }));
  return { known, lines };
}

/**
 * Records the sales of a page for their daily summary and returns what is still to be posted:
 * the summaries themselves, which come back through the same engine (from the summary run, or a
 * retried exception). A sale already summarised is skipped when unchanged and parked when its
 * amount changed, as a posted invoice would be.
 */
export async function recordSales(
  ctx: SyncContext,
  docs: { invoices: Input<CanonicalInvoice>[]; payments: Input<CanonicalPayment>[] },
  customers: Map<string, string>,
  products: Map<string, string>,
  unavailable: Unavailable,
  out: PageOutcome,
): Promise<{ invoices: Input<CanonicalInvoice>[]; payments: Input<CanonicalPayment>[] }> {
  const post = {
    invoices: docs.invoices.filter((d) => isSummarySourceId(d.record.sourceId)),
    payments: docs.payments.filter((d) => isSummarySourceId(d.record.sourceId)),
  };
  const invoices = docs.invoices.filter((d) => !isSummarySourceId(d.record.sourceId));
  const payments = docs.payments.filter((d) => !isSummarySourceId(d.record.sourceId));
  if (invoices.length === 0 && payments.length === 0) return post;

  const { entity, pipeline: p } = ctx;
  const fixedCustomer = p.options.summaryCustomer?.toUpperCase() ?? null;
  const codeOf = (customerSourceId: string) => fixedCustomer ?? customers.get(customerSourceId) ?? null;
  const productTargetIds = (inv: CanonicalInvoice) => {
    const ids: Record<string, string> = {};
    for (const l of inv.lines) {
      const id = l.productSourceId ? products.get(l.productSourceId) : undefined;
      if (l.productSourceId && id) ids[l.productSourceId] = id;
    }
    return ids;
  };
  // Lines are mapped for the invoices whose customer is known; the rest are parked below.
  const mappable = invoices
    .map((d) => ({ d, code: codeOf(d.record.customerSourceId) }))
    .filter((x): x is { d: Input<CanonicalInvoice>; code: string } => x.code !== null);
  const data = await mappingData(
    ctx,
    mappable.map(({ d, code }) => ({
      record: d.record,
      customerTargetId: code,
      productTargetIds: productTargetIds(d.record),
    })),
    [
      ...new Set(
        [...invoices, ...payments].map((d) => codeOf(d.record.customerSourceId)).filter((c): c is string => c !== null),
      ),
    ],
  );
  const linesOf = new Map(mappable.map(({ d }, n) => [d, data.lines[n]!]));
  const rows: Row[] = [];
  const park = (
    kind: 'invoice' | 'payment',
    d: Input<CanonicalInvoice | CanonicalPayment>,
    reasonCode: ExceptionCode,
    message: string,
    field?: string,
    waitsFor?: WaitsFor,
  ) =>
    out.park({
      kind,
      sourceId: d.record.sourceId,
      reasonCode,
      message,
      field,
      payload: { record: d.record, raw: d.raw },
      waitsFor,
    });
  const customerProblem = (
    kind: 'invoice' | 'payment',
    d: Input<CanonicalInvoice | CanonicalPayment>,
  ): string | null => {
    const code = codeOf(d.record.customerSourceId);
    if (code && data.known.has(code)) return code;
    if (fixedCustomer)
      park(
        kind,
        d,
        'CUSTOMER_CODE_DOES_NOT_EXIST',
        `options.summaryCustomer ${fixedCustomer} is not a customer of entity ${entity.code}`,
        'customerSourceId',
      );
    else {
      const why = unavailable.get(d.record.customerSourceId) ?? {
        reasonCode: 'CUSTOMER_NOT_SYNCED',
        message: `Customer ${d.record.customerSourceId} is not in the ledger`,
      };
      park(kind, d, why.reasonCode, why.message, 'customerSourceId', why.waitsFor);
    }
    return null;
  };

  for (const d of invoices) {
    const inv = d.record;
    const customerCode = customerProblem('invoice', d);
    if (!customerCode) continue;
    const bad = inv.lines.find((l) => l.productSourceId && unavailable.has(`product:${l.productSourceId}`));
    if (bad?.productSourceId) {
      const why = unavailable.get(`product:${bad.productSourceId}`)!;
      park('invoice', d, why.reasonCode, why.message, 'productSourceId');
      continue;
    }
    const mapped = linesOf.get(d)!;
    if (!Array.isArray(mapped)) {
      park('invoice', d, mapped.code, mapped.message, mapped.field);
      continue;
    }
    const inputs = [];
    let amountError: { code: 'AMOUNT_HAS_TOO_MANY_DECIMALS' | 'AMOUNT_OUT_OF_RANGE'; message: string } | null = null;
    for (const [n, l] of mapped.entries()) {
      const net = parseAmount(l.netAmount, inv.currency);
      const tax = l.taxAmount === undefined ? null : parseAmount(l.taxAmount, inv.currency);
      const failure = !net.ok ? net.error : tax !== null && !tax.ok ? tax.error : null;
      if (failure?.code === 'OUT_OF_RANGE') {
        amountError = { code: 'AMOUNT_OUT_OF_RANGE', message: `lines[${n}]: ${failure.message}` };
        break;
      }
      if (!net.ok || (tax !== null && !tax.ok)) {
        amountError = {
          code: 'AMOUNT_HAS_TOO_MANY_DECIMALS',
          message: `lines[${n}]: an amount is not a decimal with at most the decimals of ${inv.currency}`,
        };
        break;
      }
      inputs.push({
        glAccountCode: l.glAccountCode,
        taxCode: l.taxCode,
        taxRate: l.taxRate ?? inv.lines[n]!.vatRate,
        description: '',
        departmentId: l.departmentId ?? null,
        net: net.value,
        tax: tax === null ? null : tax.value,
      });
    }
    if (amountError) {
      park('invoice', d, amountError.code, amountError.message, 'lines');
      continue;
    }
    // The ledger's own rule fixes each sale's VAT (given, or net × rate half-up per line), so the
    // summary's VAT is the sum of the sales' VAT, never VAT recomputed on a summed net.
    const { items, totals } = computeItems(inputs);
    if (![totals.net, totals.tax, totals.gross].every(isStorable)) {
      park('invoice', d, 'AMOUNT_OUT_OF_RANGE', "the invoice's total is beyond the largest storable amount", 'lines');
      continue;
    }
    const lines: DailyLine[] = items.map((i) => ({
      glAccountCode: i.glAccountCode,
      taxCode: i.taxCode,
      departmentId: i.departmentId,
      vatRate: new Dec(i.taxRate).toFixed(),
      net: formatAmount(i.net, inv.currency),
      vat: formatAmount(i.tax, inv.currency),
    }));
    rows.push({
      kind: 'invoice',
      ...common(inv, customerCode, inv.invoiceDate),
      gross: totals.gross,
      daily: { lines },
      record: inv,
    });
  }

  for (const d of payments) {
    const pay = d.record;
    const customerCode = customerProblem('payment', d);
    if (!customerCode) continue;
    const amount = parseAmount(pay.amount, pay.currency);
    const fee = pay.fee ? parseAmount(pay.fee, pay.currency) : null;
    if ((!amount.ok && amount.error.code === 'OUT_OF_RANGE') || (fee && !fee.ok && fee.error.code === 'OUT_OF_RANGE')) {
      park(
        'payment',
        d,
        'AMOUNT_OUT_OF_RANGE',
        `amount and fee must fit the ledger's largest storable amount`,
        'amount',
      );
      continue;
    }
    if (!amount.ok || amount.value <= 0n || (fee !== null && (!fee.ok || fee.value < 0n))) {
      park('payment', d, 'VALIDATION_ERROR', `amount and fee must be positive amounts in ${pay.currency}`, 'amount');
      continue;
    }
    rows.push({
      kind: 'payment',
      ...common(pay, customerCode, pay.date),
      gross: amount.value,
      daily: {
        amount: formatAmount(amount.value, pay.currency),
        fee: fee && fee.value !== 0n ? formatAmount(fee.value, pay.currency) : null,
        method: pay.method ?? null,
        bankAccountCode: pay.bankAccountCode ?? null,
      },
      record: pay,
    });
  }
  if (rows.length === 0) return post;

  await ctx.db.transaction(async (tx) => {
    const { rows: before } = await tx.query<{
      kind: string;
      source_id: string;
      summarized_in: string | null;
      gross: string;
    }>(
      `SELECT kind, source_id, summarized_in, gross::text AS gross FROM source_documents
        WHERE pipeline_id = $1 AND (kind, source_id) IN (SELECT * FROM unnest($2::text[], $3::text[])) FOR UPDATE`,
      [p.id, rows.map((r) => r.kind), rows.map((r) => r.sourceId)],
    );
    const known = new Map(before.map((b) => [`${b.kind}\u0000${b.source_id}`, b]));
    const write: Row[] = [];
    for (const r of rows) {
      const was = known.get(`${r.kind}\u0000${r.sourceId}`);
      if (was?.summarized_in) {
        if (BigInt(was.gross) === r.gross) {
          out.record({
            kind: r.kind,
            sourceId: r.sourceId,
            outcome: 'skipped',
            message: `already in daily summary ${was.summarized_in}`,
          });
        } else {
          const code = r.kind === 'invoice' ? 'INVOICE_ALREADY_POSTED_CHANGED' : 'PAYMENT_ALREADY_POSTED_CHANGED';
          out.park({
            kind: r.kind,
            sourceId: r.sourceId,
            reasonCode: code,
            message: `${r.externalReference} is already posted in daily summary ${was.summarized_in} for ${formatAmount(BigInt(was.gross), r.currency)}; the source now says ${formatAmount(r.gross, r.currency)}. Book the difference by hand, then resolve this.`,
            payload: { received: r.record },
          });
        }
        continue;
      }
      write.push(r);
      out.record({
        kind: r.kind,
        sourceId: r.sourceId,
        outcome: was ? 'updated' : 'created',
        message: `recorded for the daily summary of ${r.date}${r.location ? ` at ${r.location}` : ''}`,
      });
    }
    if (write.length === 0) return;
    await tx.query(
      `INSERT INTO source_documents (pipeline_id, kind, source_id, external_reference, customer_source_id, customer_code, document_date, currency, gross, location, payload)
       SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::date[], $8::text[], $9::bigint[], $10::text[], $11::jsonb[])
       ON CONFLICT (pipeline_id, kind, source_id) DO UPDATE SET external_reference = EXCLUDED.external_reference, customer_source_id = EXCLUDED.customer_source_id,
         customer_code = EXCLUDED.customer_code, document_date = EXCLUDED.document_date, currency = EXCLUDED.currency, gross = EXCLUDED.gross,
         location = EXCLUDED.location, payload = EXCLUDED.payload, last_seen_at = now()`,
      [
        p.id,
        write.map((r) => r.kind),
        write.map((r) => r.sourceId),
        write.map((r) => r.externalReference),
        write.map((r) => r.customerSourceId),
        write.map((r) => r.customerCode),
        write.map((r) => r.date),
        write.map((r) => r.currency),
        write.map((r) => r.gross),
        write.map((r) => r.location),
        write.map((r) => JSON.stringify({ daily: r.daily, record: r.record })),
      ],
    );
    for (const kind of ['invoice', 'payment'] as const) {
      await resolveSucceeded(
        tx,
        p.id,
        kind,
        write.filter((r) => r.kind === kind).map((r) => r.sourceId),
        ctx.actor,
      );
    }
  });
  return post;
}

function common(doc: CanonicalInvoice | CanonicalPayment, customerCode: string, date: string) {
  return {
    sourceId: doc.sourceId,
    externalReference: doc.externalReference,
    customerSourceId: doc.customerSourceId,
    customerCode,
    date,
    currency: doc.currency,
    location: doc.location ?? null,
  };
}
