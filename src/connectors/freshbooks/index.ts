import { REMOTE_TARGET_SECRETS } from '../../sync/remote/settings.ts';
import { type TargetDefinition, registerTarget } from '../../sync/registry.ts';
import {
  API_BASE_URL,
  FRESHBOOKS_OAUTH,
  FreshBooksSettings,
  FreshBooksTargetSettings,
  TOKEN_URL,
  TYPE,
  rateScope,
} from './settings.ts';
import { createFreshBooksTarget } from './target.ts';

/**
 * The FreshBooks target: clients, items, invoices (marked sent), credit notes set against
 * invoices, payments of the invoices they name (a provider's fee as an expense), PDFs; connected
 * through OAuth 2.0 (the shared consent flow, or a refresh token in the settings). See
 * docs/connectors/freshbooks.md.
 */
export const freshBooksTarget: TargetDefinition = {
  type: TYPE,
  description:
    'FreshBooks: clients, items, invoices (marked sent), credit notes set against invoices, payments of invoices (a provider fee as an expense), PDFs; OAuth 2.0',
  settings: FreshBooksTargetSettings,
  secrets: [...REMOTE_TARGET_SECRETS],
  oauth: FRESHBOOKS_OAUTH,
  outbound: (s) => [
    { field: 'baseUrl', url: typeof s.baseUrl === 'string' ? s.baseUrl : API_BASE_URL },
    { field: 'tokenUrl', url: typeof s.tokenUrl === 'string' ? s.tokenUrl : TOKEN_URL },
  ],
  rateScopes: (input, connectedTenantId) => {
    const s = FreshBooksSettings.safeParse(input);
    if (!s.success) return [];
    const accountId = s.data.tenantId ?? connectedTenantId;
    return accountId ? [rateScope(accountId, s.data.limits)] : [];
  },
  create: (deps) => Promise.resolve(createFreshBooksTarget(deps)),
};

registerTarget(freshBooksTarget);
