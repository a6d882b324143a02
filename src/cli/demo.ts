import { createEntity, findEntityByCode, issueKeys, revokeKey } from '../ledger/entities.ts';
import { recordAudit } from '../ledger/audit.ts';
import {
  type Pipeline,
  PipelineDefinition,
  auditAs,
  findPipeline,
  listPipelines,
  savePipeline,
  setPipelineEnabled,
} from '../sync/pipelines.ts';
import { formatAmount } from '../domain/money.ts';
import { allowOutboundHost } from '../sync/http.ts';
import type { SourceItem } from '../sync/connector.ts';
import type { Runtime } from './runtime.ts';
import type { Queryable } from '../db/database.ts';
import type { DatabaseConfig } from '../db/open.ts';

interface Simulator {
  url: string;
  apiKey: string;
  close(): Promise<void>;
}

type SimulatorModule = { startIxpoleSimulator: (o: Record<string, unknown>) => Promise<Simulator> };

/** The shell command that logs in with a key pair, quoted so that it can be pasted as it is. */
export function loginCommand(port: number, k: { entityId: string; partnerKey: string; userKey: string }): string {
  const body = JSON.stringify({ entityId: k.entityId, partnerKey: k.partnerKey, userKey: k.userKey });
  // Keys are base64url and ids UUIDs: no single quote can occur, so single quotes keep the JSON as it is.
  return `curl -s localhost:${port}/v1/auth/login -H 'Content-Type: application/json' -d '${body}'`;
}

/** Whether the demo should start: no configuration file and no pipelines but the demo's own. */
export function demoWanted(configPath: string | null, pipelines: { entityCode: string }[]): boolean {
  return configPath === null && pipelines.every((p) => p.entityCode === DEMO_ENTITY);
}

const DEMO_ENTITY = 'DEMO';
const DEMO_PIPELINE = 'demo';
/** The label of the key pairs later demo starts issue (the first is the entity's own, `initial`). */
const DEMO_KEY_LABEL = 'demo start';

/**
 * Whether a pipeline is the one the demo made: `demo` of entity DEMO, saved through the API (not a
 * ledgerlink.yaml), reading an iXpole system over http on loopback (the sample system's address,
 * which users' pipelines may not name unless the operator allows private networks).
 */
export function isDemoPipeline(
  p: Pick<Pipeline, 'name' | 'entityCode' | 'managedBy' | 'sourceType' | 'sourceConfig'>,
): boolean {
  return (
    p.name === DEMO_PIPELINE &&
    p.entityCode === DEMO_ENTITY &&
    p.managedBy === 'api' &&
    p.sourceType === 'ixpole' &&
    typeof p.sourceConfig.baseUrl === 'string' &&
    /^http:\/\/127\.0\.0\.1:\d{1,5}\/$/.test(p.sourceConfig.baseUrl)
  );
}

/** What a process is told about the demo pipeline's sample system when it does not run here. */
export const DEMO_ELSEWHERE =
  'reads the built-in sample iXpole system, which runs only inside `ledgerlink serve` (npm start) without a ledgerlink.yaml';

/**
 * A `serve` that does not start the demo (a configuration is given, --no-demo, or other entities
 * have pipelines) pauses the demo pipeline left by earlier starts, if there is one: its sample
 * system is not running, and every scheduled run would fail against it. Paused is `enabled:
 * false` (audited, actor `demo`), which the next demo start undoes; said once, in the log, with
 * what to do.
 */
