import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { YAMLParseError, parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Database, Queryable } from '../db/database.ts';
import { Code, Currency, Rate, showsText } from '../domain/schemas.ts';
import { createEntity, findEntityByCode } from '../ledger/entities.ts';
import { isNoChange, recordAudit } from '../ledger/audit.ts';
import { DomainError, type ErrorCode } from '../domain/errors.ts';
import { PipelineDefinition, pipelineAuditChange, pipelineTypeProblems, savePipeline } from './pipelines.ts';
import { mappingProblems } from './pipeline-checks.ts';
import type { SecretBox } from './secrets.ts';
import { type ConfigPlan, planConfig } from './config-plan.ts';

export const ConfigEntity = z.strictObject({
  code: Code,
  // As the API's names (src/api/routes/setup-shared.ts): one of blanks or invisible characters alone shows nothing.
  name: z
    .string()
    .min(1, 'must not be empty')
    .max(200)
    .refine((v) => v === '' || showsText(v), { message: 'must not be empty' }),
  baseCurrency: Currency,
  standardTaxRate: Rate.optional(),
  vatNumber: z.string().max(50).optional(),
  address: z
    .strictObject({
      street: z.string().optional(),
      city: z.string().optional(),
      postalCode: z.string().optional(),
      country: z.string().optional(),
    })
    .optional(),
});

/**
 * Sign-in through an OpenID Connect provider (docs/security.md "Sign-in with OIDC"). The client
 * secret is written as `${VARIABLE}`, like every secret in the file.
 */
