import { ConnectorError } from '../../sync/connector.ts';
import { RemoteClient } from '../../sync/remote/client.ts';
import type { RatePlanner, RemoteClientOptions, TokenSource } from '../../sync/remote/contracts.ts';
import { oauthTokenSourceFor } from '../../sync/remote/oauth.ts';
import { createRatePlanner } from '../../sync/remote/rate-planner.ts';
import type { TargetCallContext, TargetConnector, TargetDeps } from '../../sync/target.ts';
import { type QboEntity, QuickBooksApi, describeFault, faultCode, quote, requestIdFor } from './api.ts';
import * as allocations from './allocations.ts';
import { createCreditMemos } from './credit-memos.ts';
import { type DocumentContext, createInvoices, createPayments, findDocument } from './documents.ts';
import { quickbooksFeeRemedy } from './fees.ts';
import { createRefunds } from './refunds.ts';
import { type Company, customerFields, minorUnits, salesAccount, scalar } from './map.ts';
import { type NamedSpec, codeOf, readByIds, upsertNamed } from './names.ts';
import { documentsById, referenceOf, unlinkedDocuments } from './reads.ts';
import { openBalances } from './balances.ts';
import type { CanonicalCustomer } from '../../sync/canonical.ts';
import {
  DEFAULT_BASE_URL,
  PUBLISHED_LIMITS,
  QUICKBOOKS_OAUTH,
  QuickBooksTargetSettings,
  SYSTEM,
  rateScopes,
} from './settings.ts';

/*
 * The QuickBooks Online target (docs/connectors/quickbooks.md). Every write goes through the
 * batch endpoint (at most 30 operations a call) with a requestid derived from the documents'
 * idempotency keys, paced by the shared rate planner on two budgets of the company (every call;
 * batch calls), over the shared RemoteClient with the OAuth connection's token. After an unknown
 * outcome the engine looks documents up by their reference (DocNumber, PaymentRefNum), and
 * allocations by what they are (src/connectors/quickbooks/allocations.ts).
 */

/** What tests and benchmarks replace: the token source, the planner, the client's transport and timing. */
export interface QuickBooksTargetOptions {
  auth?: TokenSource | undefined;
  planner?: RatePlanner | undefined;
  client?:
    | Pick<
        RemoteClientOptions,
        'guard' | 'sleep' | 'backoffBaseMs' | 'backoffMaxMs' | 'maxAttempts' | 'retryAfterMaxMs'
      >
    | undefined;
}

interface Session {
  api: QuickBooksApi;
  company: Company;
  docs: DocumentContext;
}

const CUSTOMER: NamedSpec = { entity: 'Customer', nameField: 'DisplayName', codeField: 'AcctNum' };

