import { createPrivateKey } from 'node:crypto';
import type { CanonicalCustomer } from '../../sync/canonical.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { mapAtMost, retryUnknownOutcome } from '../../sync/remote/at-most.ts';
import { RemoteClient } from '../../sync/remote/client.ts';
import type { RatePlanner, RemoteClientOptions, TokenSource } from '../../sync/remote/contracts.ts';
import { createRatePlanner } from '../../sync/remote/rate-planner.ts';
import { serviceTokenSource } from '../../sync/remote/service-token.ts';
import type { ItemResult, TargetCallContext, TargetConnector, TargetDeps } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type NsObject, NetSuiteApi, RECORD, describe, eid, externalIdProblem, text } from './api.ts';
import { clientAssertion } from './assertion.ts';
import * as docs from './documents.ts';
import { customerFields, ref } from './map.ts';
import { netsuiteFeeRemedy } from './fees.ts';
import { openBalances } from './balances.ts';
import { readDocuments, unlinkedDocuments } from './reads.ts';
import { createRefunds } from './refunds.ts';
import {
  type NetSuiteSettings,
  NetSuiteTargetSettings,
  PUBLISHED_LIMITS,
  SYSTEM,
  TYPE,
  apiRootOf,
  authOf,
  rateScope,
  tokenUrlOf,
} from './settings.ts';
import { tbaAuthorization } from './tba.ts';

/*
 * The NetSuite target (docs/connectors/netsuite.md): customers, items, invoices, credit memos,
 * customer payments applied to invoices, and credits and payments set against invoices, over the
 * SuiteTalk REST record service, one record a request, every document upserted by its external
 * id (our reference). Signed in with OAuth 2.0 client credentials (a JWT client assertion signed
 * with the mapped certificate's key), paced by the shared rate planner on the account's
 * concurrency limit.
 */

/** What tests replace: the token source, the planner, the client's transport and timing. */
export interface NetSuiteTargetOptions {
  auth?: TokenSource | undefined;
  planner?: RatePlanner | undefined;
  client?:
    | Pick<
        RemoteClientOptions,
        'guard' | 'sleep' | 'backoffBaseMs' | 'backoffMaxMs' | 'maxAttempts' | 'retryAfterMaxMs' | 'timeoutMs'
      >
    | undefined;
}

/** How often a customer or item whose upsert had an unknown outcome is sent again. */
const ENTITY_ATTEMPTS = 3;

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** OAuth 2.0 client credentials: a token for a fresh client assertion signed with the certificate's key. */
function clientCredentials(
  settings: NetSuiteSettings,
  tokenUrl: string,
  secrets: () => string[],
  opts: NetSuiteTargetOptions,
): TokenSource {
  const key = createPrivateKey(settings.privateKey!);
  return serviceTokenSource({
    system: SYSTEM,
    tokenUrl,
    clientId: settings.clientId!,
    clientSecret: '',
    clientAuthentication: 'none',
    grant: () => ({
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: clientAssertion({
        clientId: settings.clientId!,
        certificateId: settings.certificateId!,
        privateKey: key,
        algorithm: settings.algorithm,
        scope: settings.scope,
        audience: tokenUrl,
      }),
    }),
    secrets,
    guard: opts.client?.guard,
  });
}

