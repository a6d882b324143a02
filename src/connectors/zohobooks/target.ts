import type { CanonicalCustomer } from '../../sync/canonical.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { RemoteClient } from '../../sync/remote/client.ts';
import { mapAtMost, retryUnknownOutcome } from '../../sync/remote/at-most.ts';
import type { RatePlanner, RemoteClientOptions, TokenSource } from '../../sync/remote/contracts.ts';
import { oauthTokenSourceFor } from '../../sync/remote/oauth.ts';
import { createRatePlanner } from '../../sync/remote/rate-planner.ts';
import type { ItemResult, TargetCallContext, TargetConnector, TargetDeps } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type ZohoObject, ZohoApi, describe, entity, text } from './api.ts';
import * as docs from './documents.ts';
import { openBalances } from './balances.ts';
import { zohoFeeRemedy } from './fees.ts';
import { createRefunds, lookUpRefund } from './refunds.ts';
import { unlinkedDocuments } from './unlinked.ts';
import { type Organisation, contactFields } from './map.ts';
import {
  GRANT_GONE_ERRORS,
  PUBLISHED_LIMITS,
  SYSTEM,
  TYPE,
  ZohoBooksTargetSettings,
  apiBaseUrl,
  rateScope,
  tokenUrlOf,
} from './settings.ts';

/*
 * The Zoho Books target (docs/connectors/zohobooks.md): contacts, items, invoices (marked sent),
 * credit notes, customer payments applied to invoices (a provider's fee as their bank charges,
 * fees.ts), credits and payments set against invoices, and refunds of a payment's unused amount
 * (refunds.ts), one request each over the shared RemoteClient with the OAuth connection's token
 * (`Authorization: Zoho-oauthtoken …`), paced by the shared rate planner on the organisation's
 * budget (100 a minute, a daily limit by plan).
 */

/** What tests replace: the token source, the planner, the client's transport and timing. */
export interface ZohoBooksTargetOptions {
  auth?: TokenSource | undefined;
  planner?: RatePlanner | undefined;
  client?:
    | Pick<
        RemoteClientOptions,
        'guard' | 'sleep' | 'backoffBaseMs' | 'backoffMaxMs' | 'maxAttempts' | 'retryAfterMaxMs' | 'timeoutMs'
      >
    | undefined;
}

