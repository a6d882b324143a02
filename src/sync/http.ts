import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';
import type { Duplex } from 'node:stream';

/*
 * Every request ledgerlink sends to an outside system (iXpole, Stripe, a webhook target) leaves
 * through this module, so that one policy decides where the server may connect: https only, and
 * never to loopback, private, link-local or cloud-metadata addresses, unless the operator allows
 * it (LEDGERLINK_ALLOW_PRIVATE_NETWORKS=true, or a host on LEDGERLINK_OUTBOUND_ALLOW). A URL is
 * checked when a pipeline is saved (checkOutboundUrl) and again at connect time, after DNS: every
 * address a name resolves to is checked, and the socket connects to the checked address itself
 * (no second resolution), which defeats DNS rebinding. See docs/security.md.
 */

/** Where the operator lets the server connect beyond the public internet over https. */
export interface OutboundPolicy {
  /** LEDGERLINK_ALLOW_PRIVATE_NETWORKS=true: loopback, private and link-local addresses (not metadata). */
  allowPrivateNetworks: boolean;
  /** LEDGERLINK_OUTBOUND_ALLOW: hosts (any port) or host:port the operator trusts, http and any address. */
  allow: { host: string; port: number | null }[];
}

/** A request the policy refuses: nothing was sent. Never worth retrying as it is. */
export class OutboundRefusedError extends Error {
  readonly code = 'OUTBOUND_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'OutboundRefusedError';
  }
}

function hostKey(host: string): string {
  return host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
}

/** Reads LEDGERLINK_ALLOW_PRIVATE_NETWORKS and LEDGERLINK_OUTBOUND_ALLOW; a malformed entry is an error, not ignored. */
export function outboundPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): OutboundPolicy {
  const flag = (env.LEDGERLINK_ALLOW_PRIVATE_NETWORKS ?? '').trim().toLowerCase();
  if (!['', 'true', 'false'].includes(flag))
    throw new Error('LEDGERLINK_ALLOW_PRIVATE_NETWORKS must be "true" or "false"');
  const allow = (env.LEDGERLINK_OUTBOUND_ALLOW ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(entry);
      const port = m?.[2] === undefined ? null : Number(m[2]);
      if (!m || (port !== null && (port < 1 || port > 65535)))
        throw new Error(`LEDGERLINK_OUTBOUND_ALLOW: "${entry}" is not host or host:port`);
      return { host: hostKey(m[1]!), port };
    });
  return { allowPrivateNetworks: flag === 'true', allow };
}

/** A pipeline as the outbound policy tells pipelines apart: its entity's code and its name. */
export interface PipelineRef {
  entity: string;
  pipeline: string;
}

// Hosts this process allows itself, never from user input: for every request (tests' simulators),
// or for one pipeline's settings only (the demo's sample system, for the demo pipeline).
const extraAllow: OutboundPolicy['allow'] = [];
const pipelineAllow: { only: PipelineRef; entry: OutboundPolicy['allow'][number] }[] = [];

/**
 * Allows one host:port for this process only; never from user input. With `only`, the address is
 * allowed to that one pipeline's settings (checked when it is saved and when a run starts): every
 * other pipeline is refused it as it would be without this call. Returns a function that takes the
 * permission back.
 */
export function allowOutboundHost(host: string, port: number, only?: PipelineRef): () => void {
  const entry = { host: hostKey(host), port };
  return only ? addUntilTaken(pipelineAllow, { only: { ...only }, entry }) : addUntilTaken(extraAllow, entry);
}

function addUntilTaken<T>(list: T[], item: T): () => void {
  list.push(item);
  return () => {
    const at = list.indexOf(item);
    if (at >= 0) list.splice(at, 1);
  };
}

/** The policy in force for what is not a pipeline's settings: the environment's, plus hosts this process allowed itself. */
export function currentOutboundPolicy(env: NodeJS.ProcessEnv = process.env): OutboundPolicy {
  const p = outboundPolicyFromEnv(env);
  return { ...p, allow: [...p.allow, ...extraAllow] };
}

/**
 * The policy for one pipeline's settings (when it is saved, when a run starts): the current
 * policy, plus the hosts this process allowed to that pipeline alone. Without a pipeline (a
 * configuration file being checked), none of those.
 */
