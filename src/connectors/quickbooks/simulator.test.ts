import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_XSD, type QuickBooksSimulator, startQuickBooksSimulator } from './simulator.ts';

/* The QuickBooks Online simulator behaves as the service does for what the connector relies on. */

const HAVE_SPECS = existsSync(DEFAULT_XSD);
if (!HAVE_SPECS) console.warn(`QuickBooks XSD checks skipped: ${DEFAULT_XSD} is absent (../shared/specs/quickbooks)`);

const sims: QuickBooksSimulator[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.close();
});

async function sim(options: Parameters<typeof startQuickBooksSimulator>[0] = {}) {
  const s = await startQuickBooksSimulator(options);
  sims.push(s);
  return s;
}

function client(s: QuickBooksSimulator, realm = s.realmIds[0]!) {
  return async (method: 'GET' | 'POST', path: string, body?: unknown, query: Record<string, string> = {}) => {
    const url = new URL(`${s.baseUrl}/v3/company/${realm}/${path}`);
    url.searchParams.set('minorversion', '75');
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${s.accessToken}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      text,
      json: (text.startsWith('{') ? JSON.parse(text) : null) as Record<string, any>,
    };
  };
}

async function seed(call: ReturnType<typeof client>) {
  const customer = (await call('POST', 'customer', { DisplayName: 'Ann Example' })).json.Customer;
  const item = (await call('POST', 'item', { Name: 'Tickets', Type: 'Service', IncomeAccountRef: { value: '3' } })).json
    .Item;
  return { customer, item };
}

const invoice = (customerId: string, itemId: string, doc: string, amount = '100.00') => ({
  DocNumber: doc,
  TxnDate: '2026-11-02',
  CustomerRef: { value: customerId },
  Line: [
    {
      Amount: Number(amount),
      DetailType: 'SalesItemLineDetail',
      SalesItemLineDetail: { ItemRef: { value: itemId }, TaxCodeRef: { value: 'NON' } },
    },
  ],
});

