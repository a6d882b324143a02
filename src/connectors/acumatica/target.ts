import { formatAmount, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { RemoteClient } from '../../sync/remote/client.ts';
import { serviceTokenSource } from '../../sync/remote/service-token.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import { appliedEarly, invoiceMissing, nothingToApply, paymentGone } from '../../sync/remote/early.ts';
import type { RatePlanner, RemoteClientOptions } from '../../sync/remote/contracts.ts';
import { createRatePlanner } from '../../sync/remote/rate-planner.ts';
import {
  type EarlyPayment,
  type FoundDocument,
  type ItemError,
  type ItemResult,
  type TargetAllocation,
  type TargetCallContext,
  type TargetConnector,
  type TargetDeps,
  type TargetKind,
  failed,
  ok,
} from '../../sync/target.ts';
import { AcumaticaApi, type Entity, type Refusal, dec, literal, signInRefused, v, val } from './api.ts';
import { acumaticaFeeRemedy, acumaticaFees } from './fees.ts';
import { readOpenBalances } from './balances.ts';
import { readDocuments, unlinkedDocuments } from './reads.ts';
import {
  DOC_TYPES,
  type DocumentInput,
  customerBody,
  dateOf,
  dateTime,
  docId,
  invoiceBody,
  minorOf,
  parseDocId,
  taxCategory,
} from './map.ts';
import {
  AcumaticaSettings,
  DEFAULT_LIMITS,
  REFERENCE_MAX,
  SECRETS,
  SYSTEM,
  endpointUrl,
  instanceOf,
  rateScope,
  tokenUrlOf,
} from './settings.ts';

/*
 * The Acumatica target (docs/connectors/acumatica.md), on the contract-based REST API's Default
 * endpoint. One record per request (the API has no batch): customers and items are PUT by their
 * key (CustomerID, InventoryID), so sending one again updates it; invoices and credit memos are PUT
 * with our reference in CustomerOrder (Customer Ref. Nbr.) and released; payments with our
 * reference in PaymentRef, applied to their invoice (DocumentsToApply) and released. After an
 * unknown outcome the engine finds documents by those references, and a document found saved but
 * not yet released is released then.
 */

export interface AcumaticaTargetOptions {
  planner?: RatePlanner | undefined;
  client?:
    | Pick<
        RemoteClientOptions,
        'guard' | 'sleep' | 'backoffBaseMs' | 'backoffMaxMs' | 'maxAttempts' | 'retryAfterMaxMs'
      >
    | undefined;
  /** Waits between polls of an action's status (tests: none). */
  sleep?: ((ms: number) => Promise<void>) | undefined;
}

const isItemError = (x: Entity | ItemError): x is ItemError => typeof x.retryable === 'boolean';

const refusedBy = (what: string, r: Refusal): ItemResult =>
  failed({ code: 'TARGET_REFUSED', message: `Acumatica ${what} ${r.message}`, retryable: false, field: r.field });

export function createAcumaticaTarget(deps: TargetDeps, opts: AcumaticaTargetOptions = {}): TargetConnector {
  const settings = AcumaticaSettings.parse(deps.settings);
  const planner = opts.planner ?? createRatePlanner(deps.db, { log: deps.log });
  const scope = rateScope(settings);
  const secrets = () =>
    SECRETS.map((k) => (settings as Record<string, unknown>)[k]).filter((x): x is string => typeof x === 'string');
  const common = {
    system: SYSTEM,
    timeoutMs: settings.timeoutMs,
    log: deps.log,
    secrets,
    rate: { planner, scopes: [scope] },
    ...opts.client,
  };
  // Sign-in and sign-out; a sign-in refused with a 500 (a wrong password) is final, not an outage.
  const instance = new RemoteClient({ ...common, baseUrl: instanceOf(settings), refusal5xx: signInRefused });
  // OAuth 2.0 against the instance's identity server (a connected application): the password or
  // client credentials grant, the client's secret in the form. No consent page, no refresh token.
  const auth =
    settings.auth === 'oauth'
      ? serviceTokenSource({
          system: SYSTEM,
          tokenUrl: tokenUrlOf(settings),
          clientId: settings.clientId ?? '',
          clientSecret: settings.clientSecret ?? '',
          clientAuthentication: 'body',
          grant: (): Record<string, string> =>
            settings.grant === 'password'
              ? { grant_type: 'password', scope: 'api', username: settings.username, password: settings.password }
              : { grant_type: 'client_credentials', scope: 'api' },
          secrets,
          aheadMs: 60_000,
          guard: opts.client?.guard,
          timeoutMs: settings.timeoutMs,
        })
      : undefined;
  const client = new RemoteClient({ ...common, baseUrl: endpointUrl(settings), auth });
  const api = new AcumaticaApi({ settings, client, instance, log: deps.log, sleep: opts.sleep });
  const fees = acumaticaFees(api, settings);

  /** Releases a saved document: true when released, a refusal when Acumatica would not. */
  async function release(
    ctx: TargetCallContext,
    type: string,
    nbr: string,
    // A credit memo is released as a document on Invoice, its applications on Payment.
    entity: 'Invoice' | 'Payment' = DOC_TYPES[type as keyof typeof DOC_TYPES]?.entity ?? 'Payment',
  ): Promise<true | Refusal> {
    const action = entity === 'Invoice' ? 'ReleaseInvoice' : 'ReleasePayment';
    const r = await api.action(entity, action, { Type: v(type), ReferenceNbr: v(nbr) }, ctx.signal);
    return r.ok ? true : r.refusal;
  }

  /** Saves a document, releases it, and says what the source is told. */
  async function book(ctx: TargetCallContext, entity: 'Invoice' | 'Payment', body: Entity): Promise<ItemResult> {
    const type = val(body, 'Type');
    const w = await api.put(entity, body, { retrySafe: false, signal: ctx.signal });
    if (!w.ok) return refusedBy(`refused the ${type.toLowerCase()}:`, w.refusal);
    const nbr = val(w.entity, 'ReferenceNbr');
    if (!nbr)
      throw new ConnectorError(SYSTEM, `PUT ${entity} answered 200 without ReferenceNbr`, {
        status: 200,
        retryable: false,
      });
    if (!settings.release) return ok(docId(type, nbr), { number: nbr, outcome: 'created' });
    const released = await release(ctx, type, nbr);
    if (released === true) return ok(docId(type, nbr), { number: nbr, outcome: 'created' });
    // Saved, so it is ours and must not be sent again: booked, left Balanced for a person to release.
    ctx.log.warn({ system: SYSTEM, type, nbr, reason: released.message }, 'saved but not released');
    return ok(docId(type, nbr), {
      number: nbr,
      outcome: 'created',
      message: `saved as ${nbr} but not released: ${released.message}`,
    });
  }

  async function documentsOf(ctx: TargetCallContext, input: DocumentInput[]): Promise<ItemResult[]> {
    // One request a document: one that fails leaves those before it done (mapAtMost says which).
    return mapAtMost(input, 1, async (d) => {
      const body = invoiceBody(d, settings);
      return isItemError(body) ? failed(body) : book(ctx, 'Invoice', body);
    });
  }

  /** Our reference, narrowed to a customer, in the field each kind keeps it. */
  async function find(ctx: TargetCallContext, kind: TargetKind, reference: string, customer?: string | null) {
    const spec =
      kind === 'invoice' || kind === 'creditNote'
        ? {
            entity: 'Invoice',
            type: kind === 'invoice' ? 'Invoice' : 'Credit Memo',
            ref: 'CustomerOrder',
            cust: 'Customer',
          }
        : kind === 'payment' || kind === 'refund'
          ? {
              entity: 'Payment',
              type: kind === 'payment' ? 'Payment' : 'Refund',
              ref: 'PaymentRef',
              cust: 'CustomerID',
            }
          : null;
    if (!spec) return null;
    const filter = [`Type eq ${literal(spec.type)}`, `${spec.ref} eq ${literal(reference)}`];
    if (customer) filter.push(`${spec.cust} eq ${literal(customer)}`);
    const rows = await api.list(spec.entity, { $filter: filter.join(' and ') }, ctx.signal);
    // $filter compares as the database does (case-insensitively): keep the exact reference only.
    const found = rows.filter((r) => val(r, spec.ref) === reference);
    return found[0] ? { row: found[0], spec } : null;
  }

  /** Applications from a payment or credit memo to one invoice, oldest first: released, then pending. */
  async function applications(ctx: TargetCallContext, fromId: string, invoiceId: string) {
    const from = parseDocId(fromId);
    const inv = parseDocId(invoiceId);
    if (!from || !inv)
      throw new ConnectorError(SYSTEM, `not an Acumatica document id: ${fromId}`, { retryable: false });
    const row = await api.get(
      'Payment',
      [from.type, from.nbr],
      { $expand: 'ApplicationHistory,DocumentsToApply' },
      ctx.signal,
    );
    if (!row) return [];
    const history = ((row.ApplicationHistory as Entity[] | undefined) ?? [])
      .filter((a) => val(a, 'AdjustedDocType') === inv.type && val(a, 'AdjustedRefNbr') === inv.nbr)
      .map((a) => ({ amount: val(a, 'AmountPaid'), date: dateOf(a, 'Date'), released: true }));
    const pending = ((row.DocumentsToApply as Entity[] | undefined) ?? [])
      .filter((a) => val(a, 'DocType') === inv.type && val(a, 'ReferenceNbr') === inv.nbr)
      .map((a) => ({ amount: val(a, 'AmountPaid'), date: '', released: false }));
    return [...history, ...pending].map((a, n) => ({ ...a, id: `${fromId}>${invoiceId}>${n}` }));
  }

  const sameAmount = (a: string, b: string, currency: string) => {
    const x = parseAmount(a || '0', currency);
    const y = parseAmount(b, currency);
    return x.ok && y.ok && x.value === y.value;
  };

  /** A payment (applied to the invoice it names) or a refund (applied to the payment it returns). */
  async function cash(
    ctx: TargetCallContext,
    type: 'Payment' | 'Refund',
    r: {
      externalReference: string;
      currency: string;
      date: string;
      amount: string;
      description: string;
      fee?: string | null | undefined;
    },
    customer: string,
    appliedTo: string | null,
    bankAccountCode: string,
  ): Promise<ItemResult> {
    const what = type.toLowerCase();
    if (r.externalReference.length > REFERENCE_MAX)
      return failed({
        code: 'TARGET_REFUSED',
        message: `the reference "${r.externalReference}" is longer than the ${REFERENCE_MAX} characters of Acumatica's Payment Ref.`,
        retryable: false,
        field: 'externalReference',
      });
    if (settings.currency && r.currency !== settings.currency)
      return failed({
        code: 'TARGET_REFUSED',
        message: `the ${what} is in ${r.currency}; this target books ${settings.currency} only`,
        retryable: false,
        field: 'currency',
      });
    const to = appliedTo ? parseDocId(appliedTo) : null;
    const body: Entity = {
      Type: v(type),
      CustomerID: v(customer),
      ApplicationDate: v(dateTime(r.date)),
      PaymentAmount: dec(r.amount),
      PaymentRef: v(r.externalReference),
      PaymentMethod: v(settings.paymentMethod),
      CashAccount: v(settings.cashAccount ?? bankAccountCode),
      Description: v((r.description || r.externalReference).slice(0, 255)),
      Hold: v(false),
    };
    // A provider's fee is a charge of the payment itself (fees.ts): saved, found and released with it.
    const charged = type === 'Payment' ? await fees.charges(ctx, r) : null;
    if (charged && 'code' in charged) return failed(charged);
    if (charged) body.Charges = charged.lines;
    if (to) {
      // Acumatica refuses an application above what the invoice still owes: apply that much, and
      // leave the rest of an overpayment unapplied on the payment (as a person would).
      let apply = r.amount;
      if (type === 'Payment') {
        const inv = await api.get('Invoice', [to.type, to.nbr], { $select: 'Balance' }, ctx.signal);
        const owed = inv ? parseAmount(val(inv, 'Balance') || '0', r.currency) : null;
        const amount = parseAmount(r.amount, r.currency);
        if (owed?.ok && amount.ok && owed.value < amount.value) apply = formatAmount(owed.value, r.currency);
      }
      if (apply !== formatAmount(0n, r.currency))
        body.DocumentsToApply = [{ DocType: v(to.type), ReferenceNbr: v(to.nbr), AmountPaid: dec(apply) }];
    }
    const booked = await book(ctx, 'Payment', body);
    if (!charged || !booked.ok) return booked;
    return { ...booked, message: booked.message ? `${charged.note}; ${booked.message}` : charged.note };
  }

  /** Applies `amount` of a payment or credit memo to an invoice and releases it; the application's id. */
  async function allocate(
    ctx: TargetCallContext,
    a: Pick<TargetAllocation, 'fromTargetId' | 'invoiceTargetId'> & { record: { amount: string; currency: string } },
  ): Promise<ItemResult> {
    const from = parseDocId(a.fromTargetId);
    const inv = parseDocId(a.invoiceTargetId);
    if (!from || !inv)
      return failed({
        code: 'TARGET_REFUSED',
        message: `not an Acumatica document: ${a.fromTargetId}`,
        retryable: false,
      });
    const w = await api.put(
      'Payment',
      {
        Type: v(from.type),
        ReferenceNbr: v(from.nbr),
        DocumentsToApply: [{ DocType: v(inv.type), ReferenceNbr: v(inv.nbr), AmountPaid: dec(a.record.amount) }],
      },
      { retrySafe: false, signal: ctx.signal },
    );
    if (!w.ok) return refusedBy('refused the application:', w.refusal);
    const released = await release(ctx, from.type, from.nbr, 'Payment');
    if (released !== true) return refusedBy('did not release the application:', released);
    const apps = await applications(ctx, a.fromTargetId, a.invoiceTargetId);
    const mine = apps.filter((x) => x.released && sameAmount(x.amount, a.record.amount, a.record.currency)).at(-1);
    if (!mine)
      throw new ConnectorError(SYSTEM, 'the released application is not in the payment’s history', { retryable: true });
    return ok(mine.id, { outcome: 'created' });
  }

  /**
   * A payment booked before the invoice it names (the engine's note, src/sync/engine/early-payments.ts),
   * applied to it now that it is booked: as much as the payment has available and the invoice
   * still owes, both read just before, then released. An application an earlier attempt saved but
   * did not release (its answer lost) is released, not made again. The invoice handed over must be
   * the customer's under the named reference (`CustomerOrder`), else that invoice is looked up by it.
   */
  async function applyEarly(ctx: TargetCallContext, e: EarlyPayment): Promise<ItemResult> {
    const from = parseDocId(e.paymentTargetId);
    const pay = from
      ? await api.get('Payment', [from.type, from.nbr], { $expand: 'DocumentsToApply' }, ctx.signal)
      : null;
    if (!from || !pay) return paymentGone(e, SYSTEM);
    const customer = val(pay, 'CustomerID');
    const given = parseDocId(e.invoiceTargetId);
    const read = given ? await api.get('Invoice', [given.type, given.nbr], {}, ctx.signal) : null;
    const named = (row: Entity | null | undefined) =>
      row &&
      val(row, 'Type') === 'Invoice' &&
      val(row, 'CustomerOrder') === e.invoiceReference &&
      val(row, 'Customer') === customer
        ? row
        : null;
    const inv = named(read) ?? named((await find(ctx, 'invoice', e.invoiceReference, customer))?.row);
    if (!inv) return invoiceMissing(e, SYSTEM, customer);
    const invoiceId = `Invoice/${val(inv, 'ReferenceNbr')}`;
    const currency = e.currency;
    const where = `${SYSTEM} ${val(inv, 'ReferenceNbr')}`;
    const pending = ((pay.DocumentsToApply as Entity[] | undefined) ?? []).find(
      (a) => val(a, 'DocType') === 'Invoice' && val(a, 'ReferenceNbr') === val(inv, 'ReferenceNbr'),
    );
    if (pending) {
      const released = await release(ctx, from.type, from.nbr, 'Payment');
      if (released !== true) return refusedBy('did not release the application:', released);
      return appliedEarly(e, where, val(pending, 'AmountPaid'), null);
    }
    const amount = (row: Entity, field: string) => {
      const p = parseAmount(val(row, field) || '0', currency);
      return p.ok ? p.value : 0n;
    };
    const left = amount(pay, 'AvailableBalance');
    const owed = amount(inv, 'Balance');
    const take = left < owed ? left : owed;
    if (take <= 0n) return nothingToApply(e, where, left <= 0n);
    const done = await allocate(ctx, {
      fromTargetId: e.paymentTargetId,
      invoiceTargetId: invoiceId,
      record: { amount: formatAmount(take, currency), currency },
    });
    if (!done.ok) return done;
    return appliedEarly(
      e,
      where,
      formatAmount(take, currency),
      left > take ? 'the rest stays available on the payment' : null,
    );
  }

  return {
    type: 'acumatica',
    transactional: false,
    capabilities: {
      customers: true,
      items: true,
      invoices: true,
      creditNotes: true,
      payments: true,
      allocations: true,
      // A Refund applied to the payment it returns (the contract's Payment Type; on a real instance U).
      refunds: true,
      // A Refund must be applied to something: one sent before its payment is booked would be
      // refused for good, so it waits for that payment. What a payment booked before its invoice
      // holds unapplied is refunded at once (docs/sync.md, step 5).
      refundsNeedPayment: true,
      // A charge of the payment itself, on the fees entry type (fees.ts).
      fees: true,
      paymentStatus: true,
      // The Default endpoint has no report or PDF operation.
      pdf: false,
      drafts: false,
      // Documents read back by reference in batches, voided ones as such, payments' charges too (reads.ts).
      reconciliation: true,
    },
    limits: {
      callsPerSecond: settings.limits?.callsPerSecond,
      callsPerMinute: settings.limits?.callsPerMinute ?? DEFAULT_LIMITS.callsPerMinute,
      callsPerDay: settings.limits?.callsPerDay,
      concurrency: settings.limits?.concurrent ?? DEFAULT_LIMITS.concurrent,
      batchSize: settings.limits?.batchSize ?? DEFAULT_LIMITS.batchSize,
    },

    upsertCustomers: (ctx, items) =>
      api.within(() =>
        mapAtMost(items, 1, async (c) => {
          const code = c.targetId ?? c.code;
          // PUT by CustomerID creates or updates: sending it again after a lost answer changes nothing.
          const w = await api.put('Customer', customerBody(code, c.record), { retrySafe: true, signal: ctx.signal });
          return w.ok
            ? ok(val(w.entity, 'CustomerID') || code, { number: code, outcome: c.targetId ? 'updated' : 'created' })
            : refusedBy('refused the customer:', w.refusal);
        }),
      ),

    upsertProducts: (ctx, items) =>
      api.within(() =>
        mapAtMost(items, 1, async (p) => {
          const code = p.targetId ?? p.code;
          const body: Entity = { InventoryID: v(code), Description: v(p.record.name) };
          const tax = p.record.vatRate ? taxCategory(p.record.vatRate, settings.taxCategories) : null;
          if (tax && 'category' in tax && tax.category) body.TaxCategory = v(tax.category);
          const w = await api.put(settings.itemEntity, body, { retrySafe: true, signal: ctx.signal });
          return w.ok
            ? ok(val(w.entity, 'InventoryID') || code, { number: code, outcome: p.targetId ? 'updated' : 'created' })
            : refusedBy('refused the item:', w.refusal);
        }),
      ),

    createInvoices: (ctx, items) =>
      api.within(() =>
        documentsOf(
          ctx,
          items.map((i) => ({
            type: 'Invoice',
            reference: i.record.externalReference,
            customer: i.customerTargetId,
            date: i.record.invoiceDate,
            dueDate: i.record.dueDate,
            description: i.record.description,
            currency: i.record.currency,
            lines: i.record.lines,
            productIds: i.productTargetIds,
          })),
        ),
      ),

    createCreditNotes: (ctx, items) =>
      api.within(() =>
        documentsOf(
          ctx,
          items.map((n) => ({
            type: 'Credit Memo',
            reference: n.record.externalReference,
            customer: n.customerTargetId,
            date: n.record.date,
            description: n.record.description,
            currency: n.record.currency,
            lines: n.record.lines,
            productIds: n.productTargetIds,
          })),
        ),
      ),

    createPayments: (ctx, items) =>
      api.within(() =>
        mapAtMost(items, 1, (p) =>
          cash(ctx, 'Payment', p.record, p.customerTargetId, p.invoiceTargetId, p.bankAccountCode),
        ),
      ),

    // A Refund document applied to the payment it returns (its unapplied balance), then released.
    createRefunds: (ctx, items) =>
      api.within(() =>
        mapAtMost(items, 1, (r) =>
          cash(ctx, 'Refund', r.record, r.customerTargetId, r.paymentTargetId, r.bankAccountCode),
        ),
      ),

    createAllocations: (ctx, items) => api.within(() => mapAtMost(items, 1, (a) => allocate(ctx, a))),

    applyEarlyPayments: (ctx, items) => api.within(() => mapAtMost(items, 1, (e) => applyEarly(ctx, e))),

    findAllocation: (ctx, item, taken) =>
      api.within(async () => {
        const apps = await applications(ctx, item.fromTargetId, item.invoiceTargetId);
        const match = apps.find(
          (x) => !taken.has(x.id) && sameAmount(x.amount, item.record.amount, item.record.currency),
        );
        if (!match) return null;
        if (!match.released) {
          const from = parseDocId(item.fromTargetId)!;
          const released = await release(ctx, from.type, from.nbr, 'Payment');
          if (released !== true) return null;
        }
        return { targetId: match.id };
      }),

    findByReference: (ctx, kind, reference, customerTargetId): Promise<FoundDocument | null> =>
      api.within(async () => {
        // Customers and items are PUT by their key: sent again, they are updated, never doubled.
        const hit = await find(ctx, kind, reference, customerTargetId);
        if (!hit) return null;
        const type = val(hit.row, 'Type');
        const nbr = val(hit.row, 'ReferenceNbr');
        // Saved but its release unknown (the answer was lost): release it now, as the first send would have.
        if (settings.release && val(hit.row, 'Status') === 'Balanced') {
          const released = await release(ctx, type, nbr);
          if (released !== true)
            ctx.log.warn({ system: SYSTEM, type, nbr, reason: released.message }, 'found saved, not released');
        }
        return { targetId: docId(type, nbr), number: nbr, customerTargetId: val(hit.row, hit.spec.cust) || null };
      }),

    documents: (ctx, targetIds, options) =>
      api.within(() =>
        readDocuments(api, ctx, targetIds, {
          lines: options?.lines !== false,
          fees: options?.fees === true,
          currency: settings.currency || 'USD',
        }),
      ),

    // Each customer's released documents dated up to the day, summed by type (balances.ts).
    openBalances: (ctx, customerTargetIds, asAt) =>
      api.within(() => readOpenBalances(api, ctx, customerTargetIds, asAt, settings.currency || 'USD')),

    // Documents no pipeline booked, read as reconciliation's `documents(ids, {fees: true})` reads them (reads.ts).
    unlinkedDocuments: (ctx, scope, from, to) =>
      api.within(() =>
        unlinkedDocuments(api, ctx, scope, from, to, { lines: true, fees: true, currency: settings.currency || 'USD' }),
      ),

    feeRemedy: (difference, payment) => acumaticaFeeRemedy(difference, payment),

    // An invoice is paid when its Balance is 0; the payment named is the last one applied to it
    // (a credit memo settling it names none).
    paidInvoices: (ctx, invoiceTargetIds) =>
      api.within(async () => {
        const paid = new Map<string, string>();
        for (const id of invoiceTargetIds) {
          const key = parseDocId(id);
          if (!key || key.type !== 'Invoice') continue;
          const row = await api.get('Invoice', [key.type, key.nbr], { $expand: 'ApplicationsDefault' }, ctx.signal);
          if (!row || minorOf(row, 'Balance', settings.currency ?? 'USD') !== 0n) continue;
          const last = ((row.ApplicationsDefault as Entity[] | undefined) ?? [])
            .filter((a) => val(a, 'DocType') === 'Payment')
            .at(-1);
          const payment = last
            ? await api.get('Payment', ['Payment', val(last, 'ReferenceNbr')], {}, ctx.signal)
            : null;
          paid.set(id, payment ? val(payment, 'PaymentRef') : '');
        }
        return paid;
      }),

    checkConnection: (ctx) =>
      api.within(async () => {
        await api.list('Customer', { $top: '1', $select: 'CustomerID' }, ctx.signal);
        return `${new URL(settings.instanceUrl).host}${settings.tenant ? `, tenant ${settings.tenant}` : ''}`;
      }),
  };
}
