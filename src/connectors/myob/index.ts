import { type TargetDefinition, registerTarget } from '../../sync/registry.ts';
import { myobOAuth } from './oauth.ts';
import { API_BASE_URL, MYOB_SECRETS, MyobSettings, TOKEN_URL, TYPE, rateScope } from './settings.ts';
import { createMyobTarget } from './target.ts';

/**
 * The MYOB Business / AccountRight target: customer cards, items, Service-layout sales as invoices
 * and credit notes, customer payments applied to invoices (a provider's fee as spend money), credit
 * settlements, PDFs; connected
 * with a MYOB OAuth 2.0 refresh token (or the consent flow) and, for AccountRight files, the
 * company file's credentials. See docs/connectors/myob.md.
 */
export const myobTarget: TargetDefinition = {
  type: TYPE,
  description:
    'MYOB Business / AccountRight: customer cards, items, service sales as invoices and credit notes, customer payments applied to invoices (a provider fee as spend money), credit settlements, PDFs; OAuth 2.0 and company file credentials',
  settings: MyobSettings,
  secrets: [...MYOB_SECRETS],
  oauth: myobOAuth,
  outbound: (s) => [
    { field: 'baseUrl', url: typeof s.baseUrl === 'string' ? s.baseUrl : API_BASE_URL },
    { field: 'tokenUrl', url: typeof s.tokenUrl === 'string' ? s.tokenUrl : TOKEN_URL },
  ],
  rateScopes: (input) => {
    const s = MyobSettings.safeParse(input);
    return s.success ? [rateScope(s.data.clientId, s.data.limits)] : [];
  },
  create: (deps) => Promise.resolve(createMyobTarget(deps)),
};

registerTarget(myobTarget);
