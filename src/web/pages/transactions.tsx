import { z } from 'zod';
import type { Queryable } from '../../db/database.ts';
import { IsoDate } from '../../domain/schemas.ts';
import type { Side } from '../../domain/aging.ts';
import { type TransactionSummary, listTransactions, transactionHeads } from '../../ledger/reports/transaction-list.ts';
import { type TransactionTypeInfo, listTransactionTypes } from '../../ledger/reports/transactions.ts';
import { Empty, KeysetPager } from '../components/common.tsx';
import {
  FilterField,
  FilterProblems,
  type FilterProblem,
  QueryReader,
  SearchPanel,
  invalidAttrs,
  quoted,
} from '../components/filters.tsx';
import { Layout } from '../components/layout.tsx';
import type { PageContext } from '../context.ts';
import { formatDate, formatMoney } from '../format.ts';
import { type KeysetStep, backParam, olderBack, parseBack, previousStep } from '../keyset.ts';

export const TRANSACTIONS_PAGE_SIZE = 50;

/** A keyset cursor: the document date and id of the last transaction of a page (`2026-10-28_55`). */
const CURSOR = /^\d{4}-\d{2}-\d{2}_[1-9]\d{0,15}$/;
/** The longest customer code and external reference the ledger keeps (migrations/0001). */
const CODE_MAX = 50;
const REFERENCE_MAX = 50;

/** A keyset cursor that parses: a date that is one, and an id. */
function cursorOf(text: string): { date: string; id: number; text: string } | undefined {
  if (!CURSOR.test(text)) return undefined;
  const [date = '', idText = ''] = text.split('_');
  const n = Number(idText);
  return IsoDate.safeParse(date).success && Number.isSafeInteger(n) ? { date, id: n, text } : undefined;
}

/**
 * The transactions search as the address gives it. A value that cannot be one of the choices (a
 * number that is not a document number, a date that is not one) is set aside and said so
 * (`problems`, shown at its field and above the list), never dropped in silence; a code or a
 * reference longer than the ledger keeps can match nothing (`matchesNothing`). `after` is the
 * keyset cursor of the page, `back` the cursors of the pages before it (src/web/keyset.ts). The
 * type is checked against the ledger's types by loadTransactions.
 */
export const TransactionsQuery = z.unknown().transform((raw) => {
  const r = new QueryReader(raw);
  const without = 'the transactions are shown without this filter';
  const number = r.positive('number', 'Number', 'a document number (a whole number from 1)', without);
  let matchesNothing = false;
  const longest = (field: string, label: string, max: number, what: string) => {
    const value = r.text(field, label, without);
    if (value === undefined || [...value].length <= max) return value;
    r.problem(
      field,
      `${label}: ${quoted(value)} is longer than any ${what} (at most ${max} characters); no transaction can match.`,
    );
    matchesNothing = true;
    return value;
  };
  const reference = longest('reference', 'Reference', REFERENCE_MAX, 'reference');
  const customer = longest('customer', 'Customer code', CODE_MAX, 'customer code')?.toUpperCase();
  const type = r.text('type', 'Type', without);
  const from = r.date('from', 'Date from', without);
  const to = r.date('to', 'Date to', without);
  const afterText = r.text('after', 'The page', 'the newest page is shown');
  const after = afterText === undefined ? undefined : cursorOf(afterText);
  if (afterText !== undefined && !after)
    r.problem(
      'after',
      `The link to an older page was not one this list makes (${quoted(afterText)}); the newest page is shown.`,
    );
  const back = parseBack((raw as Record<string, unknown> | null)?.back, (s) => CURSOR.test(s));
  return {
    number,
    reference,
    customer,
    type,
    from,
    to,
    after,
    back,
    matchesNothing: matchesNothing || r.matchesNothing,
    problems: r.problems,
  };
});
export type TransactionsQuery = z.output<typeof TransactionsQuery>;

/** A transaction of the list with its amounts signed as the customer's account reads them. */
export interface TransactionRow extends TransactionSummary {
  side: Side;
  /** The gross, negative for a credit (a credit note, a receipt): what it takes off the balance. */
  signedGross: string;
  /** What is left of it, signed the same way; null for a document that is never open (a journal). */
  signedOutstanding: string | null;
}

export interface TransactionsData {
  query: TransactionsQuery;
  types: TransactionTypeInfo[];
  items: TransactionRow[];
  /** The `after` of the next (older) page, or null on the last. */
  nextCursor: string | null;
  /** What is wrong with the search, said instead of a list. */
  problem: string | null;
  /** Values of the search set aside, each said at its field and above the list. */
  problems: FilterProblem[];
}

/** An exact decimal amount with its sign turned, for a credit ("242.00" → "-242.00"); zero stays zero. */
function negated(amount: string): string {
  if (/^-?0(\.0+)?$/.test(amount)) return amount.replace(/^-/, '');
  return amount.startsWith('-') ? amount.slice(1) : `-${amount}`;
}

/**
 * An amount as the customer's account reads it, as the customer page, aged debtors and statements
 * show it: what the customer owes positive, a credit (a credit note, a receipt) negative.
 */
