import { ConnectorError } from '../../sync/connector.ts';
import { RemoteClient } from '../../sync/remote/client.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import type { RatePlanner, RemoteClientOptions } from '../../sync/remote/contracts.ts';
import { createRatePlanner } from '../../sync/remote/rate-planner.ts';
import {
  type ItemError,
  type ItemResult,
  type TargetCallContext,
  type TargetConnector,
  type TargetCustomer,
  type TargetDeps,
  type TargetDocument,
  failed,
  ok,
} from '../../sync/target.ts';
import { AccountsIqApi, describe } from './api.ts';
import { openBalances } from './balances.ts';
import * as docs from './documents.ts';
import { type FeeAccount, accountsIqFeeRemedy, feeAccount, readFees } from './fees.ts';
import {
  type TaxCode,
  canonicalCustomer,
  customerFields,
  customerValues,
  kindOf,
  taxCodesOf,
  toDocument,
} from './map.ts';
import { unlinkedDocuments } from './unlinked.ts';
import { AccountsIqSettings, DEFAULT_LIMITS, SYSTEM, endpointFor, rateScope } from './settings.ts';
import { TYPES, type Value, type Xml, isClientFault, items, text } from './wsdl.ts';
import type { LedgerProduct } from '../../sync/mapping.ts';

/*
 * The AccountsIQ target (docs/connectors/accountsiq.md): customers by their code, products as
 * stock items, invoices and receipts through PostPayAndAllocateSalesInvoices with AccountsIQ's
 * duplicate checks, a receipt's provider fee as a sundry bank payment, batch credit notes, refunds as sales debit journals, allocations, write-back
 * of the transaction's number, payment status and the invoice PDF, and what reconciliation reads
 * back (a transaction reversed there voided, a receipt's fee, each customer's balance at a date,
 * the customers' transactions in a window that no pipeline booked).
 * Every call goes over the shared RemoteClient, paced by the rate planner on one budget per entity.
 * After an unknown outcome the engine looks documents up by their external reference (GetTransactionsByExternalReference) and
 * allocations by what they are.
 */

/** An element of a declared type as values (text of its declared fields; nil ones left out). */
function recordOf(x: Xml, type: string): Record<string, Value> {
  const r = (typeof x === 'object' && !Array.isArray(x) ? x : {}) as Record<string, Xml>;
  const out: Record<string, Value> = {};
  for (const [name] of TYPES[type]!) if (typeof r[name] === 'string') out[name] = r[name];
  return out;
}

const refusedItem = (a: { status: string; errorCode: string; errorMessage: string }, what: string): ItemResult =>
  failed({ code: 'TARGET_REFUSED', message: `AccountsIQ refused ${what}: ${describe(a)}`, retryable: false });

/** What tests replace: the planner and the client's transport and timing. */
export interface AccountsIqTargetOptions {
  planner?: RatePlanner | undefined;
  client?:
    | Pick<
        RemoteClientOptions,
        'guard' | 'sleep' | 'backoffBaseMs' | 'backoffMaxMs' | 'maxAttempts' | 'retryAfterMaxMs'
      >
    | undefined;
}

