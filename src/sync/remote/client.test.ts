import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../test/helpers/db.ts';
import type { Database } from '../../db/database.ts';
import { ConnectorError } from '../connector.ts';
import type { GuardOptions } from '../http.ts';
import { RemoteClient, parseRetryAfter } from './client.ts';
import type { RatePlanner, RemoteClientOptions, TokenSource } from './contracts.ts';
import { createRatePlanner } from './rate-planner.ts';

/*
 * The resilient client against a local node:http server whose next answers each test scripts.
 * The server is plain http on 127.0.0.1, which the outbound policy allows only through the guard
 * options (as an operator would with LEDGERLINK_OUTBOUND_ALLOW).
 */

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;
interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  port: number;
  at: number;
}

let server: http.Server;
let port: number;
let script: Handler[] = [];
let seen: Seen[] = [];
const ok: Handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
const status =
  (code: number, headers: Record<string, string> = {}, body = '{}'): Handler =>
  (_req, res) =>
    res.writeHead(code, { 'content-type': 'application/json', ...headers }).end(body);

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body,
        port: req.socket.remotePort!,
        at: Date.now(),
      });
      (script.shift() ?? ok)(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
afterEach(() => {
  script = [];
  seen = [];
});

const guard = (): GuardOptions => ({
  policy: { allowPrivateNetworks: false, allow: [{ host: '127.0.0.1', port }] },
});

/** A client whose pauses are recorded instead of waited. */
function client(extra: Partial<RemoteClientOptions> = {}) {
  const waits: number[] = [];
  const c = new RemoteClient({
    system: 'Sim',
    baseUrl: `http://127.0.0.1:${port}/api.xro/2.0`,
    guard: guard(),
    maxAttempts: 4,
    backoffBaseMs: 100,
    backoffMaxMs: 250,
    random: () => 0.5,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...extra,
  });
  return { c, waits };
}

const read = { method: 'GET', path: '/Invoices', kind: 'read', retrySafe: true } as const;
const write = { method: 'POST', path: '/Invoices', kind: 'write', retrySafe: false, json: { a: 1 } } as const;

async function thrown(p: Promise<unknown>): Promise<ConnectorError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectorError);
  return err as ConnectorError;
}

/** A token source handing out tok-1, tok-2, … and recording what it was told. */
function tokens(): TokenSource & { invalidated: string[]; issued: number } {
  const s = {
    issued: 0,
    invalidated: [] as string[],
    current: null as string | null,
    accessToken() {
      s.current ??= `tok-${++s.issued}-${randomBytes(6).toString('hex')}`;
      return Promise.resolve(s.current);
    },
    invalidate(token: string) {
      s.invalidated.push(token);
      if (s.current === token) s.current = null;
    },
    secrets: () => ['client-secret-9f8e7d', ...(s.current ? [s.current] : [])],
  };
  return s;
}

describe('RemoteClient: URLs', () => {
  it('keeps the base path, encodes the query, and refuses a full URL on another origin', () => {
    const { c } = client();
    expect(c.url({ path: '/Invoices', query: { where: 'Status=="PAID" & x', page: 2, skip: undefined } }).href).toBe(
      `http://127.0.0.1:${port}/api.xro/2.0/Invoices?where=Status%3D%3D%22PAID%22+%26+x&page=2`,
    );
    expect(c.url({ path: 'Invoices/abc' }).pathname).toBe('/api.xro/2.0/Invoices/abc');
    expect(c.url({ path: `http://127.0.0.1:${port}/connections` }).pathname).toBe('/connections');
    expect(() => c.url({ path: 'https://evil.example/x' })).toThrow(/not the configured origin/);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeNull();
  });
});

