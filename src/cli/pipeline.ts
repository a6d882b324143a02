import type { Command } from 'commander';
import type { Queryable } from '../db/database.ts';
import { PipelineName } from '../api/routes/pipelines.ts';
import {
  type Pipeline,
  auditAs,
  deletePipeline,
  listPipelines,
  publicPipeline,
  requirePipeline,
  setPipelineEnabled,
} from '../sync/pipelines.ts';
import { listRuns, type Run } from '../sync/runs.ts';
import { startConsent } from '../sync/remote/oauth-connect.ts';
import { appConfigFromEnv } from '../api/services.ts';
import type { SecretBox } from '../sync/secrets.ts';
import { CliError, parseWithSchema, requireEntity, requireExistingData, runCommand } from './common.ts';
import { commandLogger, openRuntime, type Runtime } from './runtime.ts';
import { table } from './table.ts';

/** The entity named by --entity, refused when there is none of that code. */
export async function entityOption(db: Queryable, code: string | undefined): Promise<string | undefined> {
  if (code === undefined) return undefined;
  return (await requireEntity(db, code)).id;
}

/**
 * The pipeline a command names: its name is checked as the API checks it; without --entity a name
 * that more than one entity uses is refused rather than one of them picked.
 */
export async function namedPipeline(
  db: Queryable,
  box: SecretBox,
  name: string,
  entity: string | undefined,
): Promise<{ pipeline: Pipeline; entityId: string | undefined }> {
  parseWithSchema(PipelineName, { name }, { name: 'NAME' });
  const entityId = await entityOption(db, entity);
  if (entityId === undefined) {
    const owners = [...new Set((await listPipelines(db, box)).filter((p) => p.name === name).map((p) => p.entityCode))];
    if (owners.length > 1)
      throw new CliError(
        'PIPELINE_NAME_AMBIGUOUS',
        `pipeline ${name} exists in entities ${owners.join(', ')}: say which with --entity CODE`,
      );
  }
  return { pipeline: await requirePipeline(db, box, name, entityId, 'NAME'), entityId };
}

async function lastRun(db: Queryable, p: Pipeline): Promise<Run | null> {
  const { items } = await listRuns(db, { entityId: p.entityId, pipeline: p.name, limit: 1, offset: 0 });
  return items[0] ?? null;
}

function describeRun(r: Run | null): string {
  if (!r) return 'never';
  const c = r.counts;
  return `${r.status} ${r.finishedAt ?? r.startedAt ?? r.createdAt} (${r.trigger}; created ${c.created}, updated ${c.updated}, parked ${c.parked})`;
}

/** The settings as the API shows them (secrets read `[secret]`), one `key: value` per line. */
export function formatPipeline(p: Pipeline, last: Run | null): string {
  const v = publicPipeline(p);
  const json = (x: unknown) => JSON.stringify(x);
  return [
    `pipeline ${v.name} (entity ${v.entity}, ${v.enabled ? 'enabled' : 'disabled'}, managed by ${v.managedBy})`,
    `  source    ${json(v.source)}`,
    `  target    ${json(v.target)}`,
    `  schedule  ${v.schedule ?? 'none (runs when triggered)'}`,
    `  mode      ${v.mode}`,
    `  options   ${json(v.options)}`,
    `  mapping   ${json(v.mapping)}`,
    `  webhook secret ${v.hasWebhookSecret ? 'set' : 'none'}`,
    `  last run  ${describeRun(last)}`,
  ].join('\n');
}

async function withRuntime<T>(work: (rt: Runtime) => Promise<T>): Promise<T> {
  requireExistingData();
  const rt = await openRuntime({ queue: false, log: commandLogger() });
  try {
    return await work(rt);
  } finally {
    await rt.close();
  }
}

interface Opts {
  entity?: string;
  json?: boolean;
}

