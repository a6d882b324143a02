import { ConnectorError } from '../../sync/connector.ts';
import { RemoteClient } from '../../sync/remote/client.ts';
import { serviceTokenSource } from '../../sync/remote/service-token.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import type { RatePlanner, RemoteClientOptions, TokenSource } from '../../sync/remote/contracts.ts';
import { createRatePlanner } from '../../sync/remote/rate-planner.ts';
import {
  BatchInterrupted,
  type FoundDocument,
  type ItemResult,
  type TargetCallContext,
  type TargetConnector,
  type TargetDeps,
  type TargetAllocation,
  type TargetPayment,
  failed,
  ok,
} from '../../sync/target.ts';
import { type BcEntity, BusinessCentralApi, Refused, key, literal } from './api.ts';
import { customerFields, externalOf, linesOf, minor, numberOf, text } from './map.ts';
import { businessCentralFeeRemedy, businessCentralFees } from './fees.ts';
import { createPayments, findPayment, refusal } from './payments.ts';
import { openBalances } from './balances.ts';
import { documents, invoicePdf, paidInvoices, unlinkedDocuments } from './reads.ts';
import { BusinessCentralSettings, PUBLISHED_LIMITS, SYSTEM, apiRoot, rateScope, tokenUrlOf } from './settings.ts';

/*
 * The Business Central target (docs/connectors/businesscentral.md), API v2.0, one call per
 * document (a deep insert with its lines, then the bound action that posts it), paced by the
 * shared rate planner on the service principal's budget, signed in with the client credentials
 * grant. Our reference is the document's External Document No. (customers and items: their
 * number); after an unknown outcome the engine looks documents up by it. A draft left behind by a
 * lost answer is posted when it is found, so that what is found is always what was meant: a
 * posted invoice, with its posted number.
 */

export interface BusinessCentralTargetOptions {
  auth?: TokenSource | undefined;
  planner?: RatePlanner | undefined;
  client?:
    | Pick<
        RemoteClientOptions,
        'guard' | 'sleep' | 'backoffBaseMs' | 'backoffMaxMs' | 'maxAttempts' | 'retryAfterMaxMs'
      >
    | undefined;
}

type DocSet = 'salesInvoices' | 'salesCreditMemos';

