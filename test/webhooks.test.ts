import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants } from './helpers/ledger.ts';
import { definePipeline } from './helpers/sync.ts';
import {
  invoiceEvent as baseInvoiceEvent,
  senderSignature,
  webhookClient,
  type WebhookClient,
} from './helpers/webhooks.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';

const SECRET = 'shop-webhook-secret-0123456789';
let t: TestApp;
let c: Client;
let hooks: WebhookClient;
let shop: Pipeline;

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('HOOK', 'EUR', { standardTaxRate: '0.21' });
  hooks = await webhookClient(t);
  shop = await definePipeline(t.db, 'HOOK', { name: 'shop', source: { type: 'webhook' }, webhookSecret: SECRET });
  await definePipeline(t.db, 'HOOK', { name: 'nosecret', source: { type: 'webhook' } });
});
afterAll(async () => {
  await hooks.close();
  await t.close();
});

let seq = 0;
const now = () => Math.floor(Date.now() / 1000);

function invoiceEvent(ref: string, net: string, opts: { type?: string; id?: string; customer?: string } = {}) {
  const customer = opts.customer ?? 'cust-1';
  return baseInvoiceEvent(opts.id ?? `evt-${++seq}`, ref, {
    type: opts.type,
    customer: { sourceId: customer, name: `Customer ${customer}`, email: `${customer}@example.org` },
    description: 'Compressor service',
    net,
  });
}

function paymentEvent(ref: string, amount: string, invoiceRef: string | null, fee: string | null = null) {
  return {
    id: `evt-${++seq}`,
    type: 'payment.received',
    created: now(),
    data: {
      sourceId: `pay-${ref}`,
      externalReference: ref,
      customerSourceId: 'cust-1',
      date: '2026-11-22',
      amount,
      currency: 'EUR',
      invoiceExternalReference: invoiceRef,
      fee,
    },
  };
}

/** Sends an event signed like a real sender; `body` may be given to send exact text. */
async function send(
  event: unknown,
  opts: { body?: string; secret?: string; t?: number; pipeline?: string; signature?: string } = {},
) {
  const body = opts.body ?? JSON.stringify(event);
  const signature = opts.signature ?? senderSignature(body, opts.secret ?? SECRET, opts.t);
  return hooks.post(`/v1/webhooks/${opts.pipeline ?? 'shop'}`, body, { 'x-ledgerlink-signature': signature });
}

async function counts() {
  const { rows } = await t.db.query<{ events: string; runs: string; tx: string; customers: string }>(
    `SELECT (SELECT count(*) FROM webhook_events) AS events, (SELECT count(*) FROM runs) AS runs,
            (SELECT count(*) FROM transactions WHERE entity_id = $1) AS tx, (SELECT count(*) FROM customers WHERE entity_id = $1) AS customers`,
    [c.entityId],
  );
  return rows[0]!;
}

async function transaction(type: string, ref: string) {
  const { rows } = await t.db.query<{ id: string; gross: string; customer_code: string }>(
    `SELECT id, gross, customer_code FROM transactions WHERE entity_id = $1 AND type = $2 AND external_reference = $3`,
    [c.entityId, type, ref],
  );
  return rows;
}

/** The allocations against a debit document of this entity: amount, the credit document's reference, date, allocation reference. */
async function allocationsOn(type: string, reference: string) {
  const { rows } = await t.db.query<{ amount: string; receipt: string; date: string; reference: string }>(
    `SELECT a.amount, r.external_reference AS receipt, a.allocation_date::text AS date, a.reference FROM allocations a
       JOIN transactions d ON d.id = a.debit_transaction_id JOIN transactions r ON r.id = a.credit_transaction_id
      WHERE d.entity_id = $1 AND d.type = $2 AND d.external_reference = $3`,
    [c.entityId, type, reference],
  );
  return rows;
}

/** What the run records say of a source record, oldest first. */
async function message(kind: string, sourceId: string) {
  const { rows } = await t.db.query<{ message: string }>(
    `SELECT message FROM run_records WHERE kind = $1 AND source_id = $2 ORDER BY id`,
    [kind, sourceId],
  );
  return rows.map((r) => r.message);
}

