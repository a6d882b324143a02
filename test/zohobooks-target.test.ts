import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import {
  type SimulatedGrant,
  callContext,
  directAllocation,
  directCreditNote,
  directCustomer as customer,
  directInvoice as invoice,
  directPayment as payment,
  expectFoundForItsCustomerOnly,
  simulatedGrant,
  targetIdOf as idOf,
  thrown,
} from './helpers/direct-target.ts';
import { directZohoBooksTarget, zohoAccounts } from './helpers/zohobooks.ts';
import type { Database } from '../src/db/database.ts';
import { postTokenGrant } from '../src/sync/remote/oauth-endpoint.ts';
import type { TargetConnector } from '../src/sync/target.ts';
import { zohoBooksTarget } from '../src/connectors/zohobooks/index.ts';
import { contactFields, lineItems } from '../src/connectors/zohobooks/map.ts';
import { ZohoBooksTargetSettings } from '../src/connectors/zohobooks/settings.ts';
import { type ZohoBooksSimulator, startZohoBooksSimulator } from '../src/connectors/zohobooks/simulator.ts';

/*
 * The Zoho Books target against its simulator, operation by operation: settings refused by name,
 * Zoho Accounts' token endpoint (client credentials in the form, `invalid_code` for a revoked
 * grant), mapping to taxes, one refused document among good ones, lost answers found again by
 * reference, 429 and 5xx retryable, an answer that is not Zoho's not retryable, secrets kept out
 * of every message, and every request within the contract the simulator checks.
 */

const CLIENT = { clientId: '1000.UNITTESTCLIENT', clientSecret: 'zoho-unit-secret-0123456789' };
const ORG = '70000000001';
let db: Database;
let sim: ZohoBooksSimulator;
let target: TargetConnector;
/** A grant on the simulator's Zoho Accounts (the stored connection is the engine's, tested end to end). */
let grant: SimulatedGrant;
const ctx = () => callContext(db);

const endpoint = () => zohoAccounts(sim, CLIENT);

function make(extra: Record<string, unknown> = {}): TargetConnector {
  return directZohoBooksTarget(db, sim, { app: CLIENT, organizationId: ORG, grant, settings: extra });
}

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startZohoBooksSimulator({
    ...CLIENT,
    organisations: { [ORG]: { name: 'Zoho Unit BV', currency: 'EUR' } },
    seed: 5,
    limits: { perMinute: 10_000, perDay: 100_000 },
  });
  grant = simulatedGrant(endpoint, sim.issueRefreshToken());
  target = make();
}, 60_000);
afterAll(async () => {
  await sim.close();
  await db.close();
});

describe('Zoho Books settings', () => {
  const base = { ...CLIENT, refreshToken: '1000.abc.def', organizationId: ORG };
  it('are strict, need the organisation and a refresh token, default to the .com data centre and refuse drafts', () => {
    expect(ZohoBooksTargetSettings.parse(base)).toMatchObject({ dataCenter: 'com', paymentMode: 'banktransfer' });
    const unknown = ZohoBooksTargetSettings.safeParse({ ...base, organisationId: ORG });
    expect(unknown.success).toBe(false);
    expect(JSON.stringify(unknown.error?.issues)).toMatch(/organisationId/);
    expect(ZohoBooksTargetSettings.safeParse({ ...CLIENT }).success).toBe(false);
    expect(ZohoBooksTargetSettings.safeParse({ ...CLIENT, organizationId: ORG }).success).toBe(false);
    expect(
      ZohoBooksTargetSettings.safeParse({ ...base, authorizeUrl: 'https://accounts.zoho.eu/oauth/v2/auth' }).success,
    ).toBe(false);
    expect(ZohoBooksTargetSettings.safeParse({ ...base, organizationId: 'acme' }).success).toBe(false);
    expect(ZohoBooksTargetSettings.safeParse({ ...base, dataCenter: 'de' }).success).toBe(false);
    expect(ZohoBooksTargetSettings.safeParse({ ...base, mode: 'draft' }).success).toBe(false);
    expect(ZohoBooksTargetSettings.safeParse({ ...base, limits: { callsPerMinute: 0 } }).success).toBe(false);
  });

  it('declare the data centre’s API host and Zoho Accounts as outbound, the credentials as secrets', () => {
    expect(zohoBooksTarget.outbound!({ ...base, dataCenter: 'eu' })).toEqual([
      { field: 'baseUrl', url: 'https://www.zohoapis.eu/books/v3' },
      { field: 'tokenUrl', url: 'https://accounts.zoho.eu/oauth/v2/token' },
    ]);
    expect(zohoBooksTarget.outbound!(base).map((o) => o.url)).toEqual([
      'https://www.zohoapis.com/books/v3',
      'https://accounts.zoho.com/oauth/v2/token',
    ]);
    expect(zohoBooksTarget.secrets).toEqual(['clientSecret', 'refreshToken']);
    expect(zohoBooksTarget.rateScopes!(base, null)).toEqual([
      { key: `zohobooks:org:${ORG}`, limits: expect.objectContaining({ callsPerMinute: 100, callsPerDay: 1000 }) },
    ]);
  });
});