/** Creates the connector for one pipeline from settings already checked against {@link QuickBooksSettings}. */
export function createQuickBooksTarget(deps: TargetDeps, opts: QuickBooksTargetOptions = {}): TargetConnector {
  const settings = QuickBooksTargetSettings.parse(deps.settings);
  const auth =
    opts.auth ?? oauthTokenSourceFor(deps, { system: SYSTEM, provider: QUICKBOOKS_OAUTH, guard: opts.client?.guard });
  const planner = opts.planner ?? createRatePlanner(deps.db, { log: deps.log });
  let session: Promise<Session> | null = null;

  async function realmId(): Promise<string> {
    if (settings.realmId) return settings.realmId;
    const fromConnection =
      'tenantId' in auth ? await (auth as { tenantId(): Promise<string | null> }).tenantId() : null;
    if (fromConnection) return fromConnection;
    throw new ConnectorError(
      SYSTEM,
      'no QuickBooks company: set target.realmId, or connect the pipeline through GET /v1/connections/{pipeline}/oauth/start (the consent names the company)',
      { retryable: false, code: 'TARGET_SETTING_MISSING' },
    );
  }

  async function apiOf(): Promise<QuickBooksApi> {
    const realm = await realmId();
    const scopes = rateScopes(realm, settings.limits);
    const common = {
      system: SYSTEM,
      baseUrl: settings.baseUrl ?? DEFAULT_BASE_URL,
      auth,
      timeoutMs: settings.timeoutMs,
      log: deps.log,
      ...opts.client,
    };
    return new QuickBooksApi(
      new RemoteClient({ ...common, rate: { planner, scopes: [scopes.realm] } }),
      new RemoteClient({ ...common, rate: { planner, scopes: [scopes.realm, scopes.batch] } }),
      realm,
    );
  }

  async function open(ctx: TargetCallContext): Promise<Session> {
    const api = await apiOf();
    const company = await loadCompany(api, ctx);
    let defaultItem: Promise<string> | null = null;
    const docs: DocumentContext = {
      api,
      company,
      accounts: settings.accounts,
      taxRates: settings.taxRates,
      defaultItem: () => {
        defaultItem ??= findOrCreateDefaultItem(api, ctx, company, settings.accounts).catch((err: unknown) => {
          defaultItem = null;
          throw err;
        });
        return defaultItem;
      },
    };
    return { api, company, docs };
  }

  function sessionFor(ctx: TargetCallContext): Promise<Session> {
    session ??= open(ctx).catch((err: unknown) => {
      session = null;
      throw err;
    });
    return session;
  }

  return {
    type: 'quickbooks',
    transactional: false,
    capabilities: {
      customers: true,
      items: true,
      invoices: true,
      // Credit notes as CreditMemos (a negative invoice becomes one too).
      creditNotes: true,
      payments: true,
      // Credit memos and unapplied payments set against invoices through a Payment's LinkedTxn.
      allocations: true,
      refunds: true,
      refundsNeedPayment: true,
      // A RefundReceipt is split at its invoice's rates: an early payment's refund waits for its invoice.
      refundsNeedAppliedPayment: true,
      fees: true,
      paymentStatus: true,
      pdf: true,
      // QuickBooks Online has no draft invoices; `mode: draft` is refused when the pipeline is saved.
      drafts: false,
      reconciliation: true,
    },
    limits: {
      callsPerSecond: settings.limits?.callsPerSecond ?? PUBLISHED_LIMITS.callsPerSecond,
      callsPerMinute: settings.limits?.callsPerMinute ?? PUBLISHED_LIMITS.callsPerMinute,
      callsPerDay: settings.limits?.callsPerDay,
      concurrency: settings.limits?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      batchSize: settings.limits?.batchSize ?? PUBLISHED_LIMITS.batchSize,
    },

    async upsertCustomers(ctx, items) {
      const { api } = await sessionFor(ctx);
      return upsertNamed(
        api,
        ctx,
        CUSTOMER,
        items.map((c) => ({
          code: c.code,
          name: c.record.name,
          targetId: c.targetId,
          fields: (current) => customerFields(c.record, current),
          key: `${c.sourceId}\u0000${JSON.stringify(c.record)}`,
        })),
      );
    },

    async upsertProducts(ctx, items) {
      const { api, company } = await sessionFor(ctx);
      const sales = salesAccount(company, settings.accounts);
      return upsertNamed(
        api,
        ctx,
        { entity: 'Item', nameField: 'Name', codeField: 'Sku' },
        items.map((p) => ({
          code: p.code,
          name: p.record.name,
          targetId: p.targetId,
          fields: (current) => {
            if (current) return {};
            const own = p.record.glAccountCode
              ? company.accounts.find((a) => a.AcctNum === p.record.glAccountCode || a.Id === p.record.glAccountCode)
              : undefined;
            const income = own ?? ('Id' in sales ? sales : undefined);
            return { Type: 'Service', ...(income ? { IncomeAccountRef: { value: income.Id } } : {}) };
          },
          key: `${p.sourceId}\u0000${JSON.stringify(p.record)}`,
        })),
      );
    },

    async customer(ctx, targetId, asSourceId) {
      const { api } = await sessionFor(ctx);
      const e = (await readByIds(api, ctx, 'Customer', [targetId])).get(targetId);
      if (!e) return null;
      const addr = (e.BillAddr ?? {}) as Record<string, unknown>;
      const text = (v: unknown) => (scalar(v) === '' ? undefined : scalar(v));
      const record: CanonicalCustomer = {
        kind: 'customer',
        sourceId: asSourceId,
        code: codeOf(e, CUSTOMER),
        name: scalar(e.DisplayName),
      };
      const fields: Partial<CanonicalCustomer> = {
        email: text((e.PrimaryEmailAddr as { Address?: unknown } | undefined)?.Address),
        phone: text((e.PrimaryPhone as { FreeFormNumber?: unknown } | undefined)?.FreeFormNumber),
        street: text(addr.Line1),
        postalCode: text(addr.PostalCode),
        city: text(addr.City),
        country: text(addr.Country),
        vatNumber: text(e.PrimaryTaxIdentifier),
        currency: text((e.CurrencyRef as { value?: unknown } | undefined)?.value),
      };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) Object.assign(record, { [k]: v });
      return record;
    },

    createInvoices: async (ctx, items) => createInvoices((await sessionFor(ctx)).docs, ctx, items),
    createPayments: async (ctx, items) => createPayments((await sessionFor(ctx)).docs, ctx, items),
    createRefunds: async (ctx, items) => createRefunds((await sessionFor(ctx)).docs, ctx, items),
    createCreditNotes: async (ctx, items) => createCreditMemos((await sessionFor(ctx)).docs, ctx, items),
    createAllocations: async (ctx, items) => allocations.createAllocations((await sessionFor(ctx)).docs, ctx, items),
    applyEarlyPayments: async (ctx, items) => allocations.applyEarlyPayments((await sessionFor(ctx)).docs, ctx, items),
    findAllocation: async (ctx, item, taken) =>
      allocations.findAllocation((await sessionFor(ctx)).docs, ctx, item, taken),

    async findByReference(ctx, kind, reference, customerTargetId) {
      // Customers and items are sent again rather than looked up (the engine's choice for master
      // data): a name already taken by ours is then recognised by its code and linked.
      if (kind === 'customer' || kind === 'product') return null;
      const { api } = await sessionFor(ctx);
      const found = await findDocument(api, ctx, kind, reference, customerTargetId);
      if (!found) return null;
      return {
        targetId: found.Id,
        number: kind === 'payment' ? reference : scalar(found.DocNumber),
        customerTargetId: (found.CustomerRef as { value?: string } | undefined)?.value ?? null,
      };
    },

    async documents(ctx, targetIds, options) {
      const { api, company } = await sessionFor(ctx);
      return documentsById(api, ctx, company, targetIds, {
        fees: options?.fees === true,
        ...(options?.kind ? { kind: options.kind } : {}),
      });
    },
    feeRemedy: (difference, payment) => quickbooksFeeRemedy(difference, payment),

    // GET companyinfo/{realm}: one read, where opening a session would batch five.
    async checkConnection(ctx) {
      const api = await apiOf();
      const info = await api.read('CompanyInfo', `companyinfo/${encodeURIComponent(api.realmId)}`, ctx.signal);
      return `company ${scalar(info.CompanyName) || api.realmId}`;
    },

    async unlinkedDocuments(ctx, scope, from, to) {
      const { api, company } = await sessionFor(ctx);
      return unlinkedDocuments(api, ctx, company, scope, from, to);
    },

    // Summed from the documents that post to Accounts Receivable (balances.ts): one batch call per 1,000 customers.
    async openBalances(ctx, customerTargetIds, asAt) {
      const { api, company } = await sessionFor(ctx);
      return openBalances(api, ctx, company, customerTargetIds, asAt);
    },

    async pdf(ctx, invoiceTargetId) {
      const { api } = await sessionFor(ctx);
      return api.pdf(invoiceTargetId, ctx.signal);
    },

    /*
     * Paid invoices are read by id, 3,000 in one batch call (30 queries of 100 ids): cheaper than
     * paging the change-data-capture feed, and without its 30-day horizon.
     */
    async paidInvoices(ctx, invoiceTargetIds) {
      const { api, company } = await sessionFor(ctx);
      const invoices = await readByIds(api, ctx, 'Invoice', invoiceTargetIds);
      const paid = new Map<string, string>();
      const linked = new Map<string, string[]>();
      for (const [id, e] of invoices) {
        const currency = (e.CurrencyRef as { value?: string } | undefined)?.value ?? company.homeCurrency;
        if (minorUnits(e.Balance, currency) !== 0n) continue;
        const links = ((e.LinkedTxn as { TxnId: string; TxnType: string }[] | undefined) ?? []).filter(
          (l) => l.TxnType === 'Payment',
        );
        if (links.length > 0)
          linked.set(
            id,
            links.map((l) => l.TxnId),
          );
        else paid.set(id, '');
      }
      const payments = await readByIds(api, ctx, 'Payment', [...linked.values()].flat());
      for (const [invoice, paymentIds] of linked) {
        // The last one that moved money: a Payment of 0 only applied a credit memo.
        const last = paymentIds
          .map((pid) => payments.get(pid))
          .filter(
            (p) =>
              p &&
              minorUnits(
                p.TotalAmt,
                (p.CurrencyRef as { value?: string } | undefined)?.value ?? company.homeCurrency,
              ) !== 0n,
          )
          .at(-1);
        paid.set(invoice, last ? referenceOf(last, 'PaymentRefNum') : '');
      }
      return paid;
    },
  };
}

