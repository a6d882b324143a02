import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Database } from '../db/database.ts';
import { Code, Currency, Rate } from '../domain/schemas.ts';
import { createEntity, findEntityByCode } from '../ledger/entities.ts';
import { recordAudit } from '../ledger/audit.ts';
import { DomainError, isDomainError } from '../domain/errors.ts';
import { PipelineDefinition, checkPipelineTypes, publicPipeline, savePipeline } from './pipelines.ts';
import type { SecretBox } from './secrets.ts';

export const ConfigFile = z.strictObject({
  entities: z
    .array(
      z.strictObject({
        code: Code,
        name: z.string().min(1).max(200),
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
      }),
    )
    .default([]),
  pipelines: z.array(PipelineDefinition).default([]),
});
export type ConfigFile = z.output<typeof ConfigFile>;

/** Replaces `${NAME}` with the environment variable; a missing variable is an error, not an empty secret. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text.replace(/\$\{([A-Z0-9_]+)\}/g, (_, name: string) => {
    const value = env[name];
    if (value === undefined)
      throw new Error(`The configuration uses \${${name}} but the environment variable ${name} is not set`);
    return value;
  });
}

export function parseConfig(text: string, env: NodeJS.ProcessEnv = process.env): ConfigFile {
  const raw: unknown = parseYaml(substituteEnv(text, env)) ?? {};
  const r = ConfigFile.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  r.data.pipelines.forEach((p, i) => {
    try {
      checkPipelineTypes(p, `pipelines.${i}`);
    } catch (err) {
      // The same refusal as the API's, saying which pipeline of the file it is about.
      if (isDomainError(err))
        throw new DomainError(err.code, `Invalid configuration: pipeline ${p.name}: ${err.message}`, err.details);
      throw err;
    }
  });
  return r.data;
}

/** The config file in use: --config, LEDGERLINK_CONFIG, or ./ledgerlink.yaml when it exists. */
export async function loadConfigFile(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ path: string; config: ConfigFile } | null> {
  const file = path ?? env.LEDGERLINK_CONFIG ?? (existsSync('./ledgerlink.yaml') ? './ledgerlink.yaml' : undefined);
  if (!file) return null;
  return { path: file, config: parseConfig(await readFile(file, 'utf8'), env) };
}

/** Creates the entities the config names when missing and saves its pipelines. */
export async function applyConfig(
  db: Database,
  box: SecretBox,
  config: ConfigFile,
): Promise<{ entitiesCreated: string[]; pipelines: string[] }> {
  return db.transaction(async (tx) => {
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
    const names: string[] = [];
    for (const [i, p] of config.pipelines.entries()) {
      const entity = await findEntityByCode(tx, p.entity);
      if (!entity)
        throw new Error(
          `Pipeline ${p.name} names entity ${p.entity}, which does not exist and is not in the config's entities`,
        );
      const { pipeline, before } = await savePipeline(tx, box, entity.id, p, 'config', {
        at: `pipelines.${i}`,
        internalSources: false,
      });
      // As the API shows it: every declared secret redacted.
      await recordAudit(tx, {
        entityId: entity.id,
        actor: 'config',
        action: 'pipeline.saved',
        objectType: 'pipeline',
        objectId: p.name,
        before: before ? publicPipeline(before) : null,
        after: publicPipeline(pipeline),
      });
      names.push(p.name);
    }
    return { entitiesCreated, pipelines: names };
  });
}
