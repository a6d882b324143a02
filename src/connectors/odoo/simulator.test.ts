import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectorError } from '../../sync/connector.ts';
import { RemoteClient } from '../../sync/remote/client.ts';
import { type OdooAnswer, OdooRpc, int } from './rpc.ts';
import { type OdooSimulator, startOdooSimulator } from './simulator.ts';

/*
 * The simulated Odoo answers as Odoo's JSON-RPC does: `authenticate` gives the uid or false, a
 * failure is HTTP 200 with `{"error": {"code": 200, "message": "Odoo Server Error", "data":
 * {"name", "message"}}}`, an unknown field is a ValueError (and a contract violation), the
 * version decides whether a payment's reference is `ref` or `memo`, moves are drafts named "/"
 * until posted. And OdooRpc reads those answers: AccessDenied is TARGET_AUTH_REVOKED, a business
 * refusal a value, any other server error a retryable outage, something that is not JSON-RPC final.
 */

let sim: OdooSimulator | undefined;
let other: http.Server | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
  other?.closeAllConnections();
  await new Promise((r) => (other ? other.close(r) : r(undefined)));
  other = undefined;
});

async function rpcCall(url: string, service: string, method: string, args: unknown[]) {
  const res = await fetch(`${url}/jsonrpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'call', params: { service, method, args }, id: 1 }),
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> | null };
}

function rpcOf(url: string, key: string, version: '16' | '17' | '18' = '17', database = 'simulated') {
  const client = new RemoteClient({ system: 'Odoo', baseUrl: url, maxAttempts: 1, secrets: () => [key] });
  return new OdooRpc(client, database, 'api@example.org', key, version);
}

const idOf = (a: OdooAnswer) => (a.ok ? int(a.result)! : 0);

async function thrown(p: Promise<unknown>): Promise<ConnectorError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectorError);
    return err as ConnectorError;
  }
  throw new Error('did not throw');
}

describe('simulated Odoo', () => {
  it('authenticates a login and API key to the uid, answers false otherwise, and refuses execute_kw with AccessDenied in Odoo’s error body', async () => {
    sim = await startOdooSimulator({ version: '17' });
    const key = sim.issueApiKey();
    expect(
      (await rpcCall(sim.url, 'common', 'authenticate', ['simulated', 'api@example.org', key, {}])).body,
    ).toMatchObject({
      result: 2,
    });
    expect(
      (await rpcCall(sim.url, 'common', 'authenticate', ['simulated', 'api@example.org', 'nope', {}])).body,
    ).toMatchObject({
      result: false,
    });
    const denied = await rpcCall(sim.url, 'object', 'execute_kw', [
      'simulated',
      2,
      'nope',
      'res.partner',
      'search_read',
      [[]],
      {},
    ]);
    expect(denied).toMatchObject({
      status: 200,
      body: {
        error: {
          code: 200,
          message: 'Odoo Server Error',
          data: { name: 'odoo.exceptions.AccessDenied', message: 'Access Denied' },
        },
      },
    });
    expect((await rpcCall(sim.url, 'common', 'version', [])).body).toMatchObject({
      result: { server_version: '17.0', server_version_info: [17, 0, 0, 'final', 0, ''] },
    });
  });

  it('keeps a payment’s reference in ref on 17 and in memo on 18: the other is an Invalid field, and a violation', async () => {
    for (const [version, good, bad] of [
      ['17', 'ref', 'memo'],
      ['18', 'memo', 'ref'],
    ] as const) {
      sim = await startOdooSimulator({ version });
      const key = sim.issueApiKey();
      const read = (field: string) =>
        rpcCall(sim!.url, 'object', 'execute_kw', [
          'simulated',
          2,
          key,
          'account.payment',
          'search_read',
          [[[field, '=', 'X']]],
          { fields: ['name'] },
        ]);
      expect((await read(good)).body).toMatchObject({ result: [] });
      expect((await read(bad)).body).toMatchObject({
        error: { data: { name: 'builtins.ValueError', message: `account.payment.${bad}: Invalid field` } },
      });
      expect(sim.violations).toEqual([
        { call: 'account.payment.search_read', problems: [`account.payment.${bad}: Invalid field`] },
      ]);
      await sim.close();
      sim = undefined;
    }
  });

  it('creates moves as drafts named "/", numbers them when posted, refuses a locked date with a UserError, and answers 429 past its minute', async () => {
    sim = await startOdooSimulator({ version: '16', limits: { perMinute: 8, minuteMs: 60_000 } });
    const key = sim.issueApiKey();
    const rpc = rpcOf(sim.url, key, '16');
    const partner = await rpc.execute('res.partner', 'create', [{ name: 'Ann', ref: 'C1' }], {}, true);
    expect(partner.ok).toBe(true);
    const values = (date: string) => ({
      move_type: 'out_invoice',
      partner_id: idOf(partner),
      ref: `R-${date}`,
      invoice_date: date,
      invoice_line_ids: [[0, 0, { name: 'x', quantity: 1, price_unit: 10 }]],
    });
    const id = idOf(await rpc.execute('account.move', 'create', [values('2026-11-02')], {}, true));
    expect(sim.db.moves.get(id)).toMatchObject({ name: '/', state: 'draft' });
    expect(await rpc.execute('account.move', 'action_post', [[id]], {}, true)).toEqual({ ok: true, result: false });
    expect(sim.db.moves.get(id)).toMatchObject({ name: 'INV/2026/00001', state: 'posted' });
    sim.db.lockDate = '2000-12-31';
    const old = idOf(await rpc.execute('account.move', 'create', [values('2000-06-01')], {}, true));
    expect(await rpc.execute('account.move', 'action_post', [[old]], {}, true)).toEqual({
      ok: false,
      fault: {
        name: 'odoo.exceptions.UserError',
        message: 'You cannot add/modify entries prior to and inclusive of the lock date 2000-12-31.',
      },
    });
    // The client's own retries of a read wait out 429; with one attempt it is a retryable failure.
    for (let i = 0; i < 3; i++) await rpc.searchRead('res.partner', [], ['name']).catch(() => undefined);
    const limited = await thrown(rpc.searchRead('res.partner', [], ['name']));
    expect(limited).toMatchObject({ status: 429, retryable: true });
    expect(sim.stats.rateRefused).toBeGreaterThan(0);
    expect(sim.violations).toEqual([]);
  });

  it('js_assign_outstanding_line on a payment’s journal entry reconciles its open line with the one given, as Odoo does for any move; refuses a reconciled line and an unposted entry in Odoo’s words', async () => {
    sim = await startOdooSimulator({ version: '18' });
    const key = sim.issueApiKey();
    const rpc = rpcOf(sim.url, key, '18');
    const partner = idOf(await rpc.execute('res.partner', 'create', [{ name: 'Ann', ref: 'C1' }], {}, true));
    const other = idOf(await rpc.execute('res.partner', 'create', [{ name: 'Bob', ref: 'C2' }], {}, true));
    const payment = async (type: string, amount: number, who = partner, postIt = true) => {
      const values = { payment_type: type, partner_type: 'customer', partner_id: who, amount, date: '2026-11-05' };
      const id = idOf(await rpc.execute('account.payment', 'create', [values], {}, true));
      if (postIt) await rpc.execute('account.payment', 'action_post', [[id]], {}, true);
      const [row] = await rpc.searchRead('account.payment', [['id', '=', id]], ['move_id']);
      const [line] = await rpc.searchRead('account.move.line', [['payment_id', '=', id]], ['move_id', 'reconciled']);
      // The payment's entry is the move of its receivable line, an account.move of type entry.
      expect(line!.move_id).toEqual(row!.move_id);
      return { id, entry: (row!.move_id as [number, string])[0], line: int(line!.id)! };
    };
    const received = await payment('inbound', 40);
    const refund = await payment('outbound', 25);
    const [entry] = await rpc.searchRead('account.move', [['id', '=', refund.entry]], ['move_type', 'state']);
    expect(entry).toMatchObject({ move_type: 'entry', state: 'posted' });
    const assign = (move: number, line: number) =>
      rpc.execute('account.move', 'js_assign_outstanding_line', [[move], line], {}, true);
    expect((await assign(refund.entry, received.line)).ok).toBe(true);
    expect(sim.db.partials.map((p) => [p.debit_move_id, p.credit_move_id, p.amount])).toEqual([
      [refund.line, received.line, 2500n],
    ]);
    expect([sim.db.lines.get(refund.line)!.residual, sim.db.lines.get(received.line)!.residual]).toEqual([0n, -1500n]);
    // The refund's line is reconciled now: the move has none of its own left, so nothing more is done.
    expect((await assign(refund.entry, received.line)).ok).toBe(true);
    expect(sim.db.partials).toHaveLength(1);
    // Given a reconciled line, or an entry not posted, Odoo refuses in these words.
    expect(await assign(received.entry, refund.line)).toEqual({
      ok: false,
      fault: {
        name: 'odoo.exceptions.UserError',
        message: 'You are trying to reconcile some entries that are already reconciled.',
      },
    });
    const draft = await payment('outbound', 5, partner, false);
    expect(await assign(draft.entry, received.line)).toEqual({
      ok: false,
      fault: { name: 'odoo.exceptions.UserError', message: 'You can only reconcile posted entries.' },
    });
    // Odoo checks no partner when it reconciles: another customer's lines are reconciled all the same.
    const theirs = await payment('outbound', 5, other);
    expect((await assign(theirs.entry, received.line)).ok).toBe(true);
    expect(sim.db.lines.get(received.line)!.residual).toBe(-1000n);
    expect(sim.violations).toEqual([]);
  });

  it('OdooRpc: AccessDenied is TARGET_AUTH_REVOKED, never showing the key; a false authenticate too', async () => {
    sim = await startOdooSimulator({ version: '17' });
    const key = sim.issueApiKey();
    const rpc = rpcOf(sim.url, key);
    await rpc.uid();
    sim.revokeApiKey(key);
    const err = await thrown(rpc.searchRead('res.partner', [], ['name']));
    expect(err).toMatchObject({ code: 'TARGET_AUTH_REVOKED', retryable: false });
    expect(err.message).toMatch(/AccessDenied/);
    expect(err.message).not.toContain(key);
    const fresh = await thrown(rpcOf(sim.url, key).uid());
    expect(fresh).toMatchObject({ code: 'TARGET_AUTH_REVOKED', retryable: false });
  });

  it('OdooRpc: an unknown server error is a retryable outage; an answer that is not JSON-RPC, or not 200, is final', async () => {
    let answer: { status: number; body: string } = { status: 200, body: '' };
    other = http.createServer((_req, res) => {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
    await new Promise<void>((r) => other!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const rpc = rpcOf(url, 'k'.repeat(40));
    answer = {
      status: 200,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        error: {
          code: 200,
          message: 'Odoo Server Error',
          data: { name: 'psycopg2.errors.SerializationFailure', message: 'could not serialize access' },
        },
      }),
    };
    expect(await thrown(rpc.serverVersion())).toMatchObject({ retryable: true });
    answer = { status: 200, body: '<html>login</html>' };
    expect(await thrown(rpc.serverVersion())).toMatchObject({ retryable: false });
    answer = { status: 404, body: '{}' };
    const missing = await thrown(rpc.serverVersion());
    expect(missing).toMatchObject({ status: 404, retryable: false });
    expect(missing.message).toMatch(/an Odoo server/);
  });

  it('OdooRpc: a companyId goes with every model call as allowed_company_ids, beside the context given', async () => {
    const bodies: string[] = [];
    other = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"jsonrpc": "2.0", "id": 1, "result": 2}');
      });
    });
    await new Promise<void>((r) => other!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const client = new RemoteClient({ system: 'Odoo', baseUrl: url, maxAttempts: 1 });
    const rpc = new OdooRpc(client, 'db', 'api@example.org', 'k'.repeat(40), '17', 3);
    await rpc.execute('account.payment.register', 'create', [{}], { context: { active_ids: [9] } }, true);
    const sent = JSON.parse(bodies.at(-1)!) as { params: { args: unknown[] } };
    expect(sent.params.args.slice(1, 7)).toEqual([
      2,
      'k'.repeat(40),
      'account.payment.register',
      'create',
      [{}],
      { context: { active_ids: [9], allowed_company_ids: [3] } },
    ]);
  });
});
