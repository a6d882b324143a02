import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectorError } from '../../sync/connector.ts';
import type { RatePlanner, TokenSource } from '../../sync/remote/contracts.ts';
import type { ItemResult, TargetCreditNote, TargetDeps, TargetInvoice } from '../../sync/target.ts';
import { type MyobSimulator, startMyobSimulator } from './simulator.ts';
import { createMyobTarget } from './target.ts';

/*
 * The connector against the simulated MYOB without the engine: the connection check, the key's
 * daily limit (retryable, the budget paused an hour), a per-second refusal sent again after a
 * pause, company file credentials MYOB refuses (401: read as a revoked connection, no secret told),
 * and the lookup after a lost answer taking only the given customer's sale under a shared reference.
 */

const CLIENT = { clientId: 'unit-api-key', clientSecret: 'unit-secret-0123456789' };
const FILE = '22222222-3333-4444-8555-666666666666';
const log = pino({ level: 'silent' });
let sim: MyobSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** A token source over the simulator's token endpoint, and a planner that records its pauses. */
async function setup(limits: { perSecond?: number; perDay?: number }, password = 'pw') {
  sim = await startMyobSimulator({
    ...CLIENT,
    companyFiles: { [FILE]: { credentials: { user: 'Administrator', password: 'pw' } } },
    limits,
  });
  const s = sim;
  let refresh = s.issueRefreshToken();
  let access: string | null = null;
  const auth: TokenSource = {
    async accessToken() {
      if (access) return access;
      const form = new URLSearchParams({
        ...{ client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret },
        grant_type: 'refresh_token',
        refresh_token: refresh,
      });
      const body = (await (await fetch(s.tokenUrl, { method: 'POST', body: form })).json()) as Record<string, string>;
      refresh = body.refresh_token!;
      access = body.access_token!;
      return access;
    },
    invalidate: () => {
      access = null;
    },
    secrets: () => [CLIENT.clientSecret],
  };
  const pauses: { keys: string[]; ms: number }[] = [];
  const planner: RatePlanner = {
    acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
    pause: (keys, ms) => {
      pauses.push({ keys, ms });
      return Promise.resolve();
    },
    observe: () => Promise.resolve(),
  };
  const settings = {
    ...CLIENT,
    companyFileId: FILE,
    companyFileUser: 'Administrator',
    companyFilePassword: password,
    accounts: { sales: '4-1000', bank: '1-1110' },
    baseUrl: s.baseUrl,
    tokenUrl: s.tokenUrl,
  };
  const deps = { db: null, log, settings, pipelineId: 'p', pipelineName: 'p', entityId: 'e' } as unknown as TargetDeps;
  const target = createMyobTarget(deps, {
    auth,
    planner,
    rateWaitMs: 5,
    client: { backoffBaseMs: 1, backoffMaxMs: 5 },
  });
  const ctx = { db: null as never, log, actor: 'test' };
  return { s, target, ctx, pauses };
}

