import type { Queryable } from '../db/database.ts';
import type { Logger } from 'pino';
import type { SourceConnector } from '../sync/connector.ts';
import type { Pipeline } from '../sync/pipelines.ts';

export interface SourceDeps {
  db: Queryable;
  log: Logger;
  /** Parameters of the run (an import's file, a webhook batch, a day to summarise). */
  params: Record<string, unknown>;
  runId: string | null;
}

export type SourceFactory = (pipeline: Pipeline, deps: SourceDeps) => SourceConnector;

const registry = new Map<string, SourceFactory>();

/** Each connector registers its source type here (see src/connectors/<name>/index.ts). */
export function registerSource(type: string, factory: SourceFactory): void {
  registry.set(type, factory);
}

export function sourceTypes(): string[] {
  return [...registry.keys()].sort();
}

export function createSource(pipeline: Pipeline, deps: SourceDeps): SourceConnector {
  const factory = registry.get(pipeline.sourceType);
  if (!factory) throw new Error(`Unknown source type "${pipeline.sourceType}" (known: ${sourceTypes().join(', ')})`);
  return factory(pipeline, deps);
}
