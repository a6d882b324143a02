import type { AnyRoute } from '../route.ts';
import { glAccountRoutes } from './gl-accounts.ts';
import { taxCodeRoutes } from './tax-codes.ts';
import { bankAccountRoutes } from './bank-accounts.ts';
import { departmentRoutes } from './departments.ts';
import { customerRoutes } from './customers.ts';
import { settingsRoutes } from './settings.ts';
import { analysisRoutes } from './analysis.ts';
import { itemRoutes } from './items.ts';

/** Setup data (chart of accounts, tax codes, bank accounts, departments), customers and the entity's settings. */
export const setupRoutes: AnyRoute[] = [
  ...glAccountRoutes,
  ...taxCodeRoutes,
  ...bankAccountRoutes,
  ...departmentRoutes,
  ...analysisRoutes,
  ...customerRoutes,
  ...itemRoutes,
  ...settingsRoutes,
];
