import type { CanonicalCustomer } from '../../sync/canonical.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { RemoteClient } from '../../sync/remote/client.ts';
import { mapAtMost, retryUnknownOutcome } from '../../sync/remote/at-most.ts';
import type { RatePlanner, RemoteClientOptions, TokenSource } from '../../sync/remote/contracts.ts';
import { oauthTokenSourceFor } from '../../sync/remote/oauth.ts';
import { myobOAuth } from './oauth.ts';
import { createRatePlanner } from '../../sync/remote/rate-planner.ts';
import type { ItemError, ItemResult, TargetCallContext, TargetConnector, TargetDeps } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type MyobObject, MyobApi, describe, literal, text } from './api.ts';
import * as docs from './documents.ts';
import { openBalances, readDocuments, unlinkedDocuments } from './reads.ts';
import { type FeesAccount, loadFeesAccount, myobFeeRemedy } from './fees.ts';
import { type Company, customerCard, tooLong } from './map.ts';
import { API_BASE_URL, MAX, MyobSettings, PUBLISHED_LIMITS, SYSTEM, TYPE, rateScope } from './settings.ts';

/*
 * The MYOB target (docs/connectors/myob.md): customer cards, items, Service-layout sales as
 * invoices and (negative) as credit notes, customer payments applied to the invoices they pay (a
 * provider's fee spent money out of the same bank) and credit settlements, one request each over the shared RemoteClient with the OAuth connection's
 * bearer token, paced by the shared rate planner on the API key's budget (8 a second, 1,000,000
 * a day), whatever company file it calls.
 */

/** What tests replace: the token source, the planner, the client's transport and timing, the wait after a rate refusal. */
export interface MyobTargetOptions {
  auth?: TokenSource | undefined;
  planner?: RatePlanner | undefined;
  rateWaitMs?: number | undefined;
  /** Pages of 1,000 a list reads before it refuses (MyobApiOptions.maxPages). */
  maxPages?: number | undefined;
  client?:
    | Pick<
        RemoteClientOptions,
        'guard' | 'sleep' | 'backoffBaseMs' | 'backoffMaxMs' | 'maxAttempts' | 'retryAfterMaxMs' | 'timeoutMs'
      >
    | undefined;
}