export const OidcConfig = z.strictObject({
  issuer: z
    .string()
    .url()
    .refine((v) => /^https?:\/\//.test(v) && !/[?#]/.test(v), 'an http(s) URL without query or fragment')
    .transform((v) => v.replace(/\/+$/, '')),
  clientId: z.string().min(1).max(500),
  clientSecret: z.string().min(1).max(2000).optional(),
  redirectPath: z
    .string()
    .regex(/^\/[A-Za-z0-9/_-]{1,200}$/, 'a path of this server, e.g. /sign-in/oidc/callback')
    .refine(
      (p) =>
        !p.startsWith('/v1/') &&
        !p.startsWith('/assets/') &&
        !['/sign-in', '/sign-in/oidc', '/sign-in/set-password'].includes(p.replace(/\/+$/, '')),
      'a path of its own: not under /v1/ or /assets/, nor a sign-in page',
    )
    .default('/sign-in/oidc/callback'),
  label: z.string().trim().min(1).max(60).default('single sign-on'),
});
export type OidcConfig = z.output<typeof OidcConfig>;

export const ConfigFile = z.strictObject({
  entities: z.array(ConfigEntity).default([]),
  pipelines: z.array(PipelineDefinition).default([]),
  auth: z.strictObject({ oidc: OidcConfig.optional() }).optional(),
});
export type ConfigFile = z.output<typeof ConfigFile>;

/** One thing wrong with a configuration: where (`pipelines[1].schedule`), what, and the API's code for it. */
export interface ConfigProblem {
  field: string;
  message: string;
  code: ErrorCode;
}

/** A configuration refused: every problem, each on its own line with its path. */
export class ConfigError extends DomainError {
  constructor(readonly problems: ConfigProblem[]) {
    super(
      problems[0]?.code ?? 'VALIDATION_ERROR',
      `Invalid configuration:\n  ${problems.map((p) => `${p.field}: ${p.message}`).join('\n  ')}`,
      problems.map(({ field, message }) => ({ field, message })),
    );
    this.name = 'ConfigError';
  }
}

/** `['pipelines', 1, 'schedule']` → `pipelines[1].schedule`. */
export function configPath(path: readonly PropertyKey[]): string {
  return (
    path.reduce<string>(
      (out, p) => (typeof p === 'number' ? `${out}[${p}]` : out ? `${out}.${String(p)}` : String(p)),
      '',
    ) || '(root)'
  );
}

/** Replaces `${NAME}` with the environment variable; a missing variable is an error, not an empty secret. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  const missing = missingEnv(text, env);
  if (missing.length) throw new ConfigError(missing);
  return text.replace(/\$\{([A-Z0-9_]+)\}/g, (_, name: string) => env[name]!);
}

function missingEnv(text: string, env: NodeJS.ProcessEnv): ConfigProblem[] {
  const names = [...new Set([...text.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]!))];
  return names
    .filter((n) => env[n] === undefined)
    .map((n) => ({
      field: `\${${n}}`,
      message: `the configuration uses \${${n}} but the environment variable ${n} is not set`,
      code: 'VALIDATION_ERROR' as const,
    }));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a configuration file's text without a database: YAML, `${VAR}`s, the same schema as the
 * API's (`PipelineDefinition`: cron schedules, modes, mapping shape), the source and target types
 * and target settings (the API's `checkPipelineTypes`), and names used twice. Returns every problem
 * found, not the first.
 */
export function checkConfigText(
  text: string,
  env: NodeJS.ProcessEnv = process.env,
): { config: ConfigFile | null; problems: ConfigProblem[] } {
  const problems = missingEnv(text, env);
  if (problems.length) return { config: null, problems };
  let raw: unknown;
  try {
    raw = parseYaml(substituteEnv(text, env)) ?? {};
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? `line ${err.linePos[0].line}` : '(root)';
    return {
      config: null,
      problems: [{ field: where, message: err instanceof Error ? err.message : String(err), code: 'VALIDATION_ERROR' }],
    };
  }
  const r = ConfigFile.safeParse(raw);
  if (!r.success)
    for (const i of r.error.issues)
      problems.push({ field: configPath(i.path), message: i.message, code: 'VALIDATION_ERROR' });
  // Types are checked on what was written, so a pipeline with a schema problem still has its type named.
  const pipelines = isRecord(raw) && Array.isArray(raw.pipelines) ? (raw.pipelines as unknown[]) : [];
  const names = new Map<string, number>();
  pipelines.forEach((p, i) => {
    if (!isRecord(p)) return;
    const at = `pipelines[${i}]`;
    const source = isRecord(p.source) && typeof p.source.type === 'string' ? p.source : null;
    const target = p.target === undefined ? { type: 'ledger' } : isRecord(p.target) ? p.target : null;
    if (source && target && typeof target.type === 'string') {
      for (const e of pipelineTypeProblems(
        {
          source: { ...source, type: source.type as string },
          target: { ...target, type: target.type },
          mapping: p.mapping,
        },
        at,
      ))
        for (const d of e.details as { field: string; message: string }[])
          problems.push({
            field: d.field,
            message:
              e.code === 'PIPELINE_TARGET_SETTINGS_INVALID'
                ? `setting of target "${String(target.type)}": ${d.message}`
                : e.code === 'PIPELINE_SOURCE_SETTINGS_INVALID'
                  ? `setting of source "${String(source.type)}": ${d.message}`
                  : e.code === 'PIPELINE_UNKNOWN_SOURCE_TYPE' || e.code === 'PIPELINE_UNKNOWN_TARGET_TYPE'
                    ? e.message
                    : d.message,
            code: e.code,
          });
    }
    if (typeof p.name === 'string') {
      // Names are unique per entity (two entities may each have a pipeline "stripe").
      const key = `${String(p.entity)}\u0000${p.name}`;
      const seen = names.get(key);
      if (seen !== undefined)
        problems.push({
          field: `${at}.name`,
          message: `${p.name} is also the name of pipelines[${seen}] of entity ${String(p.entity)}: pipeline names are unique per entity`,
          code: 'VALIDATION_ERROR',
        });
      else names.set(key, i);
    }
  });
  // One line per field: a target's settings error names each field with the same message.
  const unique = problems
    .sort((a, b) => a.field.localeCompare(b.field, 'en', { numeric: true }))
    .filter((p, i) => problems.findIndex((q) => q.field === p.field && q.message === p.message) === i);
  return { config: unique.length === 0 && r.success ? r.data : null, problems: unique };
}

/** Parses a configuration file's text, refusing it with every problem (ConfigError). */
export function parseConfig(text: string, env: NodeJS.ProcessEnv = process.env): ConfigFile {
  const { config, problems } = checkConfigText(text, env);
  if (!config) throw new ConfigError(problems);
  return config;
}

/** The config file in use: the one named, LEDGERLINK_CONFIG, or ./ledgerlink.yaml when it exists. */
export function configFileName(path: string | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
  return path ?? env.LEDGERLINK_CONFIG ?? (existsSync('./ledgerlink.yaml') ? './ledgerlink.yaml' : null);
}

/** Reads and parses the config file in use (`configFileName`); null when there is none. */
export async function loadConfigFile(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ path: string; config: ConfigFile } | null> {
  const file = configFileName(path, env);
  if (!file) return null;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    // Said as `config validate` says it, with where the name came from: a start never goes on without the file it was given.
    const named = path !== undefined ? '--config' : env.LEDGERLINK_CONFIG !== undefined ? 'LEDGERLINK_CONFIG' : null;
    throw new Error(
      `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}` +
        (named
          ? `. Name a file that exists with ${named}, or ${named === '--config' ? 'leave --config out' : 'unset LEDGERLINK_CONFIG'} ` +
            '(./ledgerlink.yaml is then read when there is one)'
          : ''),
      { cause: err },
    );
  }
  return { path: file, config: parseConfig(text, env) };
}

