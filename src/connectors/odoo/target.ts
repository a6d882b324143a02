import type { CanonicalCustomer } from '../../sync/canonical.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { RemoteClient } from '../../sync/remote/client.ts';
import { mapAtMost, retryUnknownOutcome } from '../../sync/remote/at-most.ts';
import type { RatePlanner, RemoteClientOptions } from '../../sync/remote/contracts.ts';
import { createRatePlanner } from '../../sync/remote/rate-planner.ts';
import type { ItemResult, TargetCallContext, TargetConnector, TargetDeps } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { openBalances } from './balances.ts';
import { unlinkedDocuments } from './unlinked.ts';
import * as docs from './documents.ts';
import { odooFeeRemedy, readFees } from './fees.ts';
import { type Company, partnerValues } from './map.ts';
import * as pay from './payments.ts';
import { createRefunds } from './refunds.ts';
import { type OdooObject, OdooRpc, describe, int, m2o, text } from './rpc.ts';
import { DEFAULT_LIMITS, OdooSettings, SYSTEM, TYPE, rateScope } from './settings.ts';

/*
 * The Odoo target (docs/connectors/odoo.md): customers (`res.partner` keyed by `ref`), products
 * (`product.product` keyed by `default_code`), invoices and credit notes (`account.move`,
 * posted), customer payments (the Register Payment wizard, or `account.payment`), refunds
 * reconciled with the payments they return, and credits set against invoices, over JSON-RPC with
 * the user's API key, paced by the shared rate planner on the database's budget.
 */

/** What tests replace: the planner, the client's transport and timing. */
export interface OdooTargetOptions {
  planner?: RatePlanner | undefined;
  client?:
    | Pick<
        RemoteClientOptions,
        'guard' | 'sleep' | 'backoffBaseMs' | 'backoffMaxMs' | 'maxAttempts' | 'retryAfterMaxMs' | 'timeoutMs'
      >
    | undefined;
}

