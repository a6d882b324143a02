import type { Logger } from 'pino';
import { z } from 'zod';
import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import type { SourceConnector } from './connector.ts';
import type { Pipeline } from './pipelines.ts';
import type { OAuthProvider, RateScope } from './remote/contracts.ts';
import type { TargetConnector, TargetCustomerLookup, TargetDeps } from './target.ts';

/*
 * The registries of sources and targets. The engine knows connectors only through these; each
 * connector fills them from its own `src/connectors/<name>/index.ts`, and only the entry points
 * (the CLI, the server, the tests' helpers) import `src/connectors/all.ts` to load them all.
 */

/** What the target can tell a source about what it already holds (instead of reading its tables). */
export interface TargetLookups {
  /** A customer the target holds, as a canonical record under the given source id. */
  customer: TargetCustomerLookup;
  /** The target's customer of the one invoice carrying this reference, when exactly one does. */
  invoiceCustomer(reference: string): Promise<string | null>;
  /** A product the target holds, by code. */
  product(code: string, asSourceId: string): ReturnType<NonNullable<TargetConnector['product']>>;
  /** The target id this pipeline has mapped a source id of this kind to, if any. */
  mappedId(kind: string, sourceId: string): Promise<string | null>;
}

export interface SourceDeps {
  db: Queryable;
  log: Logger;
  /** Parameters of the run (an import's file, a webhook batch, a day to summarise). */
  params: Record<string, unknown>;
  runId: string | null;
  /** Lookups in the pipeline's target, for sources that link to what it already holds. */
  target: TargetLookups;
}

export type SourceFactory = (pipeline: Pipeline, deps: SourceDeps) => SourceConnector;

/** An outside address a connector will call with given settings, and the settings field it comes from. */
export interface OutboundUrl {
  /** The field, relative to the connector's settings (`baseUrl`, `lookupUrl`). */
  field: string;
  url: string;
}

/**
 * What a connector declares about its settings (a pipeline's `source:` or `target:` block, less
 * `type`): their schema, which refuses keys it does not know (a misspelt or unexpected key could be
 * a secret kept in plain text); where the secrets are, which are encrypted at rest and never
 * shown; and the URLs the settings make the server call, checked against the outbound policy when
 * the pipeline is saved (src/sync/http.ts).
 */
export interface ConnectorSettings {
  settings: z.ZodType<Record<string, unknown>>;
  /** Paths of secret values: dot-separated keys, `*` for any key (`apiKey`, `headers.*`). */
  secrets?: readonly string[] | undefined;
  /** The URLs these settings (already valid) make the server call. */
  outbound?: ((settings: Record<string, unknown>) => OutboundUrl[]) | undefined;
  /** For a source: why it cannot send to a target of this type, or null when it can. */
  refuseTarget?: ((targetType: string) => string | null) | undefined;
}

export interface TargetDefinition extends ConnectorSettings {
  type: string;
  /** One line for `--help` and error messages. */
  description: string;
  /** The target's settings (`target:` in a pipeline), checked when a pipeline is loaded or saved. */
  settings: z.ZodType<Record<string, unknown>>;
  /** How the target's platform is connected through OAuth 2.0, when it is (src/sync/remote/oauth.ts). */
  oauth?: OAuthProvider | undefined;
  /**
   * The rate planner's scopes of this tenant that a pipeline with these settings calls under
   * (its organisation's, its company's), given the tenant its OAuth connection is bound to (null
   * when none): what the dashboard shows as the budget in use. App-wide scopes, which count the
   * calls of every entity's tenants, are not the tenant's and are left out. Empty when the tenant
   * is not known yet.
   */
  rateScopes?: ((settings: Record<string, unknown>, connectedTenantId: string | null) => RateScope[]) | undefined;
  /** The platform's webhooks, received at `POST /v1/webhooks/{pipeline}<pathSuffix>` for pipelines whose target this is. */
  inbound?: TargetInbound | undefined;
  create(deps: TargetDeps): Promise<TargetConnector>;
}

const sources = new Map<string, { factory: SourceFactory; settings: ConnectorSettings }>();
const targets = new Map<string, TargetDefinition>();

