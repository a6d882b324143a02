import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { stringify } from 'lossless-json';
import { Dec } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { GuardOptions } from '../../sync/http.ts';
import { RemoteClient } from '../../sync/remote/client.ts';
import type { RatePlanner, RemoteClientOptions, TokenSource } from '../../sync/remote/contracts.ts';
import {
  type FoundDocument,
  type ItemResult,
  type TargetCallContext,
  type TargetConnector,
  type TargetCustomer,
  type TargetDocument,
  type TargetInvoice,
  type TargetPayment,
  type TargetProduct,
  failed,
  ok,
} from '../../sync/target.ts';
import { type ElementResult, type Json, OVERPAYMENT, XeroApi, batchIdempotencyKey, lit, refused, str } from './api.ts';
import { openBalances, unlinkedDocuments } from './reads.ts';
import { createRefunds, refundBalanceEffect } from './refunds.ts';
import {
  type OrgSettings,
  amount,
  bankAccountFor,
  contactElement,
  invoiceElement,
  minorUnits,
  readOrgSettings,
  unitAmountQuery,
  xeroDate,
} from './map.ts';
import { readFees, withFeeNotes, xeroFeeRemedy, xeroFees } from './fees.ts';
import { XERO, XeroTargetSettings, connectionsUrl, xeroRemaining, xeroScopes } from './settings.ts';
import * as credits from './credit-notes.ts';
import { applyEarlyReceipts } from './early-receipts.ts';

/*
 * The Xero target (docs/connectors/xero.md): customers as contacts keyed by ContactNumber, products
 * as items keyed by Code, sales invoices in batches of one PUT each, payments in bulk applied to
 * their invoices, receipts without an invoice as overpayments, refunds as credit notes refunded in
 * cash. Every write carries an Idempotency-Key derived from its items' keys, and every document
 * carries our reference where findByReference searches it. HTTP, retries, pacing and token refresh
 * are the shared RemoteClient's, rate planner's and token source's.
 */

export interface XeroTargetOptions {
  auth: TokenSource & { tenantId?(): Promise<string | null> };
  planner?: RatePlanner | undefined;
  log?: Logger | undefined;
  guard?: GuardOptions | undefined;
  /** Client knobs (timeouts, backoff) for tests and the benchmark. */
  client?: Partial<RemoteClientOptions> | undefined;
}

/** Writes whose lines have unit amounts, and so may need `unitdp=4` (map.ts, unitAmountQuery). */
const UNIT_AMOUNT_PATHS = new Set(['/Invoices', '/CreditNotes']);

const anyOf = (field: string, values: string[]) => values.map((v) => `${field}==${lit(v)}`).join(' OR ');

const contentKey = (value: unknown) =>
  createHash('sha256')
    .update(stringify(value) ?? '')
    .digest('hex')
    .slice(0, 16);

function chunk<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

const NAME_TAKEN = /already assigned to another contact/i;

/** Xero's refusal of a payment larger than what its invoice still owes. */
const EXCEEDS_DUE = /exceeds the amount outstanding/i;

/** How an overpayment's line names the invoice it waits for, for a person reading it in Xero. */
const forInvoice = (reference: string) => ` for invoice ${reference}`;

function overpaymentDescription(p: TargetPayment['record']): string {
  const base = (p.description || `Receipt ${p.externalReference}`).slice(0, 3900);
  return p.invoiceExternalReference ? `${base}${forInvoice(p.invoiceExternalReference)}` : base;
}

