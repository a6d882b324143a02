import type { AnyRoute } from '../route.ts';
import { getTransactionRoute, listTransactionsRoute } from './reports/transactions.ts';
import {
  customerBalanceRoute,
  customerBalancesRoute,
  customerStatementRoute,
  customerStatementsRoute,
} from './reports/statements.ts';
import { trialBalanceRoute } from './reports/trial-balance.ts';
import { agedDebtorsRoute } from './reports/aged-debtors.ts';
import { vatReportRoute } from './reports/vat.ts';
import { analysisReportRoute } from './analysis.ts';
import { customerStatementPdfRoute, transactionPdfRoute } from './pdf.ts';
import { listAllocationsRoute, transactionAllocationsRoute } from './reports/allocations.ts';

/** The reading endpoints: transactions, allocations, statements, balances, aged debtors, the trial balance and the VAT report. */
export const reportRoutes: AnyRoute[] = [
  listTransactionsRoute,
  getTransactionRoute,
  transactionAllocationsRoute,
  listAllocationsRoute,
  customerStatementsRoute,
  customerBalancesRoute,
  customerStatementRoute,
  customerBalanceRoute,
  trialBalanceRoute,
  agedDebtorsRoute,
  vatReportRoute,
  analysisReportRoute,
  transactionPdfRoute,
  customerStatementPdfRoute,
];
