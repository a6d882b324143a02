import type { TargetCallContext } from '../../sync/target.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { type BatchOperation, type QboEntity, type QuickBooksApi, describeFault, faultCode, quote } from './api.ts';
import { currencyOf } from './documents.ts';
import type { Company } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * The Accounts Receivable lines of journal entries that name a customer, for open balances
 * (balances.ts). QuickBooks requires a customer in the Name column of an A/R line
 * (`JournalEntryLineDetail.Entity`), and that is the only place a journal entry names one, so
 * journal entries cannot be queried by customer: balances.ts reads the company's, and this keeps
 * the lines on an A/R account (`AccountType` 'Accounts Receivable'; a multicurrency company has one
 * per currency) naming a customer asked, each in its entry's currency (`CurrencyRef`, the home
 * currency when absent). A line on another account naming the customer (an expense billed to them,
 * say) is not their receivable. An account is told by the company's accounts read when the session
 * opened; one not among them (added since, or past the first 1,000) is read by id, inactive ones
 * too, 100 a query and 30 queries a batch call; one QuickBooks does not answer is refused, never
 * guessed. A home currency adjustment is skipped: its amounts are in the home currency and change
 * only what a foreign balance is worth there, not what the customer owes in theirs.
 */

export interface ReceivableLine {
  journalId: string;
  customer: string;
  currency: string;
  posting: 'Debit' | 'Credit';
  /** The line's Amount as QuickBooks answered it. */
  amount: unknown;
}

/** A journal entry's line as QuickBooks answers it. */
interface JournalLine {
  Amount?: unknown;
  JournalEntryLineDetail?: {
    PostingType?: string;
    AccountRef?: { value?: string };
    Entity?: { Type?: string; EntityRef?: { value?: string } };
  };
}

const IN_LIST = 100;
const BATCH = 30;
/** Entity types that are a Customer (a job is a sub-customer); the type may be left out, as on an A/R line it can only be one. */
const CUSTOMER_TYPES = new Set([undefined, 'Customer', 'Job']);

/** The lines of these journal entries on an A/R account naming a customer in `scope`. */
export async function receivableLines(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  company: Company,
  journals: Iterable<QboEntity>,
  scope: ReadonlySet<string>,
): Promise<ReceivableLine[]> {
  const named: (ReceivableLine & { account: string })[] = [];
  for (const je of journals) {
    if (je.HomeCurrencyAdjustment === true) continue;
    const currency = currencyOf(je, company);
    for (const l of (je.Line as JournalLine[] | undefined) ?? []) {
      const d = l.JournalEntryLineDetail;
      const customer = d?.Entity?.EntityRef?.value ?? '';
      if (!d || !scope.has(customer) || !CUSTOMER_TYPES.has(d.Entity?.Type)) continue;
      if (d.PostingType !== 'Debit' && d.PostingType !== 'Credit')
        throw new ConnectorError(
          SYSTEM,
          `reading open balances: JournalEntry ${je.Id} has a line naming customer ${customer} posted ${JSON.stringify(d.PostingType ?? null)}, neither Debit nor Credit`,
          { retryable: false },
        );
      named.push({
        journalId: je.Id,
        customer,
        currency,
        posting: d.PostingType,
        amount: l.Amount,
        account: d.AccountRef?.value ?? '',
      });
    }
  }
  // By Id alone: an account's number or name may spell another account's id.
  const known = new Map(company.accounts.map((a) => [a.Id, a]));
  const unknown = [...new Set(named.map((l) => l.account).filter((id) => !known.has(id)))];
  const read = unknown.length > 0 ? await readAccounts(api, ctx, unknown) : new Map<string, QboEntity>();
  const out: ReceivableLine[] = [];
  for (const { account: id, ...line } of named) {
    const account = known.get(id) ?? read.get(id);
    if (!account)
      throw new ConnectorError(
        SYSTEM,
        `reading open balances: JournalEntry ${line.journalId} has a line naming customer ${line.customer} on account ${id || '(none)'}, which is not an account QuickBooks answered`,
        { retryable: false },
      );
    if (account.AccountType === 'Accounts Receivable') out.push(line);
  }
  return out;
}

/** Accounts by id, inactive ones too (a query answers only active ones unless it asks for both). */
async function readAccounts(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  ids: string[],
): Promise<Map<string, QboEntity>> {
  const ops: BatchOperation[] = [];
  for (let i = 0; i < ids.length; i += IN_LIST)
    ops.push({
      query: `SELECT * FROM Account WHERE Active IN (true, false) AND Id IN (${ids
        .slice(i, i + IN_LIST)
        .map(quote)
        .join(', ')}) MAXRESULTS 1000`,
    });
  const out = new Map<string, QboEntity>();
  for (let i = 0; i < ops.length; i += BATCH)
    for (const a of await api.batch(ops.slice(i, i + BATCH), null, ctx.signal)) {
      if (!a.ok)
        throw new ConnectorError(
          SYSTEM,
          `reading the accounts of journal lines for open balances: ${describeFault(a.fault)}`,
          {
            retryable: faultCode(a.fault) === '10000' || /SystemFault/i.test(a.fault.type ?? ''),
          },
        );
      for (const e of (a.query?.Account as QboEntity[] | undefined) ?? []) out.set(e.Id, e);
    }
  return out;
}
