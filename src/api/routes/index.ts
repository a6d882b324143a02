import type { AnyRoute } from '../route.ts';
import { getHealth } from './health.ts';
import { createEntityRoute, issueKeysRoute, listKeysRoute, revokeKeyRoute } from './admin-entities.ts';
import { loginRoute, logoutRoute } from './auth.ts';
import { setupRoutes } from './setup.ts';
import { salesRoutes } from './sales.ts';
import { reportRoutes } from './reports.ts';
import { amendmentRoutes } from './amendments.ts';
import { syncRoutes } from './sync.ts';
import { attachmentRoutes } from './attachments.ts';

/** Every ledger endpoint, in the order the API reference lists them. */
export const allRoutes: AnyRoute[] = [
  getHealth,
  createEntityRoute,
  issueKeysRoute,
  listKeysRoute,
  revokeKeyRoute,
  loginRoute,
  logoutRoute,
  ...setupRoutes,
  ...salesRoutes,
  ...reportRoutes,
  ...attachmentRoutes,
  ...amendmentRoutes,
  ...syncRoutes,
];