export async function pauseDemoPipeline(rt: Runtime, why: string): Promise<void> {
  const demo = (await listPipelines(rt.db, rt.box)).find((p) => isDemoPipeline(p));
  if (!demo) return;
  const paused = demo.enabled
    ? await rt.db.transaction((tx) =>
        setPipelineEnabled(tx, rt.box, demo.name, demo.entityId, false, auditAs(tx, 'demo')),
      )
    : demo;
  const level = demo.enabled ? 'warn' : 'info';
  rt.log[level](
    { pipeline: paused.name, entity: paused.entityCode, enabled: paused.enabled },
    `The demo pipeline "${DEMO_PIPELINE}" (entity ${DEMO_ENTITY}) is ${demo.enabled ? 'now' : 'still'} paused (disabled), ` +
      `since this start has no demo (${why}): it ${DEMO_ELSEWHERE}. Its runs, customers and invoices are kept. ` +
      `To remove it: \`ledgerlink pipeline delete ${DEMO_PIPELINE} --entity ${DEMO_ENTITY}\` (on PGlite with the server ` +
      `stopped); to see the demo again, start without a ledgerlink.yaml and without --no-demo, while entity DEMO's are ` +
      `the only pipelines: that start runs the sample system and enables the pipeline again.`,
  );
}

/**
 * Revokes the key pairs earlier demo starts printed (and ends their sessions), so that only the
 * pair this start prints logs in: keys from old logs stop working. Only the demo's own are taken:
 * those it issued (audited as `entity.keys-issued` by actor `demo`) and the entity's first pair when
 * the demo created the entity; pairs a person issued (`ledgerlink entity keys DEMO`) stay.
 */
async function revokeEarlierDemoKeys(tx: Queryable, entityId: string): Promise<number> {
  const { rows } = await tx.query<{ id: string }>(
    `SELECT c.id FROM api_credentials c
      WHERE c.entity_id = $1 AND c.revoked_at IS NULL
        AND (EXISTS (SELECT 1 FROM audit_log a
                      WHERE a.entity_id = c.entity_id AND a.actor = 'demo' AND a.action = 'entity.keys-issued'
                        AND a.object_type = 'credential' AND a.object_id = c.id::text)
             OR (c.label = 'initial'
                 AND EXISTS (SELECT 1 FROM audit_log a
                              WHERE a.entity_id = c.entity_id AND a.actor = 'demo' AND a.action = 'entity.created')))
      ORDER BY c.id`,
    [entityId],
  );
  for (const { id } of rows) {
    const revoked = await revokeKey(tx, entityId, id);
    await recordAudit(tx, {
      entityId,
      actor: 'demo',
      action: 'entity.key-revoked',
      objectType: 'credential',
      objectId: id,
      after: { revokedAt: revoked?.credential.revokedAt ?? null, sessionsEnded: revoked?.sessionsEnded ?? 0 },
    });
  }
  return rows.length;
}

/** Where the demo's data lives, for what its log tells people to do next. */
export type DemoStorage = 'folder' | 'memory' | 'postgres';

export function demoStorage(config: DatabaseConfig): DemoStorage {
  return config.databaseUrl ? 'postgres' : config.dataDir === 'memory' ? 'memory' : 'folder';
}

/** The last line of the demo's log: how to look at it and how to start again, as its storage allows. */
function nextSteps(storage: DemoStorage): string {
  const api =
    'Watch it: GET /v1/runs?pipeline=demo, GET /v1/customers, GET /v1/transactions, GET /v1/exceptions (bearer token)';
  const replace = 'Replace the demo with a ledgerlink.yaml (see README).';
  if (storage === 'memory')
    return (
      `${api}. LEDGERLINK_DATA_DIR=memory keeps nothing: the command line (ledgerlink runs list, reconcile) has no data to ` +
      `look at, so use the API or the dashboard while the server runs; stopping the server ends the demo and the next ` +
      `start begins from nothing. ${replace}`
    );
  if (storage === 'postgres')
    return (
      `${api}, or, from another terminal with the same DATABASE_URL and LEDGERLINK_ENCRYPTION_KEY, ` +
      '`npx ledgerlink runs list --pipeline demo`, `npx ledgerlink reconcile demo`. ' +
      `Start again from nothing: use an empty database (or LEDGERLINK_DB_SCHEMA of its own). ${replace}`
    );
  return (
    `${api}, or stop the server and run \`npx ledgerlink runs list --pipeline demo\`, \`npx ledgerlink reconcile demo\`. ` +
    `Start again from nothing: stop the server and delete the data folder (LEDGERLINK_DATA_DIR, default ./data). ${replace}`
  );
}

