import { REMOTE_TARGET_SECRETS } from '../../sync/remote/settings.ts';
import { type TargetDefinition, registerTarget } from '../../sync/registry.ts';
import {
  DEFAULT_BASE_URL,
  QUICKBOOKS_OAUTH,
  QuickBooksSettings,
  QuickBooksTargetSettings,
  TOKEN_URL,
  rateScopes,
} from './settings.ts';
import { quickbooksInbound } from './inbound.ts';
import { createQuickBooksTarget } from './target.ts';

/**
 * The QuickBooks Online target: customers, items, invoices, credit notes as credit memos, payments
 * applied to their invoice, refunds and allocations (a Payment's LinkedTxn), through the batch endpoint, connected with OAuth 2.0. See
 * docs/connectors/quickbooks.md.
 */
export const quickbooksTarget: TargetDefinition = {
  type: 'quickbooks',
  description:
    'QuickBooks Online: customers, items, invoices, credit memos, payments and allocations applied through LinkedTxn, and refunds, batched (30 a call) with requestid; OAuth 2.0',
  settings: QuickBooksTargetSettings,
  secrets: [...REMOTE_TARGET_SECRETS, 'verifierToken'],
  outbound: (s) => [
    { field: 'baseUrl', url: typeof s.baseUrl === 'string' ? s.baseUrl : DEFAULT_BASE_URL },
    { field: 'tokenUrl', url: typeof s.tokenUrl === 'string' ? s.tokenUrl : TOKEN_URL },
  ],
  oauth: QUICKBOOKS_OAUTH,
  inbound: quickbooksInbound,
  rateScopes: (input, connected) => {
    const s = QuickBooksSettings.safeParse(input);
    const realmId = s.success ? (s.data.realmId ?? connected) : null;
    if (!s.success || !realmId) return [];
    const { realm, batch } = rateScopes(realmId, s.data.limits);
    return [realm, batch];
  },
  create: (deps) => Promise.resolve(createQuickBooksTarget(deps)),
};

registerTarget(quickbooksTarget);
