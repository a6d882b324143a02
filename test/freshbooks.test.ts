import { describe, expect, it } from 'vitest';
import {
  expectNumbersWrittenBack,
  expectSecondRunWritesNothing,
  expectAmountsAsGiven,
  expectInvoicesMapped,
  e2eRecords,
  heldOnce,
} from './helpers/platform-e2e.ts';
import { onScaledMinute, platformEngine } from './helpers/platform-engine.ts';
import { openExceptions, testBox } from './helpers/sync.ts';
import { freshBooksTarget } from '../src/connectors/freshbooks/index.ts';
import { REF_PREFIX, tagOf } from '../src/connectors/freshbooks/map.ts';
import { type FreshBooksSimulator, startFreshBooksSimulator } from '../src/connectors/freshbooks/simulator.ts';
import { createFreshBooksTarget } from '../src/connectors/freshbooks/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import { completeConsent, startConsent } from '../src/sync/remote/oauth-connect.ts';

/*
 * The FreshBooks target end to end, through the engine, against the simulated FreshBooks and its
 * token endpoint, with 5% of write answers lost after committing, the account's limit enforced on
 * a scaled clock (a "minute" of one second), some 500s and a storm of 429s, access tokens that
 * expire during the run and single-use refresh tokens rotated through the stored connection: zero
 * duplicates, zero missing documents, FreshBooks' numbers and PDFs written back to the source,
 * payments on the invoices they name, credit notes set against invoices, refusals parked with a
 * stable reason and not sent again, and a revoked connection parked with TARGET_AUTH_REVOKED.
 */

const CLIENT = { clientId: 'fb-e2e-client', clientSecret: 'fb-e2e-secret-0123456789' };
const ACC = 'E2eAcc';
/** FreshBooks publishes no limit; the simulator's: 40 calls in a "minute" of one second. */
const MINUTE_MS = 1000;
const PER_MINUTE = 40;

let fb: FreshBooksSimulator;

const e2e = platformEngine({
  name: 'FreshBooks',
  pdfs: true,
  start: async (e) => {
    fb = e.closeLater(
      await startFreshBooksSimulator({
        ...CLIENT,
        accounts: { [ACC]: { name: 'FreshBooks E2E Ltd' } },
        seed: 11,
        dropAfterCommitRate: 0.05,
        failRate: 0.03,
        accessTokenSeconds: 4,
        limits: { perMinute: PER_MINUTE, minuteMs: MINUTE_MS },
      }),
    );
  },
  target: onScaledMinute(freshBooksTarget, createFreshBooksTarget, MINUTE_MS),
});

function settings(refreshToken = fb.issueRefreshToken()) {
  return {
    type: 'freshbooks',
    ...CLIENT,
    refreshToken,
    tenantId: ACC,
    baseUrl: fb.baseUrl,
    tokenUrl: fb.tokenUrl,
    // A little below the simulator's count: a grant reaches it a moment later on a busy machine.
    limits: { callsPerMinute: PER_MINUTE - 4 },
  };
}

const acc = () => fb.account(ACC);
const invoicesBy = (ref: string) => [...acc().invoices.values()].filter((d) => d.po_number === ref);

