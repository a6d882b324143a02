import type { CanonicalCustomer } from '../../sync/canonical.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { mapAtMost, retryUnknownOutcome } from '../../sync/remote/at-most.ts';
import { RemoteClient } from '../../sync/remote/client.ts';
import type { RatePlanner, RemoteClientOptions } from '../../sync/remote/contracts.ts';
import { createRatePlanner } from '../../sync/remote/rate-planner.ts';
import type { ItemResult, TargetCallContext, TargetConnector, TargetDeps } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { IntacctApi, writeControlId } from './api.ts';
import { openBalances } from './balances.ts';
import * as docs from './documents.ts';
import { intacctFeeRemedy } from './fees.ts';
import { customerFields, itemFields } from './map.ts';
import { readDocuments, unlinkedDocuments } from './reads.ts';
import { IntacctSettings, PUBLISHED_LIMITS, SYSTEM, TYPE, endpointOf, rateScope } from './settings.ts';
import { type Xml, describe, quote, text } from './xml.ts';

/*
 * The Sage Intacct target (docs/connectors/intacct.md): customers by their CUSTOMERID (our
 * customer code), invoices, credit adjustments, received payments applied to invoices and credit
 * adjustments applied to invoices, over the XML gateway with a company user's API session, paced
 * by the shared rate planner on one budget per company (2 requests in flight on tier 1). Reconciliation
 * reads documents back by RECORDNO, each customer's balance, and the documents no pipeline booked.
 */

/** What tests replace: the planner and the client's transport and timing. */
export interface IntacctTargetOptions {
  planner?: RatePlanner | undefined;
  client?:
    | Pick<
        RemoteClientOptions,
        'guard' | 'sleep' | 'backoffBaseMs' | 'backoffMaxMs' | 'maxAttempts' | 'retryAfterMaxMs' | 'timeoutMs'
      >
    | undefined;
}

/** How often a customer or item whose write had an unknown outcome is tried again (read first each time). */
const NAMED_ATTEMPTS = 3;

/**
 * A customer or item write tried again after an unknown outcome (a lost answer, a 429 storm, a
 * 5xx), a few times, rather than leaving every document of that customer waiting for it: each
 * attempt reads the code first and the create's control id is the code's, so nothing is made twice.
 */
function again(ctx: TargetCallContext, what: string, write: () => Promise<ItemResult>): Promise<ItemResult> {
  return retryUnknownOutcome(write, {
    attempts: NAMED_ATTEMPTS,
    signal: ctx.signal,
    log: ctx.log,
    system: SYSTEM,
    what,
    by: 'code',
  });
}

