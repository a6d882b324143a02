import { z } from 'zod';
import type { Queryable } from '../db/database.ts';
import { isUniqueViolation } from '../db/database.ts';
import { DomainError, type FieldProblem } from '../domain/errors.ts';
import { type AuditChange, type AuditEntry, auditChange, recordAudit } from '../ledger/audit.ts';
import { CLEARABLE_CUSTOMER_FIELDS, type ClearableCustomerField } from './canonical.ts';
import { type PipelineRef, checkOutboundUrl, pipelineOutboundPolicy } from './http.ts';
import { mappingError, mappingProblems } from './pipeline-checks.ts';
import { forgetMovedConnection, movedAddresses, refuseKeptSecretsAtNewAddresses } from './secret-addresses.ts';
import {
  type ConnectorSettings,
  isSourceType,
  sourceSettings,
  targetDefinition,
  targetSettings,
  targetTypes,
  unknownSourceType,
  unknownTargetType,
} from './registry.ts';
import { validCron } from './schedule.ts';
import {
  REDACTED,
  type SecretBox,
  UNREADABLE,
  keepRedacted,
  openConfigChecked,
  redactConfig,
  sealConfig,
  valueAt as valueAtPath,
  withValueAt,
} from './secrets.ts';

/**
 * How large the parts of a pipeline may be, as JSON (they are stored in the row and returned by
 * every list): a mapping of a few thousand products fits, a blob does not. docs/sync.md lists them.
 */
export const PIPELINE_LIMITS = {
  /** `mapping`, as JSON. */
  mappingBytes: 256 * 1024,
  /** Entries of `mapping.products` and of `mapping.vatRates`. */
  mappingEntries: 5000,
  /** `source` and `target` settings, each, as JSON. */
  settingsBytes: 16 * 1024,
} as const;

const Code = z.string().max(100);

/** Mapping overrides of a pipeline: product → GL/tax/department, VAT rate → tax code, defaults. */
export const PipelineMapping = z.strictObject({
  products: z
    .record(
      z.string().max(100),
      z.strictObject({
        glAccountCode: Code.optional(),
        taxCode: Code.optional(),
        departmentId: Code.optional(),
      }),
    )
    .optional(),
  vatRates: z.record(z.string().max(20), Code).optional().meta({ description: 'VAT rate (e.g. "0.21") → tax code.' }),
  defaultGlAccountCode: Code.optional(),
  defaultDepartmentId: Code.optional(),
  bankAccountCode: Code.optional(),
  customerCodePrefix: z.string().max(20).optional(),
});
export type PipelineMapping = z.output<typeof PipelineMapping>;

export const PipelineOptions = z
  .strictObject({
    invoiceMode: z.enum(['final', 'draft']).optional(),
    pdf: z.boolean().optional(),
    pageSize: z.number().int().positive().max(1000).optional(),
    summaryCustomer: z.string().max(100).optional(),
    fees: z
      .enum(['book', 'leave'])
      .optional()
      .meta({
        description:
          'What happens to a payment provider’s fee (a payment’s `fee`): `book` (the default) books it with its payment, out of the ' +
          'payment’s bank to bank charges, so the target’s bank takes what the provider paid out; a target that books no fee parks ' +
          'such a payment (PAYMENT_FEE_NOT_SUPPORTED). `leave`: the payment is booked at its gross amount and its fee left to the ' +
          'books (a bank rule in the platform, or keyed by hand); reconciliation then does not compare fees, and says so.',
      }),
    customers: z
      .strictObject({
        authoritative: z
          .array(z.enum(CLEARABLE_CUSTOMER_FIELDS))
          .max(CLEARABLE_CUSTOMER_FIELDS.length)
          .default([])
          .meta({
            description:
              'Customer fields this pipeline’s source is the authority for: when it sends one empty (null, blank cell), ' +
              'the field is cleared in the target. Other empty fields are ignored; fields a source does not send are never changed.',
          }),
      })
      .optional(),
  })
  .meta({
    description:
      'Options of the run: invoiceMode final|draft, pdf, pageSize (sources that page), summaryCustomer, fees book|leave, customers.authoritative.',
  });

/** The customer fields a pipeline clears when its source sends them empty (`options.customers.authoritative`). */
export function authoritativeFields(p: Pick<Pipeline, 'options'>): ReadonlySet<ClearableCustomerField> {
  return new Set(p.options.customers?.authoritative ?? []);
}