describe('RemoteClient: retries', () => {
  it('retries 5xx of a retry-safe request with exponential backoff and full jitter', async () => {
    const { c, waits } = client();
    script = [status(500), status(502), status(503)];
    const res = await c.request(read);
    expect(res.status).toBe(200);
    expect(seen).toHaveLength(4);
    // random 0.5 of min(250, 100·2^(n-1)): 50, 100, 125.
    expect(waits).toEqual([50, 100, 125]);
    const { c: low, waits: lowWaits } = client({ random: () => 0 });
    script = [status(500)];
    await low.request(read);
    expect(lowWaits).toEqual([0]);
  });

  it('gives up after maxAttempts with a retryable error naming the status and at most a code', async () => {
    const { c, waits } = client();
    script = Array.from({ length: 4 }, () => status(504, {}, '{"code":"GatewayTimeout","message":"upstream x broke"}'));
    const err = await thrown(c.request(read));
    expect(err).toMatchObject({ system: 'Sim', status: 504, retryable: true });
    expect(err.message).toContain('gave up after 4 attempts');
    expect(err.message).toContain('GatewayTimeout');
    expect(err.message).not.toContain('upstream');
    expect(waits).toHaveLength(3);
  });

  it('does not resend a write that is not retry-safe after a 5xx or a dropped connection: retryable, outcome unknown', async () => {
    const { c, waits } = client();
    script = [status(500)];
    const err = await thrown(c.request(write));
    expect(err).toMatchObject({ status: 500, retryable: true });
    expect(err.message).toMatch(/unknown/);
    expect(seen).toHaveLength(1);
    script = [(req) => req.socket.destroy()];
    const dropped = await thrown(c.request(write));
    expect(dropped).toMatchObject({ status: null, retryable: true });
    expect(dropped.message).toMatch(/unknown/);
    expect(seen).toHaveLength(2);
    expect(waits).toEqual([]);
    // The same drop on a retry-safe request is asked again.
    script = [(req) => req.socket.destroy()];
    expect((await c.request({ ...write, retrySafe: true })).status).toBe(200);
    expect(seen).toHaveLength(4);
  });

  it('returns a 5xx the connector calls a refusal as it is, once, while any other 5xx keeps its meaning', async () => {
    const fault = '<soap:Fault><faultcode>soap:Client</faultcode></soap:Fault>';
    const { c, waits } = client({ refusal5xx: (res) => res.text.includes('soap:Client') });
    script = [status(500, { 'content-type': 'text/xml' }, fault)];
    const refused = await c.request(write);
    expect(refused.status).toBe(500);
    expect(refused.text).toBe(fault);
    // A retry-safe read refused the same way is not asked again either: asking cannot change the answer.
    script = [status(500, {}, fault)];
    expect((await c.request(read)).status).toBe(500);
    expect(seen).toHaveLength(2);
    expect(waits).toEqual([]);
    // A server fault stays an unknown outcome for a write and a retry for a read.
    script = [status(500, {}, '<faultcode>soap:Server</faultcode>')];
    expect((await thrown(c.request(write))).message).toMatch(/unknown/);
    script = [status(502), status(503)];
    expect((await c.request(read)).status).toBe(200);
    expect(seen).toHaveLength(6);
  });

  it('returns 2xx, 3xx and 4xx to the caller as they are', async () => {
    const { c, waits } = client();
    for (const code of [201, 302, 400, 404, 409]) {
      script = [status(code, code === 302 ? { location: 'https://elsewhere.example/' } : {})];
      expect((await c.request(write)).status).toBe(code);
    }
    expect(seen).toHaveLength(5);
    expect(waits).toEqual([]);
  });

  it('honours 429 Retry-After in seconds and as a date, even for a write that is not retry-safe, and pauses the planner', async () => {
    const planner = recordingPlanner();
    const { c, waits } = client({ rate: { planner, scopes: [{ key: 'sim:t1', limits: {} }] } });
    script = [
      status(429, { 'retry-after': '2' }),
      status(429, { 'retry-after': new Date(Date.now() + 3000).toUTCString() }),
      status(503, { 'retry-after': '1' }),
    ];
    const res = await c.request(write);
    expect(res.status).toBe(200);
    expect(seen).toHaveLength(4);
    expect(waits[0]).toBe(2000);
    expect(waits[1]).toBeGreaterThanOrEqual(1000);
    expect(waits[1]).toBeLessThanOrEqual(3000);
    expect(waits[2]).toBe(1000);
    expect(planner.pauses).toEqual([
      [['sim:t1'], 2000],
      [['sim:t1'], waits[1]],
      [['sim:t1'], 1000],
    ]);
    // Without Retry-After a 429 still waits the backoff: never hammered.
    script = [status(429)];
    await c.request(read);
    expect(waits[3]).toBe(50);
  });

  it('a Retry-After beyond retryAfterMaxMs fails at once, retryable with the delay; past maxAttempts too', async () => {
    const planner = recordingPlanner();
    const { c, waits } = client({ retryAfterMaxMs: 5000, rate: { planner, scopes: [{ key: 's', limits: {} }] } });
    script = [status(429, { 'retry-after': '3600' })];
    const err = await thrown(c.request(read));
    expect(err).toMatchObject({ status: 429, retryable: true, retryAfterMs: 3_600_000 });
    expect(seen).toHaveLength(1);
    expect(waits).toEqual([]);
    expect(planner.pauses).toEqual([[['s'], 3_600_000]]);
    script = Array.from({ length: 4 }, () => status(429, { 'retry-after': '1' }));
    const again = await thrown(c.request(read));
    expect(again).toMatchObject({ status: 429, retryable: true, retryAfterMs: 1000 });
    expect(again.message).toContain('gave up after 4 attempts');
  });

  it('a 503 without Retry-After is a 5xx: not resent for a write that is not retry-safe', async () => {
    const { c } = client();
    script = [status(503)];
    expect(await thrown(c.request(write))).toMatchObject({ status: 503, retryable: true });
    expect(seen).toHaveLength(1);
  });

  it('times out an answer whose body stalls, and tries again when retry-safe', async () => {
    const stall: Handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
    };
    const { c } = client({ timeoutMs: 300, maxAttempts: 2 });
    script = [stall, stall];
    const started = Date.now();
    const err = await thrown(c.request(read));
    expect(err.message).toMatch(/timed out after 300 ms \(gave up after 2 attempts\)/);
    expect(err.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
    script = [stall];
    expect((await c.request(read)).status).toBe(200);
    script = [stall];
    const unknown = await thrown(c.request(write));
    expect(unknown.message).toMatch(/timed out after 300 ms; whether it was carried out is unknown/);
  });

  it('refuses a URL the outbound policy does not allow, sending nothing', async () => {
    const { c } = client({ guard: { policy: { allowPrivateNetworks: false, allow: [] } } });
    const err = await thrown(c.request(read));
    expect(err).toMatchObject({ retryable: false });
    expect(err.message).toMatch(/was not sent/);
    expect(seen).toHaveLength(0);
  });

  it('connection refused (nothing sent) is retried even for a write that is not retry-safe', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const { c, waits } = client({
      baseUrl: `http://127.0.0.1:${deadPort}/`,
      guard: { policy: { allowPrivateNetworks: false, allow: [{ host: '127.0.0.1', port: deadPort }] } },
      maxAttempts: 3,
    });
    const err = await thrown(c.request(write));
    expect(err).toMatchObject({ status: null, retryable: true });
    expect(err.message).toMatch(/gave up after 3 attempts/);
    expect(waits).toHaveLength(2);
  });
});

