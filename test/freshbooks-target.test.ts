import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import {
  type SimulatedGrant,
  callContext,
  directAllocation,
  directCreditNote,
  directCustomer as customer,
  directInvoice as invoice,
  directPayment,
  expectFoundForItsCustomerOnly,
  simulatedGrant,
  targetIdOf as idOf,
  thrown,
} from './helpers/direct-target.ts';
import { directFreshBooksTarget, freshBooksTokens } from './helpers/freshbooks.ts';
import type { Database } from '../src/db/database.ts';
import { postTokenGrant } from '../src/sync/remote/oauth-endpoint.ts';
import type { TargetConnector } from '../src/sync/target.ts';
import { freshBooksTarget } from '../src/connectors/freshbooks/index.ts';
import { CODE_PREFIX, REF_PREFIX, clientFields, lines, tagOf, withTag } from '../src/connectors/freshbooks/map.ts';
import {
  FRESHBOOKS_OAUTH,
  FreshBooksTargetSettings,
  SYSTEM,
  tenantsOfMe,
} from '../src/connectors/freshbooks/settings.ts';
import { type FreshBooksSimulator, startFreshBooksSimulator } from '../src/connectors/freshbooks/simulator.ts';

/*
 * The FreshBooks target against its simulator, operation by operation: settings refused by name,
 * the token endpoint (client credentials in the form, single-use refresh tokens, invalid_grant once
 * revoked), the businesses of a consent, mapping to taxes, one refused document among good ones,
 * lost answers found again by our reference (po_number, or the note's reference line), 429 and 5xx
 * retryable, secrets kept out of every message, and every request within the contract.
 */

const CLIENT = { clientId: 'fb-unit-client', clientSecret: 'fb-unit-secret-0123456789' };
const ACC = 'Un1tAc';
let db: Database;
let sim: FreshBooksSimulator;
let target: TargetConnector;
/** Single-use refresh tokens: the grant keeps the one each refresh rotates to (the stored connection is the engine's, tested end to end). */
let grant: SimulatedGrant;
const ctx = () => callContext(db);

function make(extra: Record<string, unknown> = {}): TargetConnector {
  return directFreshBooksTarget(db, sim, { app: CLIENT, accountId: ACC, grant, settings: extra });
}

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startFreshBooksSimulator({ ...CLIENT, accounts: { [ACC]: { name: 'FB Unit Ltd' } }, seed: 5 });
  grant = simulatedGrant(() => freshBooksTokens(sim, CLIENT), sim.issueRefreshToken());
  target = make();
}, 60_000);
afterAll(async () => {
  await sim.close();
  await db.close();
});

const payment = (ref: string, customerTargetId: string, invoiceTargetId: string | null, amount: string) =>
  directPayment(ref, customerTargetId, invoiceTargetId, amount, {
    invoiceExternalReference: null,
    description: 'Paid',
  });

const acc = () => sim.account(ACC);
const invoiceOf = (ref: string) => [...acc().invoices.values()].find((d) => d.po_number === ref)!;