/** Creates the connector for one pipeline from settings already checked against its schema. */
export function createOdooTarget(deps: TargetDeps, opts: OdooTargetOptions = {}): TargetConnector {
  const settings = OdooSettings.parse(deps.settings);
  const planner = opts.planner ?? createRatePlanner(deps.db, { log: deps.log });
  const rpc = new OdooRpc(
    new RemoteClient({
      system: SYSTEM,
      baseUrl: settings.url,
      rate: { planner, scopes: [rateScope(settings)] },
      secrets: () => [settings.apiKey],
      timeoutMs: settings.timeoutMs,
      log: deps.log,
      ...opts.client,
    }),
    settings.database,
    settings.login,
    settings.apiKey,
    settings.version,
    settings.companyId ?? null,
  );
  let company: Promise<Company> | null = null;
  const countries = new Map<string, number | false>();

  function companyOf(ctx: TargetCallContext): Promise<Company> {
    company ??= loadCompany(rpc, settings, ctx.signal).catch((err: unknown) => {
      company = null;
      throw err;
    });
    return company;
  }

  async function context(ctx: TargetCallContext): Promise<docs.DocumentContext> {
    return {
      rpc,
      company: await companyOf(ctx),
      version: settings.version,
      taxRates: settings.taxRates,
      journals: settings.journals,
      feesAccountId: settings.accounts?.fees,
      signal: ctx.signal,
    };
  }

  async function countryId(code: string | null | undefined, signal?: AbortSignal): Promise<number | false | undefined> {
    if (code === undefined) return undefined;
    if (code === null) return false;
    const key = code.toUpperCase();
    if (!countries.has(key)) {
      const [row] = await rpc.searchRead('res.country', [['code', '=', key]], ['id'], signal, 1);
      countries.set(key, row ? int(row.id)! : false);
    }
    return countries.get(key);
  }

  const companyDomain = () => (settings.companyId ? { company_id: settings.companyId } : {});

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
      // A refund is reconciled with what its payment has open when it is booked: it waits for the
      // payment, and for a payment booked before its invoice to be applied to it, so that Odoo's
      // books are the same whatever order the documents come in (refunds.ts).
      refundsNeedPayment: true,
      refundsNeedAppliedPayment: true,
      // A provider's fee is written off in its payment's entry, to the bank fees account (fees.ts).
      fees: true,
      paymentStatus: false,
      pdf: false,
      drafts: false,
      // documents() reads what Odoo holds now, a cancelled move or payment as voided (documents.ts).
      reconciliation: true,
    },
    limits: {
      callsPerSecond: settings.limits?.callsPerSecond,
      callsPerMinute: settings.limits?.callsPerMinute ?? DEFAULT_LIMITS.callsPerMinute,
      callsPerDay: settings.limits?.callsPerDay,
      concurrency: settings.limits?.concurrent ?? DEFAULT_LIMITS.concurrent,
      batchSize: settings.limits?.batchSize ?? DEFAULT_LIMITS.batchSize,
    },

    upsertCustomers: async (ctx, items) =>
      upsertKeyed(rpc, ctx, PARTNER, items, await companyOf(ctx), async (i) => {
        const country = await countryId(i.record.country, ctx.signal);
        if (country === false && i.record.country)
          return failed({
            code: 'TARGET_REFUSED',
            message: `${SYSTEM} has no country with the code ${i.record.country}`,
            retryable: false,
            field: 'country',
          });
        const values = partnerValues(i.record, i.targetId ? null : i.code, country);
        // A new partner is a customer (customer_rank ≥ 1), as Odoo makes one that is invoiced.
        if (!i.targetId) Object.assign(values, { customer_rank: 1 }, companyDomain());
        return values;
      }),

    upsertProducts: async (ctx, items) =>
      upsertKeyed(rpc, ctx, PRODUCT, items, await companyOf(ctx), (i) =>
        Promise.resolve(
          i.targetId
            ? { name: i.record.name }
            : { name: i.record.name, default_code: i.code, type: 'service', sale_ok: true, ...companyDomain() },
        ),
      ),

    async customer(ctx, targetId, asSourceId) {
      const [e] = await rpc.searchRead(
        'res.partner',
        [['id', '=', Number(targetId)]],
        ['name', 'ref', 'email'],
        ctx.signal,
        1,
      );
      if (!e) return null;
      const record: CanonicalCustomer = { kind: 'customer', sourceId: asSourceId, name: text(e.name) };
      if (text(e.ref)) record.code = text(e.ref);
      if (text(e.email)) record.email = text(e.email);
      return record;
    },

    createInvoices: async (ctx, items) => docs.createInvoices(await context(ctx), items),
    createCreditNotes: async (ctx, items) => docs.createCreditNotes(await context(ctx), items),
    createPayments: async (ctx, items) => pay.createPayments(await context(ctx), items),
    createRefunds: async (ctx, items) => createRefunds(await context(ctx), items),
    createAllocations: async (ctx, items) => pay.createAllocations(await context(ctx), items),
    applyEarlyPayments: async (ctx, items) => pay.applyEarlyPayments(await context(ctx), items),
    findAllocation: async (ctx, item, taken) => pay.findAllocation(await context(ctx), item, taken),

    async findByReference(ctx, kind, reference, customerTargetId) {
      // Partners and products are looked up by their key before every write (upsertKeyed).
      if (kind === 'customer' || kind === 'product') return null;
      return docs.lookUp(await context(ctx), kind, reference, customerTargetId);
    },

    async documents(ctx, targetIds, options) {
      const c = await context(ctx);
      const out = await docs.readDocuments(c, targetIds);
      // Reconciliation: each payment's fee, its entry's line on the fees account (fees.ts).
      if (options?.fees)
        await readFees(
          c,
          [...out.values()].filter((d) => d.kind === 'payment'),
        );
      return out;
    },
    // The customers' posted receivable items, summed by Odoo's read_group (balances.ts).
    openBalances: async (ctx, customerTargetIds, asAt) => openBalances(await context(ctx), customerTargetIds, asAt),
    // The customers' (and references') posted moves and payments dated in the window (unlinked.ts).
    unlinkedDocuments: async (ctx, scope, from, to) => unlinkedDocuments(await context(ctx), scope, from, to),
    feeRemedy: (difference, payment) => odooFeeRemedy(difference, payment),

    async checkConnection(ctx) {
      const c = await loadCompany(rpc, settings, ctx.signal);
      return `database ${settings.database}, company ${c.name} (${c.currency}), Odoo ${settings.version}`;
    },
  };
}

/**
 * The server's version (it must be the one the settings name), the user, and the company's
 * currency and sales taxes.
 */