/** Creates the connector for one pipeline from settings already checked against its schema. */
export function createZohoBooksTarget(deps: TargetDeps, opts: ZohoBooksTargetOptions = {}): TargetConnector {
  const settings = ZohoBooksTargetSettings.parse(deps.settings);
  const auth =
    opts.auth ??
    oauthTokenSourceFor(deps, {
      system: SYSTEM,
      provider: {
        tokenUrl: tokenUrlOf(settings.dataCenter),
        clientAuthentication: 'body',
        grantGoneErrors: GRANT_GONE_ERRORS,
      },
      guard: opts.client?.guard,
    });
  const planner = opts.planner ?? createRatePlanner(deps.db, { log: deps.log });
  const api = new ZohoApi(
    new RemoteClient({
      system: SYSTEM,
      baseUrl: settings.baseUrl ?? apiBaseUrl(settings.dataCenter),
      auth,
      authScheme: 'Zoho-oauthtoken',
      rate: { planner, scopes: [rateScope(settings.organizationId, settings.limits)] },
      timeoutMs: settings.timeoutMs,
      log: deps.log,
      ...opts.client,
    }),
    settings.organizationId,
  );
  let organisation: Promise<Organisation> | null = null;

  function orgOf(ctx: TargetCallContext): Promise<Organisation> {
    organisation ??= loadOrganisation(api, ctx.signal).catch((err: unknown) => {
      organisation = null;
      throw err;
    });
    return organisation;
  }

  async function context(ctx: TargetCallContext): Promise<docs.DocumentContext> {
    return {
      api,
      org: await orgOf(ctx),
      taxRates: settings.taxRates,
      paymentMode: settings.paymentMode,
      depositAccountId: settings.accounts?.bank,
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
      refunds: true,
      refundsNeedPayment: true,
      // A provider's fee is the payment's bank charges (fees.ts).
      fees: true,
      paymentStatus: false,
      pdf: true,
      drafts: false,
      // documents() reads what Zoho holds now: a voided invoice as voided, a deleted one not at all (documents.ts).
      reconciliation: true,
    },
    limits: {
      callsPerSecond: settings.limits?.callsPerSecond,
      callsPerMinute: settings.limits?.callsPerMinute ?? PUBLISHED_LIMITS.callsPerMinute,
      callsPerDay: settings.limits?.callsPerDay ?? PUBLISHED_LIMITS.callsPerDay,
      concurrency: settings.limits?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      batchSize: settings.limits?.batchSize ?? PUBLISHED_LIMITS.batchSize,
    },

    upsertCustomers: (ctx, items) =>
      upsertNamed(api, ctx, CONTACT, items, (i) => contactFields(i.record, i.targetId ? null : i.code)),

    upsertProducts: (ctx, items) =>
      upsertNamed(api, ctx, ITEM, items, (i) =>
        i.targetId ? { name: i.record.name } : { name: i.record.name, sku: i.code, rate: 0, product_type: 'service' },
      ),

    async customer(ctx, targetId, asSourceId) {
      const e = await api.byId(`/contacts/${encodeURIComponent(targetId)}`, 'contact', ctx.signal);
      if (!e) return null;
      const record: CanonicalCustomer = { kind: 'customer', sourceId: asSourceId, name: text(e.contact_name) };
      const code = text(e.contact_number);
      if (code) record.code = code;
      const email = text(e.email);
      if (email) record.email = email;
      return record;
    },

    createInvoices: async (ctx, items) => docs.createInvoices(await context(ctx), items),
    createCreditNotes: async (ctx, items) => docs.createCreditNotes(await context(ctx), items),
    createPayments: async (ctx, items) => docs.createPayments(await context(ctx), items),
    createRefunds: async (ctx, items) => createRefunds(await context(ctx), items),
    createAllocations: async (ctx, items) => docs.createAllocations(await context(ctx), items),
    applyEarlyPayments: async (ctx, items) => docs.applyEarlyPayments(await context(ctx), items),
    findAllocation: async (ctx, item, taken) => docs.findAllocation(await context(ctx), item, taken),

    async findByReference(ctx, kind, reference, customerTargetId) {
      // Contacts and items are sent again rather than looked up: upsertNamed finds them by name first.
      if (kind === 'customer' || kind === 'product') return null;
      if (kind === 'refund') return lookUpRefund(await context(ctx), reference, customerTargetId);
      return docs.lookUp(await context(ctx), kind, reference, customerTargetId);
    },

    documents: async (ctx, targetIds, options) =>
      docs.readDocuments(await context(ctx), targetIds, {
        ...options,
        concurrency: settings.limits?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      }),
    feeRemedy: (difference, payment) => zohoFeeRemedy(difference, payment),
    // Listed by customer and date and summed (balances.ts): 4 requests a customer, and more for pages and refunds.
    openBalances: async (ctx, customerTargetIds, asAt) =>
      openBalances(await context(ctx), ctx, customerTargetIds, asAt),
    // Three of the same lists, whole or customer by customer, with the window's dates (unlinked.ts), and a payment's refunds.
    unlinkedDocuments: async (ctx, scope, from, to) => unlinkedDocuments(await context(ctx), ctx, scope, from, to),

    pdf: (ctx, invoiceTargetId) => api.pdf(invoiceTargetId, ctx.signal),

    async checkConnection(ctx) {
      const org = await loadOrganisation(api, ctx.signal, false);
      return `organisation ${org.name} (${settings.organizationId})`;
    },
  };
}

/** The organisation's name and currency, and its taxes (GET /organizations/{id}, GET /settings/taxes). */
async function loadOrganisation(api: ZohoApi, signal?: AbortSignal, taxes = true): Promise<Organisation> {
  const path = `/organizations/${encodeURIComponent(api.organizationId)}`;
  const org = entity(await api.read(path, {}, signal), 'organization', `GET ${path}`);
  const currency = text(org.currency_code);
  if (!/^[A-Z]{3}$/.test(currency))
    throw new ConnectorError(SYSTEM, 'the organisation answered without its currency', { retryable: false });
  const rows = taxes ? await docs.listAll(api, '/settings/taxes', 'taxes', {}, signal) : [];
  return {
    name: text(org.name),
    currency,
    taxes: rows.map((t) => ({ id: text(t.tax_id), name: text(t.tax_name), percent: text(t.tax_percentage) || '0' })),
  };
}