export const PipelineDefinition = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower case letters, digits, - and _ (at most 63)'),
  entity: z.string().min(1).meta({ description: 'The entity code.' }),
  source: z.looseObject({ type: z.string().min(1) }),
  target: z.looseObject({ type: z.string().min(1) }).default({ type: 'ledger' }),
  schedule: z
    .string()
    .refine(validCron, 'not a cron expression: five fields (minute hour day month weekday, UTC), e.g. "*/15 * * * *"')
    .nullable()
    .optional()
    .meta({ description: 'A cron expression (UTC), e.g. "*/15 * * * *".' }),
  mode: z.enum(['documents', 'daily-summary']).default('documents'),
  options: PipelineOptions.default({}),
  mapping: PipelineMapping.default({}),
  webhookSecret: z
    .string()
    .min(16)
    .nullable()
    .optional()
    .meta({ description: 'Secret for X-Ledgerlink-Signature (webhook sources).' }),
  enabled: z.boolean().default(true),
});
export type PipelineDefinition = z.output<typeof PipelineDefinition>;

export interface Pipeline {
  id: string;
  entityId: string;
  entityCode: string;
  name: string;
  sourceType: string;
  sourceConfig: Record<string, unknown>;
  targetType: string;
  targetConfig: Record<string, unknown>;
  schedule: string | null;
  mode: 'documents' | 'daily-summary';
  options: z.output<typeof PipelineOptions>;
  mapping: PipelineMapping;
  webhookSecret: string | null;
  enabled: boolean;
  managedBy: 'api' | 'config';
  /**
   * Secrets stored with another encryption key (`source.apiKey`, `webhookSecret`): left out of the
   * settings above; the pipeline cannot run until they are entered again (SECRET_UNREADABLE).
   */
  unreadableSecrets: string[];
}

interface Row {
  id: string;
  entity_id: string;
  entity_code: string;
  name: string;
  source_type: string;
  source_config: Record<string, unknown>;
  target_type: string;
  target_config: Record<string, unknown>;
  schedule: string | null;
  mode: 'documents' | 'daily-summary';
  options: Record<string, unknown>;
  mapping: PipelineMapping;
  webhook_secret: string | null;
  enabled: boolean;
  managed_by: 'api' | 'config';
}

const COLUMNS = `p.id, p.entity_id, e.code AS entity_code, p.name, p.source_type, p.source_config, p.target_type, p.target_config,
  p.schedule, p.mode, p.options, p.mapping, p.webhook_secret, p.enabled, p.managed_by`;

/** The declared secret paths of a source or target type (none for a type no connector registered). */
export function secretsOf(settings: ConnectorSettings | null): readonly string[] {
  return settings?.secrets ?? [];
}

// A secret that does not open is recorded, not thrown: reading one pipeline must never fail the
// listing of all of them (the scheduler, GET /v1/pipelines).
function toPipeline(box: SecretBox, r: Row): Pipeline {
  const source = openConfigChecked(box, r.source_config, secretsOf(sourceSettings(r.source_type)));
  const target = openConfigChecked(box, r.target_config, secretsOf(targetSettings(r.target_type)));
  const webhookSecret = r.webhook_secret ? box.tryDecrypt(r.webhook_secret) : null;
  return {
    id: r.id,
    entityId: r.entity_id,
    entityCode: r.entity_code,
    name: r.name,
    sourceType: r.source_type,
    sourceConfig: source.config,
    targetType: r.target_type,
    targetConfig: target.config,
    schedule: r.schedule,
    mode: r.mode,
    options: r.options,
    mapping: r.mapping,
    webhookSecret,
    enabled: r.enabled,
    managedBy: r.managed_by,
    unreadableSecrets: [
      ...source.unreadable.map((k) => `source.${k}`),
      ...target.unreadable.map((k) => `target.${k}`),
      ...(r.webhook_secret && webhookSecret === null ? ['webhookSecret'] : []),
    ],
  };
}

/**
 * Refuses to use a pipeline whose secrets were stored with another encryption key, saying which and
 * how to fix it. Only this pipeline fails; the others and the scheduler go on.
 */