/**
 * What a registration returns: a function that puts back what it replaced (the entry before it, or
 * none), so that a test can register a connector of its own and leave the process as it found it.
 */
export type Unregister = () => void;

function replaceEntry<K, V>(map: Map<K, V>, key: K, value: V): Unregister {
  const had = map.has(key);
  const before = map.get(key);
  map.set(key, value);
  return () => {
    if (had) map.set(key, before as V);
    else map.delete(key);
  };
}

/** A source that takes no settings beyond its type. */
const NO_SETTINGS: ConnectorSettings = { settings: z.strictObject({}), secrets: [] };

/**
 * Each connector registers its source type here (see src/connectors/<name>/index.ts), with its
 * settings when it takes any.
 */
export function registerSource(
  type: string,
  factory: SourceFactory,
  settings: ConnectorSettings = NO_SETTINGS,
): Unregister {
  return replaceEntry(sources, type, { factory, settings });
}

/** The settings a source type declared; null when no connector registered the type. */
export function sourceSettings(type: string): ConnectorSettings | null {
  return sources.get(type)?.settings ?? null;
}

/** The settings a target type declared; null when no connector registered the type. */
export function targetSettings(type: string): ConnectorSettings | null {
  return targets.get(type) ?? null;
}

export function registerTarget(def: TargetDefinition): Unregister {
  return replaceEntry(targets, def.type, def);
}

export function sourceTypes(): string[] {
  return [...sources.keys()].filter((t) => !INTERNAL_SOURCES.has(t)).sort();
}

export function targetTypes(): string[] {
  return [...targets.keys()].sort();
}

/** Sources the engine uses itself (records in hand, daily summaries), not configurable by users. */
const INTERNAL_SOURCES = new Set(['records']);

export function createSource(pipeline: Pipeline, deps: SourceDeps): SourceConnector {
  const source = sources.get(pipeline.sourceType);
  if (!source) throw unknownSourceType(pipeline.sourceType);
  return source.factory(pipeline, deps);
}

export function targetDefinition(type: string): TargetDefinition {
  const def = targets.get(type);
  if (!def) throw unknownTargetType(type);
  return def;
}

export function unknownSourceType(type: string, field = 'source.type'): DomainError {
  return new DomainError(
    'PIPELINE_UNKNOWN_SOURCE_TYPE',
    `Unknown source type "${type}"; known: ${sourceTypes().join(', ') || '(none loaded)'}`,
    [{ field, message: `known: ${sourceTypes().join(', ')}` }],
  );
}

export function unknownTargetType(type: string, field = 'target.type'): DomainError {
  return new DomainError(
    'PIPELINE_UNKNOWN_TARGET_TYPE',
    `Unknown target type "${type}"; known: ${targetTypes().join(', ') || '(none loaded)'}`,
    [{ field, message: `known: ${targetTypes().join(', ')}` }],
  );
}

/**
 * Whether a source type is registered. Users may not name internal ones; the engine's own
 * pipelines (records in hand) pass `{ internal: true }`.
 */
export function isSourceType(type: string, opts: { internal?: boolean } = {}): boolean {
  return sources.has(type) && (opts.internal === true || !INTERNAL_SOURCES.has(type));
}

/*
 * What connectors receive rather than fetch: inbound webhook routes and file formats. Each connector
 * registers its own from `src/connectors/<name>/index.ts`; src/api serves and documents them without
 * knowing any connector (src/api/routes/webhooks.ts, src/api/routes/imports.ts), and the engine
 * imports files without knowing how they are read (src/sync/imports.ts).
 *
 * (Its imports stand here, with the section, so that it reads and merges on its own.)
 */
import type { ErrorCode } from '../domain/errors.ts';
import type { RecordKind } from './canonical.ts';
import type { SourceItem } from './connector.ts';
import type { StoredWebhookEvent } from './webhook-events.ts';

/** How far a delivery's signed timestamp may be from our clock, either way, for every inbound route. */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

/** A delivery's request headers, names in lower case as Node gives them. */
export type InboundHeaders = Record<string, string | string[] | undefined>;

/** One header's value; a repeated header's values joined with ",". */
export function headerValue(headers: InboundHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(',') : v;
}

