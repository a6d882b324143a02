import { type TargetDefinition, registerTarget } from '../../sync/registry.ts';
import { AccountsIqSettings, SECRETS, endpointFor, rateScope } from './settings.ts';
import { createAccountsIqTarget } from './target.ts';

/**
 * The AccountsIQ target: customers, stock items, batch invoices and receipts through
 * PostPayAndAllocateSalesInvoices (duplicate checks on), a receipt's provider fee as a sundry bank
 * payment, batch credit notes, refunds as sales debit
 * journals, allocations, invoice PDFs, over the SOAP Integration web service (API 2.0 tokens, or the legacy 1.1 Login). See
 * docs/connectors/accountsiq.md.
 */
export const accountsiqTarget: TargetDefinition = {
  type: 'accountsiq',
  description:
    'AccountsIQ (SOAP Integration service): customers, stock items, batch invoices and receipts with its duplicate checks, credit notes, refunds as debit journals, allocations, PDFs; API 2.0 tokens or 1.1 Login',
  settings: AccountsIqSettings,
  secrets: [...SECRETS],
  outbound: (s) => {
    const parsed = AccountsIqSettings.safeParse(s);
    if (parsed.success) return [{ field: parsed.data.url ? 'url' : 'region', url: endpointFor(parsed.data) }];
    return typeof s.url === 'string' ? [{ field: 'url', url: s.url }] : [];
  },
  rateScopes: (input) => {
    const s = AccountsIqSettings.safeParse(input);
    return s.success ? [rateScope(s.data, endpointFor(s.data))] : [];
  },
  create: (deps) => Promise.resolve(createAccountsIqTarget(deps)),
};

registerTarget(accountsiqTarget);
