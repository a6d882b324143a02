import { type TargetDefinition, registerTarget } from '../../sync/registry.ts';
import { BusinessCentralSettings, DEFAULT_BASE_URL, apiRoot, rateScope, tokenUrlOf } from './settings.ts';
import { createBusinessCentralTarget } from './target.ts';

/**
 * The Microsoft Dynamics 365 Business Central target (API v2.0): customers, items, sales invoices
 * and credit memos (posted, credit memos against the invoice they credit), customer payments
 * entered against their invoice in a payment journal and posted; signed in with Microsoft Entra
 * ID's client credentials grant. See docs/connectors/businesscentral.md.
 */
export const businessCentralTarget: TargetDefinition = {
  type: 'businesscentral',
  description:
    'Microsoft Dynamics 365 Business Central (API v2.0): customers, items, sales invoices and credit memos posted, customer payments applied to their invoice through a payment journal; Entra ID client credentials',
  settings: BusinessCentralSettings,
  secrets: ['clientSecret'],
  outbound: (s) => {
    const tenant = typeof s.tenantId === 'string' ? s.tenantId : 'tenant';
    const base = typeof s.baseUrl === 'string' ? s.baseUrl : DEFAULT_BASE_URL;
    return [
      {
        field: 'baseUrl',
        url: apiRoot({
          baseUrl: base,
          tenantId: tenant,
          environment: typeof s.environment === 'string' ? s.environment : 'production',
        }),
      },
      { field: 'tokenUrl', url: typeof s.tokenUrl === 'string' ? s.tokenUrl : tokenUrlOf(tenant) },
    ];
  },
  rateScopes: (input) => {
    const s = BusinessCentralSettings.safeParse(input);
    return s.success ? [rateScope(s.data)] : [];
  },
  create: (deps) => Promise.resolve(createBusinessCentralTarget(deps)),
};

registerTarget(businessCentralTarget);
