import { REMOTE_TARGET_SECRETS } from '../../sync/remote/settings.ts';
import { type TargetDefinition, registerTarget } from '../../sync/registry.ts';
import {
  type DataCenter,
  TYPE,
  ZohoBooksSettings,
  ZohoBooksTargetSettings,
  apiBaseUrl,
  rateScope,
  tokenUrlOf,
} from './settings.ts';
import { createZohoBooksTarget } from './target.ts';

const dcOf = (s: Record<string, unknown>): DataCenter => {
  const parsed = ZohoBooksSettings.shape.dataCenter.safeParse(s.dataCenter);
  return parsed.success ? parsed.data : 'com';
};

/**
 * The Zoho Books target: contacts, items, invoices (marked sent), credit notes applied to
 * invoices, customer payments applied to invoices; connected with a Zoho OAuth 2.0 refresh token
 * of the organisation's data centre. See docs/connectors/zohobooks.md.
 */
export const zohoBooksTarget: TargetDefinition = {
  type: TYPE,
  description:
    'Zoho Books: contacts, items, invoices (marked sent), credit notes and customer payments applied to invoices, PDFs; OAuth 2.0 refresh token, per data centre',
  settings: ZohoBooksTargetSettings,
  secrets: [...REMOTE_TARGET_SECRETS],
  outbound: (s) => [
    { field: 'baseUrl', url: typeof s.baseUrl === 'string' ? s.baseUrl : apiBaseUrl(dcOf(s)) },
    { field: 'tokenUrl', url: typeof s.tokenUrl === 'string' ? s.tokenUrl : tokenUrlOf(dcOf(s)) },
  ],
  rateScopes: (input) => {
    const s = ZohoBooksSettings.safeParse(input);
    return s.success ? [rateScope(s.data.organizationId, s.data.limits)] : [];
  },
  create: (deps) => Promise.resolve(createZohoBooksTarget(deps)),
};

registerTarget(zohoBooksTarget);