describe('Zoho Accounts token endpoint', () => {
  it('exchanges the refresh token with the client credentials in the form', async () => {
    const a = await postTokenGrant(endpoint(), { grant_type: 'refresh_token', refresh_token: grant.refreshToken });
    expect(a).toMatchObject({ expiresInSeconds: 3600, refreshToken: null });
  });

  it('a revoked grant ({"error": "invalid_code"} with 200) is TARGET_AUTH_REVOKED; a wrong secret is not retryable', async () => {
    const gone = sim.issueRefreshToken();
    sim.revoke(gone);
    const err = await thrown(postTokenGrant(endpoint(), { grant_type: 'refresh_token', refresh_token: gone }));
    expect(err).toMatchObject({ code: 'TARGET_AUTH_REVOKED', retryable: false });
    expect(err.message).toMatch(/invalid_code/);
    const wrong = await thrown(
      postTokenGrant(
        { ...endpoint(), clientSecret: 'not-the-secret-987' },
        { grant_type: 'refresh_token', refresh_token: grant.refreshToken },
      ),
    );
    expect(wrong).toMatchObject({ retryable: false, code: null });
    expect(wrong.message).toMatch(/invalid_client/);
    expect(wrong.message).not.toContain('not-the-secret-987');
    expect(wrong.message).not.toContain(grant.refreshToken);
  });
});

describe('mapping', () => {
  const org = {
    name: 'x',
    currency: 'EUR',
    taxes: [
      { id: 't21', name: 'VAT 21%', percent: '21' },
      { id: 't9', name: 'VAT 9%', percent: '9.00' },
    ],
  };
  it('matches each line’s rate to a tax of the organisation, or the settings’ taxRates; an unknown rate is refused', () => {
    const lines = lineItems(
      [
        { description: 'A', netAmount: '10.00', vatRate: '0.21' },
        { description: 'B', netAmount: '5.00', vatRate: '0.09', quantity: '2', unitPrice: '2.50' },
        { description: 'C', netAmount: '1.00', vatRate: '0' },
      ],
      {},
      org,
      undefined,
    );
    expect(JSON.parse(JSON.stringify(lines))).toEqual([
      {
        name: 'A',
        description: 'A',
        quantity: { isLosslessNumber: true, value: '1' },
        rate: { isLosslessNumber: true, value: '10.00' },
        tax_id: 't21',
      },
      {
        name: 'B',
        description: 'B',
        quantity: { isLosslessNumber: true, value: '2' },
        rate: { isLosslessNumber: true, value: '2.50' },
        tax_id: 't9',
      },
      {
        name: 'C',
        description: 'C',
        quantity: { isLosslessNumber: true, value: '1' },
        rate: { isLosslessNumber: true, value: '1.00' },
      },
    ]);
    expect(
      lineItems([{ description: 'A', netAmount: '1.00', vatRate: '0.15' }], {}, org, { '0.15': 'mine' }),
    ).toMatchObject([{ tax_id: 'mine' }]);
    expect(lineItems([{ description: 'A', netAmount: '1.00', vatRate: '0.15' }], {}, org, undefined)).toMatchObject({
      code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
      retryable: false,
      field: 'lines[0].vatRate',
    });
  });

  it('writes only the customer fields a record carries; null clears', () => {
    expect(contactFields({ kind: 'customer', sourceId: 's', name: 'Ann', phone: null, city: 'Delft' }, 'C1')).toEqual({
      contact_name: 'Ann',
      contact_type: 'customer',
      contact_number: 'C1',
      phone: '',
      billing_address: { city: 'Delft' },
    });
  });
});