export function assertSecretsReadable(pipeline: Pipeline): void {
  if (pipeline.unreadableSecrets.length === 0) return;
  throw new DomainError(
    'SECRET_UNREADABLE',
    `Pipeline ${pipeline.name}: ${pipeline.unreadableSecrets.join(', ')} cannot be decrypted: the encryption key ` +
      'differs from the one it was stored with. Enter the secret again (PUT /v1/pipelines/{name} or ' +
      '`ledgerlink config apply`), or start ledgerlink with the key it was stored with.',
    pipeline.unreadableSecrets.map((field) => ({ field, message: 'stored with another encryption key' })),
  );
}

const sourceSecrets = (p: Pick<Pipeline, 'sourceType'>) => secretsOf(sourceSettings(p.sourceType));
const targetSecrets = (p: Pick<Pipeline, 'targetType'>) => secretsOf(targetSettings(p.targetType));

/** A pipeline as the API shows it: secrets never leave the server. */
export function publicPipeline(p: Pipeline) {
  // A secret that did not open shows as "[unreadable]" where it sits (`headers.X-Api-Key` included).
  const withUnreadable = (settings: Settings, side: 'source' | 'target'): Settings =>
    p.unreadableSecrets
      .filter((f) => f.startsWith(`${side}.`))
      .reduce<Settings>(
        (out, f) => ({ ...withValueAt(out, f.slice(side.length + 1), UNREADABLE), type: out.type }),
        settings,
      );
  return {
    id: p.id,
    name: p.name,
    entity: p.entityCode,
    source: withUnreadable({ type: p.sourceType, ...redactConfig(p.sourceConfig, sourceSecrets(p)) }, 'source'),
    target: withUnreadable({ type: p.targetType, ...redactConfig(p.targetConfig, targetSecrets(p)) }, 'target'),
    schedule: p.schedule,
    mode: p.mode,
    options: p.options,
    mapping: p.mapping,
    hasWebhookSecret: p.webhookSecret !== null || p.unreadableSecrets.includes('webhookSecret'),
    enabled: p.enabled,
    managedBy: p.managedBy,
    unreadableSecrets: p.unreadableSecrets,
  };
}

/**
 * A pipeline's change for the audit trail: the fields that changed (compared with their secrets in
 * the clear, so a new API key counts), each secret (as its connector declares them) then shown as `[secret]`.
 */
export function pipelineAuditChange(before: Pipeline | null, after: Pipeline): AuditChange {
  const view = (p: Pipeline) => ({
    name: p.name,
    entity: p.entityCode,
    source: { type: p.sourceType, ...p.sourceConfig },
    target: { type: p.targetType, ...p.targetConfig },
    schedule: p.schedule,
    mode: p.mode,
    options: p.options,
    mapping: p.mapping,
    webhookSecret: p.webhookSecret,
    enabled: p.enabled,
    managedBy: p.managedBy,
  });
  // The diff holds only changed fields, in the same shape, so the declared paths still find the secrets.
  const redact = (change: Record<string, unknown> | null, p: Pipeline | null): Record<string, unknown> | null => {
    if (!change || !p) return change;
    const out = { ...change };
    if (isObject(out.source)) out.source = redactConfig(out.source, sourceSecrets(p));
    if (isObject(out.target)) out.target = redactConfig(out.target, targetSecrets(p));
    if (typeof out.webhookSecret === 'string') out.webhookSecret = REDACTED;
    return out;
  };
  const change = auditChange(before && view(before), view(after));
  return { before: redact(change.before, before), after: redact(change.after, after) };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The pipeline of this name in the entity. Names are unique per entity: without an entity (the
 * admin token, the CLI) a name several entities use is refused, asking for the entity.
 */
export async function findPipeline(
  db: Queryable,
  box: SecretBox,
  name: string,
  entityId?: string,
): Promise<Pipeline | null> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM pipelines p JOIN entities e ON e.id = p.entity_id WHERE p.name = $1 AND ($2::uuid IS NULL OR p.entity_id = $2) AND p.deleted_at IS NULL
      ORDER BY e.code`,
    [name, entityId ?? null],
  );
  if (rows.length > 1)
    throw new DomainError(
      'VALIDATION_ERROR',
      `Entities ${rows.map((r) => r.entity_code).join(', ')} each have a pipeline named ${name}: use an entity's token, or name the entity`,
      [{ field: 'entity', message: 'required: the pipeline name is not unique across entities' }],
    );
  return rows[0] ? toPipeline(box, rows[0]) : null;
}

