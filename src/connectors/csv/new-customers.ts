import type { CanonicalCustomer } from '../../sync/canonical.ts';

/**
 * Customers a file may create but never update, by their source id: a SmartDebit report's account
 * names are the names on the payers' bank accounts ("J SMITH"), not the customers' names in the
 * books ("Smith, Jane"). Sent as customer records they would rename every customer they name, so
 * they are kept out of the records and answered by the file source's customer lookup instead,
 * which the engine asks only about a customer this pipeline has not met yet (src/sync/engine/
 * customers.ts) and which links a customer the target already has before it creates one.
 *
 * The parsed file hands them to its import's run as a source parameter that is never stored
 * (ImportedFile.sourceParams): a run without them (a retry of a parked payment) creates no
 * customer, and the payment is parked for its customer as before, never booked onto someone else.
 */
export type NewCustomers = ReadonlyMap<string, CanonicalCustomer>;

/** The source parameter that carries them. */
export const SOURCE_NEW_CUSTOMERS = 'newCustomers';

/** The customer the file a run imports may create under this source id; undefined for other runs. */
export function newCustomerFor(params: Record<string, unknown>, sourceId: string): CanonicalCustomer | undefined {
  const customers = params[SOURCE_NEW_CUSTOMERS];
  return customers instanceof Map ? (customers as NewCustomers).get(sourceId) : undefined;
}
