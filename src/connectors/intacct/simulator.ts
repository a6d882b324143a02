import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { type LocalServer, readBody, startLocalServer } from '../../sync/local-server.ts';
import {
  type ArRecord,
  Company,
  type CompanyOptions,
  IntacctRefusal,
  type Row,
  type SimError,
} from './simulator-store.ts';
import { controlViolations, functionViolations } from './simulator-contract.ts';
import { buildXml, parseXml } from './xml.ts';
import { seeded } from '../../sync/seeded.ts';

/*
 * A local Intacct XML gateway for tests (developer.intacct.com "XML requests", "API Sessions",
 * "Error handling"): the Web Services sender checked in every control block; getAPISession with a
 * company user's login, then session ids that time out after `sessionSeconds` of idleness and are
 * refused in the authentication block; `uniqueid` true refusing a second committed request with
 * the same control id; readByQuery over the company's books; 429 with GW-0010 past the requests a
 * minute or the requests in flight the company is entitled to; and faults on demand: a write
 * committed and its answer lost (`dropNext`, seeded `dropAfterCommitRate`), a status answered
 * before anything is done (`failNext`). `duplicates()` lists documents held twice under one
 * customer's reference; `violations` the requests that broke the contract (simulator-contract.ts).
 */

export interface IntacctSimulatorOptions {
  senderId: string;
  senderPassword: string;
  users: { companyId: string; userId: string; password: string }[];
  companies: Record<string, CompanyOptions>;
  /** Idle time after which a session is refused (Intacct: the user's or company's session duration). */
  sessionSeconds?: number | undefined;
  /** Requests a minute per company, and requests in flight at once (tier 1: 2). */
  limits?: { perMinute?: number; concurrent?: number; minuteMs?: number } | undefined;
  /** How long each request takes to answer, so that requests overlap as on the real gateway. */
  latencyMs?: number | undefined;
  seed?: number | undefined;
  dropAfterCommitRate?: number | undefined;
}

/** The errorno the simulator answers a repeated control id with (unverified: see api.ts). */
export const DUPLICATE_ERRORNO = 'XL03000009';

