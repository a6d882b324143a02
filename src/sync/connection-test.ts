import type { Logger } from 'pino';
import { ZodError } from 'zod';
import type { Queryable } from '../db/database.ts';
import { isDomainError } from '../domain/errors.ts';
import { ConnectorError } from './connector.ts';
import { createTarget, sourceDeps } from './engine/run.ts';
import { isOutboundRefused } from './http.ts';
import type { Pipeline } from './pipelines.ts';
import { createSource } from './registry.ts';
import type { SecretBox } from './secrets.ts';
import type { TargetConnector } from './target.ts';

/*
 * "Test connection": the cheapest authenticated read each side of a pipeline offers (the
 * connectors' `checkConnection`), made exactly as a run makes its calls (the same settings, token
 * source, outbound policy and rate planner). A failure is a value naming a stable code and what to
 * do next; its message is the connector's, which never holds a credential.
 */

/** Why a side's test failed, as a stable code. */
export type ConnectionTestCode =
  /** The platform refused the credentials or the grant (401, 403, a revoked connection). */
  | 'CONNECTION_AUTH_FAILED'
  /** The system did not answer, or answered with a passing failure (5xx, 429, a timeout). */
  | 'CONNECTION_UNAVAILABLE'
  /** The system answered with a refusal that asking again will not change. */
  | 'CONNECTION_REFUSED'
  /** The address is not one this server may call (docs/security.md, outbound policy). */
  | 'OUTBOUND_REFUSED'
  /** The settings are incomplete or not valid for the connector (a company id missing). */
  | 'CONNECTION_SETTINGS_INVALID'
  /** A secret was stored with another encryption key: enter it again. */
  | 'SECRET_UNREADABLE';

export interface SideTest {
  side: 'source' | 'target';
  type: string;
  /** `skipped`: the connector has nothing to call (files, webhooks pushed to ledgerlink). */
  outcome: 'ok' | 'failed' | 'skipped';
  /** What was reached, why it failed, or why nothing was called. */
  message: string;
  code: ConnectionTestCode | null;
  /** The connector's own reason code, when it gave one (TARGET_AUTH_REVOKED, TARGET_SETTING_MISSING). */
  reason: string | null;
  /** What to do next, for a failure. */
  next: string | null;
  /** The remote status, when there was an answer. */
  status: number | null;
  durationMs: number;
}

export interface ConnectionTest {
  pipeline: string;
  /** True when no side failed. */
  ok: boolean;
  source: SideTest;
  target: SideTest;
}

const NEXT: Record<ConnectionTestCode, string> = {
  CONNECTION_AUTH_FAILED:
    'Check the credentials in the pipeline’s settings (an API key, a client id and secret), or connect the pipeline again where it connects through OAuth.',
  CONNECTION_UNAVAILABLE: 'The system did not answer properly; try again in a few minutes, and check its status page.',
  CONNECTION_REFUSED: 'The system refused the request: check the addresses and ids in the pipeline’s settings.',
  OUTBOUND_REFUSED:
    'This server may not call that address: use an https address the outbound policy allows (LEDGERLINK_OUTBOUND_ALLOW, docs/security.md).',
  CONNECTION_SETTINGS_INVALID:
    'Complete or correct the pipeline’s settings (PUT /v1/pipelines/{name}), then test again.',
  SECRET_UNREADABLE:
    'A secret was stored with another encryption key: enter it again in the pipeline’s settings, or start the server with the key it was stored with.',
};