/**
 * What only the database can tell: each pipeline's entity exists (or is among the file's
 * entities, created first) and its mapping names what the entity's ledger has. Run after the file's entities were created (in the transaction that
 * applies, or in one rolled back to validate).
 */
export async function configDatabaseProblems(db: Queryable, config: ConfigFile): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  for (const [i, p] of config.pipelines.entries()) {
    const at = `pipelines[${i}]`;
    const entity = await findEntityByCode(db, p.entity);
    if (!entity) {
      problems.push({
        field: `${at}.entity`,
        message: `no entity ${p.entity}: it is neither in the database nor in this file's entities`,
        code: 'ENTITY_DOES_NOT_EXIST',
      });
      continue;
    }
    for (const m of await mappingProblems(db, entity, p, at))
      problems.push({ ...m, code: 'PIPELINE_MAPPING_TARGET_UNKNOWN' });
  }
  return problems;
}

/** Thrown to roll back a check's transaction; never leaves this module. */
class Rollback extends Error {}

/** `configDatabaseProblems` with the file's entities created in a transaction that is rolled back: nothing is written. */
export async function checkConfigInDatabase(db: Queryable, config: ConfigFile): Promise<ConfigProblem[]> {
  let problems: ConfigProblem[] = [];
  try {
    await db.transaction(async (tx) => {
      for (const e of config.entities) if (!(await findEntityByCode(tx, e.code))) await createEntity(tx, e);
      problems = await configDatabaseProblems(tx, config);
      throw new Rollback();
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }
  return problems;
}

/**
 * Creates the entities the config names when missing and saves its pipelines, in one transaction,
 * after the database checks (`configDatabaseProblems`): a problem refuses the whole file, listing
 * every problem, and nothing is written. With `dryRun` only the plan is made.
 */
export async function applyConfig(
  db: Database,
  box: SecretBox,
  config: ConfigFile,
  opts: { dryRun?: boolean } = {},
): Promise<{ entitiesCreated: string[]; pipelines: string[]; plan: ConfigPlan }> {
  return db.transaction(async (tx) => {
    const plan = await planConfig(tx, box, config);
    if (opts.dryRun) {
      const problems = await checkConfigInDatabase(tx, config);
      if (problems.length) throw new ConfigError(problems);
      return { entitiesCreated: [], pipelines: [], plan };
    }
    const entitiesCreated: string[] = [];
    for (const e of config.entities) {
      if (await findEntityByCode(tx, e.code)) continue;
      const { entity } = await createEntity(tx, e);
      await recordAudit(tx, {
        entityId: entity.id,
        actor: 'config',
        action: 'entity.created',
        objectType: 'entity',
        objectId: e.code,
        after: e,
      });
      entitiesCreated.push(e.code);
    }
    const problems = await configDatabaseProblems(tx, config);
    if (problems.length) throw new ConfigError(problems);
    const names: string[] = [];
    for (const [i, p] of config.pipelines.entries()) {
      const entity = (await findEntityByCode(tx, p.entity))!;
      const { pipeline, created, before } = await savePipeline(tx, box, entity.id, p, 'config', {
        at: `pipelines[${i}]`,
        internalSources: false,
      });
      // Applied at every start: only a pipeline the file creates or changes is in the audit trail.
      const change = pipelineAuditChange(before, pipeline);
      if (!isNoChange(change))
        await recordAudit(tx, {
          entityId: entity.id,
          actor: 'config',
          action: created ? 'pipeline.created' : 'pipeline.updated',
          objectType: 'pipeline',
          objectId: p.name,
          ...change,
        });
      names.push(p.name);
    }
    return { entitiesCreated, pipelines: names, plan };
  });
}
