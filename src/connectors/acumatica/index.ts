import { type TargetDefinition, registerTarget } from '../../sync/registry.ts';
import { AcumaticaSettings, SECRETS, rateScope, tokenUrlOf } from './settings.ts';
import { createAcumaticaTarget } from './target.ts';

/**
 * The Acumatica target: customers, items, invoices and credit memos (released), payments applied to
 * their invoice, refunds of a payment, and applications of payments and credit memos, through the contract-based REST
 * API (Default/24.200.001), signed in with a cookie session or OAuth 2.0. See
 * docs/connectors/acumatica.md.
 */
export const acumaticaTarget: TargetDefinition = {
  type: 'acumatica',
  description:
    'Acumatica (contract-based REST, Default/24.200.001): customers, items, invoices and credit memos released, payments applied through DocumentsToApply, refunds; cookie session or OAuth 2.0',
  settings: AcumaticaSettings,
  secrets: SECRETS,
  outbound: (s) => {
    const parsed = AcumaticaSettings.safeParse(s);
    if (!parsed.success) return typeof s.instanceUrl === 'string' ? [{ field: 'instanceUrl', url: s.instanceUrl }] : [];
    return [
      { field: 'instanceUrl', url: parsed.data.instanceUrl },
      ...(parsed.data.auth === 'oauth' ? [{ field: 'tokenUrl', url: tokenUrlOf(parsed.data) }] : []),
    ];
  },
  rateScopes: (input) => {
    const s = AcumaticaSettings.safeParse(input);
    return s.success ? [rateScope(s.data)] : [];
  },
  create: (deps) => Promise.resolve(createAcumaticaTarget(deps)),
};

registerTarget(acumaticaTarget);
