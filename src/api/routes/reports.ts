import type { AnyRoute } from '../route.ts';
import { getTransactionRoute, listTransactionsRoute } from './reports/transactions.ts';
import { customerBalanceRoute, customerStatementRoute, customerStatementsRoute } from './reports/statements.ts';
import { trialBalanceRoute } from './reports/trial-balance.ts';
import { transactionPdfRoute } from './pdf.ts';

/** The reading endpoints: transactions, statements, balances and the trial balance. */
export const reportRoutes: AnyRoute[] = [
  listTransactionsRoute,
  getTransactionRoute,
  customerStatementsRoute,
  customerStatementRoute,
  customerBalanceRoute,
  trialBalanceRoute,
  transactionPdfRoute,
];