describe('Zoho Books target against the simulator', () => {
  let cust: string;

  it('checks the connection with the organisation', async () => {
    expect(await target.checkConnection!(ctx())).toBe(`organisation Zoho Unit BV (${ORG})`);
  });

  it('creates a contact under our code; a lost or failed create is looked up by name and linked, not made twice; a name held under another code is refused', async () => {
    const [made] = await target.upsertCustomers(ctx(), [customer('C1', 'Ann Example')]);
    expect(made).toMatchObject({ ok: true, number: 'C1', outcome: 'created' });
    cust = (made as { targetId: string }).targetId;
    // Its answer lost, then a 500: looked up by name and linked, not created twice nor left waiting.
    sim.dropNext(1, (r) => r.route === '/contacts');
    sim.failNext(500);
    const [again] = await target.upsertCustomers(ctx(), [customer('C2', 'Bob Example')]);
    expect(again).toMatchObject({ ok: true, number: 'C2', outcome: 'linked' });
    expect([...sim.org(ORG).contacts.values()].filter((c) => c.contact_name === 'Bob Example')).toHaveLength(1);
    // Three unknown outcomes in a row: the engine's to retry.
    sim.failNext(500, 500, 500);
    expect((await thrown(target.upsertCustomers(ctx(), [customer('C4', 'Cy Example')]))).retryable).toBe(true);
    const [clash] = await target.upsertCustomers(ctx(), [customer('C3', 'ann example')]);
    expect(clash).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', retryable: false } });
    expect((clash as { error: { message: string } }).error.message).toMatch(/contact_number C1/);
    expect(sim.duplicates(ORG)).toEqual([]);
  });

  it('books invoices marked sent, numbered by Zoho; one refused by Zoho and one without a tax do not sink the others', async () => {
    sim.org(ORG).lockedUntil = '2020-12-31';
    const results = await target.createInvoices(ctx(), [
      invoice('U-1', cust),
      invoice('U-2', cust, '10.00', '0.15'),
      invoice('U-3', cust, '10.00', '0.21', '2020-06-30'),
      invoice('U-4', cust, '50.00', '0.09'),
    ]);
    expect(results).toMatchObject([
      { ok: true, number: 'INV-000001' },
      { ok: false, error: { code: 'MAPPING_NO_TAX_CODE_FOR_RATE' } },
      { ok: false, error: { code: 'TARGET_REFUSED', retryable: false } },
      { ok: true, number: 'INV-000002' },
    ]);
    expect((results[2] as { error: { message: string } }).error.message).toMatch(/code 14006: .*have been locked/);
    const held = [...sim.org(ORG).invoices.values()];
    expect(held.map((d) => [d.reference_number, d.status, d.total])).toEqual([
      ['U-1', 'sent', 12100n],
      ['U-4', 'sent', 5450n],
    ]);
  });

  it('a lost answer is retryable, and findByReference then finds the invoice, marked sent', async () => {
    sim.dropNext(1, (r) => r.method === 'POST' && r.route === '/invoices');
    const err = await thrown(target.createInvoices(ctx(), [invoice('U-5', cust)]));
    expect(err.retryable).toBe(true);
    const draft = [...sim.org(ORG).invoices.values()].find((d) => d.reference_number === 'U-5')!;
    expect(draft.status).toBe('draft');
    // A reference that contains another is not it: Zoho's filter is loose, the match is exact.
    expect(await target.findByReference(ctx(), 'invoice', 'U-', cust)).toBeNull();
    expect(await target.findByReference(ctx(), 'invoice', 'U-5', cust)).toEqual({
      targetId: draft.id,
      number: draft.number,
      customerTargetId: cust,
    });
    expect(draft.status).toBe('sent');
    expect(await target.findByReference(ctx(), 'invoice', 'U-5', '999')).toBeNull();
  });

  it('429 and 500 are retryable; a 2xx that is not Zoho’s success body is not', async () => {
    sim.failNext(429);
    const limited = await thrown(target.createInvoices(ctx(), [invoice('U-6', cust)]));
    expect(limited).toMatchObject({ retryable: true, status: 429 });
    sim.failNext(500);
    expect(await thrown(target.createInvoices(ctx(), [invoice('U-6', cust)]))).toMatchObject({ retryable: true });
    sim.failNext(200);
    const odd = await thrown(target.createInvoices(ctx(), [invoice('U-6', cust)]));
    expect(odd).toMatchObject({ retryable: false });
    expect(odd.message).toMatch(/success body/);
    expect([...sim.org(ORG).invoices.values()].filter((d) => d.reference_number === 'U-6')).toEqual([]);
  });

  it('applies a payment to its invoice up to what it owes; finds it by reference', async () => {
    const inv = [...sim.org(ORG).invoices.values()].find((d) => d.reference_number === 'U-4')!;
    const [paid] = await target.createPayments!(ctx(), [
      {
        sourceId: 'P-1',
        idempotencyKey: 'k',
        customerTargetId: cust,
        invoiceTargetId: inv.id,
        bankAccountCode: '',
        record: {
          kind: 'payment',
          sourceId: 'P-1',
          externalReference: 'P-1',
          customerSourceId: 'c',
          date: '2026-11-05',
          amount: '60.00',
          currency: 'EUR',
          description: '',
        },
      },
    ]);
    expect(paid).toMatchObject({ ok: true });
    const p = sim.org(ORG).payments.get((paid as { targetId: string }).targetId)!;
    expect(p.amount).toBe(6000n);
    expect(p.invoices).toEqual([{ invoice_id: inv.id, amount_applied: 5450n }]);
    expect(inv.balance).toBe(0n);
    expect(await target.findByReference(ctx(), 'payment', 'P-1', cust)).toMatchObject({ targetId: p.payment_id });
  });

  it('books a credit note open and credits an invoice; a lost credit is found by findAllocation', async () => {
    const inv = [...sim.org(ORG).invoices.values()].find((d) => d.reference_number === 'U-1')!;
    const [note] = await target.createCreditNotes!(ctx(), [directCreditNote('N-1', cust, inv.id, '20.00')]);
    expect(note).toMatchObject({ ok: true, number: 'CN-00001' });
    const noteId = (note as { targetId: string }).targetId;
    const allocation = directAllocation('A-1', cust, inv.id, noteId, '24.20', {
      invoiceExternalReference: 'U-1',
      fromExternalReference: 'N-1',
    });
    sim.dropNext(1, (r) => r.route.endsWith('/invoices') && r.route.startsWith('/creditnotes/'));
    expect((await thrown(target.createAllocations!(ctx(), [allocation]))).retryable).toBe(true);
    const found = await target.findAllocation!(ctx(), allocation, new Set());
    expect(found).toEqual({ targetId: sim.org(ORG).credits[0]!.creditnote_invoice_id });
    expect(await target.findAllocation!(ctx(), allocation, new Set([found!.targetId]))).toBeNull();
    expect(inv.balance).toBe(12100n - 2420n);
    expect(sim.org(ORG).creditNotes.get(noteId)!.balance).toBe(0n);
  });

  it('takes only the given customer’s invoice, credit note or payment, never another’s under the same reference, also after a lost answer', async () => {
    const [made] = await target.upsertCustomers(ctx(), [customer('C5', 'Dee Example')]);
    const dee = (made as { targetId: string }).targetId;
    const [inv] = await target.createInvoices(ctx(), [invoice('S-1', cust)]);
    const [note] = await target.createCreditNotes!(ctx(), [directCreditNote('S-2', cust, null, '10.00')]);
    const [paid] = await target.createPayments!(ctx(), [payment('S-3', cust, idOf(inv), '10.00')]);
    await expectFoundForItsCustomerOnly(
      target,
      ctx(),
      { invoice: ['S-1', idOf(inv)], creditNote: ['S-2', idOf(note)], payment: ['S-3', idOf(paid)] },
      cust,
      dee,
    );
    // The other customer's invoice committed and its answer lost: its lookup finds it, not the first one's.
    sim.dropNext(1, (r) => r.method === 'POST' && r.route === '/invoices');
    expect((await thrown(target.createInvoices(ctx(), [invoice('S-1', dee, '50.00')]))).retryable).toBe(true);
    const theirs = [...sim.org(ORG).invoices.values()].find(
      (d) => d.reference_number === 'S-1' && d.customer_id === dee,
    )!;
    expect(await target.findByReference(ctx(), 'invoice', 'S-1', dee)).toEqual({
      targetId: theirs.id,
      number: theirs.number,
      customerTargetId: dee,
    });
    expect(theirs.status).toBe('sent');
    expect(sim.duplicates(ORG)).toEqual([]);
  });

  it('reads documents for write-back, and the invoice PDF', async () => {
    const inv = [...sim.org(ORG).invoices.values()].find((d) => d.reference_number === 'U-1')!;
    const docs = await target.documents!(ctx(), [inv.id, '123']);
    expect([...docs.values()]).toEqual([
      {
        targetId: inv.id,
        kind: 'invoice',
        number: 'INV-000001',
        customerTargetId: cust,
        externalReference: 'U-1',
        date: '2026-11-02',
        dueDate: '2026-12-02',
        currency: 'EUR',
        gross: 12100n,
        lines: 1,
      },
    ]);
    const pdf = await target.pdf!(ctx(), inv.id);
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(pdf.toString('latin1')).toContain('Invoice INV-000001');
  });

  it('an expired token is refreshed once; a revoked grant is TARGET_AUTH_REVOKED; no secret in any message', async () => {
    sim.expireAccessTokens();
    expect(await target.checkConnection!(ctx())).toMatch(/Zoho Unit BV/);
    const fresh = make();
    sim.revoke(grant.refreshToken);
    const err = await thrown(fresh.createInvoices(ctx(), [invoice('U-9', cust)]));
    expect(err).toMatchObject({ code: 'TARGET_AUTH_REVOKED', retryable: false });
    for (const secret of [CLIENT.clientSecret, grant.refreshToken, ...grant.seen])
      expect(err.message).not.toContain(secret);
  });

  it('sent every request within the contract', () => {
    expect(sim.violations).toEqual([]);
    expect(sim.duplicates(ORG)).toEqual([]);
  });
});
