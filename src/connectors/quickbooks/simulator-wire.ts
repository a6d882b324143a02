import type { IncomingMessage } from 'node:http';
import { Ajv, type ValidateFunction } from 'ajv';
import { XsdSchemas } from '../../sync/remote/xsd-json-schema.ts';
import { type Entity, WRITABLE } from './simulator-books.ts';
import type { SimulatorLimits, SimulatorStats } from './simulator.ts';
import { onePagePdf } from '../../sync/remote/simulated-pdf.ts';
export { seeded } from '../../sync/seeded.ts';

/*
 * The simulator's plumbing: seeded randomness, the XSD validators (built once per process), the
 * per-realm rolling windows, QuickBooks' throttle and authentication bodies, the invoice PDF.
 */

let cachedXsd: { file: string; schemas: XsdSchemas; validators: Map<string, ValidateFunction> } | null = null;

export function validatorsFor(file: string) {
  if (cachedXsd?.file !== file) {
    const schemas = new XsdSchemas(file);
    const ajv = new Ajv({ allErrors: true, strict: false });
    const validators = new Map<string, ValidateFunction>();
    for (const t of WRITABLE) validators.set(t, ajv.compile(schemas.schemaFor(t)));
    cachedXsd = { file, schemas, validators };
  }
  return cachedXsd.validators;
}

export function throttleBody(time: string) {
  // What QuickBooks' gateway answers when a realm's limit is reached (lower-case keys, unlike API faults).
  return {
    fault: {
      error: [
        {
          message: 'message=ThrottleExceeded; errorCode=003001; statusCode=429',
          detail: 'The request limit was reached.',
          code: '3001',
        },
      ],
      type: 'SERVICE',
    },
    time,
  };
}

export function authBody(time: string) {
  return {
    fault: {
      error: [
        {
          message: 'message=AuthenticationFailed; errorCode=003200; statusCode=401',
          detail: 'Token revoked or expired: the access token is not valid',
          code: '3200',
        },
      ],
      type: 'AUTHENTICATION',
    },
    time,
  };
}

/** A PDF with the invoice's number and total in its text (what write-back attaches). */
export function invoicePdf(e: Entity): Buffer {
  return onePagePdf(
    `Invoice ${String(e.DocNumber)} total ${String(e.TotalAmt)} ${String((e.CurrencyRef as { value: string }).value)}`,
  );
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 16 * 1024 * 1024) throw new Error('body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const within = (list: number[], t: number, ms: number) => {
  let n = 0;
  for (let i = list.length - 1; i >= 0 && list[i]! > t - ms; i--) n++;
  return n;
};

/** Rolling windows per realm: a second, a minute, and batch calls in a minute. */
export class RealmLimiter {
  private readonly calls = new Map<string, number[]>();
  private readonly batchCalls = new Map<string, number[]>();
  constructor(
    private readonly limits: SimulatorLimits,
    private readonly stats: SimulatorStats,
  ) {}

  /** Counts a call against the realm's windows, or answers how long to wait when one is full. */
  admit(realm: string, batch: boolean): number | null {
    const t = performance.now();
    const list = this.calls.get(realm) ?? [];
    this.calls.set(realm, list);
    while (list.length > 0 && list[0]! <= t - this.limits.minuteMs) list.shift();
    const second = within(list, t, this.limits.secondMs);
    if (second >= this.limits.callsPerSecond) {
      this.stats.throttledBy.second++;
      return list[list.length - this.limits.callsPerSecond]! + this.limits.secondMs - t;
    }
    if (list.length >= this.limits.callsPerMinute) {
      this.stats.throttledBy.minute++;
      return list[0]! + this.limits.minuteMs - t;
    }
    const batches = this.batchCalls.get(realm) ?? [];
    this.batchCalls.set(realm, batches);
    while (batches.length > 0 && batches[0]! <= t - this.limits.minuteMs) batches.shift();
    if (batch && batches.length >= this.limits.batchPerMinute) {
      this.stats.throttledBy.batch++;
      return batches[0]! + this.limits.minuteMs - t;
    }
    list.push(t);
    if (batch) batches.push(t);
    this.stats.maxPerSecond = Math.max(this.stats.maxPerSecond, second + 1);
    this.stats.maxPerMinute = Math.max(this.stats.maxPerMinute, list.length);
    this.stats.maxBatchPerMinute = Math.max(this.stats.maxBatchPerMinute, batches.length);
    return null;
  }
}
