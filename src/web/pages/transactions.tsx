import { z } from 'zod';
import type { Queryable } from '../../db/database.ts';
import { IsoDate } from '../../domain/schemas.ts';
import { type TransactionSummary, listTransactions } from '../../ledger/reports/transaction-list.ts';
import { type TransactionTypeInfo, listTransactionTypes } from '../../ledger/reports/transactions.ts';
import { Empty, KeysetPager } from '../components/common.tsx';
import { Layout } from '../components/layout.tsx';
import type { PageContext } from '../context.ts';
import { formatDate, formatMoney } from '../format.ts';
import { type KeysetStep, backParam, olderBack, parseBack, previousStep } from '../keyset.ts';

export const TRANSACTIONS_PAGE_SIZE = 50;

const trimmed = (max: number) =>
  z
    .string()
    .optional()
    .catch(undefined)
    .transform((s) => (s?.trim() ? s.trim().slice(0, max) : undefined));
/** A keyset cursor: the document date and id of the last transaction of a page (`2026-10-28_55`). */
const CURSOR = /^\d{4}-\d{2}-\d{2}_[1-9]\d{0,15}$/;

const id = z.coerce
  .number()
  .int()
  .positive()
  .refine((n) => Number.isSafeInteger(n))
  .optional()
  .catch(undefined);

/**
 * The transactions search: what cannot be one of the choices (a number that is not a number, a date
 * that is not a date) is ignored, never a failure. `after` is the keyset cursor of the page, `back` the
 * cursors of the pages before it (src/web/keyset.ts).
 */
export const TransactionsQuery = z.object({
  number: z.preprocess((v) => (v === '' ? undefined : v), id),
  reference: trimmed(50),
  customer: trimmed(50).transform((s) => s?.toUpperCase()),
  type: z
    .string()
    .regex(/^[A-Z]{2}$/)
    .optional()
    .catch(undefined),
  from: IsoDate.optional().catch(undefined),
  to: IsoDate.optional().catch(undefined),
  /** The keyset cursor: the document date and id of the last transaction shown (`2026-10-28_55`). */
  after: z
    .string()
    .regex(CURSOR)
    .optional()
    .catch(undefined)
    .transform((s) => {
      if (!s) return undefined;
      const [date = '', idText = ''] = s.split('_');
      const n = Number(idText);
      return IsoDate.safeParse(date).success && Number.isSafeInteger(n) ? { date, id: n, text: s } : undefined;
    }),
  back: z
    .unknown()
    .transform((v) => parseBack(v, (s) => CURSOR.test(s)))
    .catch(undefined),
});
export type TransactionsQuery = z.output<typeof TransactionsQuery>;

export interface TransactionsData {
  query: TransactionsQuery;
  types: TransactionTypeInfo[];
  items: TransactionSummary[];
  /** The `after` of the next (older) page, or null on the last. */
  nextCursor: string | null;
  /** What is wrong with the search, said instead of a list. */
  problem: string | null;
}

/**
 * A page of the entity's transactions, newest first, searched by number, reference (its start),
 * customer, type and date range, paged by keyset (`query.after`): the dashboard's data for
 * /transactions, and what `npm run bench` times.
 */
export async function loadTransactions(
  db: Queryable,
  entityId: string,
  query: TransactionsQuery,
): Promise<TransactionsData> {
  const types = await listTransactionTypes(db);
  // A type the ledger does not have is not one of the choices: ignored.
  const q = { ...query, type: types.some((t) => t.type === query.type) ? query.type : undefined };
  if (q.from && q.to && q.from > q.to) {
    return { query: q, types, items: [], nextCursor: null, problem: 'The “from” date is after the “to” date.' };
  }
  const page = await listTransactions(db, entityId, {
    number: q.number,
    referenceStartsWith: q.reference,
    customerCode: q.customer,
    type: q.type,
    fromDate: q.from,
    toDate: q.to,
    order: 'dateDesc',
    after: q.after?.id,
    afterDate: q.after?.date,
    page: 1,
    pageSize: TRANSACTIONS_PAGE_SIZE,
    count: false,
  });
  const last = page.items.at(-1);
  const nextCursor = page.nextCursor !== null && last ? `${last.transactionDate}_${last.transactionId}` : null;
  return { query: q, types, items: page.items, nextCursor, problem: null };
}

const STATUS_WORDS: Record<string, string> = {
  open: 'Open',
  partiallyAllocated: 'Partly allocated',
  allocated: 'Allocated',
  none: '—',
};

/** How far a document is allocated, in words. */
export function allocationStatusText(status: string): string {
  return STATUS_WORDS[status] ?? status;
}