/** Creates the connector for one pipeline from settings already checked against {@link IntacctSettings}. */
export function createIntacctTarget(deps: TargetDeps, opts: IntacctTargetOptions = {}): TargetConnector {
  const settings = IntacctSettings.parse(deps.settings);
  const planner = opts.planner ?? createRatePlanner(deps.db, { log: deps.log });
  let api: IntacctApi | null = null;
  const client = new RemoteClient({
    system: SYSTEM,
    baseUrl: endpointOf(settings),
    rate: { planner, scopes: [rateScope(settings)] },
    secrets: () => api?.secrets() ?? [],
    timeoutMs: settings.timeoutMs,
    log: deps.log,
    ...opts.client,
  });
  api = new IntacctApi(client, settings);
  const xml = api;
  const concurrency = settings.limits?.concurrent ?? PUBLISHED_LIMITS.concurrent;
  const context = (ctx: TargetCallContext): docs.DocumentContext => ({
    api: xml,
    settings,
    mapping: deps.mapping,
    concurrency,
    signal: ctx.signal,
  });

  /**
   * Creates or updates a customer under its CUSTOMERID (our customer code), or an item under its
   * ITEMID (our product code). It is read first, so that a create whose answer was lost is an
   * update when sent again; the create's control id is derived from the code, so the gateway
   * refuses it twice too.
   */
  async function upsert(
    ctx: TargetCallContext,
    object: 'CUSTOMER' | 'ITEM',
    c: { targetId: string | null; code: string },
    fields: (code: string) => Record<string, Xml>,
  ): Promise<ItemResult> {
    const code = c.targetId ?? c.code;
    const id = object === 'CUSTOMER' ? 'CUSTOMERID' : 'ITEMID';
    const existing = (await xml.query(object, `${id} = ${quote(code)}`, ctx.signal))[0];
    // An update writes the same values however often it is sent: it is safe to send again.
    const a = await xml.call(
      { name: existing ? 'update' : 'create', body: { [object]: fields(code) } },
      existing
        ? { write: false, signal: ctx.signal }
        : { write: true, controlId: writeControlId(code, object), signal: ctx.signal },
    );
    if (a.duplicate) return ok(code, { number: code, outcome: 'linked' });
    if (a.result.status !== 'success')
      return failed({
        code: 'TARGET_REFUSED',
        message: `${SYSTEM} refused ${object === 'CUSTOMER' ? 'customer' : 'item'} ${code} (${describe(a.result.errors)})`,
        retryable: false,
      });
    return ok(code, { number: code, outcome: existing ? (c.targetId ? 'updated' : 'linked') : 'created' });
  }

  return {
    type: TYPE,
    transactional: false,
    capabilities: {
      customers: true,
      // As non-inventory ITEMs, named on invoice lines as a dimension.
      items: true,
      invoices: true,
      creditNotes: true,
      payments: true,
      allocations: true,
      // No AR refund through this target: docs/connectors/intacct.md ("Gaps").
      refunds: false,
      // A fee is a bank service charge of its own, booked before its payment (fees.ts).
      fees: true,
      paymentStatus: false,
      pdf: false,
      drafts: false,
      // Read back by RECORDNO (reads.ts): what Intacct holds now, reversed documents as such.
      reconciliation: true,
    },
    limits: {
      callsPerSecond: settings.limits?.callsPerSecond,
      callsPerMinute: settings.limits?.callsPerMinute,
      callsPerDay: settings.limits?.callsPerDay ?? PUBLISHED_LIMITS.callsPerDay,
      concurrency: settings.limits?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      batchSize: settings.limits?.batchSize ?? PUBLISHED_LIMITS.batchSize,
    },

    // Up to the company's requests at once, as invoices: each customer is its own record.
    upsertCustomers: (ctx, items) =>
      mapAtMost(items, concurrency, (item) =>
        again(ctx, 'customer', () => upsert(ctx, 'CUSTOMER', item, (code) => customerFields(item.record, code))),
      ),

    async upsertProducts(ctx, items) {
      const out: ItemResult[] = [];
      for (const item of items)
        out.push(
          await again(ctx, 'item', () => upsert(ctx, 'ITEM', item, (code) => itemFields(item.record.name, code))),
        );
      return out;
    },

    async customer(ctx, targetId, asSourceId) {
      const row = (await xml.query('CUSTOMER', `CUSTOMERID = ${quote(targetId)}`, ctx.signal))[0];
      if (!row) return null;
      const record: CanonicalCustomer = {
        kind: 'customer',
        sourceId: asSourceId,
        name: text(row.NAME),
        code: targetId,
      };
      const email = text(row['DISPLAYCONTACT.EMAIL1']);
      if (email) record.email = email;
      return record;
    },

    createInvoices: (ctx, items) => docs.createInvoices(context(ctx), items),
    createCreditNotes: (ctx, items) => docs.createCreditNotes(context(ctx), items),
    createPayments: (ctx, items) => docs.createPayments(context(ctx), items),
    createAllocations: (ctx, items) => docs.createAllocations(context(ctx), items),
    applyEarlyPayments: (ctx, items) => docs.applyEarlyPayments(context(ctx), items),
    findAllocation: (ctx, item, taken) => docs.findAllocation(context(ctx), item, taken),
    findByReference: (ctx, kind, reference, customerTargetId) =>
      docs.lookUp(context(ctx), kind, reference, customerTargetId),
    documents: (ctx, targetIds, options) => readDocuments(context(ctx), targetIds, options?.fees === true),
    feeRemedy: (difference, payment) => intacctFeeRemedy(difference, payment),
    // Summed from the AR records dated up to the day (balances.ts): 3 queries per 1,000 customers.
    openBalances: (ctx, customerTargetIds, asAt) => openBalances(context(ctx), customerTargetIds, asAt),
    // Invoices, credit adjustments and payments of the customers (or under the references) dated
    // in the window that no pipeline booked: readByQuery by CUSTOMERID IN and DOCNUMBER IN (reads.ts).
    unlinkedDocuments: (ctx, scope, from, to) => unlinkedDocuments(context(ctx), scope, from, to),

    async checkConnection(ctx) {
      const r = await xml.read('getAPISession', '', ctx.signal).catch((err: unknown) => {
        throw err instanceof ConnectorError ? err : new ConnectorError(SYSTEM, String(err), { retryable: false });
      });
      return `company ${settings.companyId}${settings.entityId ? `, entity ${settings.entityId}` : ''} (${r.status})`;
    },
  };
}
