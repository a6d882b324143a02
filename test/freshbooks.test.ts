import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectNumbersWrittenBack,
  expectSecondRunWritesNothing,
  expectAmountsAsGiven,
  e2eRecords,
} from './helpers/platform-e2e.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline, drainTarget, openExceptions, syncService, testBox } from './helpers/sync.ts';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { freshBooksTarget } from '../src/connectors/freshbooks/index.ts';
import { REF_PREFIX, tagOf } from '../src/connectors/freshbooks/map.ts';
import { type FreshBooksSimulator, startFreshBooksSimulator } from '../src/connectors/freshbooks/simulator.ts';
import { createFreshBooksTarget } from '../src/connectors/freshbooks/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';
import { completeConsent, startConsent } from '../src/sync/remote/oauth-connect.ts';
import { processScope } from './helpers/scoped.ts';
import { getRun } from '../src/sync/runs.ts';
import type { SyncService } from '../src/sync/service.ts';

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

let t: TestApp;
let sync: SyncService;
let fb: FreshBooksSimulator;
const closers: { close(): Promise<void> }[] = [];

const scope = processScope();

beforeAll(async () => {
  t = await createTestApp();
  sync = syncService(t.db, { pdfs: true, engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  fb = await startFreshBooksSimulator({
    ...CLIENT,
    accounts: { [ACC]: { name: 'FreshBooks E2E Ltd' } },
    seed: 11,
    dropAfterCommitRate: 0.05,
    failRate: 0.03,
    accessTokenSeconds: 4,
    limits: { perMinute: PER_MINUTE, minuteMs: MINUTE_MS },
  });
  scope.target({
    ...freshBooksTarget,
    create: (deps) =>
      Promise.resolve(
        createFreshBooksTarget(deps, {
          planner: createRatePlanner(t.db, { windowsMs: { minute: MINUTE_MS }, marginMs: () => 250 }),
          client: { backoffBaseMs: 5, backoffMaxMs: 40 },
        }),
      ),
  });
}, 60_000);
afterAll(async () => {
  for (const c of closers) await c.close();
  await fb.close();
  await t.close();
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

const drain = (pipeline: Pipeline) => drainTarget(t.db, sync, pipeline, 'FreshBooks');
const acc = () => fb.account(ACC);
const invoicesBy = (ref: string) => [...acc().invoices.values()].filter((d) => d.po_number === ref);

describe('FreshBooks end to end', () => {
  it('iXpole → FreshBooks: every instalment once through lost answers, 429s and expiring tokens; numbers and PDFs written back', async () => {
    await t.entity('FB1', 'EUR', { standardTaxRate: '0.21' });
    const ix: IxpoleSimulator = await startIxpoleSimulator({ seed: 9, instalments: 40, customers: 8, products: 3 });
    closers.push(ix);
    fb.dropNext(4, (r) => r.method === 'POST' && r.route === '/invoices/invoices');
    // A storm of 429s: the client waits and tries again; nothing is booked twice.
    fb.failNext(429, 429, 429, 429, 429);
    const pipeline = await definePipeline(t.db, 'FB1', {
      name: 'ix-to-freshbooks',
      source: {
        type: 'ixpole',
        baseUrl: ix.url,
        apiKey: ix.apiKey,
        backoffBaseMs: 5,
        backoffMaxMs: 20,
        maxAttempts: 4,
      },
      target: settings(),
      options: { pageSize: 20 },
    });
    const run = (await getRun(t.db, (await sync.trigger(pipeline, 'manual', 'test'))!))!;
    expect(['succeeded', 'partial']).toContain(run.status);
    await drain(pipeline);
    await sync.flushAll();

    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const codes = [...Array(ix.total).keys()].map((i) => ix.instalmentAt(i).InstalmentCode);
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

    await expectSecondRunWritesNothing(t.db, sync, pipeline, () => fb.stats.writes);
    expect(fb.violations).toEqual([]);
    // Tokens of 4 s: refreshed during the run, each time with the refresh token the last refresh gave.
    expect(fb.stats.refreshes).toBeGreaterThan(1);
    // Each refresh carried the consent's redirect URI: this pipeline's callback.
    expect(new Set(fb.refreshRedirects)).toEqual(
      new Set([expect.stringMatching(/\/v1\/connections\/[^/]+\/oauth\/callback$/)]),
    );
  }, 120_000);

  it('records → FreshBooks: payments on the invoices they name, credit notes set against invoices; refusals parked once', async () => {
    await t.entity('FB2', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'FB2', {
      name: 'records-to-freshbooks',
      source: { type: 'records' },
      target: settings(),
    });
    const customers = e2eRecords().customers();
    const inv = e2eRecords().invoice;
    const pay = e2eRecords().payment;
    const records: CanonicalRecord[] = [
      ...customers,
      ...[...Array(12).keys()].map((i) => inv(i + 1, ['A', 'B', 'C'][i % 3]!, '100.00', '21.00')),
      pay(1, 'A', '121.00', 'E2-I1'),
      pay(2, 'B', '50.00', 'E2-I2'),
      pay(3, 'C', '30.00', 'E2-I3'),
      {
        kind: 'creditNote',
        sourceId: 'E2-N1',
        externalReference: 'E2-N1',
        customerSourceId: 'E2-A',
        date: '2026-11-04',
        currency: 'EUR',
        description: 'Returned',
        invoiceExternalReference: 'E2-I4',
        lines: [{ description: 'Returned', netAmount: '20.00', vatRate: '0.21', vatAmount: '4.20' }],
      },
      // In the same batch: should the credit note wait for a retry, its allocation waits behind it.
      {
        kind: 'allocation',
        sourceId: 'E2-A2',
        customerSourceId: 'E2-A',
        date: '2026-11-04',
        currency: 'EUR',
        amount: '24.20',
        invoiceExternalReference: 'E2-I4',
        from: 'creditNote',
        fromExternalReference: 'E2-N1',
      },
      // What FreshBooks has no place for, and what it refuses: parked, each with a stable reason.
      pay(9, 'B', '10.00', null),
      {
        kind: 'refund',
        sourceId: 'E2-R1',
        externalReference: 'E2-R1',
        customerSourceId: 'E2-A',
        date: '2026-11-06',
        amount: '5.00',
        currency: 'EUR',
        paymentExternalReference: 'E2-P1',
        description: 'Refund',
      },
      inv(99, 'C', '10000000000.00', '2100000000.00'),
    ];
    fb.dropNext(2, (r) => r.method === 'POST' && r.route === '/payments/payments');
    // The credit note's credit, set against its invoice by a payment of type Credit.
    fb.dropNext(1, (r) => r.method === 'POST' && r.route === '/payments/payments' && r.body.includes('"Credit"'));
    await sync.processRecords(
      pipeline,
      'import',
      'e2e',
      records.map((record) => ({ record })),
    );
    await drain(pipeline);

    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((p) => [p.source_id, p.reason_code])).toEqual([
      ['E2-I99', 'TARGET_REFUSED'],
      ['E2-P9', 'TARGET_CAPABILITY_MISSING'],
      ['E2-R1', 'TARGET_CAPABILITY_MISSING'],
    ]);
    expect(parked[0]!.message).toMatch(/unit_cost must be no more than/);

    const one = (ref: string) => {
      const found = invoicesBy(ref);
      expect(found, ref).toHaveLength(1);
      return found[0]!;
    };
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
    const { rows } = await t.db.query<{ source_id: string; target_id: string; target_number: string | null }>(
      `SELECT source_id, target_id, target_number FROM sync_map WHERE pipeline_id = $1 AND kind = 'invoice' ORDER BY source_id`,
      [pipeline.id],
    );
    expect(rows).toHaveLength(12);
    for (const r of rows)
      expect({ id: r.target_id, number: r.target_number }).toEqual({
        id: one(r.source_id).id,
        number: one(r.source_id).invoice_number,
      });
    expect(fb.duplicates(ACC)).toEqual([]);
    expect(fb.stats.rateRefused).toBe(0);
    expect(fb.violations).toEqual([]);

    // The timer's flushes send nothing: refused is final, parked stays parked.
    const writes = fb.stats.writes;
    await sync.flushAll();
    expect(fb.stats.writes).toBe(writes);
    expect(await openExceptions(t.db, pipeline)).toEqual(parked);
    // Sent again by the source: nothing booked is sent again; only the refused invoice is tried
    // once more (the engine sends a refused document when the source brings it again), and refused again.
    const reqs = fb.requests.length;
    await sync.processRecords(
      pipeline,
      'import',
      'e2e',
      records.map((record) => ({ record })),
    );
    await drain(pipeline);
    expect(
      fb.requests
        .slice(reqs)
        .filter((r) => r.method !== 'GET')
        .map((r) => `${r.method} ${r.route} ${/"po_number":"([^"]*)"/.exec(r.body)?.[1] ?? ''}`),
    ).toEqual(['POST /invoices/invoices E2-I99']);
    expect((await openExceptions(t.db, pipeline)).map((p) => [p.source_id, p.reason_code])).toEqual(
      parked.map((p) => [p.source_id, p.reason_code]),
    );
    expect(fb.duplicates(ACC)).toEqual([]);
  }, 120_000);

  it('connects through the shared consent flow: the one business of the identity is bound, and books into it', async () => {
    await t.entity('FB4', 'EUR', { standardTaxRate: '0.21' });
    const { refreshToken: _none, ...noToken } = settings();
    const { tenantId: _account, ...target } = noToken;
    const pipeline = await definePipeline(t.db, 'FB4', {
      name: 'consented-freshbooks',
      source: { type: 'records' },
      target,
    });
    const start = await startConsent(t.db, testBox, {
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
    const done = await completeConsent(t.db, testBox, {
      pipelineName: pipeline.name,
      callback: new URLSearchParams({ code: fb.issueCode(), state: url.searchParams.get('state')! }),
    });
    expect(done.tenant).toEqual({ tenantId: ACC, tenantName: 'FreshBooks E2E Ltd' });
    await sync.processRecords(pipeline, 'import', 'e2e', [
      { record: { kind: 'customer', sourceId: 'K-C', name: 'Consented customer' } },
      {
        record: {
          kind: 'invoice',
          sourceId: 'K-I1',
          externalReference: 'K-I1',
          customerSourceId: 'K-C',
          invoiceDate: '2026-11-02',
          currency: 'EUR',
          description: '',
          lines: [{ description: 'Service', netAmount: '10.00', vatRate: '0.21', vatAmount: '2.10' }],
        },
      },
    ]);
    await drain(pipeline);
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    expect(invoicesBy('K-I1').map((d) => [d.status, d.total])).toEqual([['sent', 1210n]]);
  });

  it('a revoked connection parks the documents with TARGET_AUTH_REVOKED, saying how to reconnect; nothing is written', async () => {
    await t.entity('FB3', 'EUR', { standardTaxRate: '0.21' });
    const refresh = fb.issueRefreshToken();
    const pipeline = await definePipeline(t.db, 'FB3', {
      name: 'revoked-freshbooks',
      source: { type: 'records' },
      target: settings(refresh),
    });
    fb.revokeAll();
    const writes = fb.stats.writes;
    await sync.processRecords(pipeline, 'import', 'e2e', [
      { record: { kind: 'customer', sourceId: 'R-C', name: 'Revoked customer' } },
    ]);
    await drain(pipeline).catch(() => undefined);
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((p) => p.reason_code)).toEqual(['TARGET_AUTH_REVOKED']);
    expect(parked[0]!.message).toMatch(/Reconnect/);
    expect(parked[0]!.message).not.toContain(refresh);
    expect(parked[0]!.message).not.toContain(CLIENT.clientSecret);
    expect(fb.stats.writes).toBe(writes);
  });
});
