import type { Queryable } from '../../db/database.ts';
import type { Pipeline } from '../pipelines.ts';
import { targetDefinition } from '../registry.ts';
import type { RateLimits, RateScope } from './contracts.ts';
import { readConnection } from './oauth-store.ts';

/*
 * The rate planner's budget as it stands (migration 0056, src/sync/remote/rate-planner.ts), read
 * for people: per scope, the calls granted in the last second, minute and day against its limits
 * (phantom calls the platform counted for other apps included, as the planner counts them), the
 * concurrency slots held now, and a pause the platform asked for.
 */

export interface ScopeBudget {
  scope: string;
  limits: RateLimits;
  lastSecond: number;
  lastMinute: number;
  lastDay: number;
  /** Concurrency slots held now (leases not yet expired). */
  inFlight: number;
  /** No call before this time (a 429's Retry-After); null when not paused. ISO 8601. */
  blockedUntil: string | null;
}

/** The budget of these scopes now, in their order; a scope never called reads all zeros. */
export async function rateBudget(db: Queryable, scopes: RateScope[]): Promise<ScopeBudget[]> {
  if (scopes.length === 0) return [];
  const { rows } = await db.query<{
    scope: string;
    second: number;
    minute: number;
    day: number;
    leases: number;
    blocked_until: string | null;
  }>(
    `WITH k AS (SELECT unnest($1::text[]) AS scope), t AS (SELECT clock_timestamp() AS now)
     SELECT k.scope,
            (SELECT count(*)::int FROM rate_calls c WHERE c.scope = k.scope AND c.at > t.now - interval '1 second') AS second,
            (SELECT count(*)::int FROM rate_calls c WHERE c.scope = k.scope AND c.at > t.now - interval '1 minute') AS minute,
            (SELECT count(*)::int FROM rate_calls c WHERE c.scope = k.scope AND c.at > t.now - interval '1 day') AS day,
            (SELECT count(*)::int FROM rate_leases l WHERE l.scope = k.scope AND l.expires_at > t.now) AS leases,
            CASE WHEN s.blocked_until > t.now
                 THEN to_char(s.blocked_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') END AS blocked_until
       FROM k CROSS JOIN t LEFT JOIN rate_scopes s ON s.scope = k.scope`,
    [scopes.map((s) => s.key)],
  );
  const byScope = new Map(rows.map((r) => [r.scope, r]));
  return scopes.map((s) => {
    const r = byScope.get(s.key);
    return {
      scope: s.key,
      limits: s.limits,
      lastSecond: r?.second ?? 0,
      lastMinute: r?.minute ?? 0,
      lastDay: r?.day ?? 0,
      inFlight: r?.leases ?? 0,
      blockedUntil: r?.blocked_until ?? null,
    };
  });
}

/**
 * The scopes of a pipeline's own tenant, by its target's `rateScopes` (the tenant from its settings
 * or its OAuth connection): none for a target that calls nothing remote or whose tenant is not known yet.
 */
export async function pipelineRateScopes(db: Queryable, pipeline: Pipeline): Promise<RateScope[]> {
  let def;
  try {
    def = targetDefinition(pipeline.targetType);
  } catch {
    return [];
  }
  if (!def.rateScopes) return [];
  const connection = def.oauth ? await readConnection(db, pipeline.id) : null;
  return def.rateScopes({ type: pipeline.targetType, ...pipeline.targetConfig }, connection?.tenant_id ?? null);
}
