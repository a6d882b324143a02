import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import type { SourceConnector } from './connector.ts';
import type { Pipeline } from './pipelines.ts';
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

export interface TargetDefinition {
  type: string;
  /** One line for `--help` and error messages. */
  description: string;
  /** The target's settings (`target:` in a pipeline), checked when a pipeline is loaded or saved. */
  settings: z.ZodType<Record<string, unknown>>;
  create(deps: TargetDeps): Promise<TargetConnector>;
}

const sources = new Map<string, SourceFactory>();
const targets = new Map<string, TargetDefinition>();

/** Each connector registers its source type here (see src/connectors/<name>/index.ts). */
export function registerSource(type: string, factory: SourceFactory): void {
  sources.set(type, factory);
}

export function registerTarget(def: TargetDefinition): void {
  targets.set(def.type, def);
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
  const factory = sources.get(pipeline.sourceType);
  if (!factory) throw unknownSourceType(pipeline.sourceType);
  return factory(pipeline, deps);
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