describe('FreshBooks settings and connection', () => {
  const base = { ...CLIENT, refreshToken: 'abc' };
  it('are strict, refuse drafts, and take the account as tenantId', () => {
    expect(FreshBooksTargetSettings.safeParse({ ...base, tenantId: 'aB12' }).success).toBe(true);
    const unknown = FreshBooksTargetSettings.safeParse({ ...base, accountid: 'aB12' });
    expect(unknown.error?.issues[0]?.message).toMatch(/accountid/);
    expect(FreshBooksTargetSettings.safeParse({ ...base, mode: 'draft' }).error?.issues[0]?.message).toMatch(
      /mode: draft is not supported/,
    );
    expect(FreshBooksTargetSettings.safeParse({ ...base, tenantId: 'a/b' }).success).toBe(false);
    expect(FreshBooksTargetSettings.safeParse({ ...base, paymentType: 'Barter' }).success).toBe(false);
  });

  it('declare the API host and token endpoint as outbound, the credentials as secrets, the consent flow as OAuth', () => {
    expect(freshBooksTarget.outbound!({})).toEqual([
      { field: 'baseUrl', url: 'https://api.freshbooks.com' },
      { field: 'tokenUrl', url: 'https://api.freshbooks.com/auth/oauth/token' },
    ]);
    expect(freshBooksTarget.secrets).toEqual(['clientSecret', 'refreshToken']);
    expect(FRESHBOOKS_OAUTH.authorizeUrl).toBe('https://auth.freshbooks.com/oauth/authorize');
    expect(freshBooksTarget.rateScopes!({ ...base }, 'Conn1')).toEqual([
      { key: 'freshbooks:account:Conn1', limits: expect.objectContaining({ callsPerMinute: 60, concurrent: 2 }) },
    ]);
  });

  it('lists the businesses a consent covers from /users/me', async () => {
    expect(
      tenantsOfMe({
        response: {
          business_memberships: [
            { business: { account_id: 'aB1', name: 'One' } },
            { business: { account_id: null, name: 'No account' } },
          ],
        },
      }),
    ).toEqual([{ tenantId: 'aB1', tenantName: 'One' }]);
    const a = await postTokenGrant(
      { system: SYSTEM, tokenUrl: sim.tokenUrl, ...CLIENT, clientAuthentication: 'body' },
      { grant_type: 'authorization_code', code: sim.issueCode(), redirect_uri: 'https://x.example/cb' },
    );
    const tenants = await FRESHBOOKS_OAUTH.tenants({
      callback: new URLSearchParams(),
      accessToken: a.accessToken,
      settings: { baseUrl: sim.baseUrl },
      request: async (url, init) => {
        const r = await fetch(url, init);
        const text = await r.text();
        return { status: r.status, headers: r.headers, text, body: Buffer.from(text) };
      },
    });
    expect(tenants).toEqual([{ tenantId: ACC, tenantName: 'FB Unit Ltd' }]);
  });

  it('checks the connection with the business of the account', async () => {
    expect(await target.checkConnection!(ctx())).toBe(`business FB Unit Ltd (account ${ACC})`);
  });
});

describe('FreshBooks mapping', () => {
  const account = { name: 'x', taxes: [{ name: 'VAT 21%', percent: '21' }] };
  it('matches each line’s rate to a tax of the account, or the settings’ taxRates; an unknown rate is refused', () => {
    const line = (vatRate: string) => [{ description: 'S', netAmount: '10.00', vatRate }];
    expect(lines(line('0.21'), 'EUR', account, undefined)).toMatchObject([
      { name: 'S', unit_cost: { amount: '10.00', code: 'EUR' }, taxName1: 'VAT 21%', taxAmount1: '21' },
    ]);
    expect(lines(line('0.09'), 'EUR', account, { '0.09': 'Reduced' })).toMatchObject([
      { taxName1: 'Reduced', taxAmount1: '9' },
    ]);
    expect(lines(line('0'), 'EUR', account, undefined)).toEqual([
      expect.not.objectContaining({ taxName1: expect.anything() }),
    ]);
    expect(lines(line('0.06'), 'EUR', account, undefined)).toMatchObject({
      code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
      field: 'lines[0].vatRate',
    });
    const units = lines(
      [{ description: 'U', netAmount: '7.50', quantity: '3', unitPrice: '2.50', vatRate: '0' }],
      'EUR',
      account,
      undefined,
    );
    expect(JSON.stringify(units)).toContain('"unit_cost":{"amount":"2.50","code":"EUR"}');
  });

  it('writes only the client fields a record carries; keeps our reference as one line of a note', () => {
    expect(clientFields({ kind: 'customer', sourceId: 's', name: 'N', email: null, city: 'Gent' })).toEqual({
      organization: 'N',
      email: '',
      p_city: 'Gent',
    });
    const note = withTag('Thanks\nledgerlink-ref: old', REF_PREFIX, 'R-1');
    expect(note).toBe('Thanks\nledgerlink-ref: R-1');
    expect(tagOf(note, REF_PREFIX)).toBe('R-1');
    expect(tagOf(withTag('', CODE_PREFIX, 'C1'), CODE_PREFIX)).toBe('C1');
    expect(tagOf('no tag', REF_PREFIX)).toBe('');
  });
});

