import type { CanonicalCustomer } from '../../sync/canonical.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { RemoteClient } from '../../sync/remote/client.ts';
import type { RatePlanner, RemoteClientOptions } from '../../sync/remote/contracts.ts';
import { createRatePlanner } from '../../sync/remote/rate-planner.ts';
import type { ItemResult, TargetCallContext, TargetConnector, TargetCustomer, TargetDeps } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { IntacctApi, writeControlId } from './api.ts';
import * as docs from './documents.ts';
import { customerFields } from './map.ts';
import { IntacctSettings, PUBLISHED_LIMITS, SYSTEM, TYPE, endpointOf, rateScope } from './settings.ts';
import { describe, quote, text } from './xml.ts';

/*
 * The Sage Intacct target (docs/connectors/intacct.md): customers by their CUSTOMERID (our
 * customer code), invoices, credit adjustments, received payments applied to invoices and credit
 * adjustments applied to invoices, over the XML gateway with a company user's API session, paced
 * by the shared rate planner on one budget per company (2 requests in flight on tier 1).
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
  const context = (ctx: TargetCallContext): docs.DocumentContext => ({
    api: xml,
    settings,
    mapping: deps.mapping,
    signal: ctx.signal,
  });

  /**
   * Creates or updates a customer under its CUSTOMERID. It is read first, so that a create whose
   * answer was lost is an update when sent again; the create's control id is the customer's, so
   * the gateway refuses it twice too.
   */
  async function upsertCustomer(ctx: TargetCallContext, c: TargetCustomer): Promise<ItemResult> {
    const code = c.targetId ?? c.code;
    const existing = (await xml.query('CUSTOMER', `CUSTOMERID = ${quote(code)}`, ctx.signal))[0];
    const fields = customerFields(c.record, code);
    const a = await xml.call(
      existing ? { name: 'update', body: { CUSTOMER: fields } } : { name: 'create', body: { CUSTOMER: fields } },
      existing
        ? { write: false, signal: ctx.signal }
        : { write: true, controlId: writeControlId(code, 'customer'), signal: ctx.signal },
    );
    if (a.duplicate) return ok(code, { number: code, outcome: 'linked' });
    if (a.result.status !== 'success')
      return failed({
        code: 'TARGET_REFUSED',
        message: `${SYSTEM} refused customer ${code} (${describe(a.result.errors)})`,
        retryable: false,
      });
    return ok(code, { number: code, outcome: existing ? (c.targetId ? 'updated' : 'linked') : 'created' });
  }

  return {
    type: TYPE,
    transactional: false,
    capabilities: {
      customers: true,
      // AR lines are booked by GL account; Intacct's items belong to Order Entry.
      items: false,
      invoices: true,
      creditNotes: true,
      payments: true,
      allocations: true,
      // No AR refund through this target: docs/connectors/intacct.md ("Gaps").
      refunds: false,
      paymentStatus: false,
      pdf: false,
      drafts: false,
      reconciliation: false,
    },
    limits: {
      callsPerSecond: settings.limits?.callsPerSecond,
      callsPerMinute: settings.limits?.callsPerMinute,
      callsPerDay: settings.limits?.callsPerDay ?? PUBLISHED_LIMITS.callsPerDay,
      concurrency: settings.limits?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      batchSize: settings.limits?.batchSize ?? PUBLISHED_LIMITS.batchSize,
    },

    async upsertCustomers(ctx, items) {
      const out: ItemResult[] = [];
      for (const item of items) out.push(await upsertCustomer(ctx, item));
      return out;
    },

    async customer(ctx, targetId, asSourceId) {
      const row = (await xml.query('CUSTOMER', `CUSTOMERID = ${quote(targetId)}`, ctx.signal))[0];
      if (!row) return null;
      const record: CanonicalCustomer = { kind: 'customer', sourceId: asSourceId, name: text(row.NAME), code: targetId };
      const email = text(row['DISPLAYCONTACT.EMAIL1']);
      if (email) record.email = email;
      return record;
    },

    createInvoices: (ctx, items) => docs.createInvoices(context(ctx), items),
    createCreditNotes: (ctx, items) => docs.createCreditNotes(context(ctx), items),
    createPayments: (ctx, items) => docs.createPayments(context(ctx), items),
    createAllocations: (ctx, items) => docs.createAllocations(context(ctx), items),
    findAllocation: (ctx, item, taken) => docs.findAllocation(context(ctx), item, taken),
    findByReference: (ctx, kind, reference, customerTargetId) =>
      docs.lookUp(context(ctx), kind, reference, customerTargetId),
    documents: (ctx, targetIds) => docs.readDocuments(context(ctx), targetIds),

    async checkConnection(ctx) {
      const r = await xml.read('getAPISession', '', ctx.signal).catch((err: unknown) => {
        throw err instanceof ConnectorError ? err : new ConnectorError(SYSTEM, String(err), { retryable: false });
      });
      return `company ${settings.companyId}${settings.entityId ? `, entity ${settings.entityId}` : ''} (${r.status})`;
    },
  };
}
