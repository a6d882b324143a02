/**
 * The chart of accounts, tax codes, bank account and customer defaults every new entity starts
 * with (documented in docs/ledger.md). Roles name the accounts the ledger posts to on its own.
 */
export interface AccountRoles {
  debtorsControl: string;
  bank: string;
  sales: string;
  vatOutput: string;
  discountAllowed: string;
  fxGainLoss: string;
  /** Unrealised exchange differences of period-end revaluations (RV). */
  fxUnrealised: string;
  deferredRevenue: string;
  suspense: string;
  bankCharges: string;
  /** Suppliers' default control account (the purchase ledger). */
  creditorsControl: string;
  /** Where the VAT of purchase invoices is posted (reclaimable input VAT). */
  vatInput: string;
  /** Suppliers' default expense account. */
  purchases: string;
  /** Suggested control account of a customer that is another entity (intercompany receivable). */
  intercompanyDueFrom: string;
  /** Suggested control account of a supplier that is another entity (intercompany payable). */
  intercompanyDueTo: string;
}

export const DEFAULT_ROLES: AccountRoles = {
  debtorsControl: '1100',
  bank: '1200',
  sales: '4000',
  vatOutput: '2200',
  discountAllowed: '4900',
  fxGainLoss: '7900',
  fxUnrealised: '7910',
  deferredRevenue: '2300',
  suspense: '9999',
  bankCharges: '7700',
  creditorsControl: '2100',
  vatInput: '2210',
  purchases: '5000',
  intercompanyDueFrom: '1150',
  intercompanyDueTo: '2150',
};

export interface DefaultGlAccount {
  code: string;
  name: string;
  type: 'asset' | 'liability' | 'equity' | 'income' | 'expense';
  isPosting: boolean;
  /** Takes only the control side of customer or supplier documents (migration 0031). */
  isControl?: boolean;
}

export const DEFAULT_GL_ACCOUNTS: DefaultGlAccount[] = [
  { code: '1000', name: 'Current assets', type: 'asset', isPosting: false },
  { code: '1100', name: 'Debtors control', type: 'asset', isPosting: true, isControl: true },
  { code: '1150', name: 'Intercompany due from', type: 'asset', isPosting: true, isControl: true },
  { code: '1200', name: 'Bank current account', type: 'asset', isPosting: true },
  { code: '2000', name: 'Current liabilities', type: 'liability', isPosting: false },
  { code: '2100', name: 'Creditors control', type: 'liability', isPosting: true, isControl: true },
  { code: '2150', name: 'Intercompany due to', type: 'liability', isPosting: true, isControl: true },
  { code: '2200', name: 'VAT output', type: 'liability', isPosting: true },
  { code: '2210', name: 'VAT input', type: 'asset', isPosting: true },
  { code: '2300', name: 'Deferred revenue', type: 'liability', isPosting: true },
  { code: '3000', name: 'Retained earnings', type: 'equity', isPosting: true },
  { code: '4000', name: 'Sales', type: 'income', isPosting: true },
  { code: '4900', name: 'Discount allowed', type: 'expense', isPosting: true },
  { code: '5000', name: 'Purchases', type: 'expense', isPosting: true },
  { code: '7700', name: 'Bank charges', type: 'expense', isPosting: true },
  { code: '7900', name: 'Exchange gains and losses', type: 'expense', isPosting: true },
  { code: '7910', name: 'Unrealised exchange gains and losses', type: 'expense', isPosting: true },
  { code: '9999', name: 'Suspense', type: 'asset', isPosting: true },
];

export function defaultTaxCodes(standardRate: string) {
  return [
    // vatCategory: the EN 16931 category on e-invoices; null derives it from the rate (S or Z).
    { code: 'STD', name: 'Standard rate', rate: standardRate, vatCategory: null },
    { code: 'ZERO', name: 'Zero rate', rate: '0', vatCategory: null },
    { code: 'EXEMPT', name: 'Exempt', rate: '0', vatCategory: 'E' },
  ];
}

export interface CustomerDefaults {
  currency: string;
  creditLimit: string;
  creditTerms: { days: number; endOfMonth: boolean };
  defaultTaxCode: string;
  defaultGlAccountCode: string;
  controlGlAccountCode: string;
}

export function defaultCustomerDefaults(baseCurrency: string): CustomerDefaults {
  return {
    currency: baseCurrency,
    creditLimit: '0',
    creditTerms: { days: 30, endOfMonth: false },
    defaultTaxCode: 'STD',
    defaultGlAccountCode: DEFAULT_ROLES.sales,
    controlGlAccountCode: DEFAULT_ROLES.debtorsControl,
  };
}
