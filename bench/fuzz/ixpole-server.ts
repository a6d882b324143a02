import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { IxpolePage } from '../../src/connectors/ixpole/map.ts';
import { parseJsonExact } from '../../src/domain/json.ts';

/**
 * A small iXpole for the fuzzer: it answers whatever the current case scripted (hostile pages,
 * broken JSON, wrong pagination, failing lookups) and remembers which pages it served, so that the
 * family can count the records a run was given against those it posted or parked. The simulator in
 * src/connectors/ixpole behaves like the real service; this one misbehaves on purpose.
 */

/** One scripted answer: `failures` requests get `failure` first (Infinity: every one), then `status`/`body`. */
export interface Scripted {
  status: number;
  body: string;
  failures?: number;
  failure?: { status: number; body: string };
}

export interface Script {
  /** By page number; a page not listed answers an empty last page. */
  pages: Map<number, Scripted>;
  /** By id as the path names it; an id not listed answers 404. */
  customers: Map<string, Scripted>;
  products: Map<string, Scripted>;
}

/** A page the source could read as one: the items it was given. */
export interface ServedPage {
  page: number;
  items: unknown[];
}

export interface ServedError {
  page: number;
  status: number;
}

export class FuzzIxpoleServer {
  readonly apiKey = 'fuzz-ixpole-key-0123456789';
  private server: Server | null = null;
  private script: Script = { pages: new Map(), customers: new Map(), products: new Map() };
  private asked = new Map<string, number>();
  /** Every answer to GET api/instalments, in order: a readable page, or what failed. */
  answers: (ServedPage | ServedError)[] = [];
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const answer = this.answer(req.method ?? 'GET', req.url ?? '/', req.headers.authorization);
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
    return this;
  }

  /** The next case's script; forgets what the last one served. */
  load(script: Script): void {
    this.script = script;
    this.asked.clear();
    this.answers = [];
  }

  private take(key: string, scripted: Scripted | undefined): { status: number; body: string } {
    if (!scripted) return { status: 404, body: '{"error":"not found"}' };
    const n = (this.asked.get(key) ?? 0) + 1;
    this.asked.set(key, n);
    if (scripted.failure && n <= (scripted.failures ?? 0)) return scripted.failure;
    return scripted;
  }

  private answer(method: string, url: string, auth: string | undefined): { status: number; body: string } {
    if (auth !== `Bearer ${this.apiKey}`) return { status: 401, body: '{"error":"unauthorized"}' };
    const u = new URL(url, 'http://x');
    if (method === 'PUT' && u.pathname === '/api/instalments') return { status: 200, body: '{}' };
    if (method === 'PATCH' && u.pathname.startsWith('/api/customers/')) return { status: 200, body: '{}' };
    if (method === 'GET' && u.pathname === '/api/instalments') {
      const page = Number(u.searchParams.get('page') ?? '1');
      const scripted = this.script.pages.get(page) ?? { status: 200, body: '{"items":[],"nextPage":null}' };
      const a = this.take(`page:${page}`, scripted);
      let readable: ServedPage | null = null;
      if (a.status === 200) {
        try {
          const p = IxpolePage.safeParse(parseJsonExact(a.body));
          if (p.success) readable = { page, items: p.data.items };
        } catch {
          // not JSON: recorded as an error below
        }
      }
      this.answers.push(readable ?? { page, status: a.status });
      return a;
    }
    let m = /^\/api\/customer\/([^/]+)$/.exec(u.pathname);
    if (method === 'GET' && m) {
      const id = decodeURIComponent(m[1]!);
      return this.take(`customer:${id}`, this.script.customers.get(id));
    }
    m = /^\/api\/products\/([^/]+)$/.exec(u.pathname);
    if (method === 'GET' && m) {
      const id = decodeURIComponent(m[1]!);
      return this.take(`product:${id}`, this.script.products.get(id));
    }
    return { status: 404, body: '{"error":"no such route"}' };
  }

  async close(): Promise<void> {
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