/** The company's country, home currency, sales tax codes and accounts: one batch call. */
async function loadCompany(api: QuickBooksApi, ctx: TargetCallContext): Promise<Company> {
  const answers = await api.batch(
    [
      { query: 'SELECT * FROM CompanyInfo' },
      { query: 'SELECT * FROM Preferences' },
      { query: 'SELECT * FROM TaxCode MAXRESULTS 1000' },
      { query: 'SELECT * FROM TaxRate MAXRESULTS 1000' },
      { query: 'SELECT * FROM Account MAXRESULTS 1000' },
    ],
    null,
    ctx.signal,
  );
  const rows = (n: number, entity: string): QboEntity[] => {
    const a = answers[n]!;
    if (!a.ok)
      throw new ConnectorError(SYSTEM, `could not read the company's ${entity}: ${describeFault(a.fault)}`, {
        retryable: false,
      });
    return (a.query?.[entity] as QboEntity[] | undefined) ?? [];
  };
  const info = rows(0, 'CompanyInfo')[0];
  const prefs = rows(1, 'Preferences')[0];
  const rates = new Map(rows(3, 'TaxRate').map((r) => [r.Id, r]));
  const country = scalar(info?.Country) || scalar((info?.CompanyAddr as { Country?: unknown } | undefined)?.Country);
  const home = (prefs?.CurrencyPrefs as { HomeCurrency?: { value?: string } } | undefined)?.HomeCurrency?.value;
  if (!country || !home) {
    throw new ConnectorError(SYSTEM, 'the company answered without its country or home currency', { retryable: false });
  }
  const taxCodes = rows(2, 'TaxCode')
    .filter((t) => t.Active !== false)
    .map((t) => {
      const details =
        (t.SalesTaxRateList as { TaxRateDetail?: { TaxRateRef?: { value?: string } }[] } | undefined)?.TaxRateDetail ??
        [];
      const rate = details.length === 1 ? rates.get(details[0]!.TaxRateRef?.value ?? '') : undefined;
      const value = rate?.RateValue;
      return {
        id: t.Id,
        name: scalar(t.Name),
        ratePercent: value === undefined || value === null ? null : scalar(value),
      };
    });
  return { country, homeCurrency: home, taxCodes, accounts: rows(4, 'Account') };
}