/** A transaction type's name (`SI` → "Sales invoice"), or the code when the ledger has no name for it. */
export function typeName(types: TransactionTypeInfo[], type: string): string {
  return types.find((t) => t.type === type)?.name ?? type;
}

function searchLink(query: TransactionsQuery, after: string | undefined, back?: string[]): string {
  const q = new URLSearchParams();
  const fields: Record<string, string | number | undefined> = {
    number: query.number,
    reference: query.reference,
    customer: query.customer,
    type: query.type,
    from: query.from,
    to: query.to,
    after,
    back: after === undefined ? undefined : backParam(back),
  };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `/transactions?${s}` : '/transactions';
}

export function TransactionsPage(props: { ctx: PageContext; data: TransactionsData }) {
  const { ctx, data } = props;
  const { locale } = ctx;
  const q = data.query;
  const filtered = [q.number, q.reference, q.customer, q.type, q.from, q.to].some((v) => v !== undefined);
  const here: KeysetStep = { cursor: q.after?.text, back: q.after ? q.back : undefined };
  const previous = previousStep(here);
  return (
    <Layout ctx={ctx} title="Transactions" section="transactions">
      <h1>Transactions</h1>
      <form
        method="get"
        action="/transactions"
        class="filters search-grid"
        role="search"
        aria-label="Search transactions"
      >
        <label>
          Number
          <input type="number" name="number" min="1" step="1" inputmode="numeric" value={q.number ?? ''} />
        </label>
        <label>
          Reference starts with
          <input type="search" name="reference" maxLength={50} value={q.reference ?? ''} />
        </label>
        <label>
          Customer code
          <input type="search" name="customer" maxLength={50} value={q.customer ?? ''} autocapitalize="characters" />
        </label>
        <label>
          Type
          <select name="type">
            <option value="">All types</option>
            {data.types.map((t) => (
              <option value={t.type} selected={t.type === q.type}>
                {t.name} ({t.type})
              </option>
            ))}
          </select>
        </label>
        <label>
          Date from
          <input type="date" name="from" value={q.from ?? ''} />
        </label>
        <label>
          Date to
          <input type="date" name="to" value={q.to ?? ''} />
        </label>
        <button type="submit">Search</button>
        {filtered ? (
          <a href="/transactions" class="clear-filters">
            Clear
          </a>
        ) : null}
      </form>
      {data.problem ? (
        <div class="notice notice-error" role="alert">
          <strong>Could not search. </strong>
          {data.problem}
        </div>
      ) : null}
      <p class="muted" role="status">
        {q.after ? 'Older transactions' : 'Newest document date first'}
        {filtered ? ', matching the search' : ''}; dates are document dates.
      </p>
      {data.items.length === 0 ? (
        <Empty>
          {q.after ? (
            <>
              No older transactions. <a href={searchLink(q, undefined)}>Back to the newest</a>.
            </>
          ) : filtered ? (
            <>
              No transaction matches this search. Loosen it, or <a href="/transactions">show every transaction</a>.
            </>
          ) : (
            'No transactions yet: pipelines, imports and POST /v1/sales post them.'
          )}
        </Empty>
      ) : (
        <div class="table-scroll">
          <table class="transactions stack">
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">Document</th>
                <th scope="col">Customer</th>
                <th scope="col">Reference</th>
                <th scope="col">Due</th>
                <th scope="col" class="num">
                  Gross
                </th>
                <th scope="col" class="num">
                  Outstanding
                </th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((t) => (
                <tr>
                  <td data-label="Date">{formatDate(t.transactionDate, locale)}</td>
                  <td data-label="Document">
                    <a href={`/transactions/${t.transactionId}`}>
                      {typeName(data.types, t.type)} {t.number}
                    </a>
                  </td>
                  <td data-label="Customer">
                    {t.customerCode ? (
                      <a href={`/customers/${encodeURIComponent(t.customerCode)}`}>{t.customerCode}</a>
                    ) : (
                      '—'
                    )}
                  </td>
                  <td data-label="Reference">{t.externalReference || '—'}</td>
                  <td data-label="Due">{t.dueDate ? formatDate(t.dueDate, locale) : '—'}</td>
                  <td data-label="Gross" class="num">
                    {formatMoney(t.gross, t.currency, locale)}
                  </td>
                  <td data-label="Outstanding" class="num">
                    {formatMoney(t.outstanding, t.currency, locale)}
                  </td>
                  <td data-label="Status">{allocationStatusText(t.status)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <KeysetPager
        newest={q.after !== undefined ? searchLink(q, undefined) : null}
        previous={previous ? searchLink(q, previous.cursor, previous.back) : null}
        older={data.nextCursor !== null ? searchLink(q, data.nextCursor, olderBack(here)) : null}
      />
    </Layout>
  );
}
