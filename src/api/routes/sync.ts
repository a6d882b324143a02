import type { AnyRoute } from '../route.ts';
import { pipelineRoutes } from './pipelines.ts';
import { runRoutes } from './runs.ts';
import { exceptionRoutes } from './exceptions.ts';
import { auditRoutes } from './audit.ts';

/** The sync engine's endpoints. Connector routes (webhooks, imports) add themselves here. */
export const syncRoutes: AnyRoute[] = [...pipelineRoutes, ...runRoutes, ...exceptionRoutes, ...auditRoutes];