/**
 * The item a line without a product is sold as: `accounts.item` (an item's name or id), else the
 * company's "Services" or "Sales" item, else a "Sales" service item created on the sales account.
 */
async function findOrCreateDefaultItem(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  company: Company,
  accounts: Record<string, string> | undefined,
): Promise<string> {
  const wanted = accounts?.item;
  const names = wanted ? [wanted] : ['Services', 'Sales'];
  const found = await api.query(
    'Item',
    `SELECT * FROM Item WHERE ${wanted && /^\d+$/.test(wanted) ? `Id = ${quote(wanted)}` : `Name IN (${names.map(quote).join(', ')})`}`,
    ctx.signal,
  );
  const byName = names.map((n) => found.find((i) => i.Id === n || i.Name === n)).find(Boolean);
  if (byName) return byName.Id;
  if (wanted) {
    throw new ConnectorError(SYSTEM, `accounts.item "${wanted}" is not an item of this QuickBooks company`, {
      retryable: false,
      code: 'TARGET_SETTING_MISSING',
    });
  }
  const sales = salesAccount(company, accounts);
  if (!('Id' in sales))
    throw new ConnectorError(SYSTEM, sales.message, { retryable: false, code: 'TARGET_SETTING_MISSING' });
  const [created] = await api.batch(
    [
      {
        entity: 'Item',
        operation: 'create',
        body: { Name: 'Sales', Type: 'Service', IncomeAccountRef: { value: sales.Id } },
      },
    ],
    requestIdFor([api.realmId], 'default-item'),
    ctx.signal,
  );
  if (!created!.ok && faultCode(created!.fault) === '6240') {
    // Another worker created it meanwhile.
    const again = await api.query('Item', `SELECT * FROM Item WHERE Name = 'Sales'`, ctx.signal);
    if (again[0]) return again[0].Id;
  }
  if (!created!.ok)
    throw new ConnectorError(SYSTEM, `could not create the "Sales" item: ${describeFault(created!.fault)}`, {
      retryable: false,
    });
  return created!.entity!.Id;
}