let cust = '';

describe('FreshBooks documents', () => {
  it('creates a client under our code; one of that name is linked, not made twice; a name under another code is refused', async () => {
    const [created] = await target.upsertCustomers(ctx(), [customer('C1', 'Ann Ltd')]);
    expect(created).toMatchObject({ ok: true, outcome: 'created', number: 'C1' });
    cust = (created as { targetId: string }).targetId;
    expect(tagOf(acc().clients.get(cust)!.note, CODE_PREFIX)).toBe('C1');
    const [again] = await target.upsertCustomers(ctx(), [customer('C1', 'ann ltd')]);
    expect(again).toMatchObject({ ok: true, outcome: 'linked', targetId: cust });
    const [other] = await target.upsertCustomers(ctx(), [customer('C2', 'Ann Ltd')]);
    expect(other).toMatchObject({
      ok: false,
      error: { code: 'TARGET_REFUSED', message: expect.stringMatching(/code C1/) },
    });
    sim.dropNext(1, (r) => r.method === 'POST' && r.route === '/users/clients');
    const [lost] = await target.upsertCustomers(ctx(), [customer('C3', 'Bob Ltd')]);
    expect(lost).toMatchObject({ ok: true, outcome: 'linked' });
    expect(sim.duplicates(ACC)).toEqual([]);
    expect(await target.customer!(ctx(), cust, 'C1')).toMatchObject({ name: 'ann ltd', code: 'C1' });
  });

  it('books invoices marked sent, numbered by FreshBooks; one refused and one without a tax do not sink the others', async () => {
    const out = await target.createInvoices(ctx(), [
      invoice('U-1', cust),
      invoice('U-2', cust, '10000000000.00'),
      invoice('U-3', cust, '10.00', '0.06'),
      invoice('U-4', cust, '50.00'),
      { ...invoice('U-7', cust), record: { ...invoice('U-7', cust).record, dueDate: '2026-11-01' } },
    ]);
    expect(out.map((r) => (r.ok ? r.number : r.error.code))).toEqual([
      '0000001',
      'TARGET_REFUSED',
      'MAPPING_NO_TAX_CODE_FOR_RATE',
      '0000002',
      'TARGET_REFUSED',
    ]);
    expect((out[4] as { error: { message: string } }).error.message).toMatch(/due \(2026-11-01\) before its date/);
    expect((out[1] as { error: { message: string } }).error.message).toMatch(/errno 2001 unit_cost/);
    expect([invoiceOf('U-1').status, invoiceOf('U-1').total, invoiceOf('U-1').due_date]).toEqual([
      'sent',
      12100n,
      '2026-12-02',
    ]);
  });

  it('a lost answer is retryable, and findByReference then finds the invoice (matched exactly), marked sent', async () => {
    sim.dropNext(1, (r) => r.method === 'POST' && r.route === '/invoices/invoices');
    const err = await thrown(target.createInvoices(ctx(), [invoice('U-5', cust)]));
    expect(err.retryable).toBe(true);
    const draft = invoiceOf('U-5');
    expect(draft.status).toBe('draft');
    expect(await target.findByReference(ctx(), 'invoice', 'U-', cust)).toBeNull();
    expect(await target.findByReference(ctx(), 'invoice', 'U-5', cust)).toEqual({
      targetId: draft.id,
      number: draft.invoice_number,
      customerTargetId: cust,
    });
    expect(draft.status).toBe('sent');
    expect(await target.findByReference(ctx(), 'invoice', 'U-5', '999')).toBeNull();
  });

  it('429 and 500 are retryable and book nothing', async () => {
    sim.failNext(429);
    expect(await thrown(target.createInvoices(ctx(), [invoice('U-6', cust)]))).toMatchObject({
      retryable: true,
      status: 429,
    });
    sim.failNext(500);
    expect(await thrown(target.createInvoices(ctx(), [invoice('U-6', cust)]))).toMatchObject({ retryable: true });
    expect(invoiceOf('U-6')).toBeUndefined();
  });

  it('books a payment on its invoice and finds it by reference; a payment of no invoice is TARGET_CAPABILITY_MISSING', async () => {
    const inv = invoiceOf('U-1');
    sim.dropNext(1, (r) => r.method === 'POST' && r.route === '/payments/payments');
    expect((await thrown(target.createPayments!(ctx(), [payment('P-1', cust, inv.id, '21.00')]))).retryable).toBe(true);
    const found = await target.findByReference(ctx(), 'payment', 'P-1', cust);
    const held = [...acc().payments.values()].find((p) => tagOf(p.note, REF_PREFIX) === 'P-1')!;
    expect(found).toMatchObject({ targetId: held.id, customerTargetId: cust });
    expect([held.invoiceid, held.amount, held.type, inv.outstanding]).toEqual([inv.id, 2100n, 'Bank Transfer', 10000n]);
    const [none] = await target.createPayments!(ctx(), [payment('P-2', cust, null, '5.00')]);
    expect(none).toMatchObject({ ok: false, error: { code: 'TARGET_CAPABILITY_MISSING' } });
    // Sent without its invoice (the engine had not booked it yet): looked up by the invoice's reference, or waits.
    const named = (ref: string, invoiceRef: string) => {
      const p = payment(ref, cust, null, '1.00');
      return { ...p, record: { ...p.record, invoiceExternalReference: invoiceRef } };
    };
    const [late, early] = await target.createPayments!(ctx(), [named('P-3', 'U-4'), named('P-4', 'U-404')]);
    expect(late).toMatchObject({ ok: true });
    expect([...acc().payments.values()].find((p) => tagOf(p.note, REF_PREFIX) === 'P-3')!.invoiceid).toBe(
      invoiceOf('U-4').id,
    );
    // Not in FreshBooks yet: it waits for that invoice, parked, rather than retrying on a timer.
    expect(early).toMatchObject({
      ok: false,
      error: {
        code: 'ALLOCATION_DOCUMENT_NOT_SYNCED',
        retryable: false,
        field: 'invoiceExternalReference',
        needs: { kind: 'invoice', customerTargetId: cust, reference: 'U-404' },
      },
    });
  });

  it('books a credit note and sets it against an invoice with a credit payment; a lost credit is found by findAllocation', async () => {
    const [note] = await target.createCreditNotes!(ctx(), [
      directCreditNote('N-1', cust, invoiceOf('U-4').id, '20.00', { invoiceExternalReference: 'U-4' }),
    ]);
    expect(note).toMatchObject({ ok: true, number: '0000001' });
    const noteId = (note as { targetId: string }).targetId;
    expect(await target.findByReference(ctx(), 'creditNote', 'N-1', cust)).toMatchObject({ targetId: noteId });
    const inv = invoiceOf('U-4');
    const alloc = directAllocation('A-1', cust, inv.id, noteId, '24.20', {
      invoiceExternalReference: 'U-4',
      fromExternalReference: 'N-1',
    });
    sim.dropNext(1, (r) => r.method === 'POST' && r.route === '/payments/payments');
    expect((await thrown(target.createAllocations!(ctx(), [alloc]))).retryable).toBe(true);
    const found = await target.findAllocation!(ctx(), alloc, new Set());
    expect(found).not.toBeNull();
    expect(await target.findAllocation!(ctx(), alloc, new Set([found!.targetId]))).toBeNull();
    expect([inv.outstanding, acc().creditNotes.get(noteId)!.remaining]).toEqual([6050n - 100n - 2420n, 0n]);
    const [fromPayment] = await target.createAllocations!(ctx(), [
      { ...alloc, record: { ...alloc.record, from: 'payment' } },
    ]);
    expect(fromPayment).toMatchObject({ ok: false, error: { code: 'TARGET_CAPABILITY_MISSING' } });
  });

  it('takes only the given client’s invoice, credit note or payment, never another’s under the same reference, also after a lost answer; sets each credit on its own client’s invoice', async () => {
    const [made] = await target.upsertCustomers(ctx(), [customer('C5', 'Dee Ltd')]);
    const dee = idOf(made);
    const [inv] = await target.createInvoices(ctx(), [invoice('S-1', cust)]);
    const [note] = await target.createCreditNotes!(ctx(), [directCreditNote('S-2', cust, null, '10.00')]);
    const [paid] = await target.createPayments!(ctx(), [payment('S-3', cust, idOf(inv), '10.00')]);
    await expectFoundForItsCustomerOnly(
      target,
      ctx(),
      { invoice: ['S-1', idOf(inv)], creditNote: ['S-2', idOf(note)], payment: ['S-3', idOf(paid)] },
      cust,
      dee,
      'client',
    );
    // The other client's invoice committed and its answer lost: its lookup finds it, not the first one's.
    sim.dropNext(1, (r) => r.method === 'POST' && r.route === '/invoices/invoices');
    expect((await thrown(target.createInvoices(ctx(), [invoice('S-1', dee, '50.00')]))).retryable).toBe(true);
    const theirs = [...acc().invoices.values()].find((d) => d.po_number === 'S-1' && d.customerid === dee)!;
    expect(await target.findByReference(ctx(), 'invoice', 'S-1', dee)).toEqual({
      targetId: theirs.id,
      number: theirs.invoice_number,
      customerTargetId: dee,
    });
    // Each client's credit note under the shared reference, set against its own client's invoice.
    const [theirNote] = await target.createCreditNotes!(ctx(), [directCreditNote('S-2', dee, null, '5.00')]);
    const refs = { invoiceExternalReference: 'S-1', fromExternalReference: 'S-2' };
    const applied = await target.createAllocations!(ctx(), [
      directAllocation('A-S1', cust, idOf(inv), idOf(note), '12.10', refs),
      directAllocation('A-S2', dee, theirs.id, idOf(theirNote), '6.05', refs),
    ]);
    expect(applied.map((r) => r.ok)).toEqual([true, true]);
    const credits = [...acc().payments.values()].filter(
      (p) => p.type === 'Credit' && p.note.startsWith('Credit note S-2'),
    );
    expect(credits.map((p) => [tagOf(p.note, REF_PREFIX), p.invoiceid, p.clientid, p.amount])).toEqual([
      ['A-S1', idOf(inv), cust, 1210n],
      ['A-S2', theirs.id, dee, 605n],
    ]);
    expect([idOf(note), idOf(theirNote)].map((id) => acc().creditNotes.get(id)!.remaining)).toEqual([0n, 0n]);
    expect(sim.duplicates(ACC)).toEqual([]);
  });

  it('reads invoices for write-back, and the invoice PDF', async () => {
    const inv = invoiceOf('U-1');
    const docs = await target.documents!(ctx(), [inv.id, '999999']);
    expect([...docs.values()]).toEqual([
      expect.objectContaining({
        kind: 'invoice',
        number: '0000001',
        externalReference: 'U-1',
        gross: 12100n,
        dueDate: '2026-12-02',
      }),
    ]);
    const pdf = await target.pdf!(ctx(), inv.id);
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(pdf.toString('latin1')).toContain('Invoice 0000001 total 121.00');
  });

  it('an expired token is refreshed with the rotated refresh token; a revoked grant is TARGET_AUTH_REVOKED; no secret in any message', async () => {
    sim.expireAccessTokens();
    const refreshes = sim.stats.refreshes;
    expect(await target.checkConnection!(ctx())).toMatch(/FB Unit Ltd/);
    expect(sim.stats.refreshes).toBe(refreshes + 1);
    const fresh = make();
    sim.revokeAll();
    const err = await thrown(fresh.createInvoices(ctx(), [invoice('U-9', cust)]));
    expect(err).toMatchObject({ code: 'TARGET_AUTH_REVOKED', retryable: false });
    for (const secret of [CLIENT.clientSecret, ...grant.seen]) expect(err.message).not.toContain(secret);
  });

  it('sent every request within the contract', () => {
    expect(sim.violations).toEqual([]);
    expect(sim.duplicates(ACC)).toEqual([]);
  });
});