/** Every pipeline of this name, whatever its entity (an unauthenticated webhook tells them apart by its signature). */
export async function findPipelinesNamed(db: Queryable, box: SecretBox, name: string): Promise<Pipeline[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM pipelines p JOIN entities e ON e.id = p.entity_id WHERE p.name = $1 AND p.deleted_at IS NULL ORDER BY e.code`,
    [name],
  );
  return rows.map((r) => toPipeline(box, r));
}

export async function findPipelineById(db: Queryable, box: SecretBox, id: string): Promise<Pipeline | null> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM pipelines p JOIN entities e ON e.id = p.entity_id WHERE p.id = $1 AND p.deleted_at IS NULL`,
    [id],
  );
  return rows[0] ? toPipeline(box, rows[0]) : null;
}

/**
 * The pipeline of this name, or `404 PIPELINE_NOT_FOUND` naming the known ones. `field` is where the
 * caller took the name from, so the refusal points at what was sent: `params.name` (a path),
 * `pipeline` (a form field), `--pipeline` or `NAME` (the command line).
 */
export async function requirePipeline(
  db: Queryable,
  box: SecretBox,
  name: string,
  entityId?: string,
  field = 'name',
): Promise<Pipeline> {
  const p = await findPipeline(db, box, name, entityId);
  if (!p) throw await pipelineNotFound(db, name, entityId, field);
  return p;
}

/** How many known pipelines a refusal lists; more are counted, not listed. */
const KNOWN_LISTED = 20;

/**
 * "; known pipelines: a, b" (or "; there are no pipelines"), for messages about a name that is not
 * one: the entity's pipelines (every entity's without one), the first few when there are many.
 */