export function signedForCustomer(side: Side, amount: string): string {
  return side === 'credit' ? negated(amount) : amount;
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
  const problems = [...query.problems];
  let type = query.type;
  if (type !== undefined && !types.some((t) => t.type === type)) {
    problems.push({
      field: 'type',
      message: `Type: ${quoted(type)} is not one of the ledger’s transaction types; the transactions are shown without this filter.`,
    });
    type = undefined;
  }
  const q = { ...query, type };
  const none = { query: q, types, items: [], nextCursor: null, problems };
  if (q.from && q.to && q.from > q.to) return { ...none, problem: 'The “from” date is after the “to” date.' };
  if (q.matchesNothing) return { ...none, problem: null };
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
  const heads = await transactionHeads(
    db,
    entityId,
    page.items.map((t) => t.transactionId),
  );
  const items = page.items.map((t): TransactionRow => {
    const side = heads.get(t.transactionId)?.side ?? 'none';
    return {
      ...t,
      side,
      signedGross: signedForCustomer(side, t.gross),
      signedOutstanding: side === 'none' ? null : signedForCustomer(side, t.outstanding),
    };
  });
  const last = page.items.at(-1);
  const nextCursor = page.nextCursor !== null && last ? `${last.transactionDate}_${last.transactionId}` : null;
  return { query: q, types, items, nextCursor, problem: null, problems };
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

/** The search in force, in words, for the summary of the folded search form ("customer BOLT · Sales invoice"). */
function activeFilters(q: TransactionsQuery, types: TransactionTypeInfo[], locale: string): string[] {
  const active: string[] = [];
  if (q.number !== undefined) active.push(`number ${q.number}`);
  if (q.reference !== undefined) active.push(`reference starting ${quoted(q.reference)}`);
  if (q.customer !== undefined) active.push(`customer ${q.customer}`);
  if (q.type !== undefined) active.push(typeName(types, q.type));
  if (q.from !== undefined) active.push(`from ${formatDate(q.from, locale)}`);
  if (q.to !== undefined) active.push(`to ${formatDate(q.to, locale)}`);
  return active;
}

export function TransactionsPage(props: { ctx: PageContext; data: TransactionsData }) {
  const { ctx, data } = props;
  const { locale } = ctx;
  const q = data.query;
  const problems = data.problems;
  const active = activeFilters(q, data.types, locale);
  const filtered = active.length > 0;
  const here: KeysetStep = { cursor: q.after?.text, back: q.after ? q.back : undefined };
  const previous = previousStep(here);
  // Folded on a phone, unless a field has a problem to show.
  const fieldProblem = problems.some((p) => p.field !== 'after');
  return (
    <Layout ctx={ctx} title="Transactions" section="transactions">
      <h1>Transactions</h1>
      <SearchPanel active={active} open={fieldProblem}>
        <form
          method="get"
          action="/transactions"
          class="filters search-grid"
          role="search"
          aria-label="Search transactions"
        >
          <FilterField problems={problems} field="number">
            Number
            <input
              type="number"
              name="number"
              min="1"
              step="1"
              inputmode="numeric"
              value={q.number ?? ''}
              {...invalidAttrs(problems, 'number')}
            />
          </FilterField>
          <FilterField problems={problems} field="reference">
            Reference starts with
            <input
              type="search"
              name="reference"
              maxLength={REFERENCE_MAX}
              value={q.reference ?? ''}
              {...invalidAttrs(problems, 'reference')}
            />
          </FilterField>
          <FilterField problems={problems} field="customer">
            Customer code
            <input
              type="search"
              name="customer"
              maxLength={CODE_MAX}
              value={q.customer ?? ''}
              autocapitalize="characters"
              {...invalidAttrs(problems, 'customer')}
            />
          </FilterField>
          <FilterField problems={problems} field="type">
            Type
            <select name="type" {...invalidAttrs(problems, 'type')}>
              <option value="">All types</option>
              {data.types.map((t) => (
                <option value={t.type} selected={t.type === q.type}>
                  {t.name} ({t.type})
                </option>
              ))}
            </select>
          </FilterField>
          <FilterField problems={problems} field="from">
            Date from
            <input type="date" name="from" value={q.from ?? ''} {...invalidAttrs(problems, 'from')} />
          </FilterField>
          <FilterField problems={problems} field="to">
            Date to
            <input type="date" name="to" value={q.to ?? ''} {...invalidAttrs(problems, 'to')} />
          </FilterField>
          <button type="submit">Search</button>
          {filtered || problems.length > 0 ? (
            <a href="/transactions" class="clear-filters">
              Clear
            </a>
          ) : null}
        </form>
      </SearchPanel>
      <FilterProblems problems={problems} />
      {data.problem ? (
        <div class="notice notice-error" role="alert">
          <strong>Could not search. </strong>
          {data.problem}
        </div>
      ) : null}
      <p class="muted" role="status">
        {q.after ? 'Older transactions' : 'Newest document date first'}
        {filtered ? ', matching the search' : ''}; dates are document dates. Amounts are as the customer’s account reads
        them: credits (credit notes, receipts) are negative.
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
                  Amount
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
                  <td data-label="Amount" class="num">
                    {formatMoney(t.signedGross, t.currency, locale)}
                  </td>
                  <td data-label="Outstanding" class="num">
                    {t.signedOutstanding === null ? '—' : formatMoney(t.signedOutstanding, t.currency, locale)}
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
