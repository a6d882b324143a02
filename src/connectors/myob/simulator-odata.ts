import { ODataFilterError, odataFilter } from '../../sync/remote/odata-filter.ts';
import { MyobRefusal } from './simulator-store.ts';

/*
 * The simulated MYOB's `$filter`: OData version 3, the version MYOB's API speaks (apisupport.myob.com
 * "Digging into ODATA filters"), as src/sync/remote/odata-filter.ts parses it: comparisons of a
 * field path (`Customer/UID`) with a literal ('text', guid'…', datetime'…', numbers, true, false,
 * null), joined by `and` and `or`, grouped in parentheses; text compared without regard to case, as
 * MYOB's server does. Anything else is refused, 400 `InvalidFilter`.
 */

/** Which records (as the list shows them) the `$filter` keeps; none keeps every one. Refused when it does not parse. */
export function matcher(filter: string | null): (record: Record<string, unknown>) => boolean {
  if (!filter) return () => true;
  try {
    return odataFilter(filter);
  } catch (err) {
    if (!(err instanceof ODataFilterError)) throw err;
    throw new MyobRefusal(400, 'InvalidFilter', `The $filter "${filter}" is not supported: ${err.message}`);
  }
}