async function knownPipelines(db: Queryable, entityId?: string): Promise<string> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT DISTINCT name FROM pipelines WHERE ($1::uuid IS NULL OR entity_id = $1) AND deleted_at IS NULL ORDER BY name`,
    [entityId ?? null],
  );
  if (rows.length === 0) return '; there are no pipelines';
  const names = rows.slice(0, KNOWN_LISTED).map((r) => r.name);
  return `; known pipelines: ${names.join(', ')}${rows.length > KNOWN_LISTED ? `, … (${rows.length} in all)` : ''}`;
}

/** The one refusal of a pipeline name that names none, wherever it was given (`field`). */
async function pipelineNotFound(
  db: Queryable,
  name: string,
  entityId: string | undefined,
  field: string,
): Promise<DomainError> {
  const known = await knownPipelines(db, entityId);
  return new DomainError('PIPELINE_NOT_FOUND', `No pipeline named ${name}${known}`, [
    { field, message: `unknown pipeline${known}` },
  ]);
}

/**
 * Checks a pipeline name given as a filter (`?pipeline=`, `--pipeline`): a typo is an error naming
 * the known pipelines, not an empty list. A deleted pipeline's name still filters its history.
 */
export async function checkPipelineFilter(
  db: Queryable,
  name: string | undefined,
  entityId: string | undefined,
  field: string,
): Promise<void> {
  if (name === undefined) return;
  const { rows } = await db.query(
    `SELECT 1 FROM pipelines WHERE name = $1 AND ($2::uuid IS NULL OR entity_id = $2) LIMIT 1`,
    [name, entityId ?? null],
  );
  if (rows.length) return;
  throw await pipelineNotFound(db, name, entityId, field);
}

/** Records an audit entry for a change; the caller knows who acts (the API's request, the CLI). */
export type Audit = (entry: Omit<AuditEntry, 'actor' | 'requestId'>) => Promise<void>;

/** An `Audit` writing as `actor` in `db` (the command line's). */
export function auditAs(db: Queryable, actor: string): Audit {
  return (entry) => recordAudit(db, { ...entry, actor });
}

/**
 * Deletes a pipeline: it stops running and its name is free again, while its history (runs, the
 * source map, exceptions, the audit trail) is kept. Refused while one of its runs is queued or
 * running. Run it inside a transaction: the row is locked, so no run can be created meanwhile.
 */
export async function deletePipeline(
  db: Queryable,
  box: SecretBox,
  name: string,
  entityId: string | undefined,
  audit: Audit,
  /** Where the name was given, for its refusal (`params.name`, `NAME`). */
  field: string,
): Promise<Pipeline> {
  const pipeline = await requirePipeline(db, box, name, entityId, field);
  await db.query(`SELECT id FROM pipelines WHERE id = $1 FOR UPDATE`, [pipeline.id]);
  const { rows } = await db.query<{ id: string; status: string }>(
    `SELECT id, status FROM runs WHERE pipeline_id = $1 AND status IN ('queued', 'running') ORDER BY created_at`,
    [pipeline.id],
  );
  if (rows.length > 0) {
    const listed = rows
      .slice(0, 5)
      .map((r) => `${r.id} (${r.status})`)
      .join(', ');
    const runs =
      rows.length === 1 ? `a run ${rows[0]!.status}: ${listed}` : `${rows.length} runs not finished: ${listed}`;
    throw new DomainError(
      'PIPELINE_RUN_IN_PROGRESS',
      `Pipeline ${name} has ${runs}${rows.length > 5 ? ', …' : ''}; delete it once ${rows.length === 1 ? 'it has' : 'they have'} finished, or cancel ${rows.length === 1 ? 'it' : 'them'} first (ledgerlink runs cancel RUNID, or POST /v1/runs/{runId}/cancel)`,
      [{ field, message: `${rows.length} run(s) queued or running` }],
    );
  }
  await db.query(`UPDATE pipelines SET deleted_at = now(), enabled = false, updated_at = now() WHERE id = $1`, [
    pipeline.id,
  ]);
  await audit({
    entityId: pipeline.entityId,
    action: 'pipeline.deleted',
    objectType: 'pipeline',
    objectId: pipeline.name,
    before: publicPipeline(pipeline),
    after: null,
  });
  return pipeline;
}

/** Turns a pipeline's schedule and triggers on or off; audited. Returns the pipeline as it is now. */
export async function setPipelineEnabled(
  db: Queryable,
  box: SecretBox,
  name: string,
  entityId: string | undefined,
  enabled: boolean,
  audit: Audit,
): Promise<Pipeline> {
  const before = await requirePipeline(db, box, name, entityId);
  if (before.enabled === enabled) return before;
  await db.query(`UPDATE pipelines SET enabled = $2, updated_at = now() WHERE id = $1`, [before.id, enabled]);
  const after = (await findPipelineById(db, box, before.id))!;
  await audit({
    entityId: before.entityId,
    action: enabled ? 'pipeline.enabled' : 'pipeline.disabled',
    objectType: 'pipeline',
    objectId: before.name,
    before: publicPipeline(before),
    after: publicPipeline(after),
  });
  return after;
}

export async function listPipelines(db: Queryable, box: SecretBox, entityId?: string): Promise<Pipeline[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM pipelines p JOIN entities e ON e.id = p.entity_id WHERE ($1::uuid IS NULL OR p.entity_id = $1) AND p.deleted_at IS NULL ORDER BY p.name`,
    [entityId ?? null],
  );
  return rows.map((r) => toPipeline(box, r));
}

type Settings = { type: string } & Record<string, unknown>;

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value ?? null), 'utf8');
}

/**
 * What is wrong with one side's settings against what its connector declared: size, schema, then
 * outbound URLs, under the policy of this pipeline (`pipeline`; null: none of the hosts this
 * process allows to one pipeline alone).
 */
