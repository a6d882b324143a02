import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { type LocalServer, readBody, startLocalServer } from '../../sync/local-server.ts';
import { LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { METHODS, type Version, unknownFields, valueViolations } from './simulator-contract.ts';
import { Database, type DatabaseOptions, type Obj, OdooException } from './simulator-store.ts';
import { rowsOf } from './simulator-views.ts';
import { seeded } from '../../sync/seeded.ts';
import { formatAmount, parseAmount } from '../../domain/money.ts';

/*
 * A local Odoo for tests, over JSON-RPC as Odoo serves it (`POST /jsonrpc`): `common.version`,
 * `common.authenticate(db, login, key, {})` answering the user's id or `false`,
 * `object.execute_kw(db, uid, key, model, method, args, kwargs)` refused with AccessDenied for a
 * key that is wrong, revoked or expired, failures as HTTP 200 with Odoo's error body, a limit of
 * calls per minute answered 429 (as Odoo Online's front answers it, unverified), and faults on
 * demand: a write committed and its answer lost (`dropNext`, `dropAfterCommitRate`), a status
 * answered before anything is done (`failNext`), an outage of the calls a test names
 * (`failWhile`). Every call is checked against the contract of simulator-contract.ts for the
 * server's version: `violations` lists those that broke it; `duplicates()` documents a customer
 * holds twice under one reference.
 */

export interface OdooSimulatorOptions {
  version: Version;
  database?: string | undefined;
  login?: string | undefined;
  company?: DatabaseOptions | undefined;
  /** Calls a minute to the database, answered 429 beyond (minuteMs scales the minute in tests). */
  limits?: { perMinute?: number; minuteMs?: number } | undefined;
  seed?: number | undefined;
  /** The share of writes committed and then answered by dropping the connection. */
  dropAfterCommitRate?: number | undefined;
}

/** A call as the simulator saw it. */
export interface SimulatedCall {
  service: string;
  method: string;
  model: string;
  modelMethod: string;
  /** The call's positional arguments (for a method on records, the ids first). */
  args: unknown[];
}

const WRITES = new Set([
  'create',
  'write',
  'unlink',
  'action_post',
  'action_create_payments',
  'js_assign_outstanding_line',
  'js_remove_outstanding_partial',
]);

/** Integers as JS numbers (ids, commands), decimals kept exact. */
const parseBody = (raw: string): unknown =>
  parseLossless(raw, null, (v) =>
    /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : new LosslessNumber(v),
  );

export class OdooSimulator {
  url = '';
  readonly db: Database;
  readonly database: string;
  readonly login: string;
  readonly uid = 2;
  readonly violations: { call: string; problems: string[] }[] = [];
  readonly calls: SimulatedCall[] = [];
  readonly stats = { calls: 0, writes: 0, dropped: 0, rateRefused: 0, denied: 0 };
  readonly #keys = new Map<string, { valid: boolean }>();
  #minute: number[] = [];
  #drops: { n: number; when: (c: SimulatedCall) => boolean }[] = [];
  #fails: number[] = [];
  #outages: { when: (c: SimulatedCall) => boolean; status: number }[] = [];
  readonly #random: () => number;
  #server: LocalServer | null = null;

  constructor(readonly options: OdooSimulatorOptions) {
    this.db = new Database(options.version, options.company);
    this.database = options.database ?? 'simulated';
    this.login = options.login ?? 'api@example.org';
    this.#random = seeded(options.seed ?? 1);
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

  /** A new API key of the user (Preferences → Account Security → New API Key). */
  issueApiKey(): string {
    const key = randomBytes(20).toString('hex');
    this.#keys.set(key, { valid: true });
    return key;
  }

  /** The key was deleted, or reached the end of its duration: every call with it is AccessDenied. */
  revokeApiKey(key: string): void {
    const k = this.#keys.get(key);
    if (k) k.valid = false;
  }

  /** The next `n` writes matching `when` are committed, then their connection dropped without an answer. */
  dropNext(n: number, when: (c: SimulatedCall) => boolean = () => true): void {
    this.#drops.push({ n, when });
  }

  /** The next requests are answered with these HTTP statuses (502, 429) before anything is done. */
  failNext(...statuses: number[]): void {
    this.#fails.push(...statuses);
  }

  /**
   * An outage of some calls: every model call matching `when` is answered `status` before anything
   * is done, until the function returned is called.
   */
  failWhile(when: (c: SimulatedCall) => boolean, status = 503): () => void {
    const outage = { when, status };
    this.#outages.push(outage);
    return () => {
      this.#outages = this.#outages.filter((o) => o !== outage);
    };
  }

  /**
   * References held twice by one customer: moves (by type), payments and refunds; partners and
   * products by their keys. Odoo keeps `ref` unique neither on customer moves nor on payments (its
   * one check, `_check_duplicate_supplier_reference`, is for vendor bills, per partner), so two
   * customers' documents may share one (two shops' order numbers).
   */
  duplicates(): string[] {
    const out: string[] = [];
    const twice = (what: string, keys: string[]) => {
      const seen = new Set<string>();
      for (const k of keys) {
        if (k === '') continue;
        if (seen.has(k)) out.push(`${what} ${k}`);
        seen.add(k);
      }
    };
    const own = (d: { ref: string; partner_id: number }) => (d.ref ? `${d.ref} of ${d.partner_id}` : '');
    const moves = [...this.db.moves.values()].filter((m) => m.state !== 'cancel');
    twice('invoice', moves.filter((m) => m.move_type === 'out_invoice').map(own));
    twice('credit note', moves.filter((m) => m.move_type === 'out_refund').map(own));
    const payments = [...this.db.payments.values()];
    twice('payment', payments.filter((p) => p.payment_type === 'inbound').map(own));
    twice('refund', payments.filter((p) => p.payment_type === 'outbound').map(own));
    twice(
      'partner',
      [...this.db.partners.values()].map((p) => p.ref),
    );
    twice(
      'product',
      [...this.db.products.values()].map((p) => p.default_code),
    );
    return out;
  }

  private send(res: http.ServerResponse, id: unknown, body: { result: unknown } | { error: Obj }): void {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(stringifyLossless({ jsonrpc: '2.0', id, ...body }));
  }

  private fault(res: http.ServerResponse, id: unknown, exception: string, message: string): void {
    this.send(res, id, {
      error: {
        code: 200,
        message: 'Odoo Server Error',
        data: {
          name: exception,
          debug: `Traceback (most recent call last):\n${exception}: ${message}`,
          message,
          arguments: [message],
          context: {},
        },
      },
    });
  }

  private overLimit(): boolean {
    const minuteMs = this.options.limits?.minuteMs ?? 60_000;
    const now = Date.now();
    this.#minute = this.#minute.filter((t) => t > now - minuteMs);
    if (this.#minute.length >= (this.options.limits?.perMinute ?? Infinity)) return true;
    this.#minute.push(now);
    return false;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    if (req.url !== '/jsonrpc' || req.method !== 'POST') {
      res.writeHead(404, { 'content-type': 'text/html' });
      return void res.end('<h1>Not Found</h1>');
    }
    this.stats.calls++;
    const fail = this.#fails.shift();
    if (fail !== undefined || this.overLimit()) {
      if ((fail ?? 429) === 429) this.stats.rateRefused++;
      res.writeHead(fail ?? 429, { 'content-type': 'text/html' });
      return void res.end(fail === undefined || fail === 429 ? '<h1>Too Many Requests</h1>' : '<h1>Bad Gateway</h1>');
    }
    let body: { id?: unknown; method?: unknown; params?: { service?: unknown; method?: unknown; args?: unknown } };
    try {
      body = parseBody(raw) as typeof body;
    } catch {
      return this.fault(res, null, 'werkzeug.exceptions.BadRequest', 'Invalid JSON data');
    }
    if (!/^application\/json/.test(req.headers['content-type'] ?? ''))
      this.violations.push({ call: 'POST /jsonrpc', problems: ['content-type: not application/json'] });
    const p = body.params ?? {};
    const args = Array.isArray(p.args) ? p.args : [];
    const service = String(p.service);
    const method = String(p.method);
    if (body.method !== 'call') this.violations.push({ call: 'POST /jsonrpc', problems: ['method: not "call"'] });
    if (service === 'common' && method === 'version')
      return this.send(res, body.id, {
        result: {
          server_version: `${this.options.version}.0`,
          server_version_info: [Number(this.options.version), 0, 0, 'final', 0, ''],
          server_serie: `${this.options.version}.0`,
          protocol_version: 1,
        },
      });
    if (service === 'common' && method === 'authenticate') {
      const [db, login, key] = args as string[];
      const ok = db === this.database && login === this.login && this.#keys.get(key ?? '')?.valid === true;
      if (!ok) this.stats.denied++;
      return this.send(res, body.id, { result: ok ? this.uid : false });
    }
    if (service !== 'object' || method !== 'execute_kw')
      return this.fault(res, body.id, 'builtins.NameError', `service ${service} has no method ${method}`);
    const [db, uid, key, model, modelMethod, callArgs, kwargs] = args as [
      string,
      number,
      string,
      string,
      string,
      unknown[],
      Obj | undefined,
    ];
    if (db !== this.database || uid !== this.uid || this.#keys.get(key)?.valid !== true) {
      this.stats.denied++;
      return this.fault(res, body.id, 'odoo.exceptions.AccessDenied', 'Access Denied');
    }
    const call: SimulatedCall = {
      service,
      method,
      model: String(model),
      modelMethod: String(modelMethod),
      args: Array.isArray(callArgs) ? callArgs : [],
    };
    const outage = this.#outages.find((o) => o.when(call));
    if (outage) {
      res.writeHead(outage.status, { 'content-type': 'text/html' });
      return void res.end('<h1>Service Unavailable</h1>');
    }
    this.calls.push(call);
    const write = WRITES.has(call.modelMethod);
    if (write) this.stats.writes++;
    let result: unknown;
    try {
      result = this.execute(call.model, call.modelMethod, Array.isArray(callArgs) ? callArgs : [], kwargs ?? {});
    } catch (err) {
      if (err instanceof OdooException) return this.fault(res, body.id, err.exception, err.message);
      throw err;
    }
    if (write) {
      const drop = this.#drops.find((d) => d.n > 0 && d.when(call));
      if (drop) drop.n--;
      if (drop || this.#random() < (this.options.dropAfterCommitRate ?? 0)) {
        this.stats.dropped++;
        req.socket.destroy();
        return;
      }
    }
    this.send(res, body.id, { result });
  }

  private check(model: string, what: string, problems: string[]): void {
    if (problems.length === 0) return;
    this.violations.push({ call: `${model}.${what}`, problems });
    const invalid = problems.find((x) => x.endsWith('Invalid field'));
    if (invalid) throw new OdooException('builtins.ValueError', invalid);
  }

  private execute(model: string, method: string, args: unknown[], kwargs: Obj): unknown {
    if (!METHODS[model]?.includes(method)) {
      this.check(model, method, [`${model}.${method}: not a method this target may call`]);
      throw new OdooException(
        'builtins.AttributeError',
        `The method '${method}' does not exist on the model '${model}'`,
      );
    }
    const v = this.options.version;
    const refField = v === '18' ? 'memo' : 'ref';
    const context = (kwargs.context ?? {}) as Obj;
    switch (method) {
      case 'search_read': {
        const domain = (args[0] ?? kwargs.domain ?? []) as unknown[][];
        const fields = (kwargs.fields ?? []) as string[];
        this.check(model, method, unknownFields(model, v, [...domain.map((l) => String(l[0])), ...fields]));
        const rows = rowsOf(this.db, model, refField)
          .filter((r) => domain.every((leaf) => matches(r, leaf)))
          .sort((x, y) => compareValues([x.id], [y.id]));
        // search_read(domain, fields, offset=0, limit=None, order=None): rows in id order (`id asc`).
        const offset = typeof kwargs.offset === 'number' ? kwargs.offset : 0;
        const limit = typeof kwargs.limit === 'number' ? kwargs.limit : rows.length;
        return rows.slice(offset, offset + limit).map((r) => pick(r, fields));
      }
      case 'read_group': {
        // read_group(domain, fields, groupby, offset=0, limit=None, orderby=False, lazy=True): the
        // rows matching the domain grouped by the groupby fields (only the first when lazy), each
        // group with its many2one values as [id, name], the `field:sum` aggregates under the
        // field's name, `__count` and `__domain`. Groups come ordered by the groupby values.
        const domain = (args[0] ?? kwargs.domain ?? []) as unknown[][];
        const specs = (args[1] ?? kwargs.fields ?? []) as string[];
        const by = [(args[2] ?? kwargs.groupby ?? []) as string[] | string].flat();
        const lazy = (args[6] ?? kwargs.lazy ?? true) !== false;
        const sums = specs
          .map((f) => /^(\w+)(?::(\w+))?$/.exec(f))
          .map((m) => ({ field: m?.[1] ?? '', agg: m?.[2] ?? 'sum' }));
        this.check(
          model,
          method,
          unknownFields(model, v, [...domain.map((l) => String(l[0])), ...sums.map((x) => x.field), ...by]),
        );
        const bad = sums.find((x) => x.agg !== 'sum');
        if (bad) throw new OdooException('builtins.ValueError', `Invalid aggregation function '${bad.agg}'.`);
        const keys = lazy ? by.slice(0, 1) : by;
        const groups = new Map<string, { values: unknown[]; rows: Obj[] }>();
        for (const r of rowsOf(this.db, model, refField).filter((x) => domain.every((leaf) => matches(x, leaf)))) {
          const values = keys.map((k) => r[k] ?? false);
          const key = JSON.stringify(values.map(idOf));
          const g = groups.get(key) ?? { values, rows: [] };
          g.rows.push(r);
          groups.set(key, g);
        }
        return [...groups.values()]
          .sort((x, y) => compareValues(x.values.map(idOf), y.values.map(idOf)))
          .map((g) => {
            const out: Obj = {};
            keys.forEach((k, i) => (out[k] = g.values[i]));
            for (const { field } of sums)
              out[field] = new LosslessNumber(
                formatAmount(
                  g.rows.reduce((t, r) => {
                    const parsed = parseAmount(amountText(r[field]), this.db.currency);
                    return t + (parsed.ok ? parsed.value : 0n);
                  }, 0n),
                  this.db.currency,
                ),
              );
            out.__count = g.rows.length;
            out.__domain = [...keys.map((k, i) => [k, '=', idOf(g.values[i])]), ...domain];
            return out;
          });
      }
      case 'read': {
        const ids = (args[0] ?? []) as number[];
        const fields = (kwargs.fields ?? args[1] ?? []) as string[];
        this.check(model, method, unknownFields(model, v, fields));
        const rows = rowsOf(this.db, model, refField);
        return ids.map((i) => {
          const r = rows.find((x) => x.id === i);
          if (!r)
            throw new OdooException(
              'odoo.exceptions.MissingError',
              `Record does not exist or has been deleted.\n(Record: ${model}(${i},), User: 2)`,
            );
          return pick(r, fields);
        });
      }
      case 'create': {
        const values = (args[0] ?? {}) as Obj;
        this.check(model, method, valueViolations(model, v, values));
        if (model === 'res.partner' || model === 'product.product') return this.db.upsert(model, null, values);
        if (model === 'account.move') return this.db.createMove(values);
        if (model === 'account.payment') return this.db.createPayment(values, refField);
        return this.db.createWizard(values, context);
      }
      case 'write': {
        const [ids, values] = args as [number[], Obj];
        this.check(model, method, valueViolations(model, v, values));
        this.db.upsert(model as 'res.partner', ids, values);
        return true;
      }
      case 'unlink':
        this.db.unlink(model as 'account.move', (args[0] ?? []) as number[]);
        return true;
      case 'action_post':
        for (const i of (args[0] ?? []) as number[]) {
          if (model === 'account.move') this.db.postMove(i);
          else this.db.postPayment(i);
        }
        return false;
      case 'action_create_payments':
        return this.db.runWizard(((args[0] ?? []) as number[])[0] ?? 0);
      case 'js_remove_outstanding_partial': {
        // js_remove_outstanding_partial([move], partial_id): Odoo answers what unlink returns, True.
        const [ids, partialId] = args as [number[], number];
        this.db.removePartial(ids, partialId);
        return true;
      }
      default: {
        // js_assign_outstanding_line([move], line_id): an invoice, a credit note or a payment's entry
        const [ids, lineId] = args as [number[], number];
        this.db.assignOutstanding(ids[0] ?? 0, lineId);
        return true;
      }
    }
  }
}

const idOf = (v: unknown): unknown => (Array.isArray(v) ? v[0] : v);

function matches(row: Obj, leaf: unknown[]): boolean {
  const [field, op, value] = leaf as [string, string, unknown];
  const have = idOf(row[field]);
  const same = (x: unknown) =>
    (x instanceof LosslessNumber ? x.value : x) === (have instanceof LosslessNumber ? have.value : have);
  if (op === '=') return same(value);
  if (op === '!=') return !same(value);
  if (op === 'in') return Array.isArray(value) && value.some(same);
  if (op === 'not in') return Array.isArray(value) && !value.some(same);
  // Dates as YYYY-MM-DD and numbers compare as Odoo's SQL does; `false` (no value) matches none.
  if (op === '<=' || op === '<' || op === '>=' || op === '>') {
    if (have === false || have === undefined || have === null) return false;
    const c = compareValues([have], [value]);
    return op === '<=' ? c <= 0 : op === '<' ? c < 0 : op === '>=' ? c >= 0 : c > 0;
  }
  throw new OdooException('builtins.ValueError', `Invalid leaf ${JSON.stringify(leaf)}`);
}

/** An amount of a row as text (`false`, Odoo's empty, as zero). */
const amountText = (v: unknown): string =>
  v instanceof LosslessNumber ? v.value : typeof v === 'number' || typeof v === 'string' ? String(v) : '0';

function compareValues(a: unknown[], b: unknown[]): number {
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i], b[i]].map((v) => (v instanceof LosslessNumber ? Number(v.value) : v));
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

function pick(row: Obj, fields: string[]): Obj {
  if (fields.length === 0) return row;
  const out: Obj = { id: row.id };
  for (const f of fields) out[f] = row[f] ?? false;
  return out;
}

/** Starts a simulated Odoo on 127.0.0.1. */
export function startOdooSimulator(options: OdooSimulatorOptions): Promise<OdooSimulator> {
  return new OdooSimulator(options).start();
}
