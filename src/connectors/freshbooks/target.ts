import type { CanonicalCustomer } from '../../sync/canonical.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { RemoteClient } from '../../sync/remote/client.ts';
import type { RatePlanner, RemoteClientOptions, TokenSource } from '../../sync/remote/contracts.ts';
import { oauthTokenSourceFor } from '../../sync/remote/oauth.ts';
import { createRatePlanner } from '../../sync/remote/rate-planner.ts';
import type { ItemError, TargetCallContext, TargetConnector, TargetDeps } from '../../sync/target.ts';
import { FreshBooksApi, text } from './api.ts';
import { upsertClients, upsertItems } from './contacts.ts';
import { openBalances } from './balances.ts';
import * as docs from './documents.ts';
import { freshBooksFeeRemedy, readDocuments } from './reads.ts';
import { unlinkedDocuments } from './unlinked.ts';
import { type FeesCategory, loadFeesCategory } from './fees.ts';
import { type Account, CODE_PREFIX, tagOf } from './map.ts';
import {
  API_BASE_URL,
  DEFAULT_LIMITS,
  FreshBooksTargetSettings,
  ME_PATH,
  SYSTEM,
  FRESHBOOKS_OAUTH,
  TYPE,
  rateScope,
  tenantsOfMe,
} from './settings.ts';

/*
 * The FreshBooks target (docs/connectors/freshbooks.md): clients, items, invoices (marked sent),
 * credit notes, payments on the invoices they name (a provider's fee as an expense) and credit set
 * against invoices, one request
 * each over the shared RemoteClient with the OAuth connection's Bearer token (12-hour access
 * tokens, single-use refresh tokens rotated by the shared token source), paced by the shared rate
 * planner on the account's budget.
 */

/** What tests replace: the token source, the planner, the client's transport and timing. */
export interface FreshBooksTargetOptions {
  auth?: (TokenSource & { tenantId?(): Promise<string | null> }) | undefined;
  planner?: RatePlanner | undefined;
  client?:
    | Pick<
        RemoteClientOptions,
        'guard' | 'sleep' | 'backoffBaseMs' | 'backoffMaxMs' | 'maxAttempts' | 'retryAfterMaxMs' | 'timeoutMs'
      >
    | undefined;
}

