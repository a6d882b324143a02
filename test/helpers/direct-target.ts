import { expect } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { ConnectorError } from '../../src/sync/connector.ts';
import type { TokenSource } from '../../src/sync/remote/contracts.ts';
import { type TokenEndpoint, postTokenGrant } from '../../src/sync/remote/oauth-endpoint.ts';
import type { CanonicalPayment, CanonicalRefund } from '../../src/sync/canonical.ts';
import type {
  ItemResult,
  TargetCallContext,
  TargetCustomer,
  TargetDeps,
  TargetInvoice,
  TargetPayment,
  TargetRefund,
} from '../../src/sync/target.ts';
import { silentLog, testBox } from './sync.ts';

/*
 * A target called directly, operation by operation, against its simulator, without a pipeline or
 * the engine (test/<platform>-target.test.ts, test/<platform>-refunds.test.ts): what it is built
 * with, a token source over the simulator's token endpoint, the documents handed to it, and what
 * its answers are read with. test/helpers/quickbooks.ts and test/helpers/xero.ts build those two
 * targets so.
 */

/** The client knobs of a target called directly: one attempt each call (a test's faults are its own to see), short waits. */
export const ONE_ATTEMPT = { maxAttempts: 1, backoffBaseMs: 5, backoffMaxMs: 20 };

/** What the engine would give a target (`TargetDeps`) for a pipeline of entity 1 named `pipelineName`, no mapping. */
export function directTargetDeps(db: Database, settings: Record<string, unknown>, pipelineName: string): TargetDeps {
  return { db, log: silentLog, mapping: {}, settings, entityId: '1', pipelineId: '1', pipelineName, box: testBox };
}

/** What each call to a target called directly is made with: the database, no log, the actor `test`. */
export const callContext = (db: Database): TargetCallContext => ({ db, log: silentLog, actor: 'test' });

/** A refresh-token grant on a simulated token endpoint, kept as the engine's stored connection keeps it. */
export interface SimulatedGrant {
  /** The refresh token the next refresh uses: the one issued, or the last one the endpoint rotated to. */
  refreshToken: string;
  /** Every access and refresh token the endpoint gave out: none may show in a message. */
  readonly seen: string[];
  /** A token source over the endpoint: an access token from the grant, asked for again once invalidated. */
  auth(): TokenSource;
}

/**
 * A grant of `refreshToken` on `endpoint` (read when a token is asked for, the simulator being up
 * by then); a refresh token the endpoint rotates to replaces it. The sources it gives tell the
 * client secret, the refresh token and every token seen as their secrets.
 */
export function simulatedGrant(endpoint: () => TokenEndpoint, refreshToken: string): SimulatedGrant {
  const grant: SimulatedGrant = {
    refreshToken,
    seen: [],
    auth: () => {
      let token: string | null = null;
      return {
        async accessToken() {
          if (token === null) {
            const a = await postTokenGrant(endpoint(), {
              grant_type: 'refresh_token',
              refresh_token: grant.refreshToken,
            });
            token = a.accessToken;
            grant.refreshToken = a.refreshToken ?? grant.refreshToken;
            grant.seen.push(token, grant.refreshToken);
          }
          return token;
        },
        invalidate(t) {
          if (t === token) token = null;
        },
        secrets: () => [endpoint().clientSecret, grant.refreshToken, ...grant.seen],
      };
    },
  };
  return grant;
}

/** A customer `code` for a target, with an email under example.org; `targetId` when the target holds it already. */
export const directCustomer = (code: string, name: string, targetId: string | null = null): TargetCustomer => ({
  sourceId: code,
  code,
  targetId,
  record: { kind: 'customer', sourceId: code, name, email: `${code.toLowerCase()}@example.org` },
});

/** An invoice `ref` (its key `key-<ref>`) of one line of `net` at `rate`, VAT left to the target, dated `date`, due 2 December. */
export const directInvoice = (
  ref: string,
  customerTargetId: string,
  net = '100.00',
  rate = '0.21',
  date = '2026-11-02',
): TargetInvoice => ({
  sourceId: ref,
  idempotencyKey: `key-${ref}`,
  customerTargetId,
  productTargetIds: {},
  record: {
    kind: 'invoice',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'c',
    invoiceDate: date,
    dueDate: '2026-12-02',
    currency: 'EUR',
    description: 'Unit',
    lines: [{ description: 'Service', netAmount: net, vatRate: rate }],
  },
});

/**
 * A payment `ref` (its key `key-<ref>`) of `amount` EUR into the bank BANK, dated 5 November, of
 * the invoice `invoiceTargetId` (or on account); `record` adds to (or replaces) what its record says.
 */
export const directPayment = (
  ref: string,
  customerTargetId: string,
  invoiceTargetId: string | null,
  amount: string,
  record: Partial<CanonicalPayment> = {},
): TargetPayment => ({
  sourceId: ref,
  idempotencyKey: `key-${ref}`,
  customerTargetId,
  invoiceTargetId,
  bankAccountCode: 'BANK',
  record: {
    kind: 'payment',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'c',
    date: '2026-11-05',
    amount,
    currency: 'EUR',
    description: '',
    ...record,
  },
});

/**
 * A refund `ref` (its key `key-<ref>`) of `amount` EUR out of the bank BANK, dated 6 November, of
 * the payment `paymentTargetId` (or of none); `record` adds to (or replaces) what its record says.
 */
export const directRefund = (
  ref: string,
  customerTargetId: string,
  paymentTargetId: string | null,
  amount: string,
  record: Partial<CanonicalRefund> = {},
): TargetRefund => ({
  sourceId: ref,
  idempotencyKey: `key-${ref}`,
  customerTargetId,
  paymentTargetId,
  bankAccountCode: 'BANK',
  record: {
    kind: 'refund',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'c',
    date: '2026-11-06',
    amount,
    currency: 'EUR',
    description: '',
    ...record,
  },
});

/** The target's id of an item it booked; throws with the target's code and words when it refused it. */
export function targetIdOf(r: ItemResult | undefined): string {
  if (!r?.ok) throw new Error(`expected ok, got ${r ? `${r.error.code}: ${r.error.message}` : 'nothing'}`);
  return r.targetId;
}

/** The ConnectorError `p` rejects with; fails when it resolves, or rejects with anything else. */
export async function thrown(p: Promise<unknown>): Promise<ConnectorError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectorError);
    return err as ConnectorError;
  }
  throw new Error('did not throw');
}