describe('FreshBooks end to end', () => {
  it('iXpole → FreshBooks: every instalment once through lost answers, 429s and expiring tokens; numbers and PDFs written back', async () => {
    fb.dropNext(4, (r) => r.method === 'POST' && r.route === '/invoices/invoices');
    // A storm of 429s: the client waits and tries again; nothing is booked twice.
    fb.failNext(429, 429, 429, 429, 429);
    const { ix, pipeline, codes } = await e2e.ixpoleRun({
      entity: 'FB1',
      name: 'ix-to-freshbooks',
      target: settings(),
      pageSize: 20,
    });
    for (const code of codes)
      expect(
        invoicesBy(code).map((d) => d.status),
        code,
      ).toEqual(['sent']);
    expect(fb.duplicates(ACC)).toEqual([]);
    expect(fb.stats.dropped).toBeGreaterThanOrEqual(4);
    expect(fb.stats.rateRefused).toBe(0);
    expect(fb.stats.injected429).toBe(5);

    expectNumbersWrittenBack(ix, {
      atLeast: codes.length,
      numberOf: (code) => invoicesBy(code)[0]?.invoice_number,
      format: /^\d{7}$/,
      // The simulator's PDF draws its text unencoded.
      pdf: (pdf, number) => expect(pdf.toString('latin1')).toContain(`(Invoice ${number} total`),
    });
    expectAmountsAsGiven(ix, 10, (code) => invoicesBy(code)[0]!.lines);

    await expectSecondRunWritesNothing(e2e.db, e2e.sync, pipeline, () => fb.stats.writes);
    expect(fb.violations).toEqual([]);
    // Tokens of 4 s: refreshed during the run, each time with the refresh token the last refresh gave.
    expect(fb.stats.refreshes).toBeGreaterThan(1);
    // Each refresh carried the consent's redirect URI: this pipeline's callback.
    expect(new Set(fb.refreshRedirects)).toEqual(
      new Set([expect.stringMatching(/\/v1\/connections\/[^/]+\/oauth\/callback$/)]),
    );
  }, 120_000);

  it('records → FreshBooks: payments on the invoices they name, credit notes set against invoices; refusals parked once', async () => {
    const pipeline = await e2e.recordsPipeline('FB2', 'records-to-freshbooks', settings());
    const { customers, invoice: inv, invoices, payment: pay, refund, creditNote, allocation } = e2eRecords();
    const records: CanonicalRecord[] = [
      ...customers(),
      ...invoices(12),
      pay(1, 'A', '121.00', 'E2-I1'),
      pay(2, 'B', '50.00', 'E2-I2'),
      pay(3, 'C', '30.00', 'E2-I3'),
      creditNote(1, 'A', 'E2-I4'),
      // In the same batch: should the credit note wait for a retry, its allocation waits behind it.
      allocation(2, 'A', '24.20', 'E2-I4', 'creditNote', 'E2-N1'),
      // What FreshBooks has no place for, and what it refuses: parked, each with a stable reason.
      pay(9, 'B', '10.00', null),
      refund(1, 'A', '5.00', 'E2-P1', { description: 'Refund' }),
      inv(99, 'C', '10000000000.00', '2100000000.00'),
    ];
    fb.dropNext(2, (r) => r.method === 'POST' && r.route === '/payments/payments');
    // The credit note's credit, set against its invoice by a payment of type Credit.
    fb.dropNext(1, (r) => r.method === 'POST' && r.route === '/payments/payments' && r.body.includes('"Credit"'));
    await e2e.send(pipeline, records);

    const parked = await openExceptions(e2e.db, pipeline);
    expect(parked.map((p) => [p.source_id, p.reason_code])).toEqual([
      ['E2-I99', 'TARGET_REFUSED'],
      ['E2-P9', 'TARGET_CAPABILITY_MISSING'],
      ['E2-R1', 'TARGET_CAPABILITY_MISSING'],
    ]);
    expect(parked[0]!.message).toMatch(/unit_cost must be no more than/);

    const one = (ref: string) => heldOnce(invoicesBy(ref), ref);
    for (let n = 1; n <= 12; n++) expect(one(`E2-I${n}`).total).toBe(12100n);
    expect(invoicesBy('E2-I99')).toEqual([]);
    const due = (ref: string) => one(ref).outstanding;
    expect([due('E2-I1'), due('E2-I2'), due('E2-I3'), due('E2-I4'), due('E2-I5')]).toEqual([
      0n,
      7100n,
      9100n,
      9680n,
      12100n,
    ]);
    const payments = [...acc().payments.values()];
    const paymentOf = (ref: string) => payments.filter((p) => tagOf(p.note, REF_PREFIX) === ref);
    for (const [ref, invoice, amount] of [
      ['E2-P1', 'E2-I1', 12100n],
      ['E2-P2', 'E2-I2', 5000n],
      ['E2-P3', 'E2-I3', 3000n],
    ] as const)
      expect(paymentOf(ref).map((p) => [p.invoiceid, p.amount])).toEqual([[one(invoice).id, amount]]);
    const notes = [...acc().creditNotes.values()].filter((n) => tagOf(n.notes, REF_PREFIX) === 'E2-N1');
    expect(notes.map((n) => [n.total, n.remaining, n.applied.map((x) => [x.invoiceid, x.amount])])).toEqual([
      [2420n, 0n, [[one('E2-I4').id, 2420n]]],
    ]);
    await expectInvoicesMapped(e2e.db, pipeline, 12, (ref) => ({ id: one(ref).id, number: one(ref).invoice_number }));
    expect(fb.duplicates(ACC)).toEqual([]);
    expect(fb.stats.rateRefused).toBe(0);
    expect(fb.violations).toEqual([]);

    // The timer's flushes send nothing: refused is final, parked stays parked.
    await e2e.expectFlushesSendNothing(pipeline, { parked, sent: () => fb.stats.writes });
    // Sent again by the source: nothing booked is sent again; only the refused invoice is tried
    // once more (the engine sends a refused document when the source brings it again), and refused again.
    const reqs = fb.requests.length;
    await e2e.send(pipeline, records);
    expect(
      fb.requests
        .slice(reqs)
        .filter((r) => r.method !== 'GET')
        .map((r) => `${r.method} ${r.route} ${/"po_number":"([^"]*)"/.exec(r.body)?.[1] ?? ''}`),
    ).toEqual(['POST /invoices/invoices E2-I99']);
    expect((await openExceptions(e2e.db, pipeline)).map((p) => [p.source_id, p.reason_code])).toEqual(
      parked.map((p) => [p.source_id, p.reason_code]),
    );
    expect(fb.duplicates(ACC)).toEqual([]);
  }, 120_000);

  it('connects through the shared consent flow: the one business of the identity is bound, and books into it', async () => {
    const { refreshToken: _none, ...noToken } = settings();
    const { tenantId: _account, ...target } = noToken;
    const pipeline = await e2e.recordsPipeline('FB4', 'consented-freshbooks', target);
    const start = await startConsent(e2e.db, testBox, {
      pipeline,
      publicUrl: 'https://ledgerlink.example',
      actor: 'test',
    });
    const url = new URL(start.url);
    expect([url.origin + url.pathname, url.searchParams.get('response_type')]).toEqual([
      'https://auth.freshbooks.com/oauth/authorize',
      'code',
    ]);
    expect(url.searchParams.get('scope')).toContain('user:invoices:write');
    const done = await completeConsent(e2e.db, testBox, {
      pipelineName: pipeline.name,
      callback: new URLSearchParams({ code: fb.issueCode(), state: url.searchParams.get('state')! }),
    });
    expect(done.tenant).toEqual({ tenantId: ACC, tenantName: 'FreshBooks E2E Ltd' });
    await e2e.send(pipeline, [
      { kind: 'customer', sourceId: 'K-C', name: 'Consented customer' },
      {
        kind: 'invoice',
        sourceId: 'K-I1',
        externalReference: 'K-I1',
        customerSourceId: 'K-C',
        invoiceDate: '2026-11-02',
        currency: 'EUR',
        description: '',
        lines: [{ description: 'Service', netAmount: '10.00', vatRate: '0.21', vatAmount: '2.10' }],
      },
    ]);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    expect(invoicesBy('K-I1').map((d) => [d.status, d.total])).toEqual([['sent', 1210n]]);
  });

  it('a revoked connection parks the documents with TARGET_AUTH_REVOKED, saying how to reconnect; nothing is written', async () => {
    const refresh = fb.issueRefreshToken();
    const pipeline = await e2e.recordsPipeline('FB3', 'revoked-freshbooks', settings(refresh));
    fb.revokeAll();
    await e2e.expectRevokedParked(pipeline, {
      writes: () => fb.stats.writes,
      message: /Reconnect/,
      secrets: [refresh, CLIENT.clientSecret],
    });
  });
});