/** Creates the connector for one pipeline from settings already checked against its schema. */
export function createFreshBooksTarget(deps: TargetDeps, opts: FreshBooksTargetOptions = {}): TargetConnector {
  const settings = FreshBooksTargetSettings.parse(deps.settings);
  const auth =
    opts.auth ?? oauthTokenSourceFor(deps, { system: SYSTEM, provider: FRESHBOOKS_OAUTH, guard: opts.client?.guard });
  const planner = opts.planner ?? createRatePlanner(deps.db, { log: deps.log });
  let api: Promise<FreshBooksApi> | null = null;
  let account: Promise<Account> | null = null;

  /** The account to book into: the settings' tenantId, else the one the OAuth connection was made for. */
  async function makeApi(): Promise<FreshBooksApi> {
    const accountId = settings.tenantId ?? (await auth.tenantId?.()) ?? null;
    if (!accountId)
      throw new ConnectorError(
        SYSTEM,
        'the target names no FreshBooks account: set tenantId to the account id, or connect the pipeline through the OAuth flow',
        { retryable: false, code: 'TARGET_SETTING_MISSING' },
      );
    const client = new RemoteClient({
      system: SYSTEM,
      baseUrl: settings.baseUrl ?? API_BASE_URL,
      auth,
      rate: { planner, scopes: [rateScope(accountId, settings.limits)] },
      timeoutMs: settings.timeoutMs,
      log: deps.log,
      ...opts.client,
    });
    return new FreshBooksApi(client, accountId);
  }

  function apiOf(): Promise<FreshBooksApi> {
    api ??= makeApi().catch((err: unknown) => {
      api = null;
      throw err;
    });
    return api;
  }

  function accountOf(ctx: TargetCallContext): Promise<Account> {
    account ??= apiOf()
      .then((a) => loadAccount(a, ctx.signal))
      .catch((err: unknown) => {
        account = null;
        throw err;
      });
    return account;
  }

  let feesCategory: Promise<FeesCategory | ItemError> | null = null;

  /** The fees category, read once a payment with a fee comes (a failed read is tried again next time). */
  function feesCategoryOf(ctx: TargetCallContext): Promise<FeesCategory | ItemError> {
    feesCategory ??= apiOf()
      .then((a) => loadFeesCategory(a, settings.accounts?.fees, ctx.signal))
      .catch((err: unknown) => {
        feesCategory = null;
        throw err;
      });
    return feesCategory;
  }

  async function context(ctx: TargetCallContext): Promise<docs.DocumentContext> {
    return {
      api: await apiOf(),
      account: await accountOf(ctx),
      taxRates: settings.taxRates,
      paymentType: settings.paymentType,
      feesCategory: () => feesCategoryOf(ctx),
      feesStaffId: settings.feesStaffId,
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
      // A provider's fee is an expense in the bank-fees category, booked before its payment (fees.ts).
      fees: true,
      paymentStatus: false,
      pdf: true,
      drafts: false,
      // Invoices, credit notes and payments are read back by id (reads.ts), a deleted one missing, fees with them.
      reconciliation: true,
    },
    limits: {
      callsPerSecond: settings.limits?.callsPerSecond,
      callsPerMinute: settings.limits?.callsPerMinute ?? DEFAULT_LIMITS.callsPerMinute,
      callsPerDay: settings.limits?.callsPerDay,
      concurrency: settings.limits?.concurrent ?? DEFAULT_LIMITS.concurrent,
      batchSize: settings.limits?.batchSize ?? DEFAULT_LIMITS.batchSize,
    },

    upsertCustomers: async (ctx, items) => upsertClients(await apiOf(), ctx, items),
    upsertProducts: async (ctx, items) => upsertItems(await apiOf(), ctx, items),

    async customer(ctx, targetId, asSourceId) {
      const a = await apiOf();
      const e = await a.byId(`/users/clients/${encodeURIComponent(targetId)}`, 'client', ctx.signal);
      if (!e) return null;
      const record: CanonicalCustomer = { kind: 'customer', sourceId: asSourceId, name: text(e.organization) };
      const code = tagOf(e.note, CODE_PREFIX);
      if (code) record.code = code;
      const email = text(e.email);
      if (email) record.email = email;
      return record;
    },

    createInvoices: async (ctx, items) => docs.createInvoices(await context(ctx), items),
    createCreditNotes: async (ctx, items) => docs.createCreditNotes(await context(ctx), items),
    createPayments: async (ctx, items) => docs.createPayments(await context(ctx), items),
    createAllocations: async (ctx, items) => docs.createAllocations(await context(ctx), items),
    findAllocation: async (ctx, item, taken) => docs.findAllocation(await context(ctx), item, taken),

    async findByReference(ctx, kind, reference, customerTargetId) {
      // Clients and items are sent again rather than looked up: their upsert finds them by name first.
      if (kind === 'customer' || kind === 'product') return null;
      return docs.lookUp(await context(ctx), kind, reference, customerTargetId);
    },

    documents: async (ctx, targetIds, options) => readDocuments(await context(ctx), targetIds, options),
    feeRemedy: (difference, payment) => freshBooksFeeRemedy(difference, payment),
    // Listed by client and date and summed (balances.ts): ⌈N/100⌉ + 2N requests for N clients, and more for pages.
    openBalances: async (ctx, customerTargetIds, asAt) =>
      openBalances(await context(ctx), ctx, customerTargetIds, asAt),
    // The same lists, by client and the window's dates (unlinked.ts): ⌈N/100⌉ + 2N requests, more for pages.
    unlinkedDocuments: async (ctx, scope, from, to) => unlinkedDocuments(await context(ctx), ctx, scope, from, to),

    pdf: async (ctx, invoiceTargetId) => (await apiOf()).pdf(invoiceTargetId, ctx.signal),

    async checkConnection(ctx) {
      const a = await apiOf();
      const name = await businessName(a, ctx.signal);
      return `business ${name} (account ${a.accountId})`;
    },
  };
}

/** The name of the account's business, from the identity endpoint (GET /auth/api/v1/users/me). */
async function businessName(api: FreshBooksApi, signal?: AbortSignal): Promise<string> {
  const res = await api.client.request({ method: 'GET', path: ME_PATH, kind: 'read', retrySafe: true }, signal);
  if (res.status !== 200)
    throw new ConnectorError(SYSTEM, `GET ${ME_PATH} answered ${res.status}`, {
      status: res.status,
      retryable: false,
      code: res.status === 401 ? 'TARGET_AUTH_REVOKED' : null,
    });
  let body: unknown = null;
  try {
    body = JSON.parse(res.text);
  } catch {
    // Read as no business below.
  }
  const tenant = tenantsOfMe(body).find((t) => t.tenantId === api.accountId);
  if (!tenant)
    throw new ConnectorError(
      SYSTEM,
      `the connected FreshBooks user has no business of account ${api.accountId}: check tenantId`,
      { retryable: false, code: 'TARGET_SETTING_MISSING' },
    );
  return tenant.tenantName ?? api.accountId;
}

/** The account's taxes (GET /taxes/taxes), by name and percentage. */
async function loadAccount(api: FreshBooksApi, signal?: AbortSignal): Promise<Account> {
  const rows = await api.listAll('/taxes/taxes', 'taxes', {}, signal);
  return {
    name: api.accountId,
    taxes: rows.map((t) => ({ name: text(t.name), percent: text(t.amount) || '0' })),
  };
}