describe('RemoteClient: a stopping worker (the signal)', () => {
  it('ends a Retry-After wait at once, retryable, and sends nothing more', async () => {
    const stop = new AbortController();
    // Real sleeps: the wait is a minute, ended by the signal.
    const { c } = client({ sleep: undefined });
    script = [status(429, { 'retry-after': '60' })];
    const started = Date.now();
    const pending = thrown(c.request(read, stop.signal));
    await new Promise((r) => setTimeout(r, 100));
    stop.abort(new Error('this worker is stopping'));
    const err = await pending;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err).toMatchObject({ retryable: true });
    expect(err.message).toContain('was cancelled');
    expect(seen).toHaveLength(1);
  });

  it('lets an exchange already sent run to its answer, so that its outcome is known', async () => {
    const stop = new AbortController();
    const { c } = client();
    // The server answers 300 ms after the request; the worker begins to stop meanwhile.
    script = [(_req, res) => void setTimeout(() => ok(_req, res, ''), 300)];
    const answer = c.request(write, stop.signal);
    await new Promise((r) => setTimeout(r, 100));
    stop.abort(new Error('this worker is stopping'));
    const res = await answer;
    expect(res.status).toBe(200);
    expect(seen).toHaveLength(1);
  });

  it('starts nothing once stopped: no token, no permit, no request', async () => {
    const stop = new AbortController();
    stop.abort(new Error('this worker is stopping'));
    const planner = recordingPlanner();
    const auth = tokens();
    const { c } = client({ auth, rate: { planner, scopes: [{ key: 's', limits: {} }] } });
    const err = await thrown(c.request(read, stop.signal));
    expect(err).toMatchObject({ retryable: true });
    expect(err.message).toContain('was cancelled');
    expect(seen).toHaveLength(0);
    expect(auth.issued).toBe(0);
    expect(planner.acquired).toBe(0);
  });
});