export function pipelineOutboundPolicy(ref: PipelineRef | null, env: NodeJS.ProcessEnv = process.env): OutboundPolicy {
  const p = currentOutboundPolicy(env);
  const own = pipelineAllow.filter((a) => ref && a.only.entity === ref.entity && a.only.pipeline === ref.pipeline);
  return { ...p, allow: [...p.allow, ...own.map((a) => a.entry)] };
}

/*
 * At connect time a request does not say which pipeline it is for, so a host allowed to one
 * pipeline is let through there too. What keeps the other pipelines away from it is that their
 * addresses come from their settings, which are checked with their own policy when saved and again
 * when a run starts (src/sync/pipelines.ts), and the remote client keeps every request at the
 * origin of its configured address (src/sync/remote/client.ts).
 */
function connectPolicy(env: NodeJS.ProcessEnv = process.env): OutboundPolicy {
  const p = currentOutboundPolicy(env);
  return { ...p, allow: [...p.allow, ...pipelineAllow.map((a) => a.entry)] };
}

function isAllowedHost(policy: OutboundPolicy, host: string, port: number): boolean {
  const h = hostKey(host);
  return policy.allow.some((a) => a.host === h && (a.port === null || a.port === port));
}

const METADATA = new Set(['169.254.169.254', 'fd00:ec2::254']);

const refusedV4: [string, number, string][] = [
  ['0.0.0.0', 8, 'an unspecified'],
  ['10.0.0.0', 8, 'a private'],
  ['100.64.0.0', 10, 'a shared (CGNAT)'],
  ['127.0.0.0', 8, 'a loopback'],
  ['169.254.0.0', 16, 'a link-local'],
  ['172.16.0.0', 12, 'a private'],
  ['192.0.0.0', 24, 'a reserved'],
  ['192.0.2.0', 24, 'a documentation'],
  ['192.168.0.0', 16, 'a private'],
  ['198.18.0.0', 15, 'a reserved'],
  ['198.51.100.0', 24, 'a documentation'],
  ['203.0.113.0', 24, 'a documentation'],
  ['224.0.0.0', 4, 'a multicast'],
  ['240.0.0.0', 4, 'a reserved'],
];
const refusedV6: [string, number, string][] = [
  ['::', 128, 'an unspecified'],
  ['::1', 128, 'a loopback'],
  ['fc00::', 7, 'a private (ULA)'],
  ['fe80::', 10, 'a link-local'],
  ['fec0::', 10, 'a site-local'],
  ['ff00::', 8, 'a multicast'],
  ['2001:db8::', 32, 'a documentation'],
  ['100::', 64, 'a discard'],
];
/** Kinds of address that LEDGERLINK_ALLOW_PRIVATE_NETWORKS opens; the others stay refused. */
const PRIVATE_KINDS = new Set(['a private', 'a shared (CGNAT)', 'a loopback', 'a link-local', 'a private (ULA)']);

function classify(list: [string, number, string][], type: 'ipv4' | 'ipv6', address: string): string | null {
  for (const [net, prefix, kind] of list) {
    const b = new BlockList();
    b.addSubnet(net, prefix, type);
    if (b.check(address, type)) return kind;
  }
  return null;
}

/** The IPv4 address carried inside an IPv6 one (mapped, NAT64, 6to4, compatible), if any. */
function embeddedV4(v6: string): string | null {
  const b = new BlockList();
  const words = expandV6(v6);
  if (!words) return null;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  b.addSubnet('::ffff:0:0', 96, 'ipv6');
  b.addSubnet('64:ff9b::', 96, 'ipv6');
  b.addSubnet('::', 96, 'ipv6');
  // `::` and `::1` are IPv6's own unspecified and loopback addresses, not IPv4-compatible ones.
  if (words.slice(0, 7).every((w) => w === 0) && words[7]! <= 1) return null;
  if (b.check(v6, 'ipv6')) return v4(words[6]!, words[7]!);
  if (words[0] === 0x2002) return v4(words[1]!, words[2]!);
  return null;
}