type El = Record<string, unknown>;
const el = (v: unknown): El => (v && typeof v === 'object' && !Array.isArray(v) ? (v as El) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export interface SimulatedRequest {
  companyId: string;
  function: string;
  body: El;
  controlId: string;
  write: boolean;
}

const WRITES = new Set([
  'create',
  'update',
  'create_invoice',
  'create_arpayment',
  'create_aradjustment',
  'apply_arpayment',
]);
const error = (errorno: string, description2: string, description = ''): SimError => ({
  errorno,
  description,
  description2,
  correction: '',
});

export class IntacctSimulator {
  url = '';
  readonly violations: { function: string; problems: string[] }[] = [];
  readonly requests: SimulatedRequest[] = [];
  readonly stats = {
    calls: 0,
    writes: 0,
    dropped: 0,
    rateRefused: 0,
    failed: 0,
    logins: 0,
    duplicatesRefused: 0,
    maxInFlight: 0,
  };
  readonly #companies = new Map<string, Company>();
  readonly #sessions = new Map<string, { companyId: string; userId: string; expires: number }>();
  readonly #calls = new Map<string, number[]>();
  readonly #inFlight = new Map<string, number>();
  /** Rows a readByQuery left for readMore, by resultId (the company's, the object's, what is left). */
  readonly #results = new Map<string, { companyId: string; object: string; rows: Row[]; size: number }>();
  #drops: { n: number; when: (r: SimulatedRequest) => boolean }[] = [];
  #fails: number[] = [];
  #expireAt = 0;
  #nextKey = 100;
  readonly #random: () => number;
  #server: LocalServer | null = null;

  constructor(readonly options: IntacctSimulatorOptions) {
    this.#random = seeded(options.seed ?? 1);
    for (const [id, o] of Object.entries(options.companies))
      this.#companies.set(id, new Company(id, o, () => String(++this.#nextKey)));
  }

  async start(): Promise<this> {
    this.#server = await startLocalServer((req, res) => {
      void readBody(req).then((body) => this.handle(req, res, body));
    });
    this.url = this.#server.origin;
    return this;
  }

  async close(): Promise<void> {
    await this.#server?.close();
  }

  /** The gateway (`endpoint` of the target). */
  get endpoint(): string {
    return `${this.url}/ia/xml/xmlgw.phtml`;
  }

  company(id: string): Company {
    const c = this.#companies.get(id);
    if (!c) throw new Error(`no simulated company ${id}`);
    return c;
  }

  /** Every session times out now: the next request with one is refused in its authentication block. */
  expireSessions(): void {
    for (const s of this.#sessions.values()) s.expires = 0;
  }

  /** Every session times out once `n` more requests have been answered (a timeout in the middle of a run). */
  expireSessionsAfter(n: number): void {
    this.#expireAt = this.stats.calls + n;
  }

  /** The next `n` writes matching `when` are committed, then their connection dropped without an answer. */
  dropNext(n: number, when: (r: SimulatedRequest) => boolean = () => true): void {
    this.#drops.push({ n, when });
  }

  /** The next requests are answered with these statuses (429 with GW-0010, 500) before anything is done. */
  failNext(...statuses: number[]): void {
    this.#fails.push(...statuses);
  }

  /** Documents held twice under one reference, and customers held twice under one name. */
  duplicates(companyId: string): string[] {
    const c = this.company(companyId);
    const out: string[] = [];
    const twice = (what: string, refs: string[]) => {
      const seen = new Set<string>();
      for (const r of refs.filter((x) => x !== '')) {
        if (seen.has(r)) out.push(`${companyId} ${what} ${r}`);
        seen.add(r);
      }
    };
    // A reversal carries the reference of the document it reverses: not a second booking of it.
    const of = (kind: ArRecord['kind']) =>
      [...c.records.values()].filter((r) => r.kind === kind && r.state !== 'Reversal');
    // A reference is unique per customer: two customers' invoices, adjustments and payments may
    // share one. The reference number (DOCNUMBER) is not unique in Intacct, and an adjustment made
    // before the reference went there has it as its number (RECORDID).
    twice(
      'invoice',
      of('invoice').map((r) => (r.DOCNUMBER ? `${r.CUSTOMERID}/${r.DOCNUMBER}` : '')),
    );
    twice(
      'adjustment',
      of('adjustment').map((r) => (r.DOCNUMBER || r.RECORDID ? `${r.CUSTOMERID}/${r.DOCNUMBER || r.RECORDID}` : '')),
    );
    twice(
      'payment',
      of('payment').map((r) => `${r.CUSTOMERID}/${r.DOCNUMBER}`),
    );
    // A payment provider's fee: one per payment (its reference, its customer on the lines).
    twice(
      'bank fee',
      [...c.bankFees.values()].map((f) => `${f.lines[0]?.CUSTOMERID ?? ''}/${f.RECORDID}`),
    );
    twice(
      'customer',
      [...c.customers.values()].map((r) => (r.NAME ?? '').toLowerCase()),
    );
    return out;
  }

  private reply(res: http.ServerResponse, status: number, response: El): void {
    res.writeHead(status, { 'content-type': 'text/xml; charset=UTF-8' });
    res.end(buildXml({ response }));
  }

  private controlEcho(control: El, status: string): El {
    return {
      status,
      senderid: str(control.senderid),
      controlid: str(control.controlid),
      uniqueid: str(control.uniqueid),
      dtdversion: '3.0',
    };
  }

  private gatewayError(res: http.ServerResponse, status: number, e: SimError): void {
    this.reply(res, status, { control: { status: 'failure' }, errormessage: { error: [e] } });
  }

  private overLimit(companyId: string): boolean {
    const l = this.options.limits ?? {};
    const now = Date.now();
    const minuteMs = l.minuteMs ?? 60_000;
    const calls = (this.#calls.get(companyId) ?? []).filter((t) => t > now - minuteMs);
    this.#calls.set(companyId, calls);
    if (calls.length >= (l.perMinute ?? 1_000_000)) return true;
    if ((this.#inFlight.get(companyId) ?? 0) >= (l.concurrent ?? 2)) return true;
    calls.push(now);
    return false;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    if (req.method !== 'POST' || !req.url?.startsWith('/ia/xml/xmlgw.phtml'))
      return this.gatewayError(res, 404, error('GW-0011', 'Invalid Request'));
    const fail = this.#fails.shift();
    if (fail) this.stats.failed++;
    if (fail === 429) return this.gatewayError(res, 429, error('GW-0010', 'Rate limit exceeded'));
    if (fail) return this.gatewayError(res, fail, error('GW-0001', 'Internal error'));
    const request = el(parseXml(raw)?.request);
    const control = el(request.control);
    const operation = el(request.operation);
    if (!('control' in request))
      return this.gatewayError(res, 200, error('XL03000003', 'XML Parse schema error: no request element.'));
    const content = el(el(operation.content).function);
    const name = Object.keys(content).find((k) => !k.startsWith('@_')) ?? '';
    const body = el(content[name]);
    const write = WRITES.has(name);
    // An update writes the same values however often it is sent: only creates and applications need uniqueid.
    const problems = [
      ...controlViolations(control, write && name !== 'update'),
      ...functionViolations(name, content[name]),
    ];
    if (problems.length > 0) this.violations.push({ function: name, problems });
    if (str(control.senderid) !== this.options.senderId || str(control.password) !== this.options.senderPassword)
      return this.reply(res, 200, {
        control: this.controlEcho(control, 'failure'),
        errormessage: { error: [error('XL03000006', 'Incorrect Intacct XML Partner ID or password.')] },
      });
    if (this.#expireAt && this.stats.calls >= this.#expireAt) {
      this.#expireAt = 0;
      this.expireSessions();
    }
    // Authentication: a login (getAPISession) or a session id.
    const auth = el(operation.authentication);
    let who: { companyId: string; userId: string } | null = null;
    if (auth.login !== undefined) {
      const l = el(auth.login);
      const user = this.options.users.find(
        (u) => u.companyId === str(l.companyid) && u.userId === str(l.userid) && u.password === str(l.password),
      );
      if (user) who = user;
    } else {
      const s = this.#sessions.get(str(auth.sessionid));
      if (s && s.expires > Date.now()) {
        s.expires = Date.now() + (this.options.sessionSeconds ?? 3600) * 1000;
        who = s;
      }
    }
    if (!who)
      return this.reply(res, 200, {
        control: this.controlEcho(control, 'success'),
        operation: {
          authentication: { status: 'failure', userid: '', companyid: '' },
          errormessage: {
            error: [
              error(
                'XL03000006',
                auth.login !== undefined ? 'Sign-in information is incorrect' : 'Invalid session',
                'Authentication failed',
              ),
            ],
          },
        },
      });
    const companyId = who.companyId;
    const company = this.company(companyId);
    const controlId = str(control.controlid);
    const r: SimulatedRequest = { companyId, function: name, body, controlId, write };
    this.requests.push(r);
    this.stats.calls++;
    if (this.overLimit(companyId)) {
      this.stats.rateRefused++;
      return this.gatewayError(res, 429, error('GW-0010', 'Rate limit exceeded'));
    }
    const inFlight = (this.#inFlight.get(companyId) ?? 0) + 1;
    this.#inFlight.set(companyId, inFlight);
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, inFlight);
    try {
      if (this.options.latencyMs) await new Promise((resolve) => setTimeout(resolve, this.options.latencyMs));
      if (str(control.uniqueid) === 'true' && company.usedControlIds.has(controlId)) {
        this.stats.duplicatesRefused++;
        return this.reply(res, 200, {
          control: this.controlEcho(control, 'failure'),
          errormessage: {
            error: [
              error(
                DUPLICATE_ERRORNO,
                `A request with control id ${controlId} was already processed.`,
                'Duplicate request',
              ),
            ],
          },
        });
      }
      const result = this.run(company, name, body, who);
      if (result.status === 'success' && write) {
        this.stats.writes++;
        if (str(control.uniqueid) === 'true') company.usedControlIds.add(controlId);
        const drop = this.#drops.find((d) => d.n > 0 && d.when(r));
        const rate = this.options.dropAfterCommitRate ?? 0;
        if (drop || (rate > 0 && this.#random() < rate)) {
          if (drop) drop.n--;
          this.stats.dropped++;
          req.socket.destroy();
          return;
        }
      }
      this.reply(res, 200, {
        control: this.controlEcho(control, 'success'),
        operation: {
          authentication: { status: 'success', userid: who.userId, companyid: companyId },
          result: { status: result.status, function: name, controlid: controlId, ...result.out },
        },
      });
    } finally {
      this.#inFlight.set(companyId, (this.#inFlight.get(companyId) ?? 1) - 1);
    }
  }

  /** Carries out one function; a refusal is a `failure` result with Intacct's error. */
  private run(
    company: Company,
    name: string,
    body: El,
    who: { companyId: string; userId: string },
  ): { status: string; out: El } {
    const data = (listtype: string, rows: Row[], remaining = 0, extra: El = {}) => ({
      data: {
        '@_listtype': listtype,
        '@_count': String(rows.length),
        ...extra,
        '@_numremaining': String(remaining),
        [listtype]: rows,
      },
    });
    // A page of `size` rows; the rest kept under a resultId for readMore (Intacct's data attributes).
    const page = (object: string, rows: Row[], size: number, total: number) => {
      const rest = rows.slice(size);
      const resultId = rest.length > 0 ? randomBytes(12).toString('hex') : '';
      if (resultId) this.#results.set(resultId, { companyId: company.id, object, rows: rest, size });
      return data(object, rows.slice(0, size), rest.length, {
        '@_totalcount': String(total),
        ...(resultId ? { '@_resultId': resultId } : {}),
      });
    };
    try {
      switch (name) {
        case 'getAPISession': {
          this.stats.logins++;
          const id = randomBytes(24).toString('base64url');
          this.#sessions.set(id, { ...who, expires: Date.now() + (this.options.sessionSeconds ?? 3600) * 1000 });
          return {
            status: 'success',
            out: { data: { api: { sessionid: id, endpoint: this.endpoint, locationid: '' } } },
          };
        }
        case 'readByQuery': {
          const object = str(body.object);
          const rows = company.rows(object);
          if (!rows) throw new IntacctRefusal('BL01001973', `Object ${object} is not supported.`);
          // A page of `pagesize` rows (100 unless told, at most 1,000); the rest takes readMore.
          const size = Math.min(1000, Math.max(1, Number(str(body.pagesize) || '100') || 100));
          const found = rows.filter(matcher(str(body.query)));
          return { status: 'success', out: page(object, found, size, found.length) };
        }
        case 'readMore': {
          // The next page of a readByQuery, once: a resultId read to its end (or another company's) is gone.
          const id = str(body.resultId);
          const held = this.#results.get(id);
          this.#results.delete(id);
          if (!held || held.companyId !== company.id)
            // Intacct's errorno for it *(unverified)*.
            throw new IntacctRefusal(
              'DL02000001',
              `There was an error processing the request. Invalid resultId ${id}.`,
            );
          return { status: 'success', out: page(held.object, held.rows, held.size, held.rows.length) };
        }
        case 'create':
        case 'update': {
          if (body.CUSTOMER !== undefined) {
            const row = company.upsertCustomer(el(body.CUSTOMER), name === 'create');
            return {
              status: 'success',
              out: data('customer', [{ RECORDNO: row.RECORDNO!, CUSTOMERID: row.CUSTOMERID! }]),
            };
          }
          if (body.ITEM !== undefined) {
            const row = company.upsertItem(el(body.ITEM), name === 'create');
            return { status: 'success', out: data('item', [{ RECORDNO: row.RECORDNO!, ITEMID: row.ITEMID! }]) };
          }
          if (body.BANKFEE !== undefined && name === 'create') {
            const f = company.createBankFee(el(body.BANKFEE));
            return { status: 'success', out: data('bankfee', [{ RECORDNO: f.RECORDNO }]) };
          }
          if (body.ARPYMT !== undefined && name === 'create') {
            const p = company.createPayment(el(body.ARPYMT));
            return { status: 'success', out: data('arpymt', [{ RECORDNO: p.RECORDNO }]) };
          }
          throw new IntacctRefusal('BL01001973', `${name}: unsupported object.`);
        }
        case 'create_invoice':
          return { status: 'success', out: { key: company.createInvoice(body).RECORDNO } };
        case 'create_arpayment':
          return { status: 'success', out: { key: company.createLegacyPayment(body).RECORDNO } };
        case 'create_aradjustment':
          return { status: 'success', out: { key: company.createAdjustment(body).RECORDNO } };
        case 'apply_arpayment':
          company.applyPayment(body);
          return { status: 'success', out: {} };
        default:
          throw new IntacctRefusal('XL03000003', `Unknown function ${name}.`);
      }
    } catch (err) {
      if (!(err instanceof IntacctRefusal)) throw err;
      return { status: 'failure', out: { errormessage: { error: [err.toError()] } } };
    }
  }
}

/** Whether an ISO date is a day of the calendar (not 02/30). */
function calendarDay(iso: string | null): boolean {
  if (iso === null) return false;
  const [y, m, d] = iso.split('-').map(Number) as [number, number, number];
  const at = new Date(Date.UTC(y, m - 1, d));
  return at.getUTCFullYear() === y && at.getUTCMonth() === m - 1 && at.getUTCDate() === d;
}

/** The date fields of the AR records the simulator answers (mm/dd/yyyy). */
const DATE_FIELDS = new Set(['WHENCREATED', 'WHENDUE', 'PAYMENTDATE', 'RECEIPTDATE']);

/**
 * A readByQuery filter of terms joined by AND (what the connector sends): `FIELD = 'value'`, `FIELD
 * [NOT] IN ('a', 'b', …)`, and `FIELD <= 'value'` (also `<`, `>=`, `>`, `!=`). A value in
 * Intacct's mm/dd/yyyy compares as a date, as Intacct compares a date field with it.
 */
function matcher(query: string): (row: Row) => boolean {
  const value = /'((?:[^']|'')*)'/g;
  const day = (v: string) => {
    const m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(v);
    return m ? `${m[3]}-${m[1]}-${m[2]}` : null;
  };
  const compare = (a: string, b: string) => {
    const [x, y] = [day(a), day(b)];
    const [p, q] = x !== null && y !== null ? [x, y] : [a, b];
    return p < q ? -1 : p > q ? 1 : 0;
  };
  const terms = query.split(/\s+AND\s+/i).map((t): ((row: Row) => boolean) => {
    const list = /^\s*([A-Z_.0-9]+)\s+(NOT\s+)?IN\s*\(((?:\s*'(?:[^']|'')*'\s*,?)+)\)\s*$/i.exec(t);
    if (list) {
      const values = new Set([...list[3]!.matchAll(value)].map((v) => v[1]!.replace(/''/g, "'")));
      const [field, not] = [list[1]!, list[2] !== undefined];
      return (row) => values.has(row[field] ?? '') !== not;
    }
    const m = /^\s*([A-Z_.0-9]+)\s*(=|!=|<>|<=|>=|<|>)\s*'((?:[^']|'')*)'\s*$/i.exec(t);
    if (!m) throw new IntacctRefusal('BL01001973', `Invalid query: ${query}`);
    const [field, op, v] = [m[1]!, m[2]!, m[3]!.replace(/''/g, "'")];
    // A date field compared with what is no date of the calendar is refused *(unverified wording)*.
    if (DATE_FIELDS.has(field.toUpperCase()) && !calendarDay(day(v)))
      throw new IntacctRefusal('BL01001973', `Invalid date ${v} for ${field} in query: ${query}`);
    return (row) => {
      const c = compare(row[field] ?? '', v);
      if (op === '=') return c === 0;
      if (op === '!=' || op === '<>') return c !== 0;
      if (op === '<=') return c <= 0;
      if (op === '>=') return c >= 0;
      return op === '<' ? c < 0 : c > 0;
    };
  });
  return (row) => terms.every((term) => term(row));
}

/** Starts a simulator on a free loopback port. */
export function startIntacctSimulator(options: IntacctSimulatorOptions): Promise<IntacctSimulator> {
  return new IntacctSimulator(options).start();
}