interface NamedSpec {
  what: string;
  path: string;
  list: string;
  one: string;
  id: string;
  name: string;
  code: string;
}

/** Contacts: `contact_name` (unique in an organisation) finds them; our code is their `contact_number`. */
const CONTACT: NamedSpec = {
  what: 'contact',
  path: '/contacts',
  list: 'contacts',
  one: 'contact',
  id: 'contact_id',
  name: 'contact_name',
  code: 'contact_number',
};
/** Items: `name` (unique in an organisation) finds them; our code is their `sku`. */
const ITEM: NamedSpec = {
  what: 'item',
  path: '/items',
  list: 'items',
  one: 'item',
  id: 'item_id',
  name: 'name',
  code: 'sku',
};

/** How often a contact or item whose write had an unknown outcome is tried again (found by name first). */
const NAMED_ATTEMPTS = 3;

/**
 * Creates or updates contacts or items one by one. A new one is first looked for by its name (Zoho
 * keeps names unique): one carrying our code, or none, is linked and updated rather than created
 * again (a lost answer, or a customer the organisation already had); one carrying another code is
 * refused, naming it. Because of that lookup, a write whose outcome is unknown (a lost answer, a
 * 5xx) is tried again here, a few times, rather than leaving the documents of that customer
 * waiting for it.
 */
async function upsertNamed<T extends { targetId: string | null; code: string; record: { name: string } }>(
  api: ZohoApi,
  ctx: TargetCallContext,
  spec: NamedSpec,
  items: T[],
  fields: (item: T) => ZohoObject,
): Promise<ItemResult[]> {
  // One request a record: one that fails leaves those before it done (mapAtMost says which).
  return mapAtMost(items, 1, (item) =>
    retryUnknownOutcome(() => upsertOne(api, ctx, spec, item, fields), {
      attempts: NAMED_ATTEMPTS,
      signal: ctx.signal,
      log: ctx.log,
      system: SYSTEM,
      what: spec.what,
      by: 'name',
    }),
  );
}

async function upsertOne<T extends { targetId: string | null; code: string; record: { name: string } }>(
  api: ZohoApi,
  ctx: TargetCallContext,
  spec: NamedSpec,
  item: T,
  fields: (item: T) => ZohoObject,
): Promise<ItemResult> {
  let targetId = item.targetId;
  let outcome: 'created' | 'updated' | 'linked' = 'updated';
  if (!targetId) {
    const rows = await docs.listAll(api, spec.path, spec.list, { [spec.name]: item.record.name }, ctx.signal);
    const same = rows.find((r) => text(r[spec.name]).trim().toLowerCase() === item.record.name.trim().toLowerCase());
    if (same) {
      const theirs = text(same[spec.code]);
      if (theirs && theirs !== item.code)
        return failed({
          code: 'TARGET_REFUSED',
          message: `${SYSTEM} already has a ${spec.what} named "${item.record.name}" with ${spec.code} ${theirs} (ours: ${item.code}); rename one of them`,
          retryable: false,
          field: 'name',
        });
      targetId = text(same[spec.id]);
      outcome = 'linked';
    }
  }
  const body = fields(item);
  if (outcome === 'linked') body[spec.code] = item.code;
  const a = await api.call(
    targetId
      ? { method: 'PUT', path: `${spec.path}/${encodeURIComponent(targetId)}`, json: body }
      : { method: 'POST', path: spec.path, json: body },
    ctx.signal,
  );
  if (!a.ok)
    return failed({
      code: 'TARGET_REFUSED',
      message: `${SYSTEM} refused ${spec.what} "${item.record.name}" (${describe(a)})`,
      retryable: false,
    });
  const e = entity(a.body, spec.one, `${targetId ? 'PUT' : 'POST'} ${spec.path}`);
  return ok(text(e[spec.id]), { number: text(e[spec.code]) || item.code, outcome: targetId ? outcome : 'created' });
}