/**
 * The sample system keeps what was written back to it in memory only: on a later start, tell it
 * again which instalments the ledger invoiced (as write-back did the first time), so that it lists
 * only the open ones and accepts their payments.
 */
async function restoreSampleSystem(db: Queryable, pipelineId: string, sim: Simulator): Promise<void> {
  const { rows } = await db.query<{ source_id: string; target_number: string }>(
    `SELECT source_id, target_number FROM sync_map WHERE pipeline_id = $1 AND kind = 'invoice' AND target_number IS NOT NULL ORDER BY source_id`,
    [pipelineId],
  );
  for (let i = 0; i < rows.length; i += 500) {
    const res = await fetch(`${sim.url}api/instalments`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${sim.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(
        rows.slice(i, i + 500).map((r) => ({ InstalmentCode: r.source_id, InvoiceNumber: r.target_number })),
      ),
    });
    if (!res.ok)
      throw new Error(`The demo's sample system refused the restored invoices: ${res.status} ${await res.text()}`);
  }
}

/**
 * The first minute: with nothing configured, `ledgerlink serve` starts a small built-in
 * iXpole-compatible sales system, an entity DEMO and a pipeline `demo` from one to the other that
 * runs every minute (and once right away), and pays some of the invoices every 20 seconds, booked
 * through the same pipeline, so that `ledgerlink reconcile demo` sees them as the source's.
 *
 * Every start is like the first: the sample system gets a new port and the pipeline is pointed at
 * it (and enabled again, if a start without the demo paused it), and a fresh key pair is issued and
 * printed (only hashes of keys are stored, so earlier ones cannot be shown again); the pairs
 * earlier starts printed are revoked, so that keys copied from old logs stop working.
 */