/** Creates the connector for one pipeline from settings already checked against its schema. */
export function createMyobTarget(deps: TargetDeps, opts: MyobTargetOptions = {}): TargetConnector {
  const settings = MyobSettings.parse(deps.settings);
  const auth =
    opts.auth ?? oauthTokenSourceFor(deps, { system: SYSTEM, provider: myobOAuth, guard: opts.client?.guard });
  const planner = opts.planner ?? createRatePlanner(deps.db, { log: deps.log });
  const scope = rateScope(settings.clientId, settings.limits);
  const cfToken =
    settings.companyFileUser !== undefined
      ? Buffer.from(`${settings.companyFileUser}:${settings.companyFilePassword ?? ''}`, 'utf8').toString('base64')
      : null;
  const api = new MyobApi(
    new RemoteClient({
      system: SYSTEM,
      baseUrl: settings.baseUrl ?? API_BASE_URL,
      auth,
      rate: { planner, scopes: [scope] },
      timeoutMs: settings.timeoutMs,
      log: deps.log,
      secrets: () => [
        ...(cfToken ? [cfToken] : []),
        ...(settings.companyFilePassword ? [settings.companyFilePassword] : []),
      ],
      ...opts.client,
    }),
    {
      companyFileId: settings.companyFileId,
      apiKey: settings.clientId,
      cfToken,
      rate: { planner, scope },
      rateWaitMs: opts.rateWaitMs,
      maxPages: opts.maxPages,
    },
  );
  let company: Promise<Company> | null = null;

  function companyOf(ctx: TargetCallContext): Promise<Company> {
    company ??= loadCompany(api, settings, ctx.signal).catch((err: unknown) => {
      company = null;
      throw err;
    });
    return company;
  }

  let feesAccount: Promise<FeesAccount | ItemError> | null = null;

  /** The fees account, read once a payment with a fee comes (a failed read is tried again next time). */
  function feesAccountOf(ctx: TargetCallContext): Promise<FeesAccount | ItemError> {
    feesAccount ??= loadFeesAccount(api, settings.accounts?.fees, ctx.signal).catch((err: unknown) => {
      feesAccount = null;
      throw err;
    });
    return feesAccount;
  }

  async function context(ctx: TargetCallContext): Promise<docs.DocumentContext> {
    return {
      api,
      company: await companyOf(ctx),
      taxRates: settings.taxRates,
      paymentMethod: settings.paymentMethod,
      feesAccount: () => feesAccountOf(ctx),
      signal: ctx.signal,
    };
  }

  return {
    type: TYPE,
    transactional: false,
    capabilities: {
      customers: true,
      items: true,
      invoices: true,
      creditNotes: true,
      payments: true,
      allocations: true,
      refunds: false,
      // A provider's fee is spent out of the payment's bank account before the payment (fees.ts).
      fees: true,
      paymentStatus: false,
      pdf: true,
      drafts: false,
      // Sales and payments are read back by UID (reads.ts), a deleted one missing, fees with them.
      reconciliation: true,
    },
    limits: {
      callsPerSecond: settings.limits?.callsPerSecond ?? PUBLISHED_LIMITS.callsPerSecond,
      callsPerMinute: settings.limits?.callsPerMinute,
      callsPerDay: settings.limits?.callsPerDay ?? PUBLISHED_LIMITS.callsPerDay,
      concurrency: settings.limits?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      batchSize: settings.limits?.batchSize ?? PUBLISHED_LIMITS.batchSize,
    },

    upsertCustomers: async (ctx, items) => {
      const co = await companyOf(ctx);
      return upsertByCode(api, ctx, CUSTOMER, items, (i, current) =>
        customerCard(i.record, current ? null : i.code, co, current),
      );
    },

    upsertProducts: async (ctx, items) => {
      const co = await companyOf(ctx);
      return upsertByCode(api, ctx, ITEM, items, (i, current) =>
        current
          ? { ...current, Name: i.record.name }
          : {
              Number: i.code,
              Name: i.record.name,
              IsActive: true,
              IsSold: true,
              IsBought: false,
              IsInventoried: false,
              IncomeAccount: { UID: co.salesAccountUid },
              SellingDetails: { TaxCode: { UID: co.customerTaxCodeUid } },
            },
      );
    },

    async customer(ctx, targetId, asSourceId) {
      const e = await api.byUid(CUSTOMER.path, targetId, ctx.signal);
      if (!e) return null;
      const record: CanonicalCustomer = { kind: 'customer', sourceId: asSourceId, name: text(e.CompanyName) };
      const code = text(e.DisplayID);
      if (code) record.code = code;
      return record;
    },

    createInvoices: async (ctx, items) => docs.createInvoices(await context(ctx), items),
    createCreditNotes: async (ctx, items) => docs.createCreditNotes(await context(ctx), items),
    createPayments: async (ctx, items) => docs.createPayments(await context(ctx), items),
    createAllocations: async (ctx, items) => docs.createAllocations(await context(ctx), items),
    findAllocation: async (ctx, item, taken) => docs.findAllocation(await context(ctx), item, taken),

    async findByReference(ctx, kind, reference, customerTargetId) {
      // Customers and items are sent again rather than looked up: upsertByCode finds them by DisplayID / Number first.
      if (kind === 'customer' || kind === 'product') return null;
      return docs.lookUp(await context(ctx), kind, reference, customerTargetId);
    },

    documents: async (ctx, targetIds, options) =>
      readDocuments(await context(ctx), targetIds, { fees: options?.fees === true, kind: options?.kind }),
    // Sales, payments and credit refunds listed for many customers a request, dated up to the day (reads.ts).
    openBalances: async (ctx, customerTargetIds, asAt) => openBalances(await context(ctx), customerTargetIds, asAt),
    // The same lists by customer and the window, less what a pipeline booked (reads.ts).
    unlinkedDocuments: async (ctx, scope, from, to) => unlinkedDocuments(await context(ctx), scope, from, to),
    feeRemedy: (difference, payment) => myobFeeRemedy(difference, payment),

    pdf: (ctx, invoiceTargetId) => api.pdf(`${docs.SALE}/${encodeURIComponent(invoiceTargetId)}`, ctx.signal),

    async checkConnection(ctx) {
      const co = await loadCompany(api, settings, ctx.signal);
      return `company file ${settings.companyFileId} (${co.currency}, ${co.taxCodes.length} tax codes)`;
    },
  };
}

