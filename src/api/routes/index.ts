import type { AnyRoute } from '../route.ts';
import { getHealth, getMetrics, getReady } from './health.ts';
import { createEntityRoute, issueKeysRoute, listKeysRoute, revokeKeyRoute } from './admin-entities.ts';
import { loginRoute, logoutRoute } from './auth.ts';
import {
  acceptInvitationRoute,
  meRoute,
  setPasswordRoute,
  signInRoute,
  signOutRoute,
  switchEntityRoute,
} from './user-auth.ts';
import { userRoutes } from './users.ts';
import { setupRoutes } from './setup.ts';
import { salesRoutes } from './sales.ts';
import { journalRoutes } from './journals.ts';
import { reportRoutes } from './reports.ts';
import { amendmentRoutes } from './amendments.ts';
import { eInvoiceRoutes } from './e-invoices.ts';
import { syncRoutes } from './sync.ts';
import { deferralRoutes } from './deferrals.ts';
import { currencyRoutes } from './currencies.ts';
import { revaluationRoutes } from './revaluations.ts';
import { purchaseRoutes } from './purchases.ts';
import { intercompanyRoutes } from './intercompany.ts';
import { attachmentRoutes } from './attachments.ts';
import { receiptFeeRoutes } from './receipt-fees.ts';

/** Every ledger endpoint, in the order the API reference lists them. */
export const allRoutes: AnyRoute[] = [
  getHealth,
  getReady,
  getMetrics,
  createEntityRoute,
  issueKeysRoute,
  listKeysRoute,
  revokeKeyRoute,
  loginRoute,
  logoutRoute,
  signInRoute,
  signOutRoute,
  meRoute,
  switchEntityRoute,
  setPasswordRoute,
  acceptInvitationRoute,
  ...userRoutes,
  ...setupRoutes,
  ...currencyRoutes,
  ...salesRoutes,
  ...journalRoutes,
  ...reportRoutes,
  ...deferralRoutes,
  ...revaluationRoutes,
  ...attachmentRoutes,
  ...amendmentRoutes,
  ...receiptFeeRoutes,
  ...eInvoiceRoutes,
  ...purchaseRoutes,
  ...intercompanyRoutes,
  ...syncRoutes,
];