export function registerPipeline(program: Command): void {
  const pipeline = program.command('pipeline').description('Pipelines: list, show, enable, disable, connect, delete');
  const entityFlag = [
    '--entity <code>',
    'the entity (needed when several entities have a pipeline of that name)',
  ] as const;

  pipeline
    .command('list')
    .description('List pipelines: name, entity, source, target, schedule, enabled, last run')
    .option('--entity <code>', 'only this entity')
    .option('--json', 'print JSON (secrets redacted)')
    .action((opts: Opts) =>
      runCommand(opts.json, () =>
        withRuntime(async ({ db, box }) => {
          const items = await listPipelines(db, box, await entityOption(db, opts.entity));
          const runs = await Promise.all(items.map((p) => lastRun(db, p)));
          if (opts.json) {
            console.log(
              JSON.stringify({
                items: items.map((p, i) => ({ ...publicPipeline(p), lastRun: runs[i] ?? null })),
              }),
            );
          } else if (items.length === 0) console.log('no pipelines');
          else
            console.log(
              table([
                ['name', 'entity', 'source', 'target', 'schedule', 'enabled', 'last run'],
                ...items.map((p, i) => [
                  p.name,
                  p.entityCode,
                  p.sourceType,
                  p.targetType,
                  p.schedule ?? '-',
                  p.enabled ? 'yes' : 'no',
                  runs[i] ? `${runs[i].status} ${runs[i].finishedAt ?? runs[i].createdAt}` : 'never',
                ]),
              ]),
            );
        }),
      ),
    );

  pipeline
    .command('show <name>')
    .description('Show a pipeline: its settings (secrets redacted), schedule and last run')
    .option(...entityFlag)
    .option('--json', 'print JSON (secrets redacted)')
    .action((name: string, opts: Opts) =>
      runCommand(opts.json, () =>
        withRuntime(async ({ db, box }) => {
          const { pipeline: p } = await namedPipeline(db, box, name, opts.entity);
          const last = await lastRun(db, p);
          console.log(opts.json ? JSON.stringify({ ...publicPipeline(p), lastRun: last }) : formatPipeline(p, last));
        }),
      ),
    );

  for (const [verb, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    pipeline
      .command(`${verb} <name>`)
      .description(
        enabled
          ? 'Enable a pipeline: its schedule, webhooks and manual runs work again'
          : 'Disable a pipeline: no scheduled, webhook or manual runs until enabled; nothing is lost',
      )
      .option(...entityFlag)
      .option('--json', 'print the pipeline as JSON')
      .action((name: string, opts: Opts) =>
        runCommand(opts.json, () =>
          withRuntime(async ({ db, box }) => {
            const { entityId } = await namedPipeline(db, box, name, opts.entity);
            const p = await db.transaction((tx) =>
              setPipelineEnabled(tx, box, name, entityId, enabled, auditAs(tx, 'cli')),
            );
            console.log(opts.json ? JSON.stringify(publicPipeline(p)) : `pipeline ${p.name} ${verb}d`);
          }),
        ),
      );
  }

  pipeline
    .command('connect <name>')
    .description(
      "Connect a pipeline to its accounting platform (Xero, QuickBooks Online): prints the platform's consent page",
    )
    .option(...entityFlag)
    .option('--json', 'print {url, redirectUri, expiresAt} as JSON')
    .addHelpText(
      'after',
      '\nOpen the printed address in a browser within 10 minutes and grant access: the platform sends the browser back to\n' +
        'the running server (LEDGERLINK_PUBLIC_URL, default http://localhost:PORT), which stores the connection encrypted.\n' +
        'Register the printed redirect URL in the platform app first. The same as GET /v1/connections/{pipeline}/oauth/start.\n' +
        'See docs/connectors/oauth.md.',
    )
    .action((name: string, opts: Opts) =>
      runCommand(opts.json, () =>
        withRuntime(async ({ db, box }) => {
          const { pipeline: p } = await namedPipeline(db, box, name, opts.entity);
          const config = appConfigFromEnv();
          const started = await startConsent(db, box, {
            pipeline: p,
            publicUrl: config.publicUrl ?? `http://localhost:${config.port}`,
            actor: 'cli',
          });
          const expiresAt = started.expiresAt.toISOString();
          console.log(
            opts.json
              ? JSON.stringify({ url: started.url, redirectUri: started.redirectUri, expiresAt })
              : [
                  `Open this address in a browser and grant access (valid until ${expiresAt}):`,
                  '',
                  `  ${started.url}`,
                  '',
                  `The platform sends the browser back to ${started.redirectUri}: the server must be running there,`,
                  'and that redirect URL must be registered in the platform app.',
                ].join('\n'),
          );
        }),
      ),
    );

  pipeline
    .command('delete <name>')
    .description('Delete a pipeline; its runs, exceptions and audit trail are kept and the name can be reused')
    .option(...entityFlag)
    .option('--json', 'print the deleted pipeline as JSON')
    .addHelpText(
      'after',
      '\nThe same as DELETE /v1/pipelines/{name}: refused (PIPELINE_RUN_IN_PROGRESS) while one of its runs is queued or running.\n' +
        'A pipeline from ledgerlink.yaml comes back at the next start unless it is removed from the file.',
    )
    .action((name: string, opts: Opts) =>
      runCommand(opts.json, () =>
        withRuntime(async ({ db, box }) => {
          const { entityId } = await namedPipeline(db, box, name, opts.entity);
          const p = await db.transaction((tx) => deletePipeline(tx, box, name, entityId, auditAs(tx, 'cli'), 'NAME'));
          console.log(
            opts.json
              ? JSON.stringify(publicPipeline(p))
              : `pipeline ${p.name} deleted (entity ${p.entityCode}); its runs stay listed: ledgerlink runs list --pipeline ${p.name}`,
          );
        }),
      ),
    );
}
