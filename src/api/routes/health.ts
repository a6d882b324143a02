import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { DomainError } from '../../domain/errors.ts';
import { latestMigrationId } from '../../db/migrate.ts';
import { secretsEqual } from '../../ledger/secrets.ts';

export const getHealth = defineRoute({
  method: 'GET',
  path: '/health',
  operationId: 'getHealth',
  summary: 'Liveness and database check',
  tags: ['system'],
  auth: 'none',
  success: {
    status: 200,
    description: 'The server and its database answer.',
    schema: z.object({ status: z.literal('ok'), database: z.string(), time: z.string() }),
  },
  errors: ['SERVICE_UNAVAILABLE'],
  handler: async ({ db, services, log }) => {
    try {
      await db.query('SELECT 1');
    } catch (err) {
      // Whatever the database answered (a refused connection, too many clients, a database that
      // does not accept connections): the check failed, 503 as declared, never a 500 "something
      // failed". The cause goes to the log only: /health answers anyone.
      log.warn({ err }, 'health: the database does not answer');
      throw new DomainError('SERVICE_UNAVAILABLE');
    }
    return { status: 'ok', database: services.db.kind, time: new Date().toISOString() };
  },
});

const check = z.enum(['ok', 'failed', 'absent']);

export const getReady = defineRoute({
  method: 'GET',
  path: '/ready',
  operationId: 'getReady',
  summary: 'Readiness: database, migrations and queue',
  description:
    'For a load balancer or orchestrator: 200 only when the database answers, its migrations are those this ' +
    'version ships, and (when this process runs the job queue, as `serve` does with or without `--no-worker`) ' +
    'the queue is started. Otherwise 503 NOT_READY, `details.failed` naming the checks that failed. ' +
    '`GET /health` stays the liveness check (docs/deploy.md).',
  tags: ['system'],
  auth: 'none',
  success: {
    status: 200,
    description: 'Ready for traffic.',
    schema: z.object({
      status: z.literal('ready'),
      checks: z.object({ database: check, migrations: check, queue: check }),
    }),
  },
  errors: ['NOT_READY'],
  handler: async ({ db, services, log }) => {
    const checks = { database: 'ok', migrations: 'ok', queue: 'ok' } as Record<string, z.infer<typeof check>>;
    const problems: string[] = [];
    try {
      const { rows } = await db.query<{ id: number | null }>('SELECT max(id) AS id FROM ledgerlink_migrations');
      const applied = Number(rows[0]?.id ?? 0);
      const shipped = await latestMigrationId();
      if (applied !== shipped) {
        checks.migrations = 'failed';
        problems.push(`the database is at migration ${applied}, this version ships ${shipped}`);
      }
    } catch (err) {
      log.warn({ err }, 'readiness: the database does not answer');
      checks.database = 'failed';
      checks.migrations = 'failed';
      problems.push('the database does not answer');
    }
    const queue = services.queueState;
    if (queue === 'none') checks.queue = 'absent';
    if (queue === 'stopped') {
      checks.queue = 'failed';
      problems.push('the job queue is stopped');
    }
    const failed = Object.keys(checks).filter((k) => checks[k] === 'failed');
    if (failed.length) throw new DomainError('NOT_READY', `Not ready: ${problems.join('; ')}.`, { failed, checks });
    return { status: 'ready', checks };
  },
});

export const getMetrics = defineRoute({
  method: 'GET',
  path: '/metrics',
  operationId: 'getMetrics',
  summary: 'Prometheus metrics',
  description:
    'The Prometheus text format: process metrics, HTTP latency by route template, and from the database at ' +
    'scrape time runs by status, documents posted, open exceptions, outbox depth and age, documents held, and rate-planner ' +
    'waits. Off unless LEDGERLINK_METRICS_TOKEN is set (404 METRICS_DISABLED); then it needs ' +
    '`Authorization: Bearer <that token>` (docs/deploy.md, "Metrics").',
  tags: ['system'],
  auth: 'none',
  success: { status: 200, description: 'Metrics in the Prometheus text format.', contentType: 'text/plain' },
  errors: ['METRICS_DISABLED', 'UNAUTHORIZED'],
  handler: async ({ db, services, request, reply, log }) => {
    const token = services.config.metricsToken;
    if (!token) throw new DomainError('METRICS_DISABLED');
    const given = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1]?.trim();
    if (!given || !secretsEqual(given, token))
      throw new DomainError('UNAUTHORIZED', 'GET /metrics needs Authorization: Bearer <LEDGERLINK_METRICS_TOKEN>.');
    const text = await services.metrics.scrape(db, log);
    reply.header('content-type', services.metrics.registry.contentType);
    return Buffer.from(text, 'utf8');
  },
});