function settingsProblems(
  side: 'source' | 'target',
  declared: ConnectorSettings,
  def: Settings,
  field: (...path: PropertyKey[]) => string,
  pipeline: PipelineRef | null,
): DomainError[] {
  const { type, ...settings } = def;
  if (jsonBytes(settings) > PIPELINE_LIMITS.settingsBytes) {
    return [
      new DomainError(
        'PIPELINE_TOO_LARGE',
        `The ${side} settings are larger than ${PIPELINE_LIMITS.settingsBytes} bytes as JSON`,
        [{ field: field(side), message: `at most ${PIPELINE_LIMITS.settingsBytes} bytes as JSON` }],
      ),
    ];
  }
  const r = declared.settings.safeParse(settings);
  if (!r.success) {
    const problems = r.error.issues.flatMap((i): FieldProblem[] =>
      // An unknown key is named by itself, so that the sender sees which key to drop or correct.
      i.code === 'unrecognized_keys'
        ? i.keys.map((k) => ({ field: field(side, ...i.path, k), message: 'not a setting of this type' }))
        : [{ field: field(side, ...i.path), message: i.message }],
    );
    return [
      new DomainError(
        side === 'source' ? 'PIPELINE_SOURCE_SETTINGS_INVALID' : 'PIPELINE_TARGET_SETTINGS_INVALID',
        `Settings of ${side} "${type}": ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
        problems,
      ),
    ];
  }
  const refused: DomainError[] = [];
  const policy = pipelineOutboundPolicy(pipeline);
  for (const { field: at, url } of declared.outbound?.(r.data) ?? []) {
    const problem = checkOutboundUrl(url, policy);
    if (problem)
      refused.push(
        new DomainError('PIPELINE_URL_REFUSED', `${field(side, ...at.split('.'))}: ${problem}`, [
          { field: field(side, ...at.split('.')), message: problem },
        ]),
      );
  }
  return refused;
}

/**
 * Refuses what a pipeline may not hold, naming the field as the sender wrote it (`at` is where the
 * pipeline sits in what was sent: `body`, `pipelines.2`): a source or target type no connector
 * registered (the message names the known ones), settings its connector does not declare or that
 * do not match its schema, a URL the outbound policy refuses (src/sync/http.ts), and parts larger
 * than {@link PIPELINE_LIMITS}. What users send (the API, ledgerlink.yaml) may not name the
 * engine's internal sources (`records`); the engine's own callers pass `internalSources`.
 */
export function checkPipelineTypes(
  def: { source: Settings; target: Settings; mapping?: unknown },
  at = '',
  opts: { internalSources?: boolean; pipeline?: PipelineRef } = {},
): void {
  const first = pipelineTypeProblems(def, at, opts)[0];
  if (first) throw first;
}

/**
 * Every problem `checkPipelineTypes` would refuse, one DomainError each, so that `ledgerlink config
 * validate` can list them all. `pipeline` names the pipeline whose addresses these are: a host this
 * process allows to one pipeline alone (the demo's sample system) is allowed to that one only.
 */
export function pipelineTypeProblems(
  def: { source: Settings; target: Settings; mapping?: unknown },
  at = '',
  opts: { internalSources?: boolean; only?: 'source' | 'target'; pipeline?: PipelineRef } = {},
): DomainError[] {
  const field = (...path: PropertyKey[]) => [at, ...path.map(String)].filter(Boolean).join('.');
  const pipeline = opts.pipeline ?? null;
  const problems: DomainError[] = [];
  if (opts.only !== 'target') {
    if (!isSourceType(def.source.type, { internal: opts.internalSources === true }))
      problems.push(unknownSourceType(def.source.type, field('source', 'type')));
    else problems.push(...settingsProblems('source', sourceSettings(def.source.type)!, def.source, field, pipeline));
  }
  if (opts.only !== 'source') {
    if (!targetTypes().includes(def.target.type))
      problems.push(unknownTargetType(def.target.type, field('target', 'type')));
    else problems.push(...settingsProblems('target', targetDefinition(def.target.type), def.target, field, pipeline));
  }
  const refusal = sourceSettings(def.source.type)?.refuseTarget?.(def.target.type) ?? null;
  if (refusal)
    problems.push(
      new DomainError('PIPELINE_SOURCE_CANNOT_FEED_TARGET', refusal, [
        { field: field('target', 'type'), message: refusal },
      ]),
    );
  if (def.mapping !== undefined) problems.push(...mappingSizeProblems(def.mapping, field));
  return problems;
}

function mappingSizeProblems(mapping: unknown, field: (...path: PropertyKey[]) => string): DomainError[] {
  const m = (mapping ?? {}) as { products?: object; vatRates?: object };
  for (const key of ['products', 'vatRates'] as const) {
    const n = m[key] ? Object.keys(m[key]).length : 0;
    if (n > PIPELINE_LIMITS.mappingEntries)
      return [
        new DomainError(
          'PIPELINE_TOO_LARGE',
          `mapping.${key} has ${n} entries; at most ${PIPELINE_LIMITS.mappingEntries}`,
          [{ field: field('mapping', key), message: `at most ${PIPELINE_LIMITS.mappingEntries} entries` }],
        ),
      ];
  }
  if (jsonBytes(mapping) > PIPELINE_LIMITS.mappingBytes)
    return [
      new DomainError('PIPELINE_TOO_LARGE', `mapping is larger than ${PIPELINE_LIMITS.mappingBytes} bytes as JSON`, [
        { field: field('mapping'), message: `at most ${PIPELINE_LIMITS.mappingBytes} bytes as JSON` },
      ]),
    ];
  return [];
}

/**
 * The same check on a saved pipeline, when a run starts: a pipeline saved before its connector was
 * removed, or written to the database by hand, is refused before anything is fetched or sent.
 * `only` checks one side (and still whether the source may feed the target): the engine checks
 * each side where it creates it, so that reconciling, which creates only the target, does not
 * check the address of a source it never calls.
 */
export function assertPipelineTypes(pipeline: Pipeline, only?: 'source' | 'target'): void {
  const first = pipelineTypeProblems(
    {
      source: { ...pipeline.sourceConfig, type: pipeline.sourceType },
      target: { ...pipeline.targetConfig, type: pipeline.targetType },
    },
    '',
    { internalSources: true, only, pipeline: { entity: pipeline.entityCode, pipeline: pipeline.name } },
  )[0];
  if (first) throw first;
}

/**
 * One side's settings as sent, with every secret that reads "[secret]" (as a GET shows it) taken
 * from the pipeline as stored: sending a pipeline back unchanged keeps its secrets. "[secret]" with
 * nothing stored to keep is refused. `kept` lists the paths of the secrets taken from storage.
 */
function withKeptSecrets(
  side: 'source' | 'target',
  sent: Settings,
  stored: { type: string; config: Record<string, unknown> } | null,
  field: (...path: PropertyKey[]) => string,
): { settings: Settings; kept: string[] } {
  const { type, ...settings } = sent;
  const declared = side === 'source' ? sourceSettings(type) : targetSettings(type);
  const kept = keepRedacted(settings, stored && stored.type === type ? stored.config : null, secretsOf(declared));
  if (kept.missing.length > 0) {
    const problems = kept.missing.map((path) => ({
      field: field(side, ...path.split('.')),
      message:
        valueAtPath(settings, path) === UNREADABLE
          ? `reads "${UNREADABLE}": the stored secret was encrypted with another key and cannot be kept: send the value`
          : `reads "${REDACTED}" but no secret is stored here to keep: send the value`,
    }));
    throw new DomainError(
      side === 'source' ? 'PIPELINE_SOURCE_SETTINGS_INVALID' : 'PIPELINE_TARGET_SETTINGS_INVALID',
      problems.map((p) => `${p.field}: ${p.message}`).join('; '),
      problems,
    );
  }
  return { settings: { ...kept.config, type }, kept: kept.kept };
}

/**
 * Creates or replaces the entity's pipeline of this name, once it checks out (see
 * checkPipelineTypes; `at` names where it sits in what was sent; what users send passes
 * `internalSources: false`; `checkMapping` also checks the mapping's codes against the ledger). Secrets sent back as "[secret]"
 * keep their stored values, and an absent `webhookSecret` keeps the stored one (null removes it).
 */
export async function savePipeline(
  db: Queryable,
  box: SecretBox,
  entityId: string,
  def: PipelineDefinition,
  managedBy: 'api' | 'config',
  opts: { at?: string; internalSources?: boolean; checkMapping?: boolean } = {},
): Promise<{ pipeline: Pipeline; created: boolean; before: Pipeline | null; connectionForgotten: boolean }> {
  const at = opts.at ?? '';
  const field = (...path: PropertyKey[]) => [at, ...path.map(String)].filter(Boolean).join('.');
  const before = await findPipeline(db, box, def.name, entityId);
  const storedSource = before && { type: before.sourceType, config: before.sourceConfig };
  const storedTarget = before && { type: before.targetType, config: before.targetConfig };
  const { settings: source, kept: keptSource } = withKeptSecrets('source', def.source, storedSource, field);
  const { settings: target, kept: keptTarget } = withKeptSecrets('target', def.target, storedTarget, field);
  checkPipelineTypes({ source, target, mapping: def.mapping }, at, {
    internalSources: opts.internalSources ?? true,
    pipeline: { entity: def.entity, pipeline: def.name },
  });
  // Compared once the settings are valid, so that each connector can say where they send requests.
  if (storedSource)
    refuseKeptSecretsAtNewAddresses('source', keptSource, movedAddresses('source', storedSource, source), field);
  const targetMoved = storedTarget ? movedAddresses('target', storedTarget, target) : [];
  refuseKeptSecretsAtNewAddresses('target', keptTarget, targetMoved, field);
  if (opts.checkMapping) {
    const unknown = await mappingProblems(db, { id: entityId, code: def.entity }, { target, mapping: def.mapping }, at);
    if (unknown.length) throw mappingError(unknown);
  }
  // A process still on a key rotated away (keys rotate) must not store secrets nobody else can read.
  const { rows: key } = await db.query<{ fingerprint: string }>(`SELECT fingerprint FROM encryption_key FOR SHARE`);
  if (key[0] && key[0].fingerprint !== box.fingerprint)
    throw new DomainError(
      'ENCRYPTION_KEY_OUTDATED',
      "This process's encryption key is not the database's any more (it was rotated): restart it with the database's key (LEDGERLINK_ENCRYPTION_KEY). Nothing was saved.",
    );
  const { type: sourceType, ...sourceConfig } = source;
  const { type: targetType, ...targetConfig } = target;
  // An absent webhookSecret keeps the stored one, as stored: also one this key cannot read.
  const keepWebhookSecret = def.webhookSecret === undefined;
  const webhookSecret = def.webhookSecret ?? null;
  try {
    const { rows } = await db.query<{ id: string; created: boolean }>(
      `INSERT INTO pipelines (entity_id, name, source_type, source_config, target_type, target_config, schedule, mode, options,
                              mapping, webhook_secret, enabled, managed_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT (entity_id, name) WHERE deleted_at IS NULL DO UPDATE SET source_type = EXCLUDED.source_type, source_config = EXCLUDED.source_config,
         target_type = EXCLUDED.target_type, target_config = EXCLUDED.target_config, schedule = EXCLUDED.schedule,
         mode = EXCLUDED.mode, options = EXCLUDED.options, mapping = EXCLUDED.mapping,
         enabled = EXCLUDED.enabled, managed_by = EXCLUDED.managed_by, updated_at = now(),
         webhook_secret = CASE WHEN $14::boolean THEN pipelines.webhook_secret ELSE EXCLUDED.webhook_secret END
       RETURNING id, (xmax = 0) AS created`,
      [
        entityId,
        def.name,
        sourceType,
        JSON.stringify(sealConfig(box, sourceConfig, secretsOf(sourceSettings(sourceType)))),
        targetType,
        JSON.stringify(sealConfig(box, targetConfig, secretsOf(targetSettings(targetType)))),
        def.schedule ?? null,
        def.mode,
        JSON.stringify(def.options),
        JSON.stringify(def.mapping),
        webhookSecret ? box.encrypt(webhookSecret) : null,
        def.enabled,
        managedBy,
        keepWebhookSecret,
      ],
    );
    const id = rows[0]!.id;
    const connectionForgotten =
      before !== null && targetMoved.length > 0 ? await forgetMovedConnection(db, id, targetMoved[0]!) : false;
    return { pipeline: (await findPipelineById(db, box, id))!, created: rows[0]!.created, before, connectionForgotten };
  } catch (err) {
    if (isUniqueViolation(err))
      throw new DomainError('VALIDATION_ERROR', `Pipeline ${def.name} exists`, [
        { field: field('name'), message: 'taken' },
      ]);
    throw err;
  }
}

export interface EntitySummary {
  code: string;
  name: string;
  baseCurrency: string;
  createdAt: string;
  /** Pipelines not deleted. */
  pipelines: number;
}

/** Every entity with its number of pipelines, for operators (`ledgerlink entity list`); no secrets. */
export async function listEntitySummaries(db: Queryable): Promise<EntitySummary[]> {
  const { rows } = await db.query<{
    code: string;
    name: string;
    base_currency: string;
    created_at: Date;
    pipelines: string;
  }>(
    `SELECT e.code, e.name, e.base_currency, e.created_at,
            (SELECT count(*) FROM pipelines p WHERE p.entity_id = e.id AND p.deleted_at IS NULL) AS pipelines
       FROM entities e ORDER BY e.code`,
  );
  return rows.map((r) => ({
    code: r.code,
    name: r.name,
    baseCurrency: r.base_currency.trim(),
    createdAt: r.created_at.toISOString(),
    pipelines: Number(r.pipelines),
  }));
}
