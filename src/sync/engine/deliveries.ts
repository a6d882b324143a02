import { flushTarget } from '../outbound.ts';
import type { PageOutcome, SyncContext } from './context.ts';
import { masterDataDeliveries } from './customers.ts';
import type { Delivery } from './deliver.ts';
import { allocationDeliveries } from './allocations.ts';
import { creditNoteDeliveries } from './credit-notes.ts';
import { invoiceDeliveries } from './invoices.ts';
import { paymentDeliveries } from './payments.ts';

/** Every kind of document the engine sends, in dependency order. */
const DELIVERIES: Delivery<never>[] = [
  ...masterDataDeliveries,
  ...invoiceDeliveries,
  ...creditNoteDeliveries,
  ...paymentDeliveries,
  ...allocationDeliveries,
] as Delivery<never>[];

/**
 * Sends the documents a remote target has not taken yet whose retry time has come, kind by kind
 * in dependency order (the runs of a pipeline and the workers' timer call this). Returns how
 * many are still waiting.
 */
export async function retryTargetDeliveries(ctx: SyncContext, out: PageOutcome): Promise<number> {
  if (ctx.target.transactional) return 0;
  let waiting = 0;
  for (const d of DELIVERIES) waiting += await flushTarget(ctx, d, out);
  return waiting;
}