describe('QuickBooks Online simulator', () => {
  it('refuses an entity that breaks the XSD contract (a misspelt field), recording the violation', async (t) => {
    if (!HAVE_SPECS) t.skip();
    const s = await sim();
    const call = client(s);
    expect(s.validating).toBe(true);
    const bad = await call('POST', 'customer', { DisplayName: 'Ann', PrimaryEmailAdress: { Address: 'a@b.example' } });
    expect(bad.status).toBe(400);
    expect(bad.json.Fault).toMatchObject({ type: 'ValidationFault', Error: [{ code: '2010' }] });
    expect(s.violations).toHaveLength(1);
    expect(s.violations[0]!.errors.join()).toContain('PrimaryEmailAdress');
    const good = await call('POST', 'customer', { DisplayName: 'Ann', PrimaryEmailAddr: { Address: 'a@b.example' } });
    expect(good.status).toBe(200);
    expect(good.json.Customer).toMatchObject({ Id: expect.any(String), SyncToken: '0', DisplayName: 'Ann' });
  });

  it('requires minorversion 75 or later and a valid bearer token', async () => {
    const s = await sim();
    const url = `${s.baseUrl}/v3/company/${s.realmIds[0]}/companyinfo/${s.realmIds[0]}`;
    const old = await fetch(`${url}?minorversion=65`, { headers: { authorization: `Bearer ${s.accessToken}` } });
    expect(old.status).toBe(400);
    const fault = (await old.json()) as { Fault: { Error: { Detail: string }[] } };
    expect(fault.Fault.Error[0]!.Detail).toContain('75');
    const anon = await fetch(`${url}?minorversion=75`, { headers: { authorization: 'Bearer nope' } });
    expect(anon.status).toBe(401);
    const refused = (await anon.json()) as { fault: { error: { code: string }[] } };
    expect(refused.fault.error[0]!.code).toBe('3200');
    const ok = await fetch(`${url}?minorversion=75`, { headers: { authorization: `Bearer ${s.accessToken}` } });
    const company = (await ok.json()) as { CompanyInfo: { Country: string } };
    expect(company.CompanyInfo.Country).toBe('US');
  });

  it('replays the first answer to a repeated requestid instead of writing again, per realm', async () => {
    const s = await sim();
    const call = client(s);
    const { customer, item } = await seed(call);
    const a = await call('POST', 'invoice', invoice(customer.Id, item.Id, 'INV-1'), { requestid: 'r-1' });
    const b = await call('POST', 'invoice', invoice(customer.Id, item.Id, 'INV-1'), { requestid: 'r-1' });
    expect(a.json.Invoice.Id).toBe(b.json.Invoice.Id);
    expect(s.books().all('Invoice')).toHaveLength(1);
    expect(s.stats.replays).toBe(1);
  });

  it('answers a batch item by item, each with its own Fault, and refuses more than 30 items', async () => {
    const s = await sim();
    const call = client(s);
    const { customer, item } = await seed(call);
    const res = await call('POST', 'batch', {
      BatchItemRequest: [
        { bId: 'a', operation: 'create', Invoice: invoice(customer.Id, item.Id, 'B-1') },
        { bId: 'b', operation: 'create', Invoice: invoice('999', item.Id, 'B-2') },
        { bId: 'c', Query: "SELECT * FROM Invoice WHERE DocNumber = 'B-1'" },
      ],
    });
    expect(res.status).toBe(200);
    const [a, b, c] = res.json.BatchItemResponse;
    expect(a.Invoice.DocNumber).toBe('B-1');
    expect(b.Fault.Error[0].code).toBe('2500');
    expect(c.QueryResponse.Invoice).toHaveLength(1);
    const many = await call('POST', 'batch', {
      BatchItemRequest: Array.from({ length: 31 }, (_, i) => ({ bId: String(i), Query: 'SELECT * FROM Item' })),
    });
    expect(many.status).toBe(400);
    expect(many.json.Fault.Error[0].Detail).toContain('30');
  });

  it('refuses an update with a stale SyncToken (5010), a sparse update changes only what it names', async () => {
    const s = await sim();
    const call = client(s);
    const { customer } = await seed(call);
    s.books().touch('Customer', customer.Id);
    const stale = await call('POST', 'customer', { Id: customer.Id, SyncToken: '0', sparse: true, CompanyName: 'X' });
    expect(stale.json.Fault.Error[0].code).toBe('5010');
    const fresh = await call('POST', 'customer', { Id: customer.Id, SyncToken: '1', sparse: true, CompanyName: 'X' });
    expect(fresh.json.Customer).toMatchObject({ SyncToken: '2', CompanyName: 'X', DisplayName: 'Ann Example' });
    const dup = await call('POST', 'customer', { DisplayName: 'ann example' });
    expect(dup.json.Fault.Error[0].code).toBe('6240');
  });

  it('applies payments to invoices and credit memos through LinkedTxn; CDC and the PDF show them', async () => {
    const s = await sim();
    const call = client(s);
    const { customer, item } = await seed(call);
    const inv = (await call('POST', 'invoice', invoice(customer.Id, item.Id, 'P-1', '100.10'))).json.Invoice;
    const cm = (await call('POST', 'creditmemo', invoice(customer.Id, item.Id, 'CM-1', '30.05'))).json.CreditMemo;
    const pay = await call('POST', 'payment', {
      CustomerRef: { value: customer.Id },
      TotalAmt: 70.05,
      PaymentRefNum: 'PAY-1',
      Line: [
        { Amount: 100.1, LinkedTxn: [{ TxnId: inv.Id, TxnType: 'Invoice' }] },
        { Amount: 30.05, LinkedTxn: [{ TxnId: cm.Id, TxnType: 'CreditMemo' }] },
      ],
    });
    expect(pay.status).toBe(200);
    expect(pay.text).toContain('"UnappliedAmt":0.00');
    const after = (await call('GET', `invoice/${inv.Id}`)).json.Invoice;
    expect(after.Balance).toBe(0);
    const over = await call('POST', 'payment', {
      CustomerRef: { value: customer.Id },
      TotalAmt: 5,
      Line: [{ Amount: 5, LinkedTxn: [{ TxnId: inv.Id, TxnType: 'Invoice' }] }],
    });
    expect(over.json.Fault.Error[0].Detail).toContain('open balance');
    const cdc = await call('GET', 'cdc', undefined, {
      entities: 'Invoice,Payment',
      changedSince: '2000-01-01T00:00:00Z',
    });
    const [invoices, payments] = cdc.json.CDCResponse[0].QueryResponse;
    expect(invoices.Invoice).toHaveLength(1);
    expect(payments.Payment).toHaveLength(1);
    const pdf = await call('GET', `invoice/${inv.Id}/pdf`);
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    expect(pdf.text).toContain('Invoice P-1');
  });

  it('updates a payment as QuickBooks does: lines replaced whole, balances moved by the difference, over-application and stale tokens refused inside the batch item', async () => {
    const s = await sim({ limits: { callsPerSecond: 1000 } });
    const call = client(s);
    const { customer, item } = await seed(call);
    const a = (await call('POST', 'invoice', invoice(customer.Id, item.Id, 'U-1', '40.00'))).json.Invoice;
    const b = (await call('POST', 'invoice', invoice(customer.Id, item.Id, 'U-2', '30.00'))).json.Invoice;
    const cm = (await call('POST', 'creditmemo', invoice(customer.Id, item.Id, 'UCM-1', '10.00'))).json.CreditMemo;
    const pay = (
      await call('POST', 'payment', {
        CustomerRef: { value: customer.Id },
        TotalAmt: 50,
        PaymentRefNum: 'U-PAY',
        Line: [{ Amount: 40, LinkedTxn: [{ TxnId: a.Id, TxnType: 'Invoice' }] }],
      })
    ).json.Payment;
    const update = (bId: string, syncToken: string, lines: unknown[]) => ({
      bId,
      operation: 'update',
      Payment: { Id: pay.Id, SyncToken: syncToken, sparse: true, Line: lines },
    });
    const line = (amount: number, id: string, type = 'Invoice') => ({
      Amount: amount,
      LinkedTxn: [{ TxnId: id, TxnType: type }],
    });
    const res = await call('POST', 'batch', {
      BatchItemRequest: [
        // More than invoice U-2 owes: refused in its item, nothing moved.
        update('over', '0', [line(40, a.Id), line(31, b.Id)]),
        update('ok', '0', [line(30, a.Id), line(20, b.Id)]),
        // The token the previous item used up.
        update('stale', '0', [line(40, a.Id)]),
      ],
    });
    const [over, ok, stale] = res.json.BatchItemResponse;
    expect(over.Fault).toMatchObject({ type: 'ValidationFault', Error: [{ code: '6000', element: 'Amount' }] });
    expect(over.Fault.Error[0].Detail).toContain('open balance is 30.00');
    expect(ok.Payment).toMatchObject({ SyncToken: '1', UnappliedAmt: 0 });
    expect(stale.Fault.Error[0].code).toBe('5010');
    const balance = async (type: string, id: string) =>
      (await call('GET', `${type}/${id}`)).json[type === 'invoice' ? 'Invoice' : 'CreditMemo'].Balance;
    expect([await balance('invoice', a.Id), await balance('invoice', b.Id)]).toEqual([10, 10]);
    // A Payment of 0 sets a credit memo against an invoice; more credit than invoice is refused.
    const zero = (lines: unknown[]) =>
      call('POST', 'payment', { CustomerRef: { value: customer.Id }, TotalAmt: 0, Line: lines });
    const tooMuch = await zero([line(5, b.Id), line(10, cm.Id, 'CreditMemo')]);
    expect(tooMuch.json.Fault.Error[0].Detail).toContain('must be applied to invoices');
    const applied = await zero([line(10, b.Id), line(10, cm.Id, 'CreditMemo')]);
    expect(applied.json.Payment).toMatchObject({ TotalAmt: 0, UnappliedAmt: 0 });
    const memo = (await call('GET', `creditmemo/${cm.Id}`)).json.CreditMemo;
    expect(memo).toMatchObject({
      Balance: 0,
      RemainingCredit: 0,
      LinkedTxn: [{ TxnId: applied.json.Payment.Id, TxnType: 'Payment' }],
    });
    expect(await balance('invoice', b.Id)).toBe(0);
    // Invoice U-1 no longer links the payment for what the update took off it, U-2 links both.
    const inv2 = (await call('GET', `invoice/${b.Id}`)).json.Invoice;
    expect(inv2.LinkedTxn.map((l: { TxnId: string }) => l.TxnId)).toEqual([pay.Id, applied.json.Payment.Id]);
  });

  it('keeps a journal entry as QuickBooks does (balanced, an A/R line naming a customer, TotalAmt 0); a payment links what it charges the receivable, never more', async (t) => {
    const s = await sim({ limits: { callsPerSecond: 1000 } });
    const call = client(s);
    const { customer, item } = await seed(call);
    const other = (await call('POST', 'customer', { DisplayName: 'Bo Other' })).json.Customer;
    const account = (type: string) =>
      s
        .books()
        .all('Account')
        .find((a) => a.AccountType === type)!.Id;
    const [ar, bank] = [account('Accounts Receivable'), account('Bank')];
    const inv = (await call('POST', 'invoice', invoice(customer.Id, item.Id, 'J-1', '100.00'))).json.Invoice;
    const pay = (
      await call('POST', 'payment', {
        CustomerRef: { value: customer.Id },
        TotalAmt: 150,
        PaymentRefNum: 'J-PAY',
        Line: [{ Amount: 100, LinkedTxn: [{ TxnId: inv.Id, TxnType: 'Invoice' }] }],
      })
    ).json.Payment;
    expect(pay.UnappliedAmt).toBe(50);
    const line = (posting: 'Debit' | 'Credit', accountId: string, amount: number, customerId?: string) => ({
      Amount: amount,
      DetailType: 'JournalEntryLineDetail',
      JournalEntryLineDetail: {
        PostingType: posting,
        AccountRef: { value: accountId },
        ...(customerId ? { Entity: { Type: 'Customer', EntityRef: { value: customerId } } } : {}),
      },
    });
    const journal = (lines: unknown[]) => call('POST', 'journalentry', { DocNumber: 'RF-1', Line: lines });
    // An A/R line must name a customer; the debits must equal the credits: QuickBooks' Fault, nothing kept.
    const nameless = await journal([line('Debit', ar, 30), line('Credit', bank, 30)]);
    expect(nameless.status).toBe(400);
    expect(nameless.json.Fault).toMatchObject({
      type: 'ValidationFault',
      Error: [{ code: '6000', element: 'Entity' }],
    });
    expect(nameless.json.Fault.Error[0].Detail).toContain('you must choose a customer in the Name field');
    const unbalanced = await journal([line('Debit', ar, 30, customer.Id), line('Credit', bank, 29)]);
    expect(unbalanced.json.Fault.Error[0]).toMatchObject({ code: '6000', element: 'Line' });
    expect(s.books().all('JournalEntry')).toHaveLength(0);
    const je = (await journal([line('Debit', ar, 30, customer.Id), line('Credit', bank, 30)])).json.JournalEntry;
    expect(je).toMatchObject({ DocNumber: 'RF-1', TotalAmt: 0 });
    const found = await call('GET', 'query', undefined, {
      query: "SELECT * FROM JournalEntry WHERE DocNumber IN ('RF-1', 'RF-2')",
    });
    expect(found.json.QueryResponse.JournalEntry.map((e: { Id: string }) => e.Id)).toEqual([je.Id]);
    const update = (syncToken: string, lines: unknown[]) =>
      call('POST', 'payment', { Id: pay.Id, SyncToken: syncToken, sparse: true, Line: lines });
    const invoiceLine = { Amount: 100, LinkedTxn: [{ TxnId: inv.Id, TxnType: 'Invoice' }] };
    const linkJe = (amount: number) => ({ Amount: amount, LinkedTxn: [{ TxnId: je.Id, TxnType: 'JournalEntry' }] });
    // More than the journal entry charges the receivable: refused.
    const over = await update('0', [invoiceLine, linkJe(31)]);
    expect(over.json.Fault.Error[0]).toMatchObject({ code: '6000', element: 'Amount' });
    expect(over.json.Fault.Error[0].Detail).toContain('open balance is 30.00');
    const linked = (await update('0', [invoiceLine, linkJe(30)])).json.Payment;
    expect(linked).toMatchObject({ SyncToken: '1', TotalAmt: 150, UnappliedAmt: 20 });
    // Another customer's payment cannot take it; nor can a second line of this one beyond what is left.
    const theirs = await call('POST', 'payment', {
      CustomerRef: { value: other.Id },
      TotalAmt: 10,
      Line: [linkJe(10)],
    });
    expect(theirs.json.Fault.Error[0].Detail).toContain("charges nothing to this customer's Accounts Receivable");
    const again = await call('POST', 'payment', {
      CustomerRef: { value: customer.Id },
      TotalAmt: 5,
      Line: [linkJe(5)],
    });
    expect(again.json.Fault.Error[0].Detail).toContain('open balance is 0.00');
    // The payment's lines replaced without it: the journal entry's charge is open again.
    expect((await update('1', [invoiceLine])).json.Payment.UnappliedAmt).toBe(50);
    if (!HAVE_SPECS) t.skip();
    const misspelt = await call('POST', 'journalentry', {
      Line: [{ ...line('Debit', ar, 5, customer.Id), JournalEntryLineDetails: {} }, line('Credit', bank, 5)],
    });
    expect(misspelt.json.Fault.Error[0].code).toBe('2010');
    expect(s.violations.at(-1)).toMatchObject({ entity: 'JournalEntry' });
  });

  /** The statuses of `n` reads in a row. */
  async function statusesOf(call: ReturnType<typeof client>, n: number): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) statuses.push((await call('GET', 'preferences')).status);
    return statuses;
  }

  // Windows far longer than the test: a slow machine cannot let a call slip into the next window.
  it('enforces its limits per realm with 429 and the throttle body, and counts what it saw', async () => {
    const s = await sim({ limits: { callsPerSecond: 3, callsPerMinute: 5, secondMs: 60_000, minuteMs: 600_000 } });
    const call = client(s);
    expect(await statusesOf(call, 4)).toEqual([200, 200, 200, 429]);
    const refused = await call('GET', 'preferences');
    expect(refused.json.fault.error[0].code).toBe('3001');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(s.stats).toMatchObject({ maxPerSecond: 3, throttled: 2, throttledBy: { second: 2, minute: 0 } });
  });

  it('refuses the call past the minute limit while the second limit has room', async () => {
    const s = await sim({ limits: { callsPerSecond: 10, callsPerMinute: 3, secondMs: 60_000, minuteMs: 600_000 } });
    expect(await statusesOf(client(s), 4)).toEqual([200, 200, 200, 429]);
    expect(s.stats).toMatchObject({ maxPerMinute: 3, throttled: 1, throttledBy: { second: 0, minute: 1 } });
  });

  it('commits a write and then drops the connection when told to', async () => {
    const s = await sim();
    const call = client(s);
    await seed(call);
    s.dropNext();
    await expect(call('POST', 'customer', { DisplayName: 'Dropped' })).rejects.toThrow();
    expect(
      s
        .books()
        .all('Customer')
        .map((c) => c.DisplayName),
    ).toContain('Dropped');
    expect(s.stats.dropped).toBe(1);
  });

  it('keeps VAT codes by rate for a VAT company and computes tax from them', async () => {
    const s = await sim({ realms: { '42': { country: 'GB', currency: 'GBP' } } });
    const call = client(s, '42');
    const { customer, item } = await seed(call);
    const codes = (await call('GET', 'query', undefined, { query: 'SELECT * FROM TaxCode' })).json.QueryResponse
      .TaxCode;
    const twenty = (codes as { Id: string; Name: string }[]).find((c) => c.Name.startsWith('20'));
    const inv = await call('POST', 'invoice', {
      ...invoice(customer.Id, item.Id, 'V-1'),
      Line: [
        {
          Amount: 100,
          DetailType: 'SalesItemLineDetail',
          SalesItemLineDetail: { ItemRef: { value: item.Id }, TaxCodeRef: { value: twenty!.Id } },
        },
      ],
    });
    expect(inv.text).toContain('"TotalAmt":120.00');
    const us = await call('POST', 'invoice', invoice(customer.Id, item.Id, 'V-2'));
    expect(us.json.Fault.Error[0].Detail).toContain('VAT');
  });
});