describe('canonical webhooks', () => {
  it('posts an invoice with its embedded customer, a payment allocated to it with its fee, and a refund against the receipt', async () => {
    // 4200.10 is sent as a JSON number: it must arrive as exactly 4200.10, not a float.
    const inv = invoiceEvent('SO-1001', '0');
    const body = JSON.stringify(inv).replace('"netAmount":"0"', '"netAmount":4200.10');
    const r1 = await send(inv, { body });
    expect(r1.status).toBe(202);
    expect(r1.body).toEqual({ eventId: inv.id, duplicate: false });
    const [si] = await transaction('SI', 'SO-1001');
    expect(si).toMatchObject({ gross: '508212', customer_code: 'CUST-1' }); // 4200.10 + 21 % = 5082.12

    const pay = paymentEvent('PAY-1', '5082.12', 'SO-1001', '1.50');
    expect((await send(pay)).status).toBe(202);
    const [sr] = await transaction('SR', 'PAY-1');
    expect(sr).toMatchObject({ gross: '508212', customer_code: 'CUST-1' });
    const { rows: alloc } = await t.db.query<any>(
      `SELECT debit_transaction_id, credit_transaction_id, amount FROM allocations WHERE entity_id = $1`,
      [c.entityId],
    );
    expect(alloc).toEqual([{ debit_transaction_id: si!.id, credit_transaction_id: sr!.id, amount: '508212' }]);
    const { rows: fee } = await t.db.query<any>(
      `SELECT j.gl_account_code, j.amount FROM transactions t JOIN journal_lines j ON j.transaction_id = t.id
        WHERE t.entity_id = $1 AND t.type = 'GJ' AND t.external_reference = 'PAY-1' ORDER BY j.amount DESC`,
      [c.entityId],
    );
    expect(fee).toEqual([
      { gl_account_code: '7700', amount: '150' },
      { gl_account_code: '1200', amount: '-150' },
    ]);

    const refund = {
      id: `evt-${++seq}`,
      type: 'refund.created',
      created: now(),
      data: {
        sourceId: 'ref-1',
        externalReference: 'RF-1',
        customerSourceId: 'cust-1',
        date: '2026-11-23',
        amount: '100.00',
        currency: 'EUR',
        paymentExternalReference: 'PAY-1',
      },
    };
    const r3 = await send(refund);
    expect(r3.status).toBe(202);
    const [sd] = await transaction('SD', 'RF-1');
    expect(sd).toMatchObject({ gross: '10000', customer_code: 'CUST-1' });
    const { rows: recs } = await t.db.query<any>(
      `SELECT kind, outcome, message FROM run_records WHERE kind = 'refund'`,
    );
    // The receipt was fully allocated to the invoice, so nothing of it is open to allocate against.
    expect(recs).toEqual([
      {
        kind: 'refund',
        outcome: 'created',
        message: expect.stringMatching(/^unallocated: Receipt \d+ \(PAY-1\) has nothing open$/),
      },
    ]);
    await checkInvariants(t.db, c.entityId);
  });

  it('allocates a payment that overtook its invoice once the invoice is booked, by itself and once', async () => {
    const allocated = async (invoice: string) =>
      (await allocationsOn('SI', invoice)).map((a) => ({ amount: a.amount, receipt: a.receipt, date: a.date }));
    // The shop's payment webhook overtakes its invoice's: the money is booked at once, unallocated.
    expect((await send(paymentEvent('PAY-EARLY', '121.00', 'SO-LATE'))).status).toBe(202);
    const [receipt] = await transaction('SR', 'PAY-EARLY');
    expect(receipt).toMatchObject({ gross: '12100' });
    expect(await message('payment', 'pay-PAY-EARLY')).toEqual([
      'unallocated: no invoice SO-LATE for CUST-1 yet; allocated to it once it is booked',
    ]);
    // The invoice arrives (dated the day before the payment): the posting that books it allocates
    // the payment to it, dated the later of the two.
    expect((await send(invoiceEvent('SO-LATE', '100.00'))).status).toBe(202);
    expect(await allocated('SO-LATE')).toEqual([{ amount: '12100', receipt: 'PAY-EARLY', date: '2026-11-22' }]);
    expect(await message('invoice', 'order-SO-LATE')).toEqual([
      expect.stringMatching(/^paid by Receipt \d+ \(PAY-EARLY\), booked before it$/),
    ]);
    // Sent again, neither document nor the allocation is booked twice.
    expect((await send(paymentEvent('PAY-EARLY', '121.00', 'SO-LATE'))).status).toBe(202);
    expect((await send(invoiceEvent('SO-LATE', '100.00'))).status).toBe(202);
    expect(await allocated('SO-LATE')).toHaveLength(1);
    expect(await transaction('SR', 'PAY-EARLY')).toHaveLength(1);

    // A part payment settles its part; one for more than the invoice settles the invoice, and the
    // rest of the money stays unallocated on the customer's account.
    expect((await send(paymentEvent('PAY-PART', '50.00', 'so-part '))).status).toBe(202);
    expect((await send(invoiceEvent('SO-PART', '100.00'))).status).toBe(202);
    expect(await allocated('SO-PART')).toEqual([{ amount: '5000', receipt: 'PAY-PART', date: '2026-11-22' }]);
    expect((await send(paymentEvent('PAY-OVER', '500.00', 'SO-OVER'))).status).toBe(202);
    expect((await send(invoiceEvent('SO-OVER', '100.00'))).status).toBe(202);
    expect(await allocated('SO-OVER')).toEqual([{ amount: '12100', receipt: 'PAY-OVER', date: '2026-11-22' }]);
    // The invoice may come through another pipeline of the entity: the shop's invoices, a
    // payment provider's payments.
    await definePipeline(t.db, 'HOOK', { name: 'payments', source: { type: 'webhook' }, webhookSecret: SECRET });
    const provider = paymentEvent('PAY-ELSE', '60.50', 'SO-ELSE');
    const withCustomer = {
      ...provider,
      data: { ...provider.data, customer: { sourceId: 'cust-1', name: 'Customer cust-1' } },
    };
    expect((await send(withCustomer, { pipeline: 'payments' })).status).toBe(202);
    expect((await send(invoiceEvent('SO-ELSE', '50.00'))).status).toBe(202);
    expect(await allocated('SO-ELSE')).toEqual([{ amount: '6050', receipt: 'PAY-ELSE', date: '2026-11-22' }]);
    // A payment and its invoice at the same moment, through the two pipelines (on PostgreSQL two
    // transactions at once): whichever commits first, the payment ends allocated to the invoice.
    const refs = Array.from({ length: 8 }, (_, i) => `SO-RACE-${i}`);
    await Promise.all(
      refs.flatMap((ref) => {
        const pay = paymentEvent(`PAY-${ref}`, '12.10', ref);
        return [
          send(
            { ...pay, data: { ...pay.data, customer: { sourceId: 'cust-1', name: 'Customer cust-1' } } },
            {
              pipeline: 'payments',
            },
          ),
          send(invoiceEvent(ref, '10.00')),
        ];
      }),
    );
    for (const ref of refs)
      expect(await allocated(ref), ref).toEqual([{ amount: '1210', receipt: `PAY-${ref}`, date: '2026-11-22' }]);
    // Nothing is left waiting for an invoice that has come.
    const { rows: waiting } = await t.db.query(
      `SELECT receipt_id FROM payments_awaiting_invoice WHERE entity_id = $1`,
      [c.entityId],
    );
    expect(waiting).toEqual([]);
    await checkInvariants(t.db, c.entityId);
  });

  it('allocates a refund against the receipt it names', async () => {
    expect((await send(paymentEvent('PAY-2', '300.00', null))).status).toBe(202);
    const refund = {
      id: `evt-${++seq}`,
      type: 'refund.created',
      created: now(),
      data: {
        sourceId: 'ref-2',
        externalReference: 'RF-2',
        customerSourceId: 'cust-1',
        date: '2026-11-23',
        amount: '120.00',
        currency: 'EUR',
        paymentExternalReference: 'PAY-2',
      },
    };
    expect((await send(refund)).status).toBe(202);
    const [sr] = await transaction('SR', 'PAY-2');
    const [sd] = await transaction('SD', 'RF-2');
    const { rows } = await t.db.query<any>(
      `SELECT debit_transaction_id, credit_transaction_id, amount FROM allocations WHERE debit_transaction_id = $1`,
      [sd!.id],
    );
    expect(rows).toEqual([{ debit_transaction_id: sd!.id, credit_transaction_id: sr!.id, amount: '12000' }]);
    await checkInvariants(t.db, c.entityId);
  });

  it('sets a refund that overtook its payment against it once the payment is booked, after the payment pays its invoice', async () => {
    const refundEvent = (ref: string, amount: string, paymentRef: string) => ({
      id: `evt-${++seq}`,
      type: 'refund.created',
      created: now(),
      data: {
        sourceId: `ref-${ref}`,
        externalReference: ref,
        customerSourceId: 'cust-1',
        customer: { sourceId: 'cust-1', name: 'Customer cust-1' },
        date: '2026-11-23',
        amount,
        currency: 'EUR',
        paymentExternalReference: paymentRef,
      },
    });
    const against = (refund: string) => allocationsOn('SD', refund);
    const waiting = async () =>
      (
        await t.db.query<{ payment_reference: string }>(
          `SELECT payment_reference FROM refunds_awaiting_payment WHERE entity_id = $1 ORDER BY refund_id`,
          [c.entityId],
        )
      ).rows.map((r) => r.payment_reference);

    // A payment provider's refund webhook overtakes the payment's: the money out is booked at
    // once, unallocated, and noted with the payment it names.
    expect((await send(refundEvent('RF-EARLY', '40.00', 'PAY-RLATE'))).status).toBe(202);
    expect(await transaction('SD', 'RF-EARLY')).toMatchObject([{ gross: '4000' }]);
    expect(await message('refund', 'ref-RF-EARLY')).toEqual([
      'unallocated: no receipt PAY-RLATE for CUST-1 yet; set against it once it is booked',
    ]);
    expect(await waiting()).toEqual(['PAY-RLATE']);
    // The payment comes: the refund is set against it, dated the later of the two (the refund's).
    expect((await send(paymentEvent('PAY-RLATE', '100.00', null))).status).toBe(202);
    expect(await against('RF-EARLY')).toEqual([
      { amount: '4000', receipt: 'PAY-RLATE', date: '2026-11-23', reference: 'RF-EARLY' },
    ]);
    expect(await message('payment', 'pay-PAY-RLATE')).toEqual([
      expect.stringMatching(
        /^unallocated: the payment names no invoice; Debit journal \d+ \(RF-EARLY\) set against it, booked before it$/,
      ),
    ]);
    // Sent again, nothing is booked or allocated twice.
    expect((await send(refundEvent('RF-EARLY', '40.00', 'PAY-RLATE'))).status).toBe(202);
    expect((await send(paymentEvent('PAY-RLATE', '100.00', null))).status).toBe(202);
    expect(await against('RF-EARLY')).toHaveLength(1);
    expect(await transaction('SD', 'RF-EARLY')).toHaveLength(1);

    // A payment that pays an invoice pays it first, as if it had come before its refund: the refund
    // gets what is left of the money (here 79.00 of 200.00 against an invoice of 121.00) ...
    expect((await send(invoiceEvent('SO-RPAID', '100.00'))).status).toBe(202);
    expect((await send(refundEvent('RF-REST', '79.00', 'PAY-RPAID'))).status).toBe(202);
    expect((await send(paymentEvent('PAY-RPAID', '200.00', 'SO-RPAID'))).status).toBe(202);
    expect(await against('RF-REST')).toEqual([
      { amount: '7900', receipt: 'PAY-RPAID', date: '2026-11-23', reference: 'RF-REST' },
    ]);
    expect((await allocationsOn('SI', 'SO-RPAID')).map((a) => a.amount)).toEqual(['12100']);
    // ... and a refund of money that went wholly to its invoice stays unallocated, as it would
    // have in that order: the customer owes the invoice again. The note goes: nothing to wait for.
    expect((await send(invoiceEvent('SO-RFULL', '100.00'))).status).toBe(202);
    expect((await send(refundEvent('RF-FULL', '121.00', 'PAY-RFULL'))).status).toBe(202);
    expect((await send(paymentEvent('PAY-RFULL', '121.00', 'SO-RFULL'))).status).toBe(202);
    expect(await against('RF-FULL')).toEqual([]);
    expect(await message('payment', 'pay-PAY-RFULL')).toEqual([expect.stringMatching(/^allocated to /)]);
    expect(await waiting()).toEqual([]);

    // A payment waiting for an invoice that a person then keys in by hand (which settles nothing):
    // a refund of it does not wait for that invoice, it takes what the payment has open.
    expect((await send(paymentEvent('PAY-RHAND', '50.00', 'SO-RHAND'))).status).toBe(202);
    const keyed = await c.post('/v1/sales/batch-invoices', {
      customerCode: 'CUST-1',
      invoiceDate: '2026-11-21',
      externalReference: 'SO-RHAND',
      lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '30.00' }],
    });
    expect(keyed.status, JSON.stringify(keyed.body)).toBe(201);
    expect((await send(refundEvent('RF-RHAND', '10.00', 'PAY-RHAND'))).status).toBe(202);
    expect(await against('RF-RHAND')).toEqual([
      { amount: '1000', receipt: 'PAY-RHAND', date: '2026-11-23', reference: 'RF-RHAND' },
    ]);
    // The payment, sent again through another pipeline, is linked and now finds its invoice:
    // allocated to it, and no longer noted as waiting.
    await definePipeline(t.db, 'HOOK', { name: 'payments-again', source: { type: 'webhook' }, webhookSecret: SECRET });
    const again = paymentEvent('PAY-RHAND', '50.00', 'SO-RHAND');
    const withCustomer = {
      ...again,
      data: { ...again.data, customer: { sourceId: 'cust-1', name: 'Customer cust-1' } },
    };
    expect((await send(withCustomer, { pipeline: 'payments-again' })).status).toBe(202);
    expect((await allocationsOn('SI', 'SO-RHAND')).map((a) => a.amount)).toEqual(['3000']);
    const { rows: still } = await t.db.query(
      `SELECT 1 FROM payments_awaiting_invoice w JOIN transactions r ON r.id = w.receipt_id
        WHERE r.entity_id = $1 AND r.external_reference = 'PAY-RHAND'`,
      [c.entityId],
    );
    expect(still).toEqual([]);

    // Refunds through another pipeline of the entity, each at the same moment as its payment (on
    // PostgreSQL two transactions at once): whichever commits first, the refund ends set against it.
    await definePipeline(t.db, 'HOOK', { name: 'refunds', source: { type: 'webhook' }, webhookSecret: SECRET });
    const refs = Array.from({ length: 8 }, (_, i) => `PAY-RRACE-${i}`);
    await Promise.all(
      refs.flatMap((ref) => [
        send(refundEvent(`RF-${ref}`, '10.00', ref), { pipeline: 'refunds' }),
        send(paymentEvent(ref, '10.00', null)),
      ]),
    );
    for (const ref of refs)
      expect(await against(`RF-${ref}`), ref).toEqual([
        { amount: '1000', receipt: ref, date: '2026-11-23', reference: `RF-${ref}` },
      ]);
    // An invoice, its payment and a refund of that payment, all three at the same moment through
    // three pipelines: the payment pays the invoice's 12.10 first, the refund gets the 7.90 left.
    await definePipeline(t.db, 'HOOK', { name: 'orders', source: { type: 'webhook' }, webhookSecret: SECRET });
    const triples = Array.from({ length: 8 }, (_, i) => `TRIPLE-${i}`);
    await Promise.all(
      triples.flatMap((ref) => [
        send(invoiceEvent(`SO-${ref}`, '10.00'), { pipeline: 'orders' }),
        send(paymentEvent(`PAY-${ref}`, '20.00', `SO-${ref}`)),
        send(refundEvent(`RF-${ref}`, '10.00', `PAY-${ref}`), { pipeline: 'refunds' }),
      ]),
    );
    for (const ref of triples) {
      expect(await against(`RF-${ref}`), ref).toEqual([
        { amount: '790', receipt: `PAY-${ref}`, date: '2026-11-23', reference: `RF-${ref}` },
      ]);
      expect(
        (await allocationsOn('SI', `SO-${ref}`)).map((a) => a.amount),
        ref,
      ).toEqual(['1210']);
    }
    expect(await waiting()).toEqual([]);
    await checkInvariants(t.db, c.entityId);
  });

  it('allocates a payment linked to a receipt entered by hand to its invoice booked at the same moment', async () => {
    // Receipts a person entered through the API before the shop's payment webhooks came, which the
    // webhooks then link by reference, naming an invoice booked at that same moment by another
    // pipeline: the link takes the customer's lock too, so either it finds the invoice, or the
    // invoice's posting finds the note it leaves.
    await definePipeline(t.db, 'HOOK', { name: 'invoices', source: { type: 'webhook' }, webhookSecret: SECRET });
    expect((await send(invoiceEvent('SO-LINK-FIRST', '1.00'))).status).toBe(202); // the customer, as the shop made it
    const refs = Array.from({ length: 16 }, (_, i) => `SO-LINK-${i}`);
    for (const ref of refs) {
      const res = await c.post('/v1/sales/receipts', {
        customerCode: 'CUST-1',
        checkReference: `PAY-${ref}`,
        paymentAmount: '12.10',
        bankAccountCode: 'BANK',
        paymentDate: '2026-11-22',
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    await Promise.all(
      refs.flatMap((ref) => [
        send(paymentEvent(`PAY-${ref}`, '12.10', ref)),
        send(invoiceEvent(ref, '10.00'), { pipeline: 'invoices' }),
      ]),
    );
    for (const ref of refs) {
      expect(
        (await allocationsOn('SI', ref)).map((a) => ({ amount: a.amount, receipt: a.receipt })),
        ref,
      ).toEqual([{ amount: '1210', receipt: `PAY-${ref}` }]);
      expect(await transaction('SR', `PAY-${ref}`), ref).toHaveLength(1);
    }
    const { rows: left } = await t.db.query(`SELECT 1 FROM payments_awaiting_invoice WHERE entity_id = $1`, [
      c.entityId,
    ]);
    expect(left).toEqual([]);
    await checkInvariants(t.db, c.entityId);
  });

  it('answers a replayed event 202 duplicate and changes nothing, even with another body', async () => {
    const inv = invoiceEvent('SO-2001', '100.00');
    expect((await send(inv)).body).toEqual({ eventId: inv.id, duplicate: false });
    const before = await counts();
    const again = await send(inv);
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ eventId: inv.id, duplicate: true });
    const changed = invoiceEvent('SO-2001-B', '999.00', { id: inv.id });
    expect((await send(changed)).body).toEqual({ eventId: inv.id, duplicate: true });
    expect(await counts()).toEqual(before);
    expect(await transaction('SI', 'SO-2001-B')).toEqual([]);
  });

  it('refuses a bad signature, a tampered body, a missing header and timestamps outside 5 minutes either way, storing nothing', async () => {
    const before = await counts();
    const inv = invoiceEvent('SO-3001', '50.00');
    const body = JSON.stringify(inv);
    const cases: [string, Promise<{ status: number; body: any }>, string][] = [
      ['wrong secret', send(inv, { secret: 'another-secret-0123456789' }), 'WEBHOOK_SIGNATURE_INVALID'],
      [
        'tampered body',
        send(inv, { body: body.replace('50.00', '5.00'), signature: senderSignature(body, SECRET) }),
        'WEBHOOK_SIGNATURE_INVALID',
      ],
      ['no header', hooks.post('/v1/webhooks/shop', body, {}), 'WEBHOOK_SIGNATURE_INVALID'],
      ['garbage header', send(inv, { signature: 'sha256=abc' }), 'WEBHOOK_SIGNATURE_INVALID'],
      [
        're-dated',
        send(inv, { signature: senderSignature(body, SECRET, now() - 10).replace(/^t=\d+/, `t=${now()}`) }),
        'WEBHOOK_SIGNATURE_INVALID',
      ],
      ['6 minutes old', send(inv, { t: now() - 360 }), 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE'],
      ['6 minutes ahead', send(inv, { t: now() + 360 }), 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE'],
    ];
    for (const [name, pending, code] of cases) {
      const res = await pending;
      expect(res.status, name).toBe(401);
      expect(res.body.error.code, name).toBe(code);
    }
    // Within the window, either way, is fine.
    expect((await send(invoiceEvent('SO-3002', '10.00'), { t: now() - 240 })).status).toBe(202);
    expect((await send(invoiceEvent('SO-3003', '10.00'), { t: now() + 240 })).status).toBe(202);
    const after = await counts();
    expect(Number(after.events)).toBe(Number(before.events) + 2);
    expect(await transaction('SI', 'SO-3001')).toEqual([]);
  });

  it('answers 404 alike for an unknown pipeline and one without a secret, and 400 for a signed body that is not a valid event', async () => {
    const inv = invoiceEvent('SO-4001', '10.00');
    const unknown = await send(inv, { pipeline: 'nope' });
    const noSecret = await send(inv, { pipeline: 'nosecret' });
    expect(unknown.status).toBe(404);
    expect(noSecret.status).toBe(404);
    expect(noSecret.body).toEqual(unknown.body);
    const before = await counts();
    const bad = await send({ ...inv, type: 'invoice.deleted' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_ERROR');
    const mismatch = await send({ ...inv, data: { ...inv.data, customer: { sourceId: 'someone-else', name: 'X' } } });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.details).toEqual([
      { field: 'body.data.customer.sourceId', message: 'customer.sourceId must equal customerSourceId' },
    ]);
    const notJson = await send(null, { body: '{"id": ' });
    expect(notJson.body.error.code).toBe('INVALID_JSON');
    expect(await counts()).toEqual(before);
  });

  it('never changes a posted invoice: the same amounts are skipped, other amounts parked for a person', async () => {
    const inv = invoiceEvent('SO-5001', '200.00');
    await send(inv);
    const [posted] = await transaction('SI', 'SO-5001');
    await send(invoiceEvent('SO-5001', '200.00', { type: 'order.shipped' }));
    const { rows: skipped } = await t.db.query<any>(
      `SELECT outcome, message FROM run_records WHERE source_id = 'order-SO-5001' AND kind = 'invoice' ORDER BY id`,
    );
    expect(skipped).toEqual([
      { outcome: 'created', message: null },
      { outcome: 'skipped', message: 'already posted' },
    ]);
    await send(invoiceEvent('SO-5001', '250.00', { type: 'invoice.updated' }));
    expect(await transaction('SI', 'SO-5001')).toEqual([posted]);
    const { rows: ex } = await t.db.query<any>(
      `SELECT reason_code, status, message FROM exceptions WHERE source_id = 'order-SO-5001'`,
    );
    expect(ex).toHaveLength(1);
    expect(ex[0]).toMatchObject({ reason_code: 'INVOICE_ALREADY_POSTED_CHANGED', status: 'open' });
    expect(ex[0].message).toContain('EUR 242.00');
    expect(ex[0].message).toContain('EUR 302.50');
  });

  it('posts nothing twice when a crash left processed events unmarked', async () => {
    const before = await counts();
    // As if every run had died after posting and before marking its events processed.
    await t.db.query(`UPDATE webhook_events SET processed_at = NULL WHERE pipeline_id = $1`, [shop.id]);
    const runId = await t.sync.trigger(shop, 'manual', 'test');
    const { rows } = await t.db.query<any>(`SELECT status, counts FROM runs WHERE id = $1`, [runId]);
    expect(rows[0].status).toBe('partial'); // the changed invoice is parked again
    expect(rows[0].counts.created).toBe(0);
    expect((await counts()).tx).toBe(before.tx);
    const { rows: left } = await t.db.query<any>(`SELECT count(*) AS n FROM webhook_events WHERE processed_at IS NULL`);
    expect(left[0].n).toBe('0');
    await checkInvariants(t.db, c.entityId);
  });

  it('stores and posts each event once when a sender delivers it twice at the same moment', async () => {
    const before = await counts();
    const events = Array.from({ length: 8 }, (_, i) => invoiceEvent(`RACE-${i}`, '10.00', { customer: 'racer' }));
    const answers = await Promise.all(events.flatMap((e) => [send(e), send(e)]));
    expect(answers.every((a) => a.status === 202)).toBe(true);
    expect(answers.filter((a) => a.body.duplicate).length).toBe(8);
    const after = await counts();
    expect(Number(after.events) - Number(before.events)).toBe(8);
    const { rows } = await t.db.query<any>(
      `SELECT count(*) AS n FROM transactions WHERE entity_id = $1 AND type = 'SI' AND external_reference LIKE 'RACE-%'`,
      [c.entityId],
    );
    expect(rows[0].n).toBe('8');
    const { rows: pending } = await t.db.query<any>(
      `SELECT count(*) AS n FROM webhook_events WHERE processed_at IS NULL`,
    );
    expect(pending[0].n).toBe('0');
  });

  // Reports the latency (the benchmark records it); asserts only that all 200 events were posted.
  it('posts 200 events one by one, reporting webhook → posted latency', async () => {
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const event =
        i % 2 === 0
          ? invoiceEvent(`LAT-${i}`, '10.00', { customer: `lat-${i % 7}` })
          : paymentEvent(`LATP-${i}`, '12.10', `LAT-${i - 1}`);
      if (i % 2 === 1) event.data.customerSourceId = `lat-${(i - 1) % 7}`;
      const started = performance.now();
      const res = await send(event);
      // Without a queue the run is worked before the answer: the 202 means posted.
      times.push(performance.now() - started);
      expect(res.status).toBe(202);
    }
    const { rows } = await t.db.query<any>(
      `SELECT count(*) AS n FROM transactions WHERE entity_id = $1 AND external_reference LIKE 'LAT%'`,
      [c.entityId],
    );
    expect(rows[0].n).toBe('200');
    const { rows: alloc } = await t.db.query<any>(
      `SELECT count(*) AS n FROM allocations a JOIN transactions t ON t.id = a.credit_transaction_id WHERE t.external_reference LIKE 'LATP-%'`,
    );
    expect(alloc[0].n).toBe('100');
    times.sort((a, b) => a - b);
    const p = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
    console.log(
      `webhook → posted latency on ${t.db.kind}, 200 events, in-process, queue-less: p50 ${p(0.5).toFixed(1)} ms, p95 ${p(0.95).toFixed(1)} ms, max ${p(1).toFixed(1)} ms`,
    );
    await checkInvariants(t.db, c.entityId);
    // 200 runs one after the other: on a loaded machine (CI beside other jobs) past the suite's 30 s.
  }, 120_000);
});

describe('pipelines of one name in several entities', () => {
  const OTHER_SECRET = 'other-entity-hookx-secret-0123';
  const DEMO_SECRET = 'demo-entity-hookx-secret-0123';

  /** An invoice whose one line has quantity "0": signed correctly, it is refused naming the field. */
  function zeroQuantity(id: string) {
    const inv = invoiceEvent(`HX-${id}`, '10.00', { id });
    const { netAmount: _net, ...line } = inv.data.lines[0]!;
    return { ...inv, data: { ...inv.data, lines: [{ ...line, quantity: '0', unitPrice: '10.00' }] } };
  }

  async function storedFor(pipelineId: string, eventId: string) {
    const { rows } = await t.db.query(`SELECT 1 FROM webhook_events WHERE pipeline_id = $1 AND event_id = $2`, [
      pipelineId,
      eventId,
    ]);
    return rows.length;
  }

  it("answers a delivery by the pipeline whose secret signed it, whatever another entity's pipeline of that name says", async () => {
    await t.entity('OTHER', 'EUR');
    await t.entity('DEMO', 'EUR');
    // Disabled: deliveries are stored and wait for a run, which this test does not need.
    const other = await definePipeline(t.db, 'OTHER', {
      name: 'hookx',
      source: { type: 'webhook' },
      webhookSecret: OTHER_SECRET,
      enabled: false,
    });
    const bad = zeroQuantity('hx-bad');
    // The answers while OTHER alone has a pipeline `hookx`.
    const cases = {
      badBody: () => send(bad, { pipeline: 'hookx', secret: OTHER_SECRET }),
      stale: () => send(invoiceEvent('HX-STALE', '10.00'), { pipeline: 'hookx', secret: OTHER_SECRET, t: now() - 360 }),
      ahead: () => send(invoiceEvent('HX-AHEAD', '10.00'), { pipeline: 'hookx', secret: OTHER_SECRET, t: now() + 360 }),
      notJson: () => send(null, { pipeline: 'hookx', secret: OTHER_SECRET, body: '{"id": ' }),
      unsigned: () => send(bad, { pipeline: 'hookx', secret: 'nobody-has-this-secret-0123' }),
      noHeader: () => hooks.post('/v1/webhooks/hookx', JSON.stringify(bad), {}),
    };
    // A signature's age is said in whole seconds, and a second may pass between two requests.
    const aged = (body: unknown): unknown => JSON.parse(JSON.stringify(body).replace(/dated \d+ s/g, 'dated N s'));
    const alone: Record<string, { status: number; body: unknown }> = {};
    for (const [name, request] of Object.entries(cases)) {
      const { status, body } = await request();
      alone[name] = { status, body: aged(body) };
    }
    expect(alone.badBody!.status).toBe(400);
    expect(alone.badBody!.body).toMatchObject({
      error: { code: 'VALIDATION_ERROR', details: [{ field: 'body.data.lines.0.quantity' }] },
    });
    expect(alone.stale).toMatchObject({ status: 401, body: { error: { code: 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE' } } });
    expect(alone.ahead).toMatchObject({ status: 401, body: { error: { code: 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE' } } });
    expect(alone.notJson).toMatchObject({ status: 400, body: { error: { code: 'INVALID_JSON' } } });
    expect(alone.unsigned).toMatchObject({ status: 401, body: { error: { code: 'WEBHOOK_SIGNATURE_INVALID' } } });
    expect(alone.noHeader).toMatchObject({ status: 401, body: { error: { code: 'WEBHOOK_SIGNATURE_INVALID' } } });

    // DEMO, tried first (pipelines of a name are tried in the order of their entity codes), makes its own.
    const demo = await definePipeline(t.db, 'DEMO', {
      name: 'hookx',
      source: { type: 'webhook' },
      webhookSecret: DEMO_SECRET,
      enabled: false,
    });
    for (const [name, request] of Object.entries(cases)) {
      const { status, body } = await request();
      // The same answers: nothing of DEMO's pipeline shows, not even that it exists.
      expect({ name, status, body: aged(body) }).toEqual({ name, ...alone[name] });
    }
    // Each entity's deliveries are its own.
    const own = await send(zeroQuantity('hx-demo-bad'), { pipeline: 'hookx', secret: DEMO_SECRET });
    expect(own.status).toBe(400);
    expect(own.body.error.details).toEqual([{ field: 'body.data.lines.0.quantity', message: expect.any(String) }]);
    const forOther = invoiceEvent('HX-OK-1', '10.00');
    const forDemo = invoiceEvent('HX-OK-2', '10.00');
    expect((await send(forOther, { pipeline: 'hookx', secret: OTHER_SECRET })).status).toBe(202);
    expect((await send(forDemo, { pipeline: 'hookx', secret: DEMO_SECRET })).status).toBe(202);
    expect([await storedFor(other.id, forOther.id), await storedFor(demo.id, forOther.id)]).toEqual([1, 0]);
    expect([await storedFor(other.id, forDemo.id), await storedFor(demo.id, forDemo.id)]).toEqual([0, 1]);
  });
});
