import type { AnyRoute } from '../route.ts';
import { getTransactionRoute, listTransactionsRoute } from './reports/transactions.ts';
import { customerBalanceRoute, customerStatementRoute, customerStatementsRoute } from './reports/statements.ts';
import { trialBalanceRoute } from './reports/trial-balance.ts';
import { vatReportRoute } from './reports/vat.ts';
import { transactionPdfRoute } from './pdf.ts';

/** The reading endpoints: transactions, statements, balances, the trial balance and the VAT report. */
export const reportRoutes: AnyRoute[] = [
  listTransactionsRoute,
  getTransactionRoute,
  customerStatementsRoute,
  customerStatementRoute,
  customerBalanceRoute,
  trialBalanceRoute,
  vatReportRoute,
  transactionPdfRoute,
];
