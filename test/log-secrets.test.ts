import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type BusinessCentralSimulator,
  startBusinessCentralSimulator,
} from '../src/connectors/businesscentral/simulator.ts';
import { type IntacctSimulator, startIntacctSimulator } from '../src/connectors/intacct/simulator.ts';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { type NetSuiteSimulator, startNetSuiteSimulator, testKeyPair } from '../src/connectors/netsuite/simulator.ts';
import { type OdooSimulator, startOdooSimulator } from '../src/connectors/odoo/simulator.ts';
import { openDatabase } from '../src/db/open.ts';
import { onPostgres } from './helpers/db.ts';
import { echoingReceiver, leaks } from './helpers/log-secrets.ts';
import { freePort, waitFor } from './helpers/process.ts';
import { invoiceEvent, signedDelivery } from './helpers/webhooks.ts';

/*
 * Issue #14: no configured secret in the logs, at debug level. The real `ledgerlink serve` (a child
 * process, LOG_LEVEL=debug, PGlite in a temporary folder) is given, through its API, pipelines whose
 * every secret setting holds a distinct, recognisable value; each pipeline runs against a local
 * simulator and each connection is tested, with failure paths (a wrong key, a wrong password, a 500).
 * Everything the process printed is then searched for every secret, clear, URL-encoded, and inside
 * any base64 text of the log (a Basic header, an encoded body). docs/security.md says what is covered.
 */

const BIN = fileURLToPath(new URL('../bin/ledgerlink.js', import.meta.url));

const ADMIN = 'LOGSEC-admin-token-7f3a9c51d2e0';
const ENCRYPTION_KEY = randomBytes(32).toString('base64');
const IX_KEY = 'LOGSEC-ixpole-apikey-4b8e2a';
const IX_WRONG = 'LOGSEC-ixpole-wrong-key-91c3';
const SENDER = { senderId: 'll_logsec_sender', senderPassword: 'LOGSEC-intacct-sender-pw-5d1f' };
const USER_PASSWORD = 'LOGSEC-intacct-user-pw-e6a0';
const WRONG_PASSWORD = 'LOGSEC-intacct-wrong-pw-0b7d';
const ODOO_WRONG = 'LOGSEC-odoo-wrong-apikey-3c9e';
const BOOKS = { currency: 'EUR', glAccounts: ['4000', '4100', '2200'], bankAccounts: ['BANK1'] };
const HOOK_SECRET = 'LOGSEC-webhook-signing-secret-8d2b';
const TARGET_SECRET = 'LOGSEC-webhook-target-secret-1f6c';
const HEADER_KEY = 'LOGSEC-webhook-header-apikey-77ae';
const NS_KEYS = testKeyPair();
const NS_CLIENT = { clientId: 'logsec0c0ffee0123456789', certificateId: 'CERT-LOGSEC-1' };
const NS_TBA = {
  consumerKey: 'logsec-consumer-key',
  consumerSecret: 'LOGSEC-netsuite-consumer-secret-2a4c',
  tokenId: 'logsec-token-id',
  tokenSecret: 'LOGSEC-netsuite-token-secret-9e1b',
};
const NS_WRONG_TOKEN_SECRET = 'LOGSEC-netsuite-wrong-token-secret-6d0f';
const BC_CLIENT = { clientId: 'logsec-bc-app', clientSecret: 'LOGSEC-bc-client-secret-4e7a' };
const BC_WRONG_SECRET = 'LOGSEC-bc-wrong-client-secret-c21d';
const INSTALMENTS = 4;

const closers: { close(): Promise<void> }[] = [];
const dirs: string[] = [];
let child: ChildProcess | null = null;
afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  for (const c of closers) await c.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the leak search', () => {
  it('finds a secret as it is, URL-encoded, JSON-escaped, and inside base64 (a Basic header)', () => {
    const secret = 'pa ss"wo/rd+1';
    const basic = Buffer.from(`user:${secret}`).toString('base64');
    expect(leaks(`x ${secret} y`, { s: secret })).toEqual(['s']);
    expect(leaks(`q=${encodeURIComponent(secret)}`, { s: secret })).toEqual(['s']);
    expect(leaks(JSON.stringify({ v: secret }), { s: secret })).toEqual(['s']);
    expect(leaks(`{"authorization":"Basic ${basic}"}`, { s: secret })).toEqual(['s']);
    expect(leaks('nothing here', { s: secret })).toEqual([]);
  });
});