/** What an inbound handler made of one delivery. */
export type InboundVerdict =
  /** A verified event: stored once per event id (a replay changes nothing), then processed by a run. */
  | { ok: true; event: StoredWebhookEvent }
  /** A verified event of a type the source does not book: acknowledged (202), not stored. */
  | { ok: true; ignored: { eventId: string } }
  /** Refused, with the reason the sender is told (a bad signature, a body that is not an event). */
  | { ok: false; error: DomainError }
  /**
   * The pipeline has no endpoint here (for instance no signing secret is configured): answered
   * exactly like an unknown pipeline, so that a caller cannot tell which pipelines exist.
   */
  | { ok: false; noEndpoint: true };

/**
 * A connector's own webhook route, `POST /v1/webhooks/{pipeline}<pathSuffix>`, for the pipelines
 * whose source is `sourceType`. The API looks the pipeline up, hands over the exact body bytes and
 * the headers, and stores and queues what `verify` returns.
 */
export interface InboundHandler {
  sourceType: string;
  /** Appended to `/v1/webhooks/{pipeline}`: '' (at most one connector) or '/<name>', e.g. '/stripe'. */
  pathSuffix: '' | `/${string}`;
  /** The route's entry in the API reference; `body` documents the delivery, `verify` validates it. */
  docs: {
    operationId: string;
    summary: string;
    description: string;
    body: z.ZodType;
    example?: unknown;
    /** What the 202 means for this route. */
    accepted: string;
    errors: ErrorCode[];
  };
  /** Verifies a delivery over its exact bytes and says what it holds. A bad delivery is a verdict, not a throw. */
  verify(pipeline: Pipeline, rawBody: Buffer, headers: InboundHeaders): InboundVerdict | Promise<InboundVerdict>;
}

const inbound = new Map<string, InboundHandler>();

/** Each connector that receives webhooks registers its route here (see src/connectors/<name>/index.ts). */
export function registerInbound(handler: InboundHandler): Unregister {
  const taken = inbound.get(handler.pathSuffix);
  if (taken && taken.sourceType !== handler.sourceType) {
    throw new Error(
      `Inbound route /v1/webhooks/{pipeline}${handler.pathSuffix} is already the ${taken.sourceType} source's`,
    );
  }
  return replaceEntry(inbound, handler.pathSuffix, handler);
}

/** The registered inbound routes, ordered by path so the API reference does not depend on load order. */
export function inboundHandlers(): InboundHandler[] {
  return [...inbound.values()].sort((a, b) => (a.pathSuffix < b.pathSuffix ? -1 : a.pathSuffix > b.pathSuffix ? 1 : 0));
}

/** What a target's inbound handler made of one delivery. */
export type TargetInboundVerdict =
  /** Verified. `changed`: it names something of this pipeline's tenant, so the pipeline should run (reading payment status back). */
  | { ok: true; changed: boolean }
  /** Refused, with the reason the sender is told (a bad signature, a body that is not a delivery). */
  | { ok: false; error: DomainError }
  /** The pipeline has no endpoint here (no key configured): answered exactly like an unknown pipeline. */
  | { ok: false; noEndpoint: true };

/**
 * A target platform's webhooks (it tells us a document changed there, e.g. an invoice was paid):
 * verified over the exact bytes, answered 200 with an empty body, and a verified change triggers a
 * run of the pipeline, joining its pending one (src/api/routes/webhooks.ts).
 */
export interface TargetInbound {
  /** Appended to `/v1/webhooks/{pipeline}`, e.g. '/xero'; never a source's suffix. */
  pathSuffix: `/${string}`;
  /** The route's entry in the API reference, as for a source's route; `accepted` says what the 200 means. */
  docs: InboundHandler['docs'];
  /**
   * Verifies a delivery for one pipeline and says whether it concerns it. `tenantId` reads the
   * tenant the pipeline's OAuth connection is bound to, for when its settings name none.
   */
  verify(
    pipeline: Pipeline,
    rawBody: Buffer,
    headers: InboundHeaders,
    ctx: { tenantId(): Promise<string | null> },
  ): TargetInboundVerdict | Promise<TargetInboundVerdict>;
}

