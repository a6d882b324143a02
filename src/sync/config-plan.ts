import type { Queryable } from '../db/database.ts';
import { findEntityByCode } from '../ledger/entities.ts';
import { type Pipeline, type PipelineDefinition, findPipeline, secretsOf } from './pipelines.ts';
import { sourceSettings, targetSettings } from './registry.ts';
import { REDACTED, type SecretBox, redactConfig, secretPaths, valueAt } from './secrets.ts';

/** What applying a secret would do; its value is never shown. */
export type SecretChange = 'added' | 'changed' | 'unchanged' | 'removed' | 'replaces-unreadable';

export interface PipelinePlan {
  name: string;
  entity: string;
  action: 'create' | 'update' | 'unchanged';
  /** The fields that change (`schedule`, `source.baseUrl`, `source.apiKey`); values are not shown. */
  changed: string[];
  secrets: { field: string; change: SecretChange }[];
}

/** What `ledgerlink config apply` would do, read from the database without writing. */
export interface ConfigPlan {
  entities: { code: string; action: 'create' | 'exists' }[];
  pipelines: PipelinePlan[];
}

interface EntityLike {
  code: string;
}

/** Compares JSON values whatever the order of their keys (jsonb reorders them). */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v ?? null);
}

/** `after` reading "[secret]" keeps the stored secret, as saving does. */
function secretChange(before: unknown, after: unknown, unreadable: boolean): SecretChange | null {
  const given = typeof after === 'string' ? after : null;
  const stored = typeof before === 'string' ? before : null;
  if (unreadable) return given === null ? 'removed' : 'replaces-unreadable';
  if (stored === null) return given === null ? null : 'added';
  if (given === null) return 'removed';
  return given === REDACTED || stored === given ? 'unchanged' : 'changed';
}

/** The declared secret paths of a source or target type. */
function declaredSecrets(side: 'source' | 'target', type: unknown): readonly string[] {
  if (typeof type !== 'string') return [];
  return secretsOf(side === 'source' ? sourceSettings(type) : targetSettings(type));
}

function settingsDiff(
  side: 'source' | 'target',
  before: Pipeline,
  after: Record<string, unknown>,
  plan: Pick<PipelinePlan, 'changed' | 'secrets'>,
): void {
  const type = side === 'source' ? before.sourceType : before.targetType;
  const stored = side === 'source' ? before.sourceConfig : before.targetConfig;
  if (type !== after.type) plan.changed.push(`${side}.type`);
  const { type: _type, ...given } = after;
  // The connectors' declared secret paths (`apiKey`, `headers.*`), of the stored type and of the new one.
  const secrets = [...new Set([...declaredSecrets(side, type), ...declaredSecrets(side, after.type)])];
  const unreadable = before.unreadableSecrets
    .filter((f) => f.startsWith(`${side}.`))
    .map((f) => f.slice(side.length + 1));
  const paths = new Set([...secretPaths(stored, secrets), ...secretPaths(given, secrets), ...unreadable]);
  for (const path of [...paths].sort()) {
    const field = `${side}.${path}`;
    const change = secretChange(valueAt(stored, path), valueAt(given, path), unreadable.includes(path));
    if (change === null) continue;
    plan.secrets.push({ field, change });
    if (change !== 'unchanged') plan.changed.push(field);
  }
  // Everything else compared with the secrets masked, so a secret's change is counted once, above.
  const open = redactConfig(stored, secrets);
  const sent = redactConfig(given, secrets);
  const keys = new Set([...Object.keys(open), ...Object.keys(sent)]);
  for (const k of [...keys].sort()) {
    if (paths.has(k)) continue;
    if (stable(open[k]) !== stable(sent[k])) plan.changed.push(`${side}.${k}`);
  }
}