async function loadCompany(rpc: OdooRpc, settings: OdooSettings, signal?: AbortSignal): Promise<Company> {
  const v = await rpc.serverVersion(signal);
  if (String(v.major) !== settings.version)
    throw new ConnectorError(
      SYSTEM,
      `the server runs Odoo ${v.text}, but the pipeline's target says version ${settings.version}; set version: ${v.major}${v.major > 18 ? ' (this target is written for 16, 17 and 18)' : ''}`,
      { retryable: false, code: 'TARGET_SETTING_MISSING' },
    );
  const uid = await rpc.uid(signal);
  let companyId = settings.companyId ?? null;
  if (companyId === null) {
    const [user] = await rpc.searchRead('res.users', [['id', '=', uid]], ['company_id'], signal, 1);
    companyId = m2o(user?.company_id);
  }
  const [company] =
    companyId === null
      ? []
      : await rpc.searchRead('res.company', [['id', '=', companyId]], ['name', 'currency_id'], signal, 1);
  const currency = Array.isArray(company?.currency_id) ? text(company.currency_id[1]) : '';
  if (!company || !/^[A-Z]{3}$/.test(currency))
    throw new ConnectorError(SYSTEM, `company ${companyId ?? '?'} is not readable, or has no currency`, {
      retryable: false,
    });
  const taxes = await rpc.searchRead(
    'account.tax',
    [
      ['type_tax_use', '=', 'sale'],
      ['amount_type', '=', 'percent'],
      ['company_id', '=', companyId],
    ],
    ['name', 'amount'],
    signal,
    200,
  );
  return {
    id: companyId!,
    name: text(company.name),
    currency,
    taxes: taxes.map((t) => ({ id: int(t.id)!, name: text(t.name), percent: text(t.amount) || '0' })),
  };
}

interface KeyedSpec {
  what: string;
  model: string;
  key: string;
}

/** Partners by `ref` (our customer code); products by `default_code` (our product code). */
const PARTNER: KeyedSpec = { what: 'customer', model: 'res.partner', key: 'ref' };
const PRODUCT: KeyedSpec = { what: 'product', model: 'product.product', key: 'default_code' };

/** How often a partner or product whose write had an unknown outcome is tried again (looked up by its key first). */
const KEYED_ATTEMPTS = 3;

/**
 * Creates or updates partners or products one by one. A new one is first looked for by its key
 * (our code): found, it is linked and updated rather than created again (a lost answer, or one the
 * company already had). Because of that lookup, a write whose outcome is unknown is tried again
 * here, a few times, rather than leaving the documents that need it waiting.
 */
async function upsertKeyed<T extends { targetId: string | null; code: string; record: { name: string } }>(
  rpc: OdooRpc,
  ctx: TargetCallContext,
  spec: KeyedSpec,
  items: T[],
  // The session's company, loaded first: a server of another version is refused before anything is written.
  _company: Company,
  values: (item: T) => Promise<OdooObject | ItemResult>,
): Promise<ItemResult[]> {
  // One request a record: one that fails leaves those before it done (mapAtMost says which).
  return mapAtMost(items, 1, (item) =>
    retryUnknownOutcome(() => upsertOne(rpc, ctx, spec, item, values), {
      attempts: KEYED_ATTEMPTS,
      signal: ctx.signal,
      log: ctx.log,
      system: SYSTEM,
      what: spec.what,
      by: 'key',
    }),
  );
}

async function upsertOne<T extends { targetId: string | null; code: string; record: { name: string } }>(
  rpc: OdooRpc,
  ctx: TargetCallContext,
  spec: KeyedSpec,
  item: T,
  values: (item: T) => Promise<OdooObject | ItemResult>,
): Promise<ItemResult> {
  let id = item.targetId ? Number(item.targetId) : null;
  let outcome: 'created' | 'updated' | 'linked' = 'updated';
  if (id === null) {
    const [same] = await rpc.searchRead(spec.model, [[spec.key, '=', item.code]], ['id'], ctx.signal, 1);
    if (same) {
      id = int(same.id);
      outcome = 'linked';
    }
  }
  const v = await values(item);
  if ('ok' in v && typeof v.ok === 'boolean') return v as ItemResult;
  const body = v as OdooObject;
  if (id !== null) {
    delete body.customer_rank;
    delete body.company_id;
    body[spec.key] = item.code;
  }
  const a =
    id !== null
      ? await rpc.execute(spec.model, 'write', [[id], body], {}, true, ctx.signal)
      : await rpc.execute(spec.model, 'create', [body], {}, true, ctx.signal);
  if (!a.ok)
    return failed({
      code: 'TARGET_REFUSED',
      message: `${SYSTEM} refused ${spec.what} "${item.record.name}" (${describe(a.fault)})`,
      retryable: false,
    });
  const targetId = id ?? docs.idOf(a, `${spec.model}.create`);
  return ok(String(targetId), { number: item.code, outcome: id !== null ? outcome : 'created' });
}