describe('the MYOB connector', () => {
  it('checks the connection: the company file, its currency and tax codes', async () => {
    const { target, ctx } = await setup({});
    expect(await target.checkConnection!(ctx)).toBe(`company file ${FILE} (AUD, 2 tax codes)`);
  });

  it('a refusal for the second is sent again after pausing the key; the day spent is retryable after an hour', async () => {
    const { s, target, ctx, pauses } = await setup({ perDay: 3 });
    s.failNext(403, 403);
    expect(await target.checkConnection!(ctx)).toMatch(/^company file/);
    expect(pauses.slice(0, 2)).toEqual([
      { keys: ['myob:key:unit-api-key'], ms: 5 },
      { keys: ['myob:key:unit-api-key'], ms: 10 },
    ]);
    // Three calls made (tax codes, two accounts): the fourth is over the day.
    const err = await target.checkConnection!(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err).toMatchObject({
      retryable: true,
      retryAfterMs: 3_600_000,
      message: expect.stringMatching(/daily rate limit/),
    });
    expect(pauses.at(-1)).toEqual({ keys: ['myob:key:unit-api-key'], ms: 3_600_000 });
  });

  it('finds, after a lost answer, the given customer’s sale under a reference another customer holds too', async () => {
    const { s, target, ctx } = await setup({ perSecond: 10_000 });
    const idOf = (r: ItemResult | undefined) => {
      if (!r?.ok) throw new Error(`not booked: ${JSON.stringify(r)}`);
      return r.targetId;
    };
    const [c, d] = (
      await target.upsertCustomers(
        ctx,
        ['C', 'D'].map((x) => ({
          sourceId: x,
          code: `S-${x}`,
          targetId: null,
          record: { kind: 'customer' as const, sourceId: x, name: `Customer ${x}` },
        })),
      )
    ).map(idOf) as [string, string];
    const sale = (customerTargetId: string, net: string) => ({
      sourceId: `${customerTargetId}-${net}`,
      customerTargetId,
      productTargetIds: {},
      idempotencyKey: `${customerTargetId}-${net}`,
      currency: 'AUD',
      lines: [{ description: 'Service', netAmount: net, vatRate: '0.10' }],
    });
    const invoice = (customerTargetId: string, net: string): TargetInvoice => {
      const x = sale(customerTargetId, net);
      return {
        ...x,
        record: {
          kind: 'invoice',
          sourceId: x.sourceId,
          externalReference: 'SH-I',
          customerSourceId: customerTargetId,
          invoiceDate: '2026-11-02',
          dueDate: '2026-12-02',
          currency: x.currency,
          description: '',
          lines: x.lines,
        },
      };
    };
    const note = (customerTargetId: string, net: string): TargetCreditNote => {
      const x = sale(customerTargetId, net);
      return {
        ...x,
        invoiceTargetId: null,
        record: {
          kind: 'creditNote',
          sourceId: x.sourceId,
          externalReference: 'SH-N',
          customerSourceId: customerTargetId,
          date: '2026-11-04',
          currency: x.currency,
          description: '',
          lines: x.lines,
        },
      };
    };
    const mine = idOf((await target.createInvoices(ctx, [invoice(c, '110.00')]))[0]);
    const myNote = idOf((await target.createCreditNotes!(ctx, [note(c, '20.00')]))[0]);
    // The other customer's, under the same references, committed with their answers lost.
    const lost = () => s.dropNext(1, (q) => q.method === 'POST' && q.route === 'Sale/Invoice/Service');
    lost();
    await expect(target.createInvoices(ctx, [invoice(d, '50.00')])).rejects.toMatchObject({ retryable: true });
    lost();
    await expect(target.createCreditNotes!(ctx, [note(d, '10.00')])).rejects.toMatchObject({ retryable: true });
    const sales = s.file(FILE).sales;
    const theirs = await target.findByReference(ctx, 'invoice', 'SH-I', d);
    expect(theirs).toMatchObject({ customerTargetId: d });
    expect(sales.get(theirs!.targetId)).toMatchObject({ customerUid: d, total: 5500n });
    const theirNote = await target.findByReference(ctx, 'creditNote', 'SH-N', d);
    expect(theirNote).toMatchObject({ customerTargetId: d });
    expect(sales.get(theirNote!.targetId)).toMatchObject({ customerUid: d, total: -1100n });
    expect(await target.findByReference(ctx, 'invoice', 'SH-I', c)).toMatchObject({ targetId: mine });
    expect(await target.findByReference(ctx, 'creditNote', 'SH-N', c)).toMatchObject({ targetId: myNote });
    expect(s.duplicates(FILE)).toEqual([]);
  });

  it('company file credentials MYOB refuses end as a revoked connection, telling no secret', async () => {
    const { target, ctx } = await setup({}, 'wrong-password');
    const err = (await target.checkConnection!(ctx).catch((e: unknown) => e)) as ConnectorError;
    expect(err).toMatchObject({ code: 'TARGET_AUTH_REVOKED', retryable: false });
    expect(err.message).not.toContain('wrong-password');
    expect(err.message).not.toContain(Buffer.from('Administrator:wrong-password').toString('base64'));
  });
});
