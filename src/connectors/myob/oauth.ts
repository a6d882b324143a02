import type { OAuthProvider } from '../../sync/remote/contracts.ts';
import { API_BASE_URL, AUTHORIZE_URL, SCOPES, TOKEN_URL } from './settings.ts';

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
