// The API's one import of connectors: loading them all registers their sources, targets, webhook
// routes and file formats before the routes below are listed (the lint rule allows it here only).
import '../../connectors/all.ts';
import type { AnyRoute } from '../route.ts';
import { pipelineRoutes } from './pipelines.ts';
import { connectionRoutes } from './connections.ts';
import { runRoutes } from './runs.ts';
import { exceptionRoutes } from './exceptions.ts';
import { auditRoutes } from './audit.ts';
import { webhookRoutes } from './webhooks.ts';
import { dailySummaryRoutes } from './daily-summary.ts';
import { importRoutes } from './imports.ts';
import { reconciliationRoutes } from './reconciliation.ts';
import { reconciliationJobRoutes } from './reconciliations.ts';

/** The sync engine's endpoints. Connector routes (webhooks, imports) come from the registries in src/sync/registry.ts. */
export const syncRoutes: AnyRoute[] = [
  ...pipelineRoutes,
  ...connectionRoutes,
  ...runRoutes,
  ...exceptionRoutes,
  ...auditRoutes,
  ...importRoutes(),
  ...reconciliationRoutes,
  ...reconciliationJobRoutes,
  ...webhookRoutes(),
  ...dailySummaryRoutes,
];