/** Creates the connector for one pipeline from settings already checked against its schema. */
export function createNetSuiteTarget(deps: TargetDeps, opts: NetSuiteTargetOptions = {}): TargetConnector {
  const settings = NetSuiteTargetSettings.parse(deps.settings);
  const tba = authOf(settings) === 'tba';
  const tokenUrl = settings.tokenUrl ?? tokenUrlOf(settings.accountId);
  const secrets = () =>
    [settings.privateKey, settings.consumerSecret, settings.tokenSecret].filter((x): x is string => !!x);
  const auth = tba ? undefined : (opts.auth ?? clientCredentials(settings, tokenUrl, secrets, opts));
  const credentials = {
    accountId: settings.accountId,
    consumerKey: settings.consumerKey ?? '',
    consumerSecret: settings.consumerSecret ?? '',
    tokenId: settings.tokenId ?? '',
    tokenSecret: settings.tokenSecret ?? '',
  };
  const planner = opts.planner ?? createRatePlanner(deps.db, { log: deps.log });
  const api = new NetSuiteApi(
    new RemoteClient({
      system: SYSTEM,
      baseUrl: settings.baseUrl ?? apiRootOf(settings.accountId),
      auth,
      authorize: tba ? (method, url) => tbaAuthorization(credentials, method, url) : undefined,
      secrets,
      rate: { planner, scopes: [rateScope(settings.accountId, settings.limits)] },
      timeoutMs: settings.timeoutMs,
      log: deps.log,
      ...opts.client,
    }),
  );

  const concurrency = settings.limits?.concurrent ?? PUBLISHED_LIMITS.concurrent;
  const context = (ctx: TargetCallContext): docs.DocumentContext => ({
    api,
    currency: settings.currency,
    taxRates: settings.taxRates,
    defaultItemId: settings.defaultItemId,
    itemType: settings.itemType,
    bankAccountId: settings.undepositedFunds ? undefined : settings.accounts?.bank,
    refundAccountId: settings.accounts?.bank,
    feesAccountId: settings.accounts?.fees,
    feesBankAccountId: settings.accounts?.feesBank,
    subsidiaryId: settings.subsidiaryId,
    concurrency,
    signal: ctx.signal,
  });

  /**
   * Customers and items, one by one. An upsert by external id is safe to send again, so one whose
   * outcome is unknown (a lost answer, a 5xx, a 429 storm outlasting the client's attempts) is
   * tried again here a few times rather than leaving every document of that customer waiting.
   */
  async function upsertEntity(
    ctx: TargetCallContext,
    type: string,
    what: string,
    item: { targetId: string | null; code: string; record: { name: string } },
    body: NsObject,
    numberField: string,
  ): Promise<ItemResult> {
    const problem = item.targetId ? null : externalIdProblem(`${what} code`, item.code);
    if (problem) return failed({ code: 'TARGET_REFUSED', message: problem, retryable: false, field: 'code' });
    // An upsert under the code (or an update by internal id) sent again is the same write.
    return retryUnknownOutcome(() => upsertEntityOnce(ctx, type, what, item, body, numberField), {
      attempts: ENTITY_ATTEMPTS,
      signal: ctx.signal,
      log: ctx.log,
      system: SYSTEM,
      what,
      by: 'code',
    });
  }

  /** Upserted by our code as external id when new (PUT), updated by internal id after (PATCH, an update sent twice is the same update). */
  async function upsertEntityOnce(
    ctx: TargetCallContext,
    type: string,
    what: string,
    item: { targetId: string | null; code: string; record: { name: string } },
    body: NsObject,
    numberField: string,
  ): Promise<ItemResult> {
    const a = item.targetId
      ? await api.patch(type, item.targetId, body, ctx.signal, undefined, true)
      : await api.upsert(type, item.code, body, ctx.signal);
    if (!a.ok)
      return failed({
        code: 'TARGET_REFUSED',
        message: `${SYSTEM} refused ${what} "${item.record.name}" (${describe(a)})`,
        retryable: false,
      });
    if (item.targetId) return ok(item.targetId, { number: item.code, outcome: 'updated' });
    const rec = await api.get(`/${type}/${eid(item.code)}`, ctx.signal);
    if (!rec)
      return failed({
        code: 'TARGET_REFUSED',
        message: `${SYSTEM} did not keep ${what} ${item.code}`,
        retryable: true,
      });
    return ok(text(rec.id), { number: text(rec[numberField]) || item.code, outcome: 'created' });
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
      // A fee is a journal entry of its own, booked before its payment (fees.ts).
      fees: true,
      paymentStatus: false,
      pdf: false,
      drafts: false,
      // Read back with SuiteQL (reads.ts): what NetSuite holds now, voided documents as such.
      reconciliation: true,
    },
    limits: {
      callsPerSecond: settings.limits?.callsPerSecond,
      callsPerMinute: settings.limits?.callsPerMinute,
      callsPerDay: settings.limits?.callsPerDay,
      concurrency: settings.limits?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      batchSize: settings.limits?.batchSize ?? PUBLISHED_LIMITS.batchSize,
    },

    // Up to the account's requests at once, as invoices: each customer is its own record.
    upsertCustomers: (ctx, items) =>
      mapAtMost(items, concurrency, (i) =>
        upsertEntity(
          ctx,
          'customer',
          'customer',
          i,
          customerFields(i.record, settings.subsidiaryId, !i.targetId),
          'entityId',
        ),
      ),

    async upsertProducts(ctx, items) {
      const out: ItemResult[] = [];
      for (const i of items) {
        const body: NsObject = { itemId: i.code.slice(0, 60), displayName: i.record.name.slice(0, 60) };
        if (!i.targetId && settings.incomeAccountId) body.incomeAccount = ref(settings.incomeAccountId);
        out.push(await upsertEntity(ctx, settings.itemType, 'item', i, body, 'itemId'));
      }
      return out;
    },

    async customer(ctx, targetId, asSourceId) {
      const e = await api.get(`/customer/${encodeURIComponent(targetId)}`, ctx.signal);
      if (!e) return null;
      const name = text(e.companyName) || [text(e.firstName), text(e.lastName)].filter(Boolean).join(' ');
      const record: CanonicalCustomer = { kind: 'customer', sourceId: asSourceId, name: name || text(e.entityId) };
      const code = text(e.externalId) || text(e.entityId);
      if (code) record.code = code;
      const email = text(e.email);
      if (email) record.email = email;
      return record;
    },

    createInvoices: (ctx, items) => docs.createInvoices(context(ctx), items),
    createCreditNotes: (ctx, items) => docs.createCreditNotes(context(ctx), items),
    createPayments: (ctx, items) => docs.createPayments(context(ctx), items),
    createRefunds: (ctx, items) => createRefunds(context(ctx), items),
    createAllocations: (ctx, items) => docs.createAllocations(context(ctx), items),
    applyEarlyPayments: (ctx, items) => docs.applyEarlyPayments(context(ctx), items),
    findAllocation: (ctx, item, taken) => docs.findAllocation(context(ctx), item, taken),
    findByReference: (ctx, kind, reference, customerTargetId) =>
      docs.lookUp(context(ctx), kind, reference, customerTargetId),
    documents: (ctx, targetIds, options) =>
      readDocuments(context(ctx), targetIds, options?.lines !== false, options?.fees === true),
    // The A/R posting lines of the customers' transactions, summed by SuiteQL (balances.ts).
    openBalances: (ctx, customerTargetIds, asAt) => openBalances(context(ctx), customerTargetIds, asAt),
    // The customers' (and references') transactions dated in the window, by SuiteQL (reads.ts).
    unlinkedDocuments: (ctx, scope, from, to) => unlinkedDocuments(context(ctx), scope, from, to),
    feeRemedy: (difference, payment) => netsuiteFeeRemedy(difference, payment),

    async checkConnection(ctx) {
      const a = await api.call({ method: 'GET', path: `${RECORD}/customer`, query: { limit: '1' } }, ctx.signal);
      if (!a.ok)
        throw new ConnectorError(SYSTEM, `GET ${RECORD}/customer was refused (${describe(a)})`, {
          status: a.status,
          retryable: false,
          code: a.status === 401 ? 'TARGET_AUTH_REVOKED' : null,
        });
      return `account ${settings.accountId.toUpperCase()}`;
    },
  };
}