/** Creates the connector for one pipeline from settings already checked against {@link BusinessCentralSettings}. */
export function createBusinessCentralTarget(
  deps: TargetDeps,
  opts: BusinessCentralTargetOptions = {},
): TargetConnector {
  const settings = BusinessCentralSettings.parse(deps.settings);
  const auth =
    opts.auth ??
    // Entra's client credentials grant (service to service); the secret goes in HTTP Basic (RFC 6749 §2.3.1).
    serviceTokenSource({
      system: SYSTEM,
      tokenUrl: settings.tokenUrl ?? tokenUrlOf(settings.tenantId),
      clientId: settings.clientId,
      clientSecret: settings.clientSecret,
      grant: () => ({ grant_type: 'client_credentials', client_id: settings.clientId, scope: settings.scope }),
      guard: opts.client?.guard,
    });
  const planner = opts.planner ?? createRatePlanner(deps.db, { log: deps.log });
  const client = new RemoteClient({
    system: SYSTEM,
    baseUrl: apiRoot(settings),
    auth,
    secrets: () => [settings.clientSecret],
    timeoutMs: settings.timeoutMs,
    log: deps.log,
    rate: { planner, scopes: [rateScope(settings)] },
    ...opts.client,
  });
  const api = new BusinessCentralApi(client, `/companies(${settings.companyId})`);
  const setup = { salesAccount: settings.accounts?.sales, taxRates: settings.taxRates };
  let journal: Promise<BcEntity> | null = null;
  const fees = businessCentralFees(api, settings);
  let lcy: Promise<string> | null = null;

  /** The company's local currency (companyInformation.currencyCode), read once: payments are kept in it. */
  function localCurrency(ctx: TargetCallContext): Promise<string> {
    lcy ??= (async () => {
      const [company] = await api.list('companyInformation', null, ctx.signal);
      const code = text(company?.currencyCode);
      if (!code)
        throw new ConnectorError(SYSTEM, 'companyInformation answered without the currencyCode of the company', {
          retryable: false,
        });
      return code;
    })().catch((err: unknown) => {
      lcy = null;
      throw err;
    });
    return lcy;
  }

  /** The payment journal (its id, its balancing account), read once. */
  function paymentJournal(ctx: TargetCallContext): Promise<BcEntity> {
    journal ??= (async () => {
      const found = await api.list(
        'customerPaymentJournals',
        `code eq ${literal(settings.paymentJournal)}`,
        ctx.signal,
      );
      if (!found[0])
        throw new ConnectorError(
          SYSTEM,
          `there is no customer payment journal "${settings.paymentJournal}" in this company: create it (with its balancing bank account) or set target.paymentJournal`,
          { retryable: false, code: 'TARGET_SETTING_MISSING' },
        );
      return found[0];
    })().catch((err: unknown) => {
      journal = null;
      throw err;
    });
    return journal;
  }

  /** Posts a draft sales document; a refused post deletes the draft, so nothing half-booked stays. */
  async function post(ctx: TargetCallContext, set: DocSet, id: string, what: string): Promise<ItemResult> {
    try {
      await api.action(`/${set}${key(id)}/Microsoft.NAV.post`, ctx.signal);
    } catch (err) {
      if (err instanceof ConnectorError && err.retryable) {
        // The answer is unknown: the document says whether it was posted.
        const now = await api.get(`/${set}${key(id)}`, ctx.signal);
        if (!now || now.status === 'Draft') throw err;
      } else {
        if (!(err instanceof Refused)) throw err;
        await api.delete(`/${set}${key(id)}`, ctx.signal);
        return refusal(err, `to post ${what}`);
      }
    }
    const posted = await api.get(`/${set}${key(id)}`, ctx.signal);
    if (!posted)
      throw new ConnectorError(SYSTEM, `${what} was posted and then not found`, { retryable: true, status: 404 });
    return ok(posted.id, { number: text(posted.number), outcome: 'created' });
  }

  /** The document of a set under our reference: posted first; a draft found is posted now. */
  async function findDocument(
    ctx: TargetCallContext,
    set: DocSet,
    reference: string,
    customerTargetId: string | null | undefined,
  ): Promise<FoundDocument | null> {
    const ext = externalOf(reference);
    if (typeof ext !== 'string') return null;
    const rows = (await api.list(set, `externalDocumentNumber eq ${literal(ext)}`, ctx.signal)).filter(
      (r) => !customerTargetId || r.customerId === customerTargetId,
    );
    const posted = rows.find((r) => r.status !== 'Draft');
    if (posted) return { targetId: posted.id, number: text(posted.number), customerTargetId: text(posted.customerId) };
    const draft = rows[0];
    if (!draft) return null;
    const r = await post(ctx, set, draft.id, `the draft ${reference} left by a lost answer`);
    if (!r.ok) throw new ConnectorError(SYSTEM, r.error.message, { retryable: false });
    return { targetId: r.targetId, number: r.number ?? null, customerTargetId: text(draft.customerId) };
  }

  /** The customer or item kept under a number. */
  async function findNumbered(ctx: TargetCallContext, set: 'customers' | 'items', code: string) {
    const n = numberOf(code);
    if (typeof n !== 'string') return null;
    return (await api.list(set, `number eq ${literal(n)}`, ctx.signal))[0] ?? null;
  }

  async function upsertNumbered(
    ctx: TargetCallContext,
    set: 'customers' | 'items',
    items: { code: string; targetId: string | null; fields: Record<string, unknown> }[],
  ): Promise<ItemResult[]> {
    // One request a record: one that fails leaves those before it done (mapAtMost says which).
    return mapAtMost(items, 1, async (item) => {
      const n = numberOf(item.code);
      if (typeof n !== 'string') return failed(n);
      try {
        const existing = item.targetId
          ? await api.get(`/${set}${key(item.targetId)}`, ctx.signal)
          : await findNumbered(ctx, set, item.code);
        if (existing) {
          const e = await api.patch(`/${set}${key(existing.id)}`, item.fields, ctx.signal);
          return ok(e.id, { number: text(e.number), outcome: item.targetId ? 'updated' : 'linked' });
        }
        const e = await api.create(`/${set}`, { number: n, ...item.fields }, ctx.signal);
        return ok(e.id, { number: text(e.number), outcome: 'created' });
      } catch (err) {
        if (!(err instanceof Refused)) throw err;
        return refusal(err, set === 'customers' ? 'the customer' : 'the item');
      }
    });
  }

  async function createDocuments(
    ctx: TargetCallContext,
    set: DocSet,
    items: { reference: string; body: () => Record<string, unknown> | ItemResult }[],
  ): Promise<ItemResult[]> {
    return mapAtMost(items, 1, async (item) => {
      const body = item.body();
      if ('ok' in body) return body as ItemResult;
      let draft: BcEntity;
      try {
        draft = await api.create(`/${set}`, body, ctx.signal);
      } catch (err) {
        if (!(err instanceof Refused)) throw err;
        return refusal(err, item.reference);
      }
      return post(ctx, set, draft.id, item.reference);
    });
  }

  /** A credit memo posted against the invoice for the allocation's amount is that allocation. */
  async function findAllocation(ctx: TargetCallContext, a: TargetAllocation): Promise<FoundDocument | null> {
    if (a.record.from !== 'creditNote') return null;
    const memo = await api.get(`/salesCreditMemos${key(a.fromTargetId)}`, ctx.signal);
    if (!memo || memo.status === 'Draft' || memo.invoiceId !== a.invoiceTargetId) return null;
    const currency = text(memo.currencyCode) || a.record.currency;
    if (minor(memo.totalAmountIncludingTax, currency) !== minor(a.record.amount, currency)) return null;
    return { targetId: `${memo.id}>${a.invoiceTargetId}` };
  }

  return {
    type: 'businesscentral',
    transactional: false,
    capabilities: {
      customers: true,
      items: true,
      invoices: true,
      creditNotes: true,
      payments: true,
      // Only as Business Central makes them: a credit memo posted against its invoice (invoiceId),
      // a payment entered against its invoice (appliesToInvoiceId). An allocation is checked, not written.
      allocations: true,
      // No customer refund entity in API v2.0.
      refunds: false,
      // A fee line on the fees account beside the payment's, posted with it (fees.ts).
      fees: true,
      paymentStatus: true,
      pdf: true,
      drafts: false,
      // Invoices, credit memos and payments read back by id, cancelled ones as voided, fees too (reads.ts);
      // each customer's open balance as at a day, from its documents (balances.ts).
      reconciliation: true,
    },
    limits: {
      callsPerSecond: settings.limits?.callsPerSecond,
      callsPerMinute: settings.limits?.callsPerMinute ?? PUBLISHED_LIMITS.callsPerMinute,
      callsPerDay: settings.limits?.callsPerDay,
      concurrency: settings.limits?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      batchSize: settings.limits?.batchSize ?? PUBLISHED_LIMITS.batchSize,
    },

    upsertCustomers: (ctx, items) =>
      upsertNumbered(
        ctx,
        'customers',
        items.map((c) => ({ code: c.code, targetId: c.targetId, fields: customerFields(c.record) })),
      ),

    upsertProducts: (ctx, items) =>
      upsertNumbered(
        ctx,
        'items',
        items.map((p) => ({
          code: p.code,
          targetId: p.targetId,
          fields: p.targetId
            ? { displayName: p.record.name.slice(0, 100) }
            : { displayName: p.record.name.slice(0, 100), type: 'Service' },
        })),
      ),

    createInvoices: (ctx, items) =>
      createDocuments(
        ctx,
        'salesInvoices',
        items.map((i) => ({
          reference: i.record.externalReference,
          body: () => {
            const ext = externalOf(i.record.externalReference);
            if (typeof ext !== 'string') return failed(ext);
            const lines = linesOf(i.record.lines, i.productTargetIds, setup);
            if (!Array.isArray(lines)) return failed(lines);
            return {
              externalDocumentNumber: ext,
              invoiceDate: i.record.invoiceDate,
              postingDate: i.record.invoiceDate,
              ...(i.record.dueDate ? { dueDate: i.record.dueDate } : {}),
              customerId: i.customerTargetId,
              currencyCode: i.record.currency,
              salesInvoiceLines: lines,
            };
          },
        })),
      ),

    createCreditNotes: (ctx, items) =>
      createDocuments(
        ctx,
        'salesCreditMemos',
        items.map((c) => ({
          reference: c.record.externalReference,
          body: () => {
            const ext = externalOf(c.record.externalReference);
            if (typeof ext !== 'string') return failed(ext);
            // Business Central applies a credit memo only as it is posted against its invoice: one
            // whose invoice is not booked yet (parked, say) waits for it, instead of being posted
            // unapplied for good.
            const credited = c.record.invoiceExternalReference;
            if (credited && !c.invoiceTargetId)
              return failed({
                code: 'ALLOCATION_DOCUMENT_NOT_SYNCED',
                retryable: false,
                field: 'invoiceExternalReference',
                message: `Business Central applies a credit memo only when it is posted against its invoice, and invoice ${credited} is not booked there by this pipeline yet`,
                needs: { kind: 'invoice', customerTargetId: c.customerTargetId, reference: credited },
              });
            const lines = linesOf(c.record.lines, c.productTargetIds, setup);
            if (!Array.isArray(lines)) return failed(lines);
            return {
              externalDocumentNumber: ext,
              creditMemoDate: c.record.date,
              postingDate: c.record.date,
              customerId: c.customerTargetId,
              currencyCode: c.record.currency,
              // Posted against the invoice it credits: Business Central applies it there.
              ...(c.invoiceTargetId ? { invoiceId: c.invoiceTargetId } : {}),
              salesCreditMemoLines: lines,
            };
          },
        })),
      ),

    /*
     * Business Central applies a payment only as it is posted (`appliesToInvoiceId`): API v2.0 has
     * no call that applies a posted one later. A payment naming an invoice this pipeline has not
     * booked takes that invoice from Business Central by its reference (booked by hand, or by
     * another pipeline), or waits for it, parked, and runs again by itself once the pipeline books
     * it; posted without it, it would stay unapplied for good.
     */
    async createPayments(ctx, items) {
      const results = new Array<ItemResult | undefined>(items.length);
      const ready: { n: number; item: TargetPayment }[] = [];
      for (const [n, item] of items.entries()) {
        const named = item.record.invoiceExternalReference;
        if (item.invoiceTargetId || !named) {
          ready.push({ n, item });
          continue;
        }
        const ext = externalOf(named);
        const posted =
          typeof ext === 'string'
            ? (await api.list('salesInvoices', `externalDocumentNumber eq ${literal(ext)}`, ctx.signal)).find(
                (r) => r.customerId === item.customerTargetId && r.status !== 'Draft',
              )
            : undefined;
        if (posted) ready.push({ n, item: { ...item, invoiceTargetId: posted.id } });
        else
          results[n] = failed({
            code: 'ALLOCATION_DOCUMENT_NOT_SYNCED',
            message: `Payment ${item.record.externalReference} pays invoice ${named}, which is not in Business Central yet; Business Central applies a payment only as it is posted, so it is posted once the invoice is`,
            retryable: false,
            field: 'invoiceExternalReference',
            needs: { kind: 'invoice', customerTargetId: item.customerTargetId, reference: named },
          });
      }
      const merge = (done: readonly (ItemResult | undefined)[]) => {
        done.forEach((r, k) => (results[ready[k]!.n] = r));
        return results;
      };
      if (ready.length === 0) return results as ItemResult[];
      try {
        const j = await paymentJournal(ctx);
        return merge(
          await createPayments(
            api,
            ctx,
            j,
            ready.map((r) => r.item),
            fees,
          ),
        ) as ItemResult[];
      } catch (err) {
        if (err instanceof BatchInterrupted) throw new BatchInterrupted(merge(err.results), err.error);
        throw err;
      }
    },

    async createAllocations(ctx, items) {
      const out: ItemResult[] = [];
      for (const a of items) {
        const found = await findAllocation(ctx, a);
        if (found) out.push(ok(found.targetId, { outcome: 'linked' }));
        else
          out.push(
            failed({
              code: 'TARGET_REFUSED',
              message:
                a.record.from === 'creditNote'
                  ? `Business Central applies a credit memo only when it is posted against the invoice (invoiceId) for its whole amount; credit memo ${a.record.fromExternalReference} was not posted against ${a.record.invoiceExternalReference} for ${a.record.amount}`
                  : `Business Central's API applies a payment only when it is entered against the invoice (appliesToInvoiceId); send payment ${a.record.fromExternalReference} with invoiceExternalReference ${a.record.invoiceExternalReference} instead`,
              retryable: false,
            }),
          );
      }
      return out;
    },

    findAllocation: (ctx, a) => findAllocation(ctx, a),

    async findByReference(ctx, kind, reference, customerTargetId) {
      switch (kind) {
        case 'customer':
        case 'product': {
          const e = await findNumbered(ctx, kind === 'customer' ? 'customers' : 'items', reference);
          return e ? { targetId: e.id, number: text(e.number) } : null;
        }
        case 'invoice':
          return findDocument(ctx, 'salesInvoices', reference, customerTargetId);
        case 'creditNote':
          return findDocument(ctx, 'salesCreditMemos', reference, customerTargetId);
        case 'payment':
          return findPayment(api, ctx, (await paymentJournal(ctx)).id, reference, customerTargetId, fees);
        default:
          return null;
      }
    },

    documents: (ctx, ids, options) =>
      documents(api, ctx, ids, {
        lines: options?.lines !== false,
        fees: options?.fees === true,
        localCurrency: () => localCurrency(ctx),
        feesAccount: fees.feesAccount,
      }),
    openBalances: (ctx, customerTargetIds, asAt) =>
      openBalances(api, ctx, customerTargetIds, asAt, () => localCurrency(ctx)),
    // Documents no pipeline booked, read as reconciliation's `documents(ids, {fees: true})` reads them (reads.ts).
    unlinkedDocuments: (ctx, scope, from, to) =>
      unlinkedDocuments(api, ctx, scope, from, to, {
        lines: true,
        fees: true,
        localCurrency: () => localCurrency(ctx),
        feesAccount: fees.feesAccount,
      }),
    feeRemedy: (difference, payment) => businessCentralFeeRemedy(difference, payment),
    pdf: (ctx, invoiceId) => invoicePdf(api, ctx, invoiceId),
    paidInvoices: (ctx, ids) => paidInvoices(api, ctx, ids),

    async checkConnection(ctx) {
      const company = await api.get('', ctx.signal);
      if (!company)
        throw new ConnectorError(SYSTEM, `company ${settings.companyId} was not found`, { retryable: false });
      return `company ${text(company.displayName || company.name)} (${settings.environment})`;
    },
  };
}
