import { type TargetDefinition, registerTarget } from '../../sync/registry.ts';
import { OdooSettings, SECRETS, TYPE, rateScope } from './settings.ts';
import { createOdooTarget } from './target.ts';

/**
 * The Odoo target (16, 17, 18): customers, products, invoices and credit notes (posted), customer
 * payments applied to invoices, credits set against invoices; JSON-RPC with a user's API key.
 * See docs/connectors/odoo.md.
 */
export const odooTarget: TargetDefinition = {
  type: TYPE,
  description:
    'Odoo 16–18: partners, products, invoices and credit notes (account.move, posted), customer payments applied to invoices, refunds, credits set against invoices; JSON-RPC with an API key',
  settings: OdooSettings,
  secrets: [...SECRETS],
  outbound: (s) => (typeof s.url === 'string' ? [{ field: 'url', url: s.url }] : []),
  rateScopes: (input) => {
    const s = OdooSettings.safeParse(input);
    return s.success ? [rateScope(s.data)] : [];
  },
  create: (deps) => Promise.resolve(createOdooTarget(deps)),
};

registerTarget(odooTarget);