describe('RemoteClient: auth', () => {
  it('sends the bearer token; on 401 invalidates it and retries once with a fresh one', async () => {
    const auth = tokens();
    const { c } = client({ auth });
    script = [status(401)];
    expect((await c.request(write)).status).toBe(200);
    expect(seen.map((s) => s.headers.authorization)).toEqual([
      `Bearer ${auth.invalidated[0]}`,
      expect.stringMatching(/^Bearer tok-2-/),
    ]);
    expect(auth.invalidated).toHaveLength(1);
  });

  it('sends the token with the platform’s own scheme when one is set (Zoho-oauthtoken), and refreshes the same way', async () => {
    const auth = tokens();
    const { c } = client({ auth, authScheme: 'Zoho-oauthtoken' });
    script = [status(401)];
    expect((await c.request(write)).status).toBe(200);
    expect(seen.map((s) => s.headers.authorization)).toEqual([
      `Zoho-oauthtoken ${auth.invalidated[0]}`,
      expect.stringMatching(/^Zoho-oauthtoken tok-2-/),
    ]);
  });

  it('a second 401 is TARGET_AUTH_REVOKED, not retryable, saying to reconnect, without the tokens', async () => {
    const auth = tokens();
    const { c } = client({ auth });
    script = [status(401), status(401)];
    const err = await thrown(c.request(read));
    expect(err).toMatchObject({ code: 'TARGET_AUTH_REVOKED', retryable: false, status: 401 });
    expect(err.message).toMatch(/reconnect/);
    expect(seen).toHaveLength(2);
    expect(auth.invalidated).toHaveLength(1);
    for (const s of seen) expect(err.message).not.toContain(s.headers.authorization!.slice(7));
  });
});

describe('RemoteClient: redaction and logs', () => {
  it('never puts a secret or free text of a body in an error or a log line', async () => {
    const auth = tokens();
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
    const apiSecret = 'api-secret-4c3b2a';
    const { c } = client({ auth, log, secrets: () => [apiSecret], maxAttempts: 2 });
    const token = await auth.accessToken();
    const echo: Handler = (req, res) =>
      res
        .writeHead(500, { 'content-type': 'application/json' })
        .end(JSON.stringify({ code: 'Boom', message: `you sent ${req.headers.authorization} ${apiSecret}` }));
    script = [echo, echo];
    const err = await thrown(c.request({ ...read, path: `/Items/${apiSecret}/${token}`, query: { key: apiSecret } }));
    for (const secret of [apiSecret, token, 'client-secret-9f8e7d']) {
      expect(err.message).not.toContain(secret);
      expect(JSON.stringify(err.cause ?? null)).not.toContain(secret);
      for (const line of lines) expect(line).not.toContain(secret);
    }
    expect(err.message).toContain('/Items/[redacted]/[redacted]');
    expect(err.message).toContain('Boom');
    expect(err.message).not.toContain('you sent');
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toHaveLength(2);
    expect(logged[0]).toMatchObject({
      level: 20,
      status: 500,
      attempt: 1,
      request: 'GET /api.xro/2.0/Items/[redacted]/[redacted]',
    });
    expect(logged[1]).toMatchObject({ status: 500, attempt: 2 });
    expect(typeof logged[0]!.ms).toBe('number');
    for (const line of lines) expect(line).not.toMatch(/authorization|you sent|Boom/i);
  });
});

describe('RemoteClient: transport', () => {
  it('reuses one connection for sequential requests', async () => {
    const { c } = client();
    for (let i = 0; i < 4; i++) await c.request(read);
    expect(new Set(seen.map((s) => s.port)).size).toBe(1);
  });

  it('returns a PDF byte for byte, asking with its Accept', async () => {
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(70_000), Buffer.from([0xff, 0xfe, 0x00, 0x80])]);
    script = [(_req, res) => res.writeHead(200, { 'content-type': 'application/pdf' }).end(pdf)];
    const { c } = client();
    const res = await c.request({ ...read, path: '/Invoices/abc', accept: 'application/pdf' });
    expect(res.body.equals(pdf)).toBe(true);
    expect(seen[0]!.headers.accept).toBe('application/pdf');
  });

  it('sends JSON, or a form body as given', async () => {
    const { c } = client();
    await c.request({ ...write, json: { Invoices: [{ Total: '12.30' }] } });
    await c.request({
      method: 'POST',
      path: '/token',
      body: 'grant_type=refresh_token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      kind: 'write',
      retrySafe: false,
    });
    expect(seen[0]).toMatchObject({ body: '{"Invoices":[{"Total":"12.30"}]}' });
    expect(seen[0]!.headers['content-type']).toBe('application/json');
    expect(seen[1]).toMatchObject({ body: 'grant_type=refresh_token' });
    expect(seen[1]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
  });
});

