import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { seeded } from '../../src/sync/seeded.ts';

/*
 * A fault-injecting HTTP proxy between ledgerlink and a platform's simulator (issue #14): a real
 * listening socket, so the faults reach the client the way a network and a struggling platform
 * send them, never as a mock inside it. Each request draws from a seeded plan (mulberry32,
 * src/sync/seeded.ts) and is either forwarded as it is or given one of the faults below; the
 * same seed gives the same faults in the same order of requests. The Host header is passed on
 * unchanged, so that a simulator building links from it (next pages, Location) sends the client
 * back through the proxy.
 */

/** What the proxy can do to one request instead of forwarding it. */
export const FAULT_KINDS = [
  /** Forwarded, committed by the platform, then never answered: the client's own timeout ends it. */
  'timeoutAfterCommit',
  /** Forwarded, committed, then the connection is reset instead of the answer. */
  'resetAfterCommit',
  /** The connection is reset before anything is forwarded. */
  'resetBeforeSend',
  /** 500, 502 or 503 (without Retry-After) answered by the proxy; nothing forwarded. */
  'error5xx',
  /** Forwarded and committed, then answered 503 instead of the platform's answer. */
  'error5xxAfterCommit',
  /** 429 with Retry-After for this request and the next ones of a storm; nothing forwarded. */
  'storm429',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultPlan {
  seed: number;
  /** The share of requests (0 to 1) given a fault; a storm's later 429s are not drawn, they follow. */
  rate: number;
  /**
   * The share of requests given a fault until every kind has come up once (default `rate`): a
   * target that makes few requests (one batch for many documents) still meets every kind.
   */
  openingRate?: number | undefined;
  /** Whole-number weights of the kinds (default 1 each): how often each comes up in a round of faults; 0 leaves it out. */
  weights?: Partial<Record<FaultKind, number>> | undefined;
  /** 429s in a row, the first included (default 3). */
  stormLength?: number | undefined;
  /** The Retry-After of a storm's 429s, in seconds (default 0: the test drives retries, not the clock). */
  retryAfterSeconds?: number | undefined;
  /** Requests always forwarded as they are, and not drawn for (a token endpoint whose rotation a lost answer would break). */
  spare?: ((method: string, path: string) => boolean) | undefined;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: where the client is pointed instead of the upstream origin. */
  readonly origin: string;
  /** Faults on (true, the default) or every request forwarded as it is. */
  enabled: boolean;
  /** Faults injected so far, by kind (storm429 counts every 429 answered). */
  readonly counts: Record<FaultKind, number>;
  /** Requests forwarded and answered as the platform answered them. */
  readonly forwarded: number;
  /** Storms started. */
  readonly storms: number;
  close(): Promise<void>;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade']);

function readBody(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('end', () => resolve(Buffer.concat(parts)));
    stream.on('error', reject);
  });
}

/** Starts a proxy in front of `upstream` (an origin, `http://127.0.0.1:4000`) with faults drawn from `plan`. */
export async function startFaultProxy(upstream: string, plan: FaultPlan): Promise<FaultProxy> {
  const target = new URL(upstream);
  if (target.protocol !== 'http:') throw new Error(`the fault proxy forwards plain http only, not ${upstream}`);
  const random = seeded(plan.seed);
  const weights = FAULT_KINDS.map((k) => Math.max(0, Math.round(plan.weights?.[k] ?? 1)));
  if (plan.rate > 0 && weights.every((w) => w === 0)) throw new Error('the fault plan gives every kind a weight of 0');
  const stormLength = Math.max(1, plan.stormLength ?? 3);
  const retryAfter = String(plan.retryAfterSeconds ?? 0);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const state = { enabled: true, forwarded: 0, storms: 0, stormLeft: 0 };
  // Sockets the proxy holds without answering, and every client connection, ended on close.
  const sockets = new Set<Socket>();

  // The kinds are dealt from a shuffled deck (each kind as many times as its weight), so that
  // every kind comes up once in each round of faults however the draws fall: a test can count on it.
  let deck: FaultKind[] = [];
  const deal = (): FaultKind => {
    if (deck.length === 0) {
      deck = FAULT_KINDS.flatMap((k, n) => Array.from({ length: weights[n]! }, () => k));
      for (let i = deck.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [deck[i], deck[j]] = [deck[j]!, deck[i]!];
      }
    }
    return deck.pop()!;
  };

  /** The fault for the next request (null: forward it), drawn in the order requests arrive. */
  const pick = (): { kind: FaultKind; status: number } | null => {
    if (state.stormLeft > 0) {
      state.stormLeft--;
      return { kind: 'storm429', status: 429 };
    }
    const opening = FAULT_KINDS.some((k, n) => weights[n]! > 0 && counts[k] === 0);
    if (random() >= (opening ? (plan.openingRate ?? plan.rate) : plan.rate)) return null;
    const kind = deal();
    if (kind === 'storm429') {
      state.storms++;
      state.stormLeft = stormLength - 1;
      return { kind, status: 429 };
    }
    return { kind, status: kind === 'error5xx' ? [500, 502, 503][Math.floor(random() * 3)]! : 503 };
  };

  const forward = (req: http.IncomingMessage, body: Buffer): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers };
      delete headers['connection'];
      delete headers['keep-alive'];
      const out = http.request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...headers, 'content-length': String(body.length) },
          agent,
        },
        (res) => {
          readBody(res).then((b) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: b }), reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });

  const answer = (res: http.ServerResponse, a: Answer) => {
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(a.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    headers['content-length'] = String(a.body.length);
    res.writeHead(a.status, headers);
    res.end(a.body);
  };

  const refuse = (res: http.ServerResponse, status: number, extra: Record<string, string> = {}) => {
    const body = JSON.stringify({ error: `fault proxy: ${status}` });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...extra });
    res.end(body);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://proxy').pathname;
    const fault = state.enabled && !plan.spare?.(req.method ?? 'GET', path) ? pick() : null;
    if (fault) counts[fault.kind]++;
    if (fault?.kind === 'resetBeforeSend') return req.socket.destroy();
    const body = await readBody(req);
    if (fault?.kind === 'error5xx') return refuse(res, fault.status);
    if (fault?.kind === 'storm429') return refuse(res, 429, { 'retry-after': retryAfter });
    let a: Answer;
    try {
      a = await forward(req, body);
    } catch (err) {
      // The platform itself is gone: say so as a gateway would.
      return refuse(res, 502, { 'x-fault-proxy-upstream': String((err as Error).message).slice(0, 100) });
    }
    if (fault === null) {
      state.forwarded++;
      return answer(res, a);
    }
    if (fault.kind === 'timeoutAfterCommit') return; // held: the socket stays open until the client gives up.
    if (fault.kind === 'resetAfterCommit') return req.socket.destroy();
    return refuse(res, fault.status);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.keepAliveTimeout = 5_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    get enabled() {
      return state.enabled;
    },
    set enabled(on: boolean) {
      state.enabled = on;
      if (!on) state.stormLeft = 0;
    },
    counts,
    get forwarded() {
      return state.forwarded;
    },
    get storms() {
      return state.storms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