describe.skipIf(onPostgres)('no secret in the logs at debug level (issue #14)', () => {
  it('serve at debug: pipelines run and connections are tested, failures too, and no secret is printed or stored in clear', async () => {
    // One simulator per pipeline that posts (a run writes the invoice numbers back, and the next would fetch nothing).
    const ixs: IxpoleSimulator[] = [];
    for (const seed of [14, 15, 16, 17]) {
      const ix = await startIxpoleSimulator({
        seed,
        instalments: INSTALMENTS,
        customers: 2,
        products: 2,
        apiKey: IX_KEY,
      });
      closers.push(ix);
      ixs.push(ix);
    }
    const odoo: OdooSimulator = await startOdooSimulator({
      version: '17',
      company: { currency: 'EUR', taxes: { '21%': '21', '9%': '9', '6%': '6', '0%': '0' } },
      seed: 14,
    });
    closers.push(odoo);
    const ODOO_KEY = odoo.issueApiKey();
    const intacct: IntacctSimulator = await startIntacctSimulator({
      ...SENDER,
      users: [{ companyId: 'LOGSEC', userId: 'xml_user', password: USER_PASSWORD }],
      companies: { LOGSEC: BOOKS },
      seed: 14,
    });
    closers.push(intacct);

    const ns: NetSuiteSimulator = await startNetSuiteSimulator({
      accountId: '7654321',
      clients: [{ ...NS_CLIENT, publicKey: NS_KEYS.publicKey }],
      tba: [NS_TBA],
      currency: 'EUR',
      items: ['Sales'],
      seed: 14,
      // Access tokens that lapse within the run: new ones are asked for with the private key.
      accessTokenSeconds: 1,
    });
    closers.push(ns);
    const bc: BusinessCentralSimulator = await startBusinessCentralSimulator({
      client: BC_CLIENT,
      seed: 14,
      accessTokenSeconds: 1,
    });
    closers.push(bc);
    const receiver = await echoingReceiver('REFUSE-ME');
    closers.push(receiver);

    const dir = mkdtempSync(join(tmpdir(), 'll-logsec-'));
    dirs.push(dir);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'DATABASE_URL' && k !== 'NODE_ENV'),
    );
    child = spawn(process.execPath, [BIN, 'serve', '--no-demo'], {
      env: {
        ...env,
        LOG_LEVEL: 'debug',
        LOG_JSON: '1',
        LEDGERLINK_DATA_DIR: join(dir, 'data'),
        LEDGERLINK_ADMIN_TOKEN: ADMIN,
        LEDGERLINK_ENCRYPTION_KEY: ENCRYPTION_KEY,
        LEDGERLINK_TICK_SECONDS: '3600',
        LEDGERLINK_OUTBOUND_ALLOW: '127.0.0.1',
        PORT: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The whole output, not a tail: a secret printed early must be found as well.
    let log = '';
    child.stdout!.on('data', (b: Buffer) => (log += b.toString('utf8')));
    child.stderr!.on('data', (b: Buffer) => (log += b.toString('utf8')));
    const exited = new Promise<void>((r) => child!.once('exit', () => r()));
    await waitFor(
      () => `the server to answer\n${log.slice(-4000)}`,
      120_000,
      async () => {
        if (child!.exitCode !== null) throw new Error(`exited:\n${log.slice(-4000)}`);
        return (await fetch(`${base}/health`)).ok || undefined;
      },
    );

    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: await res.json() };
    };

    // The operator creates two entities (the simulators make the same instalment codes); each key pair logs in.
    const entities: { entityId: string; partnerKey: string; userKey: string; token: string }[] = [];
    for (const code of ['LOGSEC1', 'LOGSEC2', 'LOGSEC3', 'LOGSEC4', 'LOGSEC5']) {
      const created = await call('POST', '/v1/admin/entities', ADMIN, {
        code,
        name: `Log Secrets ${code}`,
        baseCurrency: 'EUR',
        standardTaxRate: '0.21',
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const keys = created.body as { entityId: string; partnerKey: string; userKey: string };
      const login = await fetch(`${base}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ entityId: keys.entityId, partnerKey: keys.partnerKey, userKey: keys.userKey }),
      });
      expect(login.status).toBe(200);
      entities.push({ ...keys, token: ((await login.json()) as { token: string }).token });
    }
    const [one, two, three, four, five] = entities as [
      (typeof entities)[0],
      (typeof entities)[0],
      (typeof entities)[0],
      (typeof entities)[0],
      (typeof entities)[0],
    ];

    const ixSource = (apiKey: string, ix: IxpoleSimulator) => ({
      type: 'ixpole',
      baseUrl: ix.url,
      apiKey,
      backoffBaseMs: 5,
      backoffMaxMs: 20,
      maxAttempts: 2,
    });
    const odooTarget = (apiKey: string) => ({
      type: 'odoo',
      url: odoo.url,
      database: odoo.database,
      login: odoo.login,
      apiKey,
      version: '17',
    });
    const intacctTarget = (userPassword: string) => ({
      type: 'intacct',
      endpoint: intacct.endpoint,
      ...SENDER,
      companyId: 'LOGSEC',
      userId: 'xml_user',
      userPassword,
      currency: 'EUR',
      salesGlAccount: '4000',
      taxGlAccounts: { '0.21': '2200', '0.09': '2200' },
      bankAccountId: 'BANK1',
    });
    const tax = (rate: string) => ns.account.taxCodes.find((c) => c.rate === rate)!.id;
    const netsuiteTarget = (auth: Record<string, string>) => ({
      type: 'netsuite',
      accountId: '7654321',
      ...auth,
      currency: 'EUR',
      defaultItemId: [...ns.account.items.values()].find((i) => i.itemId === 'Sales')!.id,
      taxRates: { '0.21': tax('21'), '0.09': tax('9'), '0': tax('0') },
      baseUrl: ns.baseUrl,
      tokenUrl: ns.tokenUrl,
    });
    const bcTarget = (clientSecret: string) => ({
      type: 'businesscentral',
      clientId: BC_CLIENT.clientId,
      clientSecret,
      tenantId: bc.tenantId,
      environment: bc.environment,
      companyId: bc.companyId,
      baseUrl: bc.baseUrl,
      tokenUrl: bc.tokenUrl,
      accounts: { sales: '40100' },
      taxRates: { '0.21': 'VAT21', '0.09': 'VAT9', '0': 'VAT0' },
    });
    const pipelines = {
      'ix-to-odoo': { token: one.token, source: ixSource(IX_KEY, ixs[0]!), target: odooTarget(ODOO_KEY) },
      'wrong-keys': { token: one.token, source: ixSource(IX_WRONG, ixs[0]!), target: odooTarget(ODOO_WRONG) },
      'ix-to-intacct': { token: two.token, source: ixSource(IX_KEY, ixs[1]!), target: intacctTarget(USER_PASSWORD) },
      'wrong-password': { token: two.token, source: ixSource(IX_KEY, ixs[1]!), target: intacctTarget(WRONG_PASSWORD) },
      'ix-to-netsuite': {
        token: four.token,
        source: ixSource(IX_KEY, ixs[2]!),
        target: netsuiteTarget({ ...NS_CLIENT, privateKey: NS_KEYS.privateKey }),
      },
      'netsuite-tba': { token: four.token, source: ixSource(IX_KEY, ixs[2]!), target: netsuiteTarget(NS_TBA) },
      'netsuite-wrong-tba': {
        token: four.token,
        source: ixSource(IX_KEY, ixs[2]!),
        target: netsuiteTarget({ ...NS_TBA, tokenSecret: NS_WRONG_TOKEN_SECRET }),
      },
      'ix-to-bc': { token: five.token, source: ixSource(IX_KEY, ixs[3]!), target: bcTarget(BC_CLIENT.clientSecret) },
      'bc-wrong-secret': { token: five.token, source: ixSource(IX_KEY, ixs[3]!), target: bcTarget(BC_WRONG_SECRET) },
      'hook-to-webhook': {
        token: three.token,
        source: { type: 'webhook' },
        webhookSecret: HOOK_SECRET,
        target: {
          type: 'webhook',
          url: `${receiver.url}/in`,
          lookupUrl: `${receiver.url}/lookup/{kind}/{reference}`,
          secret: TARGET_SECRET,
          headers: { 'X-Api-Key': HEADER_KEY },
        },
      },
    };
    const tokenOf = (name: string) => pipelines[name as keyof typeof pipelines].token;
    for (const [name, { token, ...definition }] of Object.entries(pipelines)) {
      const put = await call('PUT', `/v1/pipelines/${name}`, token, { ...definition, options: { pageSize: 10 } });
      expect(put.status, `${name}: ${JSON.stringify(put.body)}`).toBe(201);
    }

    // Connection tests: the two good pipelines pass; the wrong key (401), the wrong API key and the wrong password fail.
    const tested = async (name: string) => (await call('POST', `/v1/connections/${name}/test`, tokenOf(name))).body;
    expect(await tested('ix-to-odoo')).toMatchObject({ ok: true });
    expect(await tested('ix-to-intacct')).toMatchObject({ ok: true });
    const wrongKeys = await tested('wrong-keys');
    const refused = { outcome: 'failed', code: 'CONNECTION_AUTH_FAILED' };
    expect(wrongKeys).toMatchObject({ ok: false, source: { ...refused, status: 401 }, target: refused });
    const wrongPassword = await tested('wrong-password');
    expect(wrongPassword, JSON.stringify(wrongPassword)).toMatchObject({ ok: false, target: refused });
    expect(await tested('ix-to-netsuite')).toMatchObject({ ok: true });
    expect(await tested('netsuite-tba')).toMatchObject({ ok: true });
    expect(await tested('ix-to-bc')).toMatchObject({ ok: true });
    expect(await tested('bc-wrong-secret')).toMatchObject({ ok: false, target: refused });
    expect(await tested('netsuite-wrong-tba')).toMatchObject({ ok: false, target: refused });
    // The webhook receiver refuses the lookup with a body repeating the API key it was sent.
    receiver.state.refuseLookups = true;
    expect(await tested('hook-to-webhook')).toMatchObject({ ok: false, target: { outcome: 'failed', status: 401 } });
    receiver.state.refuseLookups = false;

    // A 500 from Intacct before the run's first call: an error path, retried.
    intacct.failNext(500);
    const runs: Record<string, any> = {};
    for (const name of ['ix-to-odoo', 'ix-to-intacct', 'ix-to-netsuite', 'ix-to-bc', 'wrong-keys']) {
      const started = await call('POST', `/v1/pipelines/${name}/runs`, tokenOf(name));
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      runs[name] = await waitFor(`run of ${name}`, 30_000, async () => {
        const r = (await call('GET', `/v1/runs/${started.body.runId}`, tokenOf(name))).body;
        return r.finishedAt ? r : undefined;
      });
    }
    expect(runs['ix-to-odoo'].status, JSON.stringify(runs['ix-to-odoo'])).toBe('succeeded');
    expect(runs['ix-to-intacct'].status, JSON.stringify(runs['ix-to-intacct'])).toBe('succeeded');
    expect(runs['ix-to-netsuite'].status, JSON.stringify(runs['ix-to-netsuite'])).toBe('succeeded');
    expect(runs['ix-to-bc'].status, JSON.stringify(runs['ix-to-bc'])).toBe('succeeded');
    expect(runs['wrong-keys'].status).toBe('failed');
    expect(JSON.stringify(runs['wrong-keys'].error)).toMatch(/401/);
    // Two signed events and one signed with a wrong secret; the receiver refuses one invoice echoing its key.
    const hook = (ref: string, secret: string) =>
      fetch(`${base}/v1/webhooks/hook-to-webhook`, {
        method: 'POST',
        ...signedDelivery(invoiceEvent(`evt-${ref}`, ref, { net: '100.00' }), secret),
      });
    for (const ref of ['SO-1', 'REFUSE-ME']) expect((await hook(ref, HOOK_SECRET)).status).toBe(202);
    expect((await hook('SO-2', 'not-the-secret-0123456789')).status).toBe(401);
    await waitFor('the webhook target to receive both invoices', 30_000, async () =>
      receiver.posts.filter((p) => p.kind === 'invoice').flatMap((p) => p.items).length >= 2 ? true : undefined,
    );
    const refusals = await waitFor('the refused invoice’s exception', 30_000, async () => {
      const r = (await call('GET', '/v1/exceptions?pipeline=hook-to-webhook', three.token)).body;
      return r.items?.length ? (r.items as { message: string }[]) : undefined;
    });
    expect(JSON.stringify(refusals)).toContain('KEY_NOT_ALLOWED');

    // The documents reached both targets (the worker posts them after the run).
    await waitFor('Odoo, Intacct, NetSuite and Business Central to hold every instalment', 30_000, async () => {
      const moves = [...odoo.db.moves.values()].filter((m) => m.move_type === 'out_invoice' && m.state === 'posted');
      const invoices = [...intacct.company('LOGSEC').records.values()].filter((r) => r.kind === 'invoice');
      const held = [
        moves.length,
        invoices.length,
        ns.account.invoices().length,
        [...bc.company.docs.values()].filter((d) => d.set === 'salesInvoices').length,
      ];
      return held.every((n) => n === INSTALMENTS) ? true : undefined;
    });
    expect(intacct.stats.failed).toBeGreaterThanOrEqual(1);
    // The access tokens of the connection tests lapsed (1 s) before the runs: new ones were asked for (NetSuite's with the private key).
    expect(ns.stats.tokens).toBeGreaterThanOrEqual(2);
    expect(bc.stats.tokens).toBeGreaterThanOrEqual(2);

    child.kill('SIGTERM');
    await exited;

    const secrets: Record<string, string> = {
      LEDGERLINK_ADMIN_TOKEN: ADMIN,
      LEDGERLINK_ENCRYPTION_KEY: ENCRYPTION_KEY,
      ...Object.fromEntries(
        entities.flatMap((e, i) => [
          [`entity ${i + 1} partnerKey`, e.partnerKey],
          [`entity ${i + 1} userKey`, e.userKey],
          [`entity ${i + 1} session token`, e.token],
        ]),
      ),
      'ixpole apiKey': IX_KEY,
      'ixpole wrong apiKey': IX_WRONG,
      'odoo apiKey': ODOO_KEY,
      'odoo wrong apiKey': ODOO_WRONG,
      'intacct senderPassword': SENDER.senderPassword,
      'intacct userPassword': USER_PASSWORD,
      'intacct wrong userPassword': WRONG_PASSWORD,
      'netsuite privateKey': NS_KEYS.privateKey,
      'netsuite privateKey body': NS_KEYS.privateKey.split('\n')[1]!,
      'netsuite consumerSecret': NS_TBA.consumerSecret,
      'netsuite tokenSecret': NS_TBA.tokenSecret,
      'netsuite wrong tokenSecret': NS_WRONG_TOKEN_SECRET,
      'business central clientSecret': BC_CLIENT.clientSecret,
      'business central wrong clientSecret': BC_WRONG_SECRET,
      'webhook source signing secret': HOOK_SECRET,
      'webhook target secret': TARGET_SECRET,
      'webhook target header': HEADER_KEY,
    };
    // Not vacuous: debug lines, the requests, the runs and the failures are all in the log.
    const lines = log.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(50);
    const levels = lines.map((l) => (JSON.parse(l) as { level: number }).level);
    expect(levels.filter((l) => l === 20).length).toBeGreaterThan(10);
    expect(log).toContain('PUT /v1/pipelines/ix-to-intacct 201');
    expect(log).toContain('POST /v1/connections/wrong-password/test 200');
    expect(log).toContain('"msg":"request"');
    expect(leaks(log, secrets)).toEqual([]);

    // At rest: the pipelines' settings hold only sealed values where the secrets were.
    const db = await openDatabase({ dataDir: join(dir, 'data') });
    try {
      const { rows } = await db.query<{ row: string }>(`SELECT row_to_json(p)::text AS row FROM pipelines p`);
      expect(rows).toHaveLength(10);
      const stored = rows.map((r) => r.row).join('\n');
      expect(stored).toContain('enc:v1:');
      expect(leaks(stored, secrets)).toEqual([]);
      // Nor anywhere else a run, a failure or a change is recorded.
      for (const table of ['runs', 'run_records', 'exceptions', 'audit_log', 'webhook_events']) {
        const all = await db.query<{ row: string }>(`SELECT row_to_json(x)::text AS row FROM ${table} x`);
        expect(leaks(all.rows.map((r) => r.row).join('\n'), secrets), table).toEqual([]);
      }
    } finally {
      await db.close();
    }
  }, 120_000);
});