async function pausedIn(db: Database, scope: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const { rows } = await db.query<{ paused: boolean }>(
      'SELECT blocked_until > clock_timestamp() AS paused FROM rate_scopes WHERE scope = $1',
      [scope],
    );
    if (rows[0]?.paused) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`scope ${scope} was never paused`);
}

function recordingPlanner(): RatePlanner & {
  pauses: [string[], number][];
  acquired: number;
  released: number;
  observed: unknown[];
  inFlight: number;
} {
  const p = {
    pauses: [] as [string[], number][],
    acquired: 0,
    released: 0,
    inFlight: 0,
    observed: [] as unknown[],
    acquire() {
      p.acquired++;
      p.inFlight++;
      return Promise.resolve({
        release: () => {
          p.released++;
          p.inFlight--;
          return Promise.resolve();
        },
      });
    },
    pause(keys: string[], ms: number) {
      p.pauses.push([keys, ms]);
      return Promise.resolve();
    },
    observe(key: string, remaining: unknown) {
      p.observed.push([key, remaining, p.inFlight]);
      return Promise.resolve();
    },
  };
  return p;
}

describe('RemoteClient: rate planner', () => {
  it('takes a permit before each attempt and always releases it; reports the rate headers while holding it', async () => {
    const planner = recordingPlanner();
    const { c } = client({
      timeoutMs: 300,
      maxAttempts: 3,
      rate: {
        planner,
        scopes: [{ key: 'sim:t1', limits: { concurrent: 1 } }],
        remaining: (h) => [
          { scopeKey: 'sim:t1', minute: Number(h.get('x-minlimit-remaining') ?? NaN), day: undefined },
        ],
      },
    });
    const stall: Handler = (_req, res) => res.writeHead(200).write('{');
    script = [status(500, { 'x-minlimit-remaining': '41' }), stall, stall];
    const err = await thrown(c.request(read));
    expect(err.message).toMatch(/timed out/);
    expect(planner.acquired).toBe(3);
    expect(planner.released).toBe(3);
    expect(planner.observed[0]).toEqual(['sim:t1', { minute: 41, day: undefined }, 1]);
    expect(planner.observed).toHaveLength(1);
    script = [status(200, { 'x-minlimit-remaining': '7' })];
    await c.request(read);
    expect(planner.observed[1]).toEqual(['sim:t1', { minute: 7, day: undefined }, 1]);
    expect(planner.inFlight).toBe(0);
  });
});

describe('RemoteClient with the database rate planner', () => {
  it('a 429 pauses the scope in the database: this client and another worker wait out Retry-After', async () => {
    const db = await createTestDatabase();
    try {
      const scopes = [{ key: 'sim:tenant:429', limits: { callsPerMinute: 100, concurrent: 2 } }];
      // The clients do not sleep themselves: only the planner's pause can hold the next calls back.
      const { c } = client({ rate: { planner: createRatePlanner(db), scopes } });
      const { c: other } = client({ rate: { planner: createRatePlanner(db), scopes } });
      script = [status(429, { 'retry-after': '1' })];
      const [a, b] = await Promise.all([
        c.request(read),
        // The other worker starts once the pause is in the database, however slow this machine is.
        pausedIn(db, 'sim:tenant:429').then(() => other.request(read)),
      ]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(seen).toHaveLength(3);
      expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(950);
      expect(seen[2]!.at - seen[0]!.at).toBeGreaterThanOrEqual(950);
      const { rows } = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM rate_calls WHERE scope = 'sim:tenant:429'",
      );
      expect(rows[0]!.n).toBe(3);
      const leases = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM rate_leases');
      expect(leases.rows[0]!.n).toBe(0);
    } finally {
      await db.close();
    }
  });
});
