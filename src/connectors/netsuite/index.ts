import { type TargetDefinition, registerTarget } from '../../sync/registry.ts';
import { NetSuiteSettings, NetSuiteTargetSettings, apiRootOf, rateScope, tokenUrlOf } from './settings.ts';
import { TYPE } from './settings.ts';
import { createNetSuiteTarget } from './target.ts';

const accountOf = (s: Record<string, unknown>): string =>
  NetSuiteSettings.shape.accountId.safeParse(s.accountId).success ? String(s.accountId) : '0';

/**
 * The NetSuite target: customers, items, invoices, credit memos and customer payments applied to
 * invoices, each upserted by its external id over the SuiteTalk REST record service; connected
 * with OAuth 2.0 client credentials (a certificate-signed client assertion). See
 * docs/connectors/netsuite.md.
 */
export const netSuiteTarget: TargetDefinition = {
  type: TYPE,
  description:
    'Oracle NetSuite (SuiteTalk REST): customers, items, invoices, credit memos, customer payments applied to invoices and refunds, upserted by external id; OAuth 2.0 client credentials (certificate) or token-based authentication',
  settings: NetSuiteTargetSettings,
  secrets: ['privateKey', 'consumerSecret', 'tokenSecret'],
  outbound: (s) => [
    { field: 'baseUrl', url: typeof s.baseUrl === 'string' ? s.baseUrl : apiRootOf(accountOf(s)) },
    { field: 'tokenUrl', url: typeof s.tokenUrl === 'string' ? s.tokenUrl : tokenUrlOf(accountOf(s)) },
  ],
  rateScopes: (input) => {
    const s = NetSuiteSettings.safeParse(input);
    return s.success ? [rateScope(s.data.accountId, s.data.limits)] : [];
  },
  create: (deps) => Promise.resolve(createNetSuiteTarget(deps)),
};

registerTarget(netSuiteTarget);