function failure(err: unknown, log: Logger): Pick<SideTest, 'code' | 'reason' | 'message' | 'status'> {
  if (err instanceof ConnectorError) {
    const auth = err.code === 'TARGET_AUTH_REVOKED' || err.status === 401 || err.status === 403;
    // Connectors keep a refused address's cause as redacted text only: "… not sent: <the policy's reason>".
    const code: ConnectionTestCode = / not sent: /.test(err.message)
      ? 'OUTBOUND_REFUSED'
      : auth
        ? 'CONNECTION_AUTH_FAILED'
        : err.code === 'TARGET_SETTING_MISSING'
          ? 'CONNECTION_SETTINGS_INVALID'
          : err.retryable
            ? 'CONNECTION_UNAVAILABLE'
            : 'CONNECTION_REFUSED';
    return { code, reason: err.code, message: err.message, status: err.status };
  }
  if (isOutboundRefused(err)) return { code: 'OUTBOUND_REFUSED', reason: null, message: err.message, status: null };
  if (isDomainError(err)) {
    const code: ConnectionTestCode =
      err.code === 'SECRET_UNREADABLE' ? 'SECRET_UNREADABLE' : 'CONNECTION_SETTINGS_INVALID';
    return { code, reason: err.code, message: err.message, status: null };
  }
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    const where = issue?.path.join('.') ?? '';
    return {
      code: 'CONNECTION_SETTINGS_INVALID',
      reason: null,
      message: `the settings are not valid${where ? ` at ${where}` : ''}: ${issue?.message ?? 'invalid'}`,
      status: null,
    };
  }
  // Anything else may carry what we cannot vouch for (a URL with a key in it): logged, not shown.
  log.warn({ err }, 'connection test failed unexpectedly');
  return {
    code: 'CONNECTION_UNAVAILABLE',
    reason: null,
    message: 'the test failed unexpectedly; the server log has the details',
    status: null,
  };
}

async function side(
  which: 'source' | 'target',
  type: string,
  log: Logger,
  check: () => Promise<string | null>,
): Promise<SideTest> {
  const started = Date.now();
  const base = { side: which, type, reason: null, status: null };
  try {
    const reached = await check();
    const durationMs = Date.now() - started;
    if (reached === null)
      return {
        ...base,
        outcome: 'skipped',
        message:
          which === 'source'
            ? `Nothing to call: a ${type} source receives what is sent to ledgerlink.`
            : `Nothing to call: the ${type} target has no read to test without sending a document.`,
        code: null,
        next: null,
        durationMs,
      };
    return { ...base, outcome: 'ok', message: `Connected: reached ${reached}.`, code: null, next: null, durationMs };
  } catch (err) {
    const f = failure(err, log);
    return { ...base, ...f, outcome: 'failed', next: f.code ? NEXT[f.code] : null, durationMs: Date.now() - started };
  }
}

/**
 * Tests both sides of a pipeline: the target first (a source's checks may look things up in it),
 * then the source. Never throws for what a connector answers; `db` must not be in a transaction
 * (remote targets pace their calls on it).
 */
export async function testConnection(
  deps: { db: Queryable; box: SecretBox; log: Logger },
  pipeline: Pipeline,
  signal?: AbortSignal,
): Promise<ConnectionTest> {
  const log = deps.log.child({ pipeline: pipeline.name, test: 'connection' });
  let target: TargetConnector | null = null;
  const targetTest = await side('target', pipeline.targetType, log, async () => {
    target = await createTarget(deps, pipeline);
    if (!target.checkConnection) return null;
    return target.checkConnection({ db: deps.db, log, actor: `pipeline:${pipeline.name}`, signal });
  });
  const sourceTest = await side('source', pipeline.sourceType, log, async () => {
    // Without a target (it failed to open), lookups in it answer nothing: a check never needs them.
    const lookups: TargetConnector = target ?? {
      type: pipeline.targetType,
      transactional: false,
      capabilities: {} as TargetConnector['capabilities'],
      limits: { concurrency: 1, batchSize: 1 },
      upsertCustomers: () => Promise.resolve([]),
      createInvoices: () => Promise.resolve([]),
      findByReference: () => Promise.resolve(null),
    };
    const source = createSource(pipeline, sourceDeps(deps, pipeline, lookups, {}, null));
    if (!source.checkConnection) return null;
    return source.checkConnection({ log, ...(signal ? { signal } : {}) });
  });
  return {
    pipeline: pipeline.name,
    ok: targetTest.outcome !== 'failed' && sourceTest.outcome !== 'failed',
    source: sourceTest,
    target: targetTest,
  };
}