/** Creates the connector for one pipeline from settings already checked against {@link AccountsIqSettings}. */
export function createAccountsIqTarget(deps: TargetDeps, opts: AccountsIqTargetOptions = {}): TargetConnector {
  const settings = AccountsIqSettings.parse(deps.settings);
  const endpoint = endpointFor(settings);
  const planner = opts.planner ?? createRatePlanner(deps.db, { log: deps.log });
  let api: AccountsIqApi | null = null;
  const client = new RemoteClient({
    system: SYSTEM,
    baseUrl: endpoint,
    rate: { planner, scopes: [rateScope(settings, endpoint)] },
    secrets: () => api?.secrets() ?? [],
    timeoutMs: settings.timeoutMs,
    log: deps.log,
    // ASMX sends every fault with 500; a soap:Client fault says the request itself was refused.
    refusal5xx: isClientFault,
    ...opts.client,
  });
  api = new AccountsIqApi(client, settings, endpoint);
  const soap = api;

  let taxCodes: Promise<TaxCode[]> | null = null;
  // Stock items as read once by this target (a product's accounts change through upsertProducts, which updates it).
  const stockItems = new Map<string, Promise<Record<string, Value> | null>>();
  function stockItem(code: string, signal?: AbortSignal) {
    let p = stockItems.get(code);
    if (!p) {
      p = getStockItem(code, signal);
      stockItems.set(code, p);
      p.catch(() => stockItems.delete(code));
    }
    return p;
  }
  async function getStockItem(code: string, signal?: AbortSignal): Promise<Record<string, Value> | null> {
    const a = await soap.read('GetStockItem', { stockItemID: code }, signal);
    if (a.status !== 'Success') {
      if (/NOT_FOUND|DOES_NOT_EXIST/.test(a.errorCode)) return null;
      throw new ConnectorError(SYSTEM, `GetStockItem refused: ${describe(a)}`, { status: 200, retryable: false });
    }
    return a.result === undefined ? null : recordOf(a.result, 'StockItem');
  }

  // Where payment providers' fees go (fees.ts): checked once a payment with a fee comes.
  let fees: Promise<FeeAccount | ItemError> | null = null;
  const ctxDocs: docs.DocumentContext = {
    api: soap,
    mapping: deps.mapping,
    defaultGl: settings.glAccountCode ?? null,
    defaultBank: settings.bankAccountCode ?? null,
    feeAccount: () => {
      fees ??= ctxDocs.taxCodes().then(
        (codes) => feeAccount(settings, codes),
        (err: unknown) => {
          fees = null;
          throw err;
        },
      );
      return fees;
    },
    taxCodes: () => {
      taxCodes ??= soap.readOk('GetTaxCodeList', {}).then(taxCodesOf, (err: unknown) => {
        taxCodes = null;
        throw err;
      });
      return taxCodes;
    },
    async products(ids, signal) {
      const out = new Map<string, LedgerProduct>();
      const rates = Object.keys(ids).length > 0 ? await ctxDocs.taxCodes() : [];
      for (const [sourceId, code] of Object.entries(ids)) {
        const item = await stockItem(code, signal);
        if (!item) continue;
        const s = (k: string) => (typeof item[k] === 'string' && item[k] !== '' ? item[k] : null);
        const taxCode = s('SalesTaxCode');
        out.set(sourceId, {
          code,
          glAccountCode: s('SalesGLAccountCode'),
          taxCode,
          departmentId: s('DepartmentID'),
          vatRate: rates.find((t) => t.code === taxCode)?.rate ?? null,
        });
      }
      return out;
    },
  };

  async function getCustomer(code: string, signal?: AbortSignal): Promise<Record<string, Value> | null> {
    const a = await soap.read('GetCustomer', { customerCode: code }, signal);
    if (a.status !== 'Success') {
      if (/NOT_FOUND|DOES_NOT_EXIST/.test(a.errorCode)) return null;
      throw new ConnectorError(SYSTEM, `GetCustomer refused: ${describe(a)}`, { status: 200, retryable: false });
    }
    return a.result === undefined ? null : customerValues(a.result);
  }

  async function upsertCustomer(ctx: TargetCallContext, c: TargetCustomer): Promise<ItemResult> {
    const code = (c.targetId ?? c.code).toUpperCase();
    for (let attempt = 1; ; attempt++) {
      const existing = await getCustomer(code, ctx.signal);
      const creating = existing === null;
      let base: Record<string, Value>;
      if (existing) base = existing;
      else {
        const fresh = await soap.read('GetNewCustomerFromDefaults', {}, ctx.signal);
        if (fresh.status !== 'Success' || fresh.result === undefined)
          return failed({
            code: 'TARGET_REFUSED',
            message: `AccountsIQ gave no new customer from its defaults: ${describe(fresh)}`,
            retryable: false,
          });
        base = { ...customerValues(fresh.result), Code: code };
      }
      const fields = customerFields(c.record, creating);
      if (existing && Object.entries(fields).every(([k, v]) => (existing[k] ?? '') === v))
        return ok(code, { number: code, outcome: 'unchanged' });
      const a = await soap.write('UpdateCustomer', { customer: { ...base, ...fields }, create: creating }, ctx.signal);
      if (a.status === 'Success') return ok(code, { number: code, outcome: creating ? 'created' : 'updated' });
      // Someone changed it between our read and write (RowVersionNumber): read it again, once.
      if (a.errorCode === 'OUTDATED_RECORD' && attempt < 2) continue;
      return failed({
        code: 'TARGET_REFUSED',
        message: `AccountsIQ refused customer ${code}: ${describe(a)}`,
        retryable: false,
      });
    }
  }

  return {
    type: 'accountsiq',
    transactional: false,
    capabilities: {
      customers: true,
      // Stock items carry a product's sales GL account and tax code; batch invoice lines are
      // booked to those accounts (batch invoices move no stock).
      items: true,
      invoices: true,
      creditNotes: true,
      payments: true,
      // A provider's fee as a sundry bank payment out of the receipt's bank, before it (fees.ts).
      fees: true,
      allocations: true,
      // As sales debit journals allocated to the receipt they refund.
      refunds: true,
      // The journal is allocated to what its receipt has left once that receipt has paid its
      // invoice, as in the order invoice, payment, refund. Booked before its receipt, it would
      // stay unallocated. Booked while its receipt still waits for its invoice (applyEarlyPayments),
      // it would take money that was meant for that invoice. So in both cases the refund waits
      // (docs/connectors/accountsiq.md).
      refundsNeedPayment: true,
      refundsNeedAppliedPayment: true,
      // An invoice with nothing outstanding, and the receipt allocated to it last.
      paymentStatus: true,
      pdf: true,
      // Batch invoices are posted when created.
      drafts: false,
      // documents() reads transactions back by ID: one reversed there is voided (IsReversed), and
      // a payment's fee is its bank payment under the payment's reference.
      reconciliation: true,
    },
    limits: {
      callsPerSecond: settings.limits?.callsPerSecond ?? DEFAULT_LIMITS.callsPerSecond,
      callsPerMinute: settings.limits?.callsPerMinute ?? DEFAULT_LIMITS.callsPerMinute,
      callsPerDay: settings.limits?.callsPerDay,
      concurrency: settings.limits?.concurrent ?? DEFAULT_LIMITS.concurrent,
      batchSize: settings.limits?.batchSize ?? DEFAULT_LIMITS.batchSize,
    },

    upsertCustomers: (ctx, customers) =>
      // One call a record: one that fails leaves those before it done (mapAtMost says which).
      mapAtMost(customers, 1, (c) => upsertCustomer(ctx, c)),

    async upsertProducts(ctx, products) {
      return mapAtMost(products, 1, async (p) => {
        const code = (p.targetId ?? p.code).toUpperCase();
        stockItems.delete(code);
        const existing = await getStockItem(code, ctx.signal);
        let base: Record<string, Value>;
        if (existing) base = existing;
        else {
          const fresh = await soap.read('GetNewStockItemFromDefaults', { stockItemID: code }, ctx.signal);
          if (fresh.status !== 'Success' || fresh.result === undefined) return refusedItem(fresh, `stock item ${code}`);
          base = { ...recordOf(fresh.result, 'StockItem'), StockItemID: code };
        }
        const fields: Record<string, string> = { Description: p.record.name.slice(0, 500) };
        if (p.record.glAccountCode) fields.SalesGLAccountCode = p.record.glAccountCode.toUpperCase();
        if (p.record.taxCode) fields.SalesTaxCode = p.record.taxCode.toUpperCase();
        if (p.record.departmentId) fields.DepartmentID = p.record.departmentId.toUpperCase();
        if (existing && Object.entries(fields).every(([k, v]) => (existing[k] ?? '') === v))
          return ok(code, { number: code, outcome: 'unchanged' });
        const a = await soap.write(
          'SaveStockItem',
          { stockItem: { ...base, ...fields }, create: !existing },
          ctx.signal,
        );
        return a.status === 'Success'
          ? ok(code, { number: code, outcome: existing ? 'updated' : 'created' })
          : refusedItem(a, `stock item ${code}`);
      });
    },

    async product(ctx, code, asSourceId) {
      const item = await getStockItem(code.toUpperCase(), ctx.signal);
      if (!item) return null;
      const s = (k: string) => (typeof item[k] === 'string' && item[k] !== '' ? item[k] : null);
      return {
        kind: 'product',
        sourceId: asSourceId,
        code: code.toUpperCase(),
        name: s('Description') ?? code,
        glAccountCode: s('SalesGLAccountCode'),
        taxCode: s('SalesTaxCode'),
        departmentId: s('DepartmentID'),
      };
    },

    async customer(ctx, targetId, asSourceId) {
      const c = await getCustomer(targetId, ctx.signal);
      return c ? canonicalCustomer(c, asSourceId) : null;
    },

    createInvoices: (ctx, items) => docs.createInvoices(ctxDocs, ctx, items),
    createCreditNotes: (ctx, items) => docs.createCreditNotes(ctxDocs, ctx, items),
    createPayments: (ctx, items) => docs.createPayments(ctxDocs, ctx, items),
    createRefunds: (ctx, items) => docs.createRefunds(ctxDocs, ctx, items),
    paidInvoices: (ctx, ids) => docs.paidInvoices(ctxDocs, ctx, ids),
    createAllocations: (ctx, items) => docs.createAllocations(ctxDocs, ctx, items),
    applyEarlyPayments: (ctx, items) => docs.applyEarlyPayments(ctxDocs, ctx, items),
    findAllocation: (ctx, item, taken) => docs.findAllocation(ctxDocs, ctx, item, taken),

    async findByReference(ctx, kind, reference, customerTargetId) {
      if (kind === 'customer') {
        const code = reference.toUpperCase();
        return (await getCustomer(code, ctx.signal)) ? { targetId: code, number: code } : null;
      }
      if (kind === 'product') {
        const code = reference.toUpperCase();
        return (await getStockItem(code, ctx.signal)) ? { targetId: code, number: code } : null;
      }
      return docs.findDocument(ctxDocs, ctx, kind, reference, customerTargetId);
    },

    /*
     * By transaction ID, 500 a GetTransactionsBy call (a page of 5,000: 10 calls). A transaction a
     * person reversed is `voided`; one AccountsIQ does not list is left out. With `fees`, each
     * payment's provider fee (fees.ts, `readFees`): the bank payments dated within the payments'
     * dates, read page by page.
     */
    async documents(ctx, targetIds, options) {
      const out = new Map<string, TargetDocument>();
      for (const [id, s] of await docs.summariesById(ctxDocs, targetIds, ctx.signal)) {
        const kind = kindOf(s.type);
        if (kind) out.set(id, toDocument(s, kind));
      }
      if (options?.fees) {
        const payments = [...out.values()].filter((d) => d.kind === 'payment' && !d.voided);
        if (payments.length > 0) await readFees(soap, payments, ctx.signal);
      }
      return out;
    },

    feeRemedy: (difference, payment) => accountsIqFeeRemedy(difference, payment),

    // GetCustomerBalanceInformation: AccountsIQ's own balance of each customer at the date, 500
    // customers a call (balances.ts).
    openBalances: (ctx, customerTargetIds, asAt) => openBalances(soap, ctx, customerTargetIds, asAt),

    // The customers' AccountIDs (GetCustomerBalanceInformation, 500 a call), then their sales
    // transactions dated in the window (GetTransactionsBy, 500 AccountIDs a call, paged), less the
    // linked and the reversed ones (unlinked.ts).
    unlinkedDocuments: (ctx, scope, from, to) => unlinkedDocuments(soap, ctx, scope, from, to),

    async pdf(ctx, invoiceTargetId) {
      const result = await soap.readOk('GetInvoicePDFByTransactionID', { transactionID: invoiceTargetId }, ctx.signal);
      const pdf = Buffer.from(text(result), 'base64');
      if (!pdf.subarray(0, 5).equals(Buffer.from('%PDF-')))
        throw new ConnectorError(SYSTEM, 'GetInvoicePDFByTransactionID answered something that is not a PDF', {
          status: 200,
          retryable: false,
        });
      return pdf;
    },

    // GetCurrencyList: one small authenticated read (the session is opened for it).
    async checkConnection(ctx) {
      const result = await soap.readOk('GetCurrencyList', {}, ctx.signal);
      const currencies = items(result, 'string').map(text);
      return `entity ${settings.entityId} (${currencies.join(', ') || 'no currencies'})`;
    },
  };
}
