import type { Logger } from 'pino';
import type { Database } from '../src/db/database.ts';
import { allowOutboundHost } from '../src/sync/http.ts';
import { postTokenGrant, type TokenEndpoint } from '../src/sync/remote/oauth-endpoint.ts';
import type { RatePlanner, TokenSource } from '../src/sync/remote/contracts.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import type { TargetCallContext, TargetConnector, TargetDeps, TargetInvoice } from '../src/sync/target.ts';
import type { ConcurrencyLimit, WindowLimit } from './backfill-minimum.ts';
import type { Approach, BackfillCounts, BackfillPlatform, CallKind, PlatformSession } from './backfill-platforms.ts';

/*
 * A platform whose target sends documents through ledgerlink's ordinary TargetDeps (settings, the
 * planner), as a small table entry: how to start its simulator on the scaled clock, the settings
 * that point the target at it, and three readings of the simulator (calls it counted against its
 * limits, calls it refused for them, references of the invoices it holds). Everything else (the
 * target, the planner, the batches as the engine hands them) is the same for every platform.
 */

export interface SimulatedPlatform<S extends { close(): Promise<void> }> {
  name: string;
  currency: string;
  vatRate: string;
  describeLimits: string;
  counts: { full: BackfillCounts; quick: BackfillCounts };
  limits(minuteMs: number): WindowLimit<CallKind>[];
  concurrency?: ((minuteMs: number) => ConcurrencyLimit) | undefined;
  /** Whether the target puts several documents in one call (else one call per invoice is what it does already). */
  batchesOnTheWire: boolean;
  start(minuteMs: number): Promise<S>;
  /** An address of the simulator, so the outbound guard lets the target reach it. */
  url(sim: S): string;
  settings(sim: S, minuteMs: number): Record<string, unknown>;
  create(deps: TargetDeps, o: { planner: RatePlanner; auth?: TokenSource | undefined }): TargetConnector;
  /** A token source, for targets that take theirs from a stored connection. */
  auth?: ((sim: S) => TokenSource) | undefined;
  /** Calls the simulator counted against its limits, refused for them, and the invoices it holds (their references). */
  admitted(sim: S): number;
  rateLimited(sim: S): number;
  booked(sim: S): string[];
}

const box = new SecretBox(Buffer.alloc(32, 1));

/** As the engine hands them over: one target batch at a time (src/sync/outbound.ts). */
export async function throughTarget(
  s: { target: TargetConnector; ctx: TargetCallContext },
  items: TargetInvoice[],
): Promise<number> {
  let failed = 0;
  for (let i = 0; i < items.length; i += s.target.limits.batchSize)
    failed += (await s.target.createInvoices(s.ctx, items.slice(i, i + s.target.limits.batchSize))).filter(
      (r) => !r.ok,
    ).length;
  return failed;
}

/** The table entry as the bench runs it. */
export function simulated<S extends { close(): Promise<void> }>(p: SimulatedPlatform<S>): BackfillPlatform {
  return {
    name: p.name,
    currency: p.currency,
    vatRate: p.vatRate,
    describeLimits: p.describeLimits,
    counts: p.counts,
    limits: (minuteMs) => p.limits(minuteMs),
    concurrency: p.concurrency,
    batchesOnTheWire: p.batchesOnTheWire,
    async open({ db, planner, log, minuteMs, approach }) {
      const sim = await p.start(minuteMs);
      try {
        allowOutboundHost('127.0.0.1', Number(new URL(p.url(sim)).port));
        return session(p, sim, { db, planner, log, approach, minuteMs });
      } catch (err) {
        await sim.close();
        throw err;
      }
    },
  };
}

function session<S extends { close(): Promise<void> }>(
  p: SimulatedPlatform<S>,
  sim: S,
  o: { db: Database; planner: RatePlanner; log: Logger; approach: Approach; minuteMs: number },
): PlatformSession {
  const settings = p.settings(sim, o.minuteMs);
  const limits = (settings.limits ?? {}) as Record<string, unknown>;
  const target = p.create(
    {
      db: o.db,
      log: o.log,
      mapping: {},
      // One call per invoice is the same target handed batches of one.
      settings: o.approach === 'one-call' ? { ...settings, limits: { ...limits, batchSize: 1 } } : settings,
      entityId: '1',
      pipelineId: '1',
      pipelineName: 'bench',
      box,
    },
    { planner: o.planner, auth: p.auth?.(sim) },
  );
  const s = { target, ctx: { db: o.db, log: o.log, actor: 'bench' } as TargetCallContext };
  return {
    ...s,
    sendInvoices: (items) => throughTarget(s, items),
    admitted: () => Array<CallKind>(p.admitted(sim)).fill('call'),
    rateLimited: () => p.rateLimited(sim),
    booked: () => p.booked(sim),
    close: () => sim.close(),
  };
}

/**
 * Access tokens from a refresh token at the simulator's token endpoint, keeping the rotated one:
 * what the stored connection does in production (tested end to end), without its database rows.
 */
export function refreshTokens(endpoint: TokenEndpoint, first: string): TokenSource {
  let refresh = first;
  let token: string | null = null;
  return {
    async accessToken() {
      if (token === null) {
        const a = await postTokenGrant(endpoint, { grant_type: 'refresh_token', refresh_token: refresh });
        token = a.accessToken;
        refresh = a.refreshToken ?? refresh;
      }
      return token;
    },
    invalidate(t) {
      if (t === token) token = null;
    },
    secrets: () => [endpoint.clientSecret, refresh, ...(token ? [token] : [])],
  };
}