/** The inbound routes of the registered targets, ordered by path. */
export function targetInboundHandlers(): { targetType: string; inbound: TargetInbound }[] {
  return [...targets.values()]
    .filter((d): d is TargetDefinition & { inbound: TargetInbound } => d.inbound !== undefined)
    .map((d) => ({ targetType: d.type, inbound: d.inbound }))
    .sort((a, b) => (a.inbound.pathSuffix < b.inbound.pathSuffix ? -1 : 1));
}

/** A file that cannot be read at all (as opposed to a bad row in a good file); an import answers it 400. */
export class ImportFileError extends Error {
  readonly line: number | null;
  constructor(message: string, line: number | null = null) {
    super(line === null ? message : `${message} (line ${line})`);
    this.name = 'ImportFileError';
    this.line = line;
  }
}

/** What a file says about one of its rows, before the engine has seen it. */
export interface ImportedRow {
  line: number;
  kind: RecordKind;
  sourceId: string;
  /** What is wrong with this row; its document is refused (IMPORT_ROW_INVALID). */
  problems?: { field: string; message: string }[] | undefined;
  /** Lines whose problems refuse this row's document too (the other lines of a bad invoice). */
  refusedWith?: number[] | undefined;
  /** Why the row is not a document to import (a failed collection, a fee-only line). */
  ignored?: string | undefined;
}

/** A file read into canonical records, with a result per row. */
export interface ImportedFile {
  kind: string;
  /** How the bytes were read, e.g. csv or xlsx. */
  format: string;
  items: SourceItem[];
  rows: ImportedRow[];
  /** Columns the kind does not read (a typo shows up here instead of vanishing). */
  ignoredColumns: string[];
  /**
   * What the import's run gives its source beside the run's stored parameters, for this import only
   * and never stored: e.g. the customers a file may create but never update (a SmartDebit report's
   * account holders), which the file source's customer lookup answers.
   */
  sourceParams?: Record<string, unknown>;
}

export interface ImportOptions {
  /** The kind of file; the format tells it from the content when absent. */
  kind?: string | undefined;
  decimalComma?: boolean | undefined;
}

/** A way of reading files into records, for imports (`POST /v1/imports`, `ledgerlink import`). */
export interface FileFormat {
  name: string;
  /** The kinds of file it reads, e.g. invoices, receipts, a provider's payout report. */
  kinds: readonly string[];
  /** Reads a file; throws ImportFileError when the file as a whole cannot be read. */
  parse(bytes: Uint8Array, fileName: string, options: ImportOptions): Promise<ImportedFile>;
}

const fileFormats = new Map<string, FileFormat>();

/** Each connector that reads files registers its format here (see src/connectors/csv/index.ts). */
export function registerFileFormat(format: FileFormat): Unregister {
  for (const other of fileFormats.values()) {
    const shared = other.name === format.name ? [] : format.kinds.filter((k) => other.kinds.includes(k));
    if (shared.length) throw new Error(`File kind ${shared.join(', ')} is already read by format ${other.name}`);
  }
  return replaceEntry(fileFormats, format.name, format);
}

/** Every kind of file some format reads, in registration order. */
export function importKinds(): string[] {
  return [...fileFormats.values()].flatMap((f) => [...f.kinds]);
}

/**
 * Reads a file with the format of its kind; without a kind, with each format in turn until one
 * reads it (the last one's refusal is the answer).
 */
export async function parseImportFile(
  bytes: Uint8Array,
  fileName: string,
  options: ImportOptions,
): Promise<ImportedFile> {
  const formats = [...fileFormats.values()];
  if (options.kind !== undefined) {
    const kind = options.kind;
    const format = formats.find((f) => f.kinds.includes(kind));
    if (!format)
      throw new ImportFileError(
        `Unknown kind of file "${kind}"; known: ${importKinds().join(', ') || '(none loaded)'}`,
      );
    return format.parse(bytes, fileName, options);
  }
  let refused = new ImportFileError('No file format is loaded');
  for (const format of formats) {
    try {
      return await format.parse(bytes, fileName, options);
    } catch (err) {
      if (!(err instanceof ImportFileError)) throw err;
      refused = err;
    }
  }
  throw refused;
}