/** How a saved pipeline differs from its definition in the file. */
export function diffPipeline(before: Pipeline, def: PipelineDefinition): Pick<PipelinePlan, 'changed' | 'secrets'> {
  const plan: Pick<PipelinePlan, 'changed' | 'secrets'> = { changed: [], secrets: [] };
  settingsDiff('source', before, def.source, plan);
  settingsDiff('target', before, def.target, plan);
  const fields: [string, unknown, unknown][] = [
    ['schedule', before.schedule, def.schedule ?? null],
    ['mode', before.mode, def.mode],
    ['options', before.options, def.options],
    ['mapping', before.mapping, def.mapping],
    ['enabled', before.enabled, def.enabled],
    ['managedBy', before.managedBy, 'config'],
  ];
  for (const [field, a, b] of fields) if (stable(a) !== stable(b)) plan.changed.push(field);
  // An absent webhookSecret keeps the stored one (null removes it), as saving does.
  const hookUnreadable = before.unreadableSecrets.includes('webhookSecret');
  const hook =
    def.webhookSecret === undefined
      ? before.webhookSecret !== null
        ? 'unchanged'
        : null
      : secretChange(before.webhookSecret, def.webhookSecret, hookUnreadable);
  if (hook !== null) {
    plan.secrets.push({ field: 'webhookSecret', change: hook });
    if (hook !== 'unchanged') plan.changed.push('webhookSecret');
  }
  return plan;
}

/** What applying `config` would change: entities to create, pipelines to create or update and how. */
export async function planConfig(
  db: Queryable,
  box: SecretBox,
  config: { entities: EntityLike[]; pipelines: PipelineDefinition[] },
): Promise<ConfigPlan> {
  const entities: ConfigPlan['entities'] = [];
  for (const e of config.entities)
    entities.push({ code: e.code, action: (await findEntityByCode(db, e.code)) ? 'exists' : 'create' });
  const pipelines: PipelinePlan[] = [];
  for (const def of config.pipelines) {
    // Names are unique per entity: a pipeline of an entity the file creates is new.
    const entity = await findEntityByCode(db, def.entity);
    const before = entity ? await findPipeline(db, box, def.name, entity.id) : null;
    if (!before) {
      const secrets = [
        ...secretPaths(def.source, declaredSecrets('source', def.source.type)).map((k) => `source.${k}`),
        ...secretPaths(def.target, declaredSecrets('target', def.target.type)).map((k) => `target.${k}`),
        ...(def.webhookSecret ? ['webhookSecret'] : []),
      ];
      pipelines.push({
        name: def.name,
        entity: def.entity,
        action: 'create',
        changed: [],
        secrets: secrets.map((field) => ({ field, change: 'added' })),
      });
      continue;
    }
    const diff = diffPipeline(before, def);
    pipelines.push({
      name: def.name,
      entity: def.entity,
      action: diff.changed.length ? 'update' : 'unchanged',
      ...diff,
    });
  }
  return { entities, pipelines };
}

/** The plan as people read it: one line per entity and pipeline, secrets shown only as changed or not. */
export function formatPlan(plan: ConfigPlan): string {
  const lines: string[] = [];
  for (const e of plan.entities)
    lines.push(e.action === 'create' ? `+ entity ${e.code}: create` : `= entity ${e.code}: exists (left as it is)`);
  for (const p of plan.pipelines) {
    const secrets = p.secrets.length
      ? `; secrets: ${p.secrets.map((s) => `${s.field} ${s.change.replace(/-/g, ' ')}`).join(', ')}`
      : '';
    if (p.action === 'create') lines.push(`+ pipeline ${p.name} (${p.entity}): create${secrets}`);
    else if (p.action === 'update')
      lines.push(`~ pipeline ${p.name} (${p.entity}): update ${p.changed.join(', ')}${secrets}`);
    else lines.push(`= pipeline ${p.name} (${p.entity}): unchanged${secrets}`);
  }
  return lines.length ? lines.join('\n') : 'the configuration names no entity and no pipeline';
}
