import type { OAuthProvider } from '../../sync/remote/contracts.ts';
import { type TargetDefinition, registerTarget } from '../../sync/registry.ts';
import {
  API_BASE_URL,
  AUTHORIZE_URL,
  MYOB_SECRETS,
  MyobSettings,
  SCOPES,
  TOKEN_URL,
  TYPE,
  rateScope,
} from './settings.ts';
import { createMyobTarget } from './target.ts';

/**
 * How MYOB does OAuth 2.0: the code is exchanged with the app's credentials in the form; the
 * company file the consent covers comes back in the redirect (`businessId`, API keys created since
 * 12 March 2025) or is among those `GET https://api.myob.com/accountright/` lists with the new
 * token (older keys). The pipeline's `companyFileId` must be that one.
 */
export const myobOAuth: OAuthProvider = {
  authorizeUrl: AUTHORIZE_URL,
  tokenUrl: TOKEN_URL,
  scopes: SCOPES,
  pkce: false,
  clientAuthentication: 'body',
  async tenants({ callback, accessToken, settings, request }) {
    const wanted = typeof settings.companyFileId === 'string' ? settings.companyFileId.toLowerCase() : '';
    // API keys created since 12 March 2025: the company file the user chose comes back in the redirect.
    const business = callback.get('businessId');
    if (business !== null)
      return business.toLowerCase() === wanted
        ? [{ tenantId: business, tenantName: callback.get('businessName') ?? undefined }]
        : [];
    // Older keys: the company files of the user's account are listed with the new token.
    const base = typeof settings.baseUrl === 'string' ? settings.baseUrl : API_BASE_URL;
    const a = await request(`${base.replace(/\/+$/, '')}/`, {
      headers: {
        authorization: `Bearer ${accessToken}`,
        accept: 'application/json',
        'x-myobapi-key': typeof settings.clientId === 'string' ? settings.clientId : '',
        'x-myobapi-version': 'v2',
      },
    });
    if (a.status !== 200) throw new Error(`MYOB's list of company files answered ${a.status}`);
    const list = JSON.parse(a.text) as unknown;
    if (!Array.isArray(list)) throw new Error("MYOB's list of company files is not a list");
    return list
      .filter((f): f is { Id: string; Name?: string } => typeof (f as { Id?: unknown }).Id === 'string')
      .filter((f) => f.Id.toLowerCase() === wanted)
      .map((f) => ({ tenantId: f.Id, tenantName: f.Name }));
  },
};

/**
 * The MYOB Business / AccountRight target: customer cards, items, Service-layout sales as invoices
 * and credit notes, customer payments applied to invoices, credit settlements, PDFs; connected
 * with a MYOB OAuth 2.0 refresh token (or the consent flow) and, for AccountRight files, the
 * company file's credentials. See docs/connectors/myob.md.
 */
export const myobTarget: TargetDefinition = {
  type: TYPE,
  description:
    'MYOB Business / AccountRight: customer cards, items, service sales as invoices and credit notes, customer payments applied to invoices, credit settlements, PDFs; OAuth 2.0 and company file credentials',
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