/** The company file's tax codes and the accounts of the settings, by their display ids. */
async function loadCompany(api: MyobApi, s: MyobSettings, signal?: AbortSignal): Promise<Company> {
  const taxCodes = (await api.list('GeneralLedger/TaxCode', undefined, signal)).map((t) => ({
    uid: text(t.UID),
    code: text(t.Code),
    rate: text(t.Rate) || '0',
  }));
  const account = async (displayId: string, what: string) => {
    const rows = await api.list('GeneralLedger/Account', `DisplayID eq ${literal(displayId)}`, signal);
    const found = rows.find((r) => text(r.DisplayID) === displayId);
    if (!found)
      throw new ConnectorError(SYSTEM, `the company file has no account ${displayId} (target.accounts.${what})`, {
        retryable: false,
        code: 'TARGET_SETTING_MISSING',
      });
    return text(found.UID);
  };
  const wanted = s.customerTaxCode;
  const customerTax = taxCodes.find((t) => t.code === wanted);
  if (!customerTax)
    throw new ConnectorError(
      SYSTEM,
      `the company file has no tax code ${wanted} for new customer cards (target.customerTaxCode)`,
      { retryable: false, code: 'TARGET_SETTING_MISSING' },
    );
  return {
    currency: s.currency,
    taxCodes,
    salesAccountUid: await account(s.accounts!.sales!, 'sales'),
    bankAccountUid: await account(s.accounts!.bank!, 'bank'),
    customerTaxCodeUid: customerTax.uid,
  };
}

interface CodeSpec {
  what: string;
  path: string;
  /** The field our code goes in, and how long it may be. */
  code: 'DisplayID' | 'Number';
  max: number;
  name: 'CompanyName' | 'Name';
  nameMax: number;
}
const CUSTOMER: CodeSpec = {
  what: 'customer',
  path: 'Contact/Customer',
  code: 'DisplayID',
  max: MAX.displayId,
  name: 'CompanyName',
  nameMax: MAX.name,
};
const ITEM: CodeSpec = {
  what: 'item',
  path: 'Inventory/Item',
  code: 'Number',
  max: MAX.itemNumber,
  name: 'Name',
  nameMax: MAX.itemName,
};

/** How often a card whose write had an unknown outcome is tried again (found by its code first). */
const ATTEMPTS = 3;

/**
 * Creates or updates customer cards or items one by one. A new one is first looked for by our
 * code (the card's DisplayID, the item's Number): found, it is linked and updated rather than
 * created again (a lost answer, or a card the company file already had). Because of that lookup,
 * a write whose outcome is unknown is tried again here, a few times. An update reads the record
 * first: MYOB's PUT takes the whole record with its RowVersion.
 */
async function upsertByCode<T extends { targetId: string | null; code: string; record: { name: string } }>(
  api: MyobApi,
  ctx: TargetCallContext,
  spec: CodeSpec,
  items: T[],
  body: (item: T, current: MyobObject | null) => MyobObject,
): Promise<ItemResult[]> {
  // One request a record: one that fails leaves those before it done (mapAtMost says which).
  return mapAtMost(items, 1, (item) =>
    retryUnknownOutcome(() => upsertOne(api, ctx, spec, item, body), {
      attempts: ATTEMPTS,
      signal: ctx.signal,
      log: ctx.log,
      system: SYSTEM,
      what: spec.what,
      by: 'code',
    }),
  );
}

async function upsertOne<T extends { targetId: string | null; code: string; record: { name: string } }>(
  api: MyobApi,
  ctx: TargetCallContext,
  spec: CodeSpec,
  item: T,
  body: (item: T, current: MyobObject | null) => MyobObject,
): Promise<ItemResult> {
  const problem =
    (item.targetId ? null : tooLong(`The ${spec.what} code`, item.code, spec.max, spec.code)) ??
    tooLong(`The ${spec.what} name`, item.record.name, spec.nameMax, spec.name);
  if (problem) return failed(problem);
  let current: MyobObject | null = null;
  let outcome: 'created' | 'updated' | 'linked' = 'updated';
  if (item.targetId) current = await api.byUid(spec.path, item.targetId, ctx.signal);
  else {
    const rows = await api.list(spec.path, `${spec.code} eq ${literal(item.code)}`, ctx.signal);
    current = rows.find((r) => text(r[spec.code]) === item.code) ?? null;
    if (current) outcome = 'linked';
  }
  if (item.targetId && !current)
    return failed({
      code: 'TARGET_REFUSED',
      message: `${SYSTEM} no longer has ${spec.what} ${item.targetId} (${item.record.name})`,
      retryable: false,
    });
  const uid = current ? text(current.UID) : null;
  const a = await api.call(
    uid
      ? { method: 'PUT', path: `${spec.path}/${encodeURIComponent(uid)}`, json: body(item, current) }
      : { method: 'POST', path: spec.path, json: body(item, null) },
    ctx.signal,
  );
  if (!a.ok)
    return failed({
      code: 'TARGET_REFUSED',
      message: `${SYSTEM} refused ${spec.what} "${item.record.name}" (${describe(a)})`,
      retryable: false,
    });
  const id = uid ?? a.uid;
  if (!id)
    throw new ConnectorError(SYSTEM, `POST ${spec.path} answered without the new record's Location`, {
      retryable: false,
    });
  return ok(id, { number: text(current?.[spec.code]) || item.code, outcome: uid ? outcome : 'created' });
}