export function createXeroTarget(input: Record<string, unknown>, o: XeroTargetOptions): TargetConnector {
  const settings = XeroTargetSettings.parse(input);
  const batchSize = settings.limits?.batchSize ?? XERO.batchSize;
  const tenantLimits = { ...XERO.tenantLimits, ...settings.limits };
  let apiPromise: Promise<XeroApi> | null = null;
  let orgPromise: Promise<OrgSettings> | null = null;

  /** The API of the pipeline's organisation: from the settings, or the one the OAuth consent covers. */
  function api(): Promise<XeroApi> {
    apiPromise ??= (async () => {
      const tenantId = settings.tenantId ?? (await o.auth.tenantId?.()) ?? (await onlyTenant());
      const client = new RemoteClient({
        system: XERO.system,
        baseUrl: settings.baseUrl ?? XERO.baseUrl,
        auth: o.auth,
        rate: o.planner
          ? {
              planner: o.planner,
              scopes: xeroScopes(tenantId, settings.clientId, settings.limits),
              remaining: xeroRemaining(tenantId, settings.clientId),
            }
          : undefined,
        secrets: () => [settings.clientSecret, ...(settings.refreshToken ? [settings.refreshToken] : [])],
        timeoutMs: settings.timeoutMs,
        log: o.log,
        guard: o.guard,
        ...o.client,
      });
      return new XeroApi(client, tenantId);
    })().catch((err: unknown) => {
      apiPromise = null;
      throw err;
    });
    return apiPromise;
  }

  /**
   * The organisation when neither the settings nor the OAuth connection name one (a refresh token
   * pasted into the settings): the only one the grant covers, from Xero's connections endpoint.
   */
  async function onlyTenant(): Promise<string> {
    const client = new RemoteClient({
      system: XERO.system,
      baseUrl: settings.baseUrl ?? XERO.baseUrl,
      auth: o.auth,
      secrets: () => [settings.clientSecret, ...(settings.refreshToken ? [settings.refreshToken] : [])],
      log: o.log,
      guard: o.guard,
      ...o.client,
    });
    const a = await client.request({
      method: 'GET',
      path: connectionsUrl(settings.baseUrl),
      kind: 'read',
      retrySafe: true,
    });
    const list = a.status === 200 ? (JSON.parse(a.text) as unknown) : null;
    const tenants = Array.isArray(list)
      ? (list as Json[])
          .filter((c) => c.tenantType === undefined || c.tenantType === 'ORGANISATION')
          .map((c) => str(c.tenantId))
      : [];
    if (tenants.length === 1 && tenants[0]) return tenants[0];
    throw new ConnectorError(
      XERO.system,
      tenants.length === 0
        ? 'this connection gives access to no Xero organisation: connect the pipeline again (GET /v1/connections/{pipeline}/oauth/start) and choose one'
        : `this connection gives access to ${tenants.length} Xero organisations (${tenants.join(', ')}): set tenantId in the target settings to the one to book into`,
      { retryable: false, code: 'TARGET_SETTING_MISSING' },
    );
  }

  /** Tax rates, accounts and tracking categories, read once per target instance. */
  function org(signal?: AbortSignal): Promise<OrgSettings> {
    orgPromise ??= (async () => {
      const x = await api();
      const [taxRates, accounts, tracking] = await Promise.all([
        x.get('/TaxRates', {}, signal),
        x.get('/Accounts', {}, signal),
        x.get('/TrackingCategories', {}, signal),
      ]);
      const list = (b: Json, k: string) => (Array.isArray(b[k]) ? (b[k] as Json[]) : []);
      return readOrgSettings(
        list(taxRates, 'TaxRates'),
        list(accounts, 'Accounts'),
        list(tracking, 'TrackingCategories'),
      );
    })().catch((err: unknown) => {
      orgPromise = null;
      throw err;
    });
    return orgPromise;
  }

  /**
   * Elements found by a key field (ContactNumber, Code, Reference), in chunks small enough for a URL.
   * `paged` reads each chunk in pages, the form in which Xero's lists carry line items.
   */
  async function findBy(
    path: string,
    key: string,
    field: string,
    values: string[],
    extra = '',
    signal?: AbortSignal,
    paged = false,
  ) {
    const x = await api();
    const found: Json[] = [];
    for (const part of chunk([...new Set(values)], 25)) {
      const where = `(${anyOf(field, part)})${extra ? ` AND ${extra}` : ''}`;
      const query = {
        where: part.length === 1 ? `${field}==${lit(part[0]!)}${extra ? ` AND ${extra}` : ''}` : where,
        // An archived contact still holds its number: found, never created a second time.
        ...(path === '/Contacts' ? { includeArchived: 'true' } : {}),
      };
      if (paged) {
        found.push(...(await x.getAll(path, key, query, signal)));
        continue;
      }
      const body = await x.get(path, query, signal);
      if (Array.isArray(body[key])) found.push(...(body[key] as Json[]));
    }
    return found;
  }

  /** Writes elements in batches; the key of each batch derives from its items' keys. */
  async function writeAll(
    ctx: TargetCallContext,
    method: 'PUT' | 'POST',
    path: string,
    key: string,
    rows: { el: Json; itemKey: string }[],
    operation: string,
  ): Promise<ElementResult[]> {
    const x = await api();
    const parts = chunk(rows, batchSize);
    const out = new Array<ElementResult[]>(parts.length);
    let next = 0;
    let failure: { error: unknown } | null = null;
    // Up to `concurrent` requests at once (the planner holds each to the organisation's slots).
    // After a failure no new request starts; those in flight finish before it is thrown, so that the
    // engine's lookups never race a write still under way.
    const worker = async () => {
      while (next < parts.length && !failure) {
        const n = next++;
        const part = parts[n]!;
        try {
          out[n] = await x.write(
            method,
            path,
            key,
            part.map((r) => r.el),
            batchIdempotencyKey(
              operation,
              part.map((r) => r.itemKey),
            ),
            UNIT_AMOUNT_PATHS.has(path) ? unitAmountQuery(part.map((r) => r.el)) : {},
            ctx.signal,
          );
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(tenantLimits.concurrent, parts.length) }, worker));
    if (failure) throw (failure as { error: unknown }).error;
    return out.flat();
  }

  const feeBooking = xeroFees(settings, { findBy, writeAll });

  /** Contacts and items: look up by key, create the missing, update the known, resolve a taken name. */
  async function upsertContacts(ctx: TargetCallContext, items: TargetCustomer[]): Promise<ItemResult[]> {
    const x = await api();
    const byId = new Map<string, Json>();
    const ids = items.flatMap((i) => (i.targetId ? [i.targetId] : []));
    for (const part of chunk(ids, 50)) {
      const body = await x.get('/Contacts', { IDs: part.join(','), includeArchived: 'true' }, ctx.signal);
      for (const c of (body.Contacts as Json[] | undefined) ?? []) byId.set(str(c.ContactID), c);
    }
    const byNumber = new Map<string, Json>();
    const unknown = items.filter((i) => !i.targetId || !byId.has(i.targetId)).map((i) => i.code);
    for (const c of await findBy('/Contacts', 'Contacts', 'ContactNumber', unknown, '', ctx.signal))
      byNumber.set(str(c.ContactNumber), c);
    const results: ItemResult[] = new Array<ItemResult>(items.length);
    let pending = items.map((item, n) => {
      const existing = (item.targetId ? byId.get(item.targetId) : undefined) ?? byNumber.get(item.code) ?? null;
      return { item, n, existing, name: item.record.name };
    });
    // Two rounds: the name as given, then (only for those whose name another contact holds) "Name (CODE)".
    for (let round = 0; round < 2 && pending.length > 0; round++) {
      const retry: typeof pending = [];
      for (const create of [true, false]) {
        const group = pending.filter((p) => (p.existing === null) === create);
        if (group.length === 0) continue;
        const rows = group.map((p) => {
          const el = contactElement(p.item.code, p.item.record, p.existing, p.name);
          if (!create) el.ContactID = p.existing!.ContactID;
          return { el, itemKey: `${p.item.sourceId}:${contentKey(el)}` };
        });
        const answers = await writeAll(
          ctx,
          create ? 'PUT' : 'POST',
          '/Contacts',
          'Contacts',
          rows,
          create ? 'contacts-new' : 'contacts-upd',
        );
        answers.forEach((a, i) => {
          const p = group[i]!;
          if (a.ok) {
            results[p.n] = ok(str(a.saved.ContactID), {
              number: p.item.code,
              outcome: create ? 'created' : 'updated',
            });
          } else if (round === 0 && a.messages.some((m) => NAME_TAKEN.test(m))) {
            retry.push({ ...p, name: `${p.item.record.name} (${p.item.code})`.slice(0, 255) });
          } else results[p.n] = failed(refused(a.messages, 'name'));
        });
      }
      pending = retry;
    }
    return results;
  }

  async function upsertItems(ctx: TargetCallContext, items: TargetProduct[]): Promise<ItemResult[]> {
    const existing = new Map<string, Json>();
    for (const i of await findBy(
      '/Items',
      'Items',
      'Code',
      items.map((i) => i.code),
      '',
      ctx.signal,
    ))
      existing.set(str(i.Code).toLowerCase(), i);
    const results: ItemResult[] = new Array<ItemResult>(items.length);
    for (const create of [true, false]) {
      const group = items
        .map((item, n) => ({ item, n, had: existing.get(item.code.toLowerCase()) }))
        .filter((p) => (p.had === undefined) === create);
      if (group.length === 0) continue;
      const rows = group.map((p) => {
        const el: Json = {
          Code: p.item.code,
          Name: p.item.record.name.slice(0, 50),
          Description: p.item.record.name,
          IsSold: true,
        };
        if (p.had) el.ItemID = p.had.ItemID;
        return { el, itemKey: `${p.item.sourceId}:${contentKey(el)}` };
      });
      const answers = await writeAll(
        ctx,
        create ? 'PUT' : 'POST',
        '/Items',
        'Items',
        rows,
        create ? 'items-new' : 'items-upd',
      );
      answers.forEach((a, i) => {
        const p = group[i]!;
        results[p.n] = a.ok
          ? ok(str(a.saved.ItemID), { number: p.item.code, outcome: create ? 'created' : 'updated' })
          : failed(refused(a.messages, 'code'));
      });
    }
    return results;
  }

  async function createInvoices(ctx: TargetCallContext, items: TargetInvoice[]): Promise<ItemResult[]> {
    const o2 = await org(ctx.signal);
    const status = settings.mode === 'draft' ? 'DRAFT' : 'AUTHORISED';
    const results: ItemResult[] = new Array<ItemResult>(items.length);
    const rows: { el: Json; itemKey: string; n: number }[] = [];
    items.forEach((item, n) => {
      const mapped = invoiceElement(item, o2, settings, status);
      if ('error' in mapped) results[n] = failed(mapped.error);
      else rows.push({ el: mapped.el, itemKey: item.idempotencyKey, n });
    });
    const answers = await writeAll(ctx, 'PUT', '/Invoices', 'Invoices', rows, `invoices-${status.toLowerCase()}`);
    answers.forEach((a, i) => {
      const r = rows[i]!;
      results[r.n] = a.ok
        ? ok(str(a.saved.InvoiceID), { number: str(a.saved.InvoiceNumber), outcome: 'created' })
        : failed(refused(a.messages));
    });
    return results;
  }

  /** A receipt as a RECEIVE-OVERPAYMENT bank transaction; `overpays`: its invoice is booked and owes less. */
  function overpaymentOf(item: TargetPayment, bank: string, n: number, overpays: boolean) {
    const p = item.record;
    return {
      el: {
        Type: 'RECEIVE-OVERPAYMENT',
        Contact: { ContactID: item.customerTargetId },
        BankAccount: { Code: bank },
        Date: p.date,
        Reference: p.externalReference,
        LineAmountTypes: 'NoTax',
        CurrencyCode: p.currency,
        LineItems: [{ Description: overpaymentDescription(p), LineAmount: amount(p.amount) }],
      } as Json,
      itemKey: item.idempotencyKey,
      n,
      waitsFor: p.invoiceExternalReference ?? null,
      overpays,
    };
  }

  async function createPayments(ctx: TargetCallContext, items: TargetPayment[]): Promise<ItemResult[]> {
    const o2 = await org(ctx.signal);
    const results: ItemResult[] = new Array<ItemResult>(items.length);
    const payments: { el: Json; itemKey: string; n: number }[] = [];
    const overpayments: ReturnType<typeof overpaymentOf>[] = [];
    // A provider's fee first (src/connectors/xero/fees.ts): a payment whose fee Xero does not hold is not sent.
    const fees = await feeBooking.book(
      ctx,
      o2,
      items.flatMap((item, n) => {
        const bank = bankAccountFor(item.bankAccountCode, o2, settings);
        return typeof bank === 'string' ? [{ n, item, bank }] : [];
      }),
    );
    items.forEach((item, n) => {
      const p = item.record;
      const bank = bankAccountFor(item.bankAccountCode, o2, settings);
      if (typeof bank !== 'string') return void (results[n] = failed(bank));
      const fee = fees.get(n);
      if (fee && !('id' in fee)) return void (results[n] = failed(fee));
      if (item.invoiceTargetId) {
        payments.push({
          el: {
            Invoice: { InvoiceID: item.invoiceTargetId },
            Account: { Code: bank },
            Date: p.date,
            Amount: amount(p.amount),
            Reference: p.externalReference,
          },
          itemKey: item.idempotencyKey,
          n,
        });
      } else {
        // A receipt before its invoice: money on the customer's account, allocated when the invoice is there.
        overpayments.push(overpaymentOf(item, bank, n, false));
      }
    });
    (await writeAll(ctx, 'PUT', '/Payments', 'Payments', payments, 'payments')).forEach((a, i) => {
      const r = payments[i]!;
      const item = items[r.n]!;
      if (!a.ok && a.messages.some((m) => EXCEEDS_DUE.test(m)) && item.record.invoiceExternalReference) {
        // More than the invoice still owes: an overpayment, allocated to it for what it owes
        // (applyEarlyPayments, at the end of the run); the rest stays on the contact.
        overpayments.push(overpaymentOf(item, str((r.el.Account as Json).Code), r.n, true));
        return;
      }
      results[r.n] = a.ok ? ok(str(a.saved.PaymentID), { outcome: 'created' }) : failed(refused(a.messages));
    });
    (await writeAll(ctx, 'PUT', '/BankTransactions', 'BankTransactions', overpayments, 'overpayments')).forEach(
      (a, i) => {
        const r = overpayments[i]!;
        results[r.n] =
          a.ok && typeof a.saved.OverpaymentID === 'string'
            ? ok(OVERPAYMENT + a.saved.OverpaymentID, {
                outcome: 'created',
                message: r.overpays
                  ? `booked as an overpayment: more than invoice ${r.waitsFor} still owes; allocated to it for what it owes`
                  : r.waitsFor
                    ? `booked as an overpayment: invoice ${r.waitsFor} is not in Xero yet; allocated to it once it is booked`
                    : 'booked as an overpayment: no invoice named',
                // Noted by the engine and allocated once that invoice is booked (applyEarlyPayments).
                ...(r.waitsFor ? { awaitsInvoice: true } : {}),
              })
            : failed(refused(a.ok ? ['no overpayment in the answer'] : a.messages));
      },
    );
    return withFeeNotes(results, fees);
  }

  async function findByReference(
    ctx: TargetCallContext,
    kind: string,
    reference: string,
    customerTargetId?: string | null,
  ): Promise<FoundDocument | null> {
    const live = 'Status!="DELETED" AND Status!="VOIDED"';
    const ofCustomer = customerTargetId ? ` AND Contact.ContactID==Guid(${lit(customerTargetId)})` : '';
    switch (kind) {
      case 'customer': {
        const [c] = await findBy('/Contacts', 'Contacts', 'ContactNumber', [reference], '', ctx.signal);
        return c ? { targetId: str(c.ContactID), number: reference } : null;
      }
      case 'product': {
        const [i] = await findBy('/Items', 'Items', 'Code', [reference], '', ctx.signal);
        return i ? { targetId: str(i.ItemID), number: reference } : null;
      }
      case 'invoice': {
        const [d] = await findBy(
          '/Invoices',
          'Invoices',
          'Reference',
          [reference],
          `Type=="ACCREC" AND ${live}${ofCustomer}`,
          ctx.signal,
        );
        if (!d) return null;
        const contact = d.Contact as Json | undefined;
        return {
          targetId: str(d.InvoiceID),
          number: str(d.InvoiceNumber),
          customerTargetId: contact ? str(contact.ContactID) : null,
        };
      }
      case 'payment': {
        // A reference is unique per customer only: a payment naming another customer is not this
        // one. One whose contact Xero leaves out is kept as a candidate: never posted twice.
        const theirs = (d: unknown) => {
          const contact = str(((d as Json | undefined)?.Contact as Json | undefined)?.ContactID);
          return !customerTargetId || !contact || contact === customerTargetId;
        };
        const p = (
          await findBy('/Payments', 'Payments', 'Reference', [reference], 'Status!="DELETED"', ctx.signal)
        ).find((x) => theirs(x.Invoice ?? x.CreditNote ?? x.Overpayment));
        if (p) return { targetId: str(p.PaymentID) };
        const b = (
          await findBy(
            '/BankTransactions',
            'BankTransactions',
            'Reference',
            [reference],
            'Type=="RECEIVE-OVERPAYMENT"',
            ctx.signal,
          )
        ).find(theirs);
        // An overpayment waits to be allocated to the invoice it names (read first: nothing twice).
        return b && typeof b.OverpaymentID === 'string'
          ? { targetId: OVERPAYMENT + b.OverpaymentID, awaitsInvoice: true }
          : null;
      }
      case 'creditNote': {
        const [c] = await findBy(
          '/CreditNotes',
          'CreditNotes',
          'Reference',
          [reference],
          `Type=="ACCRECCREDIT" AND ${live}${ofCustomer}`,
          ctx.signal,
        );
        return credits.creditNoteFound(c);
      }
      case 'refund': {
        // Done only once refunded in full: a credit note still holding credit is completed by the next
        // attempt. A refund out of an overpayment alone is not found here: the next attempt reads what
        // it refunded from the overpayment and finishes it, or links it when that was all.
        // This customer's only: another customer's refund may hold the same reference.
        const [c] = await findBy(
          '/CreditNotes',
          'CreditNotes',
          'Reference',
          [reference],
          `Type=="ACCRECCREDIT" AND ${live}${ofCustomer}`,
          ctx.signal,
        );
        if (!c) return null;
        const left =
          typeof c.RemainingCredit === 'string' || typeof c.RemainingCredit === 'number' ? str(c.RemainingCredit) : '0';
        return new Dec(left).isZero() ? { targetId: str(c.CreditNoteID), number: str(c.CreditNoteNumber) } : null;
      }
    }
    return null;
  }

  async function invoicesById(ctx: TargetCallContext, ids: string[]): Promise<Json[]> {
    const x = await api();
    const out: Json[] = [];
    for (const part of chunk(
      ids.filter((id) => !id.startsWith(OVERPAYMENT)),
      50,
    )) {
      // Paged: Xero lists an invoice's lines only in a page (up to 100, so one page holds the 50).
      const body = await x.get('/Invoices', { IDs: part.join(','), page: '1' }, ctx.signal);
      out.push(...((body.Invoices as Json[] | undefined) ?? []));
    }
    return out;
  }

  const parts: credits.XeroParts = { settings, api, org, writeAll, findBy };
  return {
    type: 'xero',
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
      // A refund's credit note takes its invoice's lines: an early receipt's refund waits for its allocation.
      refundsNeedAppliedPayment: true,
      fees: true,
      paymentStatus: true,
      pdf: true,
      drafts: false,
      reconciliation: true,
    },
    limits: {
      concurrency: tenantLimits.concurrent,
      // The engine hands over enough for one request per slot; each goes as its own batch.
      batchSize: batchSize * tenantLimits.concurrent,
      callsPerMinute: tenantLimits.callsPerMinute,
      callsPerDay: tenantLimits.callsPerDay,
    },
    upsertCustomers: upsertContacts,
    upsertProducts: upsertItems,
    createInvoices,
    createCreditNotes: (ctx, items) => credits.createCreditNotes(parts, ctx, items),
    createPayments,
    createRefunds: (ctx, items) => createRefunds(parts, ctx, items),
    createAllocations: (ctx, items) => credits.createAllocations(parts, ctx, items),
    findAllocation: (ctx, item, taken) => credits.findAllocation(parts, ctx, item, taken),
    applyEarlyPayments: (ctx, items) => applyEarlyReceipts({ api, invoicesById, findByReference }, ctx, items),
    findByReference,
    async documents(ctx, targetIds, options) {
      const out = new Map<string, TargetDocument>();
      const put = (
        id: string,
        kind: TargetDocument['kind'],
        d: Json,
        o: { number: string; contact: unknown; gross: unknown; currency: unknown },
      ) => {
        const currency = str(o.currency);
        const gross = currency ? minorUnits(o.gross, currency) : null;
        if (gross === null) return;
        out.set(id, {
          targetId: id,
          kind,
          number: o.number,
          customerTargetId: str(o.contact),
          externalReference: str(d.Reference),
          date: xeroDate(d.DateString ?? d.Date) ?? '',
          dueDate: xeroDate(d.DueDateString ?? d.DueDate),
          currency,
          gross,
          lines: Array.isArray(d.LineItems) ? d.LineItems.length : 0,
          ...(d.Status === 'VOIDED' || d.Status === 'DELETED' ? { voided: true } : {}),
        });
      };
      const contactOf = (d: Json | undefined) => (d?.Contact as Json | undefined)?.ContactID;
      for (const d of await invoicesById(ctx, targetIds))
        put(str(d.InvoiceID), 'invoice', d, {
          number: str(d.InvoiceNumber),
          contact: contactOf(d),
          gross: d.Total,
          currency: d.CurrencyCode,
        });
      // What is not an invoice: a payment, a refund's credit note, an early receipt's overpayment.
      const rest = targetIds.filter((id) => !out.has(id) && !id.startsWith(OVERPAYMENT));
      const guids = (field: string, ids: string[]) => ids.map((id) => `${field}==Guid(${lit(id)})`).join(' OR ');
      const x = await api();
      for (const part of chunk(rest, 25)) {
        const body = await x.get('/Payments', { where: guids('PaymentID', part) }, ctx.signal);
        for (const p of (body.Payments as Json[] | undefined) ?? []) {
          // A refund that was all out of an overpayment's rest is that cash refund: it adds its amount.
          const refund = p.PaymentType === 'AROVERPAYMENTPAYMENT';
          const doc = (p.Invoice ?? p.CreditNote ?? p.Overpayment) as Json | undefined;
          put(str(p.PaymentID), refund ? 'refund' : 'payment', p, {
            number: str(p.Reference),
            contact: contactOf(doc),
            gross: p.Amount,
            currency: doc?.CurrencyCode,
          });
        }
      }
      for (const part of chunk(
        rest.filter((id) => !out.has(id)),
        25,
      )) {
        // Paged, for their lines (reconciliation's rounding allowance), as invoices are.
        const body = await x.get('/CreditNotes', { where: guids('CreditNoteID', part), page: '1' }, ctx.signal);
        for (const c of (body.CreditNotes as Json[] | undefined) ?? []) {
          put(str(c.CreditNoteID), 'refund', c, {
            number: str(c.CreditNoteNumber),
            contact: contactOf(c),
            gross: c.Total,
            currency: c.CurrencyCode,
          });
          // The credit note takes the sale off the customer's balance and its cash refund puts it back.
          const doc = out.get(str(c.CreditNoteID));
          if (doc) doc.balanceEffect = refundBalanceEffect(c, doc.currency);
        }
      }
      // A refund that began out of an overpayment's rest: that cash refund, under the same reference, adds its amount.
      const notes = [...out.values()].filter((d) => d.kind === 'refund' && d.balanceEffect !== undefined);
      for (const p of await findBy(
        '/Payments',
        'Payments',
        'Reference',
        notes.map((d) => d.externalReference),
        'PaymentType=="AROVERPAYMENTPAYMENT" AND Status!="DELETED"',
        ctx.signal,
      )) {
        const over = p.Overpayment as Json | undefined;
        const doc = notes.find(
          (d) => d.externalReference === str(p.Reference) && d.customerTargetId === str(contactOf(over)),
        );
        if (!doc) continue;
        // Part of the same refund: what it paid back in all is the credit note's and this cash.
        const cash = minorUnits(p.Amount, doc.currency) ?? 0n;
        doc.balanceEffect = (doc.balanceEffect ?? 0n) + cash;
        doc.gross += cash;
      }
      const early = targetIds.filter((id) => id.startsWith(OVERPAYMENT));
      for (const part of chunk(early, 25)) {
        const ids = part.map((id) => id.slice(OVERPAYMENT.length));
        const body = await x.get('/Overpayments', { where: guids('OverpaymentID', ids) }, ctx.signal);
        for (const o of (body.Overpayments as Json[] | undefined) ?? [])
          put(OVERPAYMENT + str(o.OverpaymentID), 'payment', o, {
            number: str(o.Reference),
            contact: contactOf(o),
            gross: o.Total,
            currency: o.CurrencyCode,
          });
      }
      // Reconciliation: each payment's fee, the spend money under its reference (fees.ts).
      if (options?.fees)
        await readFees(
          { findBy },
          ctx,
          [...out.values()].filter((d) => d.kind === 'payment' && !d.voided),
        );
      return out;
    },
    feeRemedy: (difference, payment) => xeroFeeRemedy(difference, payment),
    // GET /Organisation: one small read that needs a live token and a connected tenant.
    async checkConnection(ctx) {
      const x = await api();
      const body = await x.get('/Organisation', {}, ctx.signal);
      const org = Array.isArray(body.Organisations) ? (body.Organisations as Json[])[0] : undefined;
      if (!org)
        throw new ConnectorError(XERO.system, `GET /Organisation answered no organisation for tenant ${x.tenantId}`, {
          retryable: false,
        });
      return `organisation ${str(org.Name) || x.tenantId}`;
    },
    async unlinkedDocuments(ctx, scope, from, to) {
      return unlinkedDocuments(await api(), ctx, scope, from, to, OVERPAYMENT);
    },
    async openBalances(ctx, customerTargetIds, asAt) {
      return openBalances(await api(), ctx, customerTargetIds, asAt);
    },
    async pdf(ctx, invoiceTargetId) {
      const x = await api();
      return x.pdf(`/Invoices/${encodeURIComponent(invoiceTargetId)}`, ctx.signal);
    },
    async paidInvoices(ctx, invoiceTargetIds) {
      const out = new Map<string, string>();
      for (const d of await invoicesById(ctx, invoiceTargetIds)) {
        if (d.Status !== 'PAID') continue;
        const payments = Array.isArray(d.Payments) ? (d.Payments as Json[]) : [];
        const last = payments[payments.length - 1];
        out.set(str(d.InvoiceID), str(last?.Reference) || str(last?.PaymentID) || str(d.InvoiceNumber));
      }
      return out;
    },
  };
}
