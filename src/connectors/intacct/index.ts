import { type TargetDefinition, registerTarget } from '../../sync/registry.ts';
import { IntacctSettings, SECRETS, TYPE, endpointOf, rateScope } from './settings.ts';
import { createIntacctTarget } from './target.ts';

/**
 * The Sage Intacct target: customers, invoices, credit adjustments applied to invoices, received
 * payments applied to invoices, over the XML gateway (Web Services sender and a company user's
 * API session, control ids with uniqueid). See docs/connectors/intacct.md.
 */
export const intacctTarget: TargetDefinition = {
  type: TYPE,
  description:
    'Sage Intacct (XML API): customers, AR invoices, credit adjustments and received payments applied to invoices; Web Services sender + company user session; duplicate requests refused by control id',
  settings: IntacctSettings,
  secrets: [...SECRETS],
  outbound: (s) => [
    { field: 'endpoint', url: endpointOf({ endpoint: typeof s.endpoint === 'string' ? s.endpoint : undefined }) },
  ],
  rateScopes: (input) => {
    const s = IntacctSettings.safeParse(input);
    return s.success ? [rateScope(s.data)] : [];
  },
  create: (deps) => Promise.resolve(createIntacctTarget(deps)),
};

registerTarget(intacctTarget);