export async function startDemo(
  rt: Runtime,
  port: number,
  storage: DemoStorage = 'folder',
): Promise<() => Promise<void>> {
  const { startIxpoleSimulator } = (await import('../connectors/ixpole/simulator.ts')) as SimulatorModule;
  const sim = await startIxpoleSimulator({ customers: 25, products: 6, instalments: 120, seed: 42 });
  // The simulator is plain http on loopback, which the outbound policy refuses to users' pipelines:
  // this process allows exactly its address to the demo pipeline alone (entity DEMO, pipeline
  // demo), and every other pipeline is still refused it (docs/security.md).
  const simUrl = new URL(sim.url);
  const disallow = allowOutboundHost(simUrl.hostname, Number(simUrl.port), {
    entity: DEMO_ENTITY,
    pipeline: DEMO_PIPELINE,
  });
  const { db, box, log } = rt;
  const { entity, keys, created, revoked } = await db.transaction(async (tx) => {
    const found = await findEntityByCode(tx, DEMO_ENTITY);
    if (found) {
      const earlier = await revokeEarlierDemoKeys(tx, found.id);
      const issued = await issueKeys(tx, found.id, DEMO_KEY_LABEL);
      await recordAudit(tx, {
        entityId: found.id,
        actor: 'demo',
        action: 'entity.keys-issued',
        objectType: 'credential',
        objectId: issued.credentialId,
      });
      return { entity: found, keys: issued, created: false, revoked: earlier };
    }
    const made = await createEntity(tx, {
      code: DEMO_ENTITY,
      name: 'Demo Sports Club',
      baseCurrency: 'EUR',
      standardTaxRate: '0.21',
    });
    await recordAudit(tx, {
      entityId: made.entity.id,
      actor: 'demo',
      action: 'entity.created',
      objectType: 'entity',
      objectId: DEMO_ENTITY,
    });
    return { entity: made.entity, keys: made.keys, created: true, revoked: 0 };
  });
  const demo = PipelineDefinition.parse({
    name: DEMO_PIPELINE,
    entity: DEMO_ENTITY,
    // The sample system's port is new at every start: saving the pipeline points it there.
    source: { type: 'ixpole', baseUrl: sim.url, apiKey: sim.apiKey },
    schedule: '* * * * *',
    options: { invoiceMode: 'final' },
  });
  await db.transaction(async (tx) => {
    await savePipeline(tx, box, entity.id, demo, 'api');
  });
  const pipeline = (await findPipeline(db, box, 'demo', entity.id))!;
  if (!created) await restoreSampleSystem(db, pipeline.id, sim);
  await rt.sync.trigger(pipeline, 'manual', 'demo');

  // Pay about a third of the open demo invoices now and then, as a bank feed would, through the
  // demo pipeline itself: the payments are the source's, so reconciling the pipeline agrees.
  let paid = 0;
  const pay = async () => {
    const { rows } = await db.query<{
      customer_source_id: string | null;
      external_reference: string;
      gross: string;
      currency: string;
    }>(
      `SELECT (SELECT cm.source_id FROM sync_map cm
                WHERE cm.pipeline_id = m.pipeline_id AND cm.kind = 'customer' AND cm.target_id = t.customer_code
                LIMIT 1) AS customer_source_id,
              t.external_reference, t.gross, t.currency
         FROM sync_map m JOIN transactions t ON t.id = m.target_id::bigint
        WHERE m.pipeline_id = $1 AND m.kind = 'invoice'
          AND NOT EXISTS (SELECT 1 FROM allocations a WHERE a.debit_transaction_id = t.id)
        ORDER BY t.id LIMIT 200`,
      [pipeline.id],
    );
    const chosen = rows.filter((r, i) => r.customer_source_id !== null && (i + paid) % 3 === 0).slice(0, 15);
    if (chosen.length === 0) return;
    paid += chosen.length;
    const items: SourceItem[] = chosen.map((r) => ({
      record: {
        kind: 'payment' as const,
        sourceId: `PAY-${r.external_reference}`,
        externalReference: `PAY-${r.external_reference}`.slice(0, 50),
        customerSourceId: r.customer_source_id!,
        date: new Date().toISOString().slice(0, 10),
        amount: formatAmount(BigInt(r.gross), r.currency.trim()),
        currency: r.currency.trim(),
        invoiceExternalReference: r.external_reference,
        description: 'Demo payment',
      },
    }));
    const p = (await findPipeline(db, box, 'demo', entity.id))!;
    await rt.sync.processRecords(p, 'import', 'demo-payments', items);
  };
  const timer = setInterval(() => {
    pay().catch((err: unknown) => log.warn({ err }, 'demo payments failed'));
  }, 20_000);
  timer.unref();

  log.info(
    `Demo${created ? '' : ' (again, with what earlier starts stored)'}: a sample iXpole sales system runs at ${sim.url}. ` +
      `Pipelines of entity DEMO: "demo" syncs its customers and invoices every minute (and now); ` +
      `every 20 s some invoices are paid, booked through "demo" too (runs of trigger import by demo-payments).`,
  );
  log.info(
    `Demo entity ${DEMO_ENTITY} keys (a new pair at every start, and the pairs earlier starts printed stop working` +
      `${revoked > 0 ? `: ${revoked} revoked now` : ''}; only hashes are stored): ` +
      `entityId ${keys.entityId} partnerKey ${keys.partnerKey} userKey ${keys.userKey}`,
  );
  // A message of its own that is the whole command, and the same in a field for JSON logs
  // (jq -r 'select(.loginCommand).loginCommand'), so that it can be pasted as it is either way.
  const command = loginCommand(port, keys);
  log.info({ loginCommand: command }, command);
  log.info(nextSteps(storage));
  return async () => {
    clearInterval(timer);
    await sim.close();
    disallow();
  };
}