function expandV6(v6: string): number[] | null {
  let s = v6.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const p = dotted[1]!.split('.').map(Number);
    s =
      s.slice(0, -dotted[1]!.length) + `${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const all = [...h, ...Array<string>(fill).fill('0'), ...t].map((x) => parseInt(x || '0', 16));
  return all.length === 8 && all.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff) ? all : null;
}

/**
 * Why the policy refuses this IP address ("127.0.0.1 is a loopback address"), or null when it may
 * be reached. Metadata addresses stay refused even with LEDGERLINK_ALLOW_PRIVATE_NETWORKS.
 */
export function addressProblem(address: string, policy: OutboundPolicy): string | null {
  const type = isIP(address);
  if (type === 0) return `${address} is not an IP address`;
  const plain = hostKey(address).replace(/%.*$/, '');
  if (METADATA.has(plain)) return `${plain} is a cloud metadata address`;
  let kind: string | null;
  if (type === 4) kind = classify(refusedV4, 'ipv4', plain);
  else {
    const v4 = embeddedV4(plain);
    if (v4) {
      if (METADATA.has(v4)) return `${plain} is a cloud metadata address`;
      kind = classify(refusedV4, 'ipv4', v4);
    } else kind = classify(refusedV6, 'ipv6', plain);
  }
  if (kind === null) return null;
  if (policy.allowPrivateNetworks && PRIVATE_KINDS.has(kind)) return null;
  return `${plain} is ${kind} address`;
}

const DEFAULT_PORT = { 'http:': 80, 'https:': 443 } as const;

/**
 * Why a URL may not be called (when a pipeline is saved), or null. Names are resolved only at
 * connect time; here the scheme, credentials in the URL, IP literals and names that are loopback
 * without DNS (localhost, `localhost.`, `app.localhost`, localhost.localdomain) are checked.
 */
export function checkOutboundUrl(raw: string, policy: OutboundPolicy = currentOutboundPolicy()): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https URL';
  if (url.username || url.password) return 'must not carry credentials (user:password@)';
  const port = url.port ? Number(url.port) : DEFAULT_PORT[url.protocol];
  if (isAllowedHost(policy, url.hostname, port)) return null;
  if (url.protocol !== 'https:')
    return `must be an https URL (http only to hosts the operator lists in LEDGERLINK_OUTBOUND_ALLOW)`;
  const host = hostKey(url.hostname);
  if (isIP(host)) return hostProblem(addressProblem(host, policy));
  if (isLoopbackName(host)) {
    return policy.allowPrivateNetworks ? null : hostProblem(`${host} is a loopback address`);
  }
  return null;
}

/*
 * Names that are loopback without asking DNS: localhost and its subdomains (RFC 6761), and the
 * loopback names hosts files carry (Debian's, Red Hat's). The resolver ignores a final dot
 * (`localhost.` is localhost), and the URL parser has already lower-cased and decoded the name.
 */
const LOOPBACK_NAMES = new Set([
  'localhost',
  'localhost.localdomain',
  'localhost4',
  'localhost4.localdomain4',
  'localhost6',
  'localhost6.localdomain6',
  'ip6-localhost',
  'ip6-loopback',
]);

function isLoopbackName(host: string): boolean {
  const name = host.replace(/\.+$/, '');
  return LOOPBACK_NAMES.has(name) || name.endsWith('.localhost');
}

function hostProblem(problem: string | null): string | null {
  return problem === null
    ? null
    : `${problem}, which the server does not call (see LEDGERLINK_ALLOW_PRIVATE_NETWORKS and LEDGERLINK_OUTBOUND_ALLOW)`;
}

type LookupFn = (
  hostname: string,
  options: { all: true; verbatim?: boolean },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

export interface GuardOptions {
  /** The policy; by default the one in force when each connection is made. */
  policy?: OutboundPolicy | undefined;
  /** Replaceable for tests: how names are resolved. */
  lookup?: LookupFn | undefined;
}

type SocketLookup = (
  hostname: string,
  options: { all?: boolean },
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void;

/** A lookup for net.connect that resolves once, refuses if any address is refused, and hands over the checked ones. */
function guardedLookup(policy: OutboundPolicy, resolve: LookupFn): SocketLookup {
  return (hostname, options, callback) => {
    resolve(hostname, { all: true, verbatim: true }, (err, addresses) => {
      if (err) return callback(err, []);
      if (addresses.length === 0) return callback(new OutboundRefusedError(`${hostname} resolves to nothing`), []);
      for (const a of addresses) {
        const problem = addressProblem(a.address, policy);
        if (problem) return callback(new OutboundRefusedError(hostProblem(`${hostname}: ${problem}`)!), []);
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

type ConnectOptions = { host?: string | null; port?: number | string | null; lookup?: unknown };
type Created = (err: Error | null, socket?: Duplex) => void;

/** Checks one connection before it is made: IP literals here (net skips lookup for them), names in the lookup. */
function guardConnection(
  o: GuardOptions,
  options: ConnectOptions,
): { lookup: SocketLookup | null; problem: string | null } {
  const policy = o.policy ?? connectPolicy();
  const host = options.host ?? 'localhost';
  const port = Number(options.port);
  if (isAllowedHost(policy, host, port)) return { lookup: null, problem: null };
  if (isIP(hostKey(host))) return { lookup: null, problem: hostProblem(addressProblem(hostKey(host), policy)) };
  return { lookup: guardedLookup(policy, o.lookup ?? dnsLookup), problem: null };
}

type CreateConnection = (this: http.Agent, options: ConnectOptions, callback: Created) => Duplex | undefined;
// The agents' own ways of opening a socket (net for http, tls for https), which the guarded agents wrap.
const httpConnect = (http.Agent.prototype as unknown as { createConnection: CreateConnection }).createConnection;
const httpsConnect = (https.Agent.prototype as unknown as { createConnection: CreateConnection }).createConnection;

/*
 * Keep-alive: an idle connection is kept (and reused for the next request to the same host and
 * port) for a little less than the 5 s most servers keep one, so that a reuse seldom meets a
 * connection the server is closing. Only idle connections are closed by this timeout; a request in
 * flight has its own (its AbortSignal). The policy is unchanged by reuse: a pooled connection was
 * checked when it was opened and stays connected to the address that was checked (pinned: the
 * socket connects to the looked-up address itself), and every new connection is checked again.
 */
const KEEP_ALIVE = { keepAlive: true, timeout: 4000 } as const;

/** Opens a connection of `agent` with `connect` once the policy allows it, pinned to the checked address. */
function connectGuarded(
  agent: http.Agent,
  connect: CreateConnection,
  guard: GuardOptions,
  options: ConnectOptions,
  callback: Created,
): Duplex | undefined {
  const { lookup, problem } = guardConnection(guard, options);
  if (problem) {
    callback(new OutboundRefusedError(problem));
    return undefined;
  }
  return connect.call(agent, lookup ? { ...options, lookup } : options, callback);
}

class GuardedHttpAgent extends http.Agent {
  constructor(private readonly guard: GuardOptions) {
    super(KEEP_ALIVE);
  }
  override createConnection(options: ConnectOptions, callback: Created): Duplex | undefined {
    return connectGuarded(this, httpConnect, this.guard, options, callback);
  }
}

class GuardedHttpsAgent extends https.Agent {
  constructor(private readonly guard: GuardOptions) {
    super(KEEP_ALIVE);
  }
  override createConnection(options: ConnectOptions, callback: Created): Duplex | undefined {
    return connectGuarded(this, httpsConnect, this.guard, options, callback);
  }
}

/**
 * An agent that applies the outbound policy to every connection it makes, keeping connections
 * alive between requests (for clients that take one and keep it, e.g. Stripe's).
 */
export function guardedAgent(protocol: 'http' | 'https', o: GuardOptions = {}): http.Agent {
  return protocol === 'http' ? new GuardedHttpAgent(o) : new GuardedHttpsAgent(o);
}

/*
 * The agents outboundRequest shares, so that consecutive calls to one system reuse a connection
 * instead of paying a TCP (and TLS) handshake each. One agent per protocol, policy and lookup: a
 * connection opened under one policy is never handed to a request under another (a stricter
 * policy opens, and checks, its own), nor is one opened by a test's lookup to anyone else.
 */
const sharedAgents = new WeakMap<LookupFn, Map<string, http.Agent>>();

function sharedAgent(protocol: 'http' | 'https', policy: OutboundPolicy, lookup: LookupFn): http.Agent {
  let byPolicy = sharedAgents.get(lookup);
  if (!byPolicy) sharedAgents.set(lookup, (byPolicy = new Map<string, http.Agent>()));
  const key = `${protocol} ${JSON.stringify(policy)}`;
  let agent = byPolicy.get(key);
  if (!agent) byPolicy.set(key, (agent = guardedAgent(protocol, { policy, lookup })));
  return agent;
}

export interface OutboundRequest {
  method: string;
  headers?: Record<string, string> | undefined;
  body?: string | undefined;
  /** Aborts the exchange, the reading of the answer included (a timeout is a signal too). */
  signal?: AbortSignal | undefined;
  /** The longest answer read; a longer one is an error. Default 32 MiB. */
  maxBytes?: number | undefined;
}

export interface OutboundAnswer {
  status: number;
  headers: Headers;
  /** The body's bytes, as received (a PDF). */
  body: Buffer;
  /** The body as UTF-8 text. */
  text: string;
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const e = new Error('The operation was aborted');
  e.name = 'AbortError';
  return e;
}

/**
 * One HTTP exchange under the outbound policy. Redirects are returned as they are, never
 * followed (each hop would need the same check, and a signed body goes only where configured).
 * Fails with OutboundRefusedError when the policy refuses the address, before anything is sent.
 */
export function outboundRequest(
  url: string | URL,
  req: OutboundRequest,
  guard: GuardOptions = {},
): Promise<OutboundAnswer> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const policy = guard.policy ?? connectPolicy();
  const problem = checkOutboundUrl(target.href, policy);
  if (problem) return Promise.reject(new OutboundRefusedError(`${target.origin}: ${problem}`));
  const protocol = target.protocol === 'http:' ? 'http' : 'https';
  const agent = sharedAgent(protocol, policy, guard.lookup ?? dnsLookup);
  const maxBytes = req.maxBytes ?? 32 * 1024 * 1024;
  return new Promise<OutboundAnswer>((resolve, reject) => {
    const { signal } = req;
    if (signal?.aborted) return reject(abortError(signal));
    let settled = false;
    const finish = (err: Error | null, answer?: OutboundAnswer) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(answer!);
    };
    const request = (protocol === 'http' ? http : https).request(
      target,
      { method: req.method, headers: req.headers ?? {}, agent },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            request.destroy();
            finish(new Error(`the answer is larger than ${maxBytes} bytes`));
          } else chunks.push(chunk);
        });
        res.on('error', (err) => finish(err));
        res.on('aborted', () => finish(new Error('the connection closed mid-answer')));
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (v === undefined) continue;
            for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
          }
          const body = Buffer.concat(chunks);
          finish(null, { status: res.statusCode ?? 0, headers, body, text: body.toString('utf8') });
        });
      },
    );
    const onAbort = () => {
      const err = abortError(signal!);
      request.destroy(err);
      finish(err);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    request.on('error', (err) => finish(err));
    request.end(req.body);
  });
}

/** Whether an error is the policy's refusal (anywhere in its cause chain). */
export function isOutboundRefused(err: unknown): err is OutboundRefusedError {
  for (let e: unknown = err, i = 0; e instanceof Error && i < 5; e = e.cause, i++) {
    if (e instanceof OutboundRefusedError) return true;
  }
  return false;
}

const TOKEN = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;

/**
 * The most an error may repeat of what a remote system answered, beyond its status: a code-like
 * token (`code`, `error.code`, `error`, `type`), never free text. An address that should not have
 * been called cannot use our errors to show what it serves. Null when there is no such token.
 */
export function safeReason(body: unknown): string | null {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body) as unknown;
    } catch {
      return null;
    }
  }
  if (parsed === null || typeof parsed !== 'object') return null;
  const b = parsed as Record<string, unknown>;
  const inner = b.error !== null && typeof b.error === 'object' ? (b.error as Record<string, unknown>) : {};
  for (const v of [inner.code, b.code, b.error, inner.type, b.type]) {
    if (typeof v === 'string' && TOKEN.test(v)) return v;
  }
  return null;
}
