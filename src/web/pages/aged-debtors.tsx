import { z } from 'zod';
import type { Queryable } from '../../db/database.ts';
import { AGING_BASES, AGING_BUCKETS, type AgingBucket } from '../../domain/aging.ts';
import { today } from '../../domain/dates.ts';
import { type AgedDebtor, type ReceivablesAging, agedDebtors } from '../../ledger/reports/receivables.ts';
import { AGING_HEADERS } from '../components/aging.tsx';
import { Empty, Pager } from '../components/common.tsx';
import { FilterField, FilterProblems, type FilterProblem, QueryReader, invalidAttrs } from '../components/filters.tsx';
import { Layout } from '../components/layout.tsx';
import type { PageContext } from '../context.ts';
import { formatCount, formatDate, formatMinor } from '../format.ts';

const PAGE_SIZE = 100;

/**
 * The report's query. A date or basis that is not one is set aside and said so (`problems`): the
 * report is then as at today, or on due dates, and the page says that is what it shows instead.
 */
export const AgedDebtorsQuery = z.unknown().transform((raw) => {
  const r = new QueryReader(raw);
  const at = r.date('at', 'As at', 'the report is as at today instead');
  const basis =
    r.choice(
      'basis',
      'Age from',
      AGING_BASES,
      'a basis (dueDate or transactionDate)',
      'it is aged on due dates instead',
    ) ?? 'dueDate';
  return { at, basis, page: r.page(), problems: r.problems };
});
type AgedDebtorsQuery = z.output<typeof AgedDebtorsQuery>;

export interface AgedDebtorsData {
  query: AgedDebtorsQuery;
  at: string;
  /** This page's customers, by code. */
  items: AgedDebtor[];
  total: number;
  totals: ReceivablesAging[];
  /** Values of the query set aside, said at their field and above the report. */
  problems: FilterProblem[];
}

/** The aged debtors summary as at the date asked (today by default): one page of customers, all the totals. */
export async function loadAgedDebtors(
  db: Queryable,
  entityId: string,
  query: AgedDebtorsQuery,
  now: Date,
): Promise<AgedDebtorsData> {
  const at = query.at ?? today(now);
  const report = await agedDebtors(db, entityId, at, query.basis, false);
  const from = (query.page - 1) * PAGE_SIZE;
  return {
    query,
    at,
    items: report.customers.slice(from, from + PAGE_SIZE),
    total: report.customers.length,
    totals: report.totals,
    problems: query.problems,
  };
}

function AmountCells(props: { balance: bigint; aging: Record<AgingBucket, bigint>; currency: string; locale: string }) {
  const money = (v: bigint) => formatMinor(v, props.currency, props.locale);
  return (
    <>
      <td data-label="Balance" class="num">
        <strong>{money(props.balance)}</strong>
      </td>
      {AGING_BUCKETS.map((b) => (
        <td data-label={AGING_HEADERS[b]} class="num">
          {money(props.aging[b])}
        </td>
      ))}
    </>
  );
}

function AmountHeaders() {
  return (
    <>
      <th scope="col" class="num">
        Balance
      </th>
      {AGING_BUCKETS.map((b) => (
        <th scope="col" class="num">
          {AGING_HEADERS[b]}
        </th>
      ))}
    </>
  );
}

export function AgedDebtorsPage(props: { ctx: PageContext; data: AgedDebtorsData }) {
  const { ctx, data } = props;
  const { locale } = ctx;
  const q = data.query;
  const on = q.basis === 'dueDate' ? 'due dates' : 'document dates';
  return (
    <Layout ctx={ctx} title="Aged debtors" section="aged-debtors">
      <h1>Aged debtors</h1>
      <p class="lead">
        What each customer owes as at {formatDate(data.at, locale)}, by days past its {on}, in its own currency. Credits
        (receipts and credit notes not yet allocated) count against the balance from their own date.
      </p>
      <form method="get" action="/aged-debtors" class="filters" aria-label="Report date and basis">
        <FilterField problems={data.problems} field="at">
          As at
          <input type="date" name="at" value={data.at} {...invalidAttrs(data.problems, 'at')} />
        </FilterField>
        <FilterField problems={data.problems} field="basis">
          Age from
          <select name="basis" {...invalidAttrs(data.problems, 'basis')}>
            <option value="dueDate" selected={q.basis === 'dueDate'}>
              Due date
            </option>
            <option value="transactionDate" selected={q.basis === 'transactionDate'}>
              Document date
            </option>
          </select>
        </FilterField>
        <button type="submit">Show</button>
      </form>
      <FilterProblems problems={data.problems} />
      {data.total === 0 ? (
        <Empty>No customer has anything open as at {formatDate(data.at, locale)}.</Empty>
      ) : (
        <>
          <section aria-labelledby="totals-title">
            <h2 id="totals-title">Totals</h2>
            <div class="table-scroll">
              <table class="aged-debtors stack">
                <thead>
                  <tr>
                    <th scope="col">Currency</th>
                    <th scope="col" class="num">
                      Customers
                    </th>
                    <AmountHeaders />
                  </tr>
                </thead>
                <tbody>
                  {data.totals.map((t) => (
                    <tr>
                      <th scope="row" data-label="Currency">
                        {t.currency}
                      </th>
                      <td data-label="Customers" class="num">
                        {formatCount(t.customers, locale)}
                      </td>
                      <AmountCells balance={t.balance} aging={t.aging} currency={t.currency} locale={locale} />
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
          <section aria-labelledby="customers-title">
            <h2 id="customers-title">By customer</h2>
            <p class="muted" role="status">
              {formatCount(data.total, locale)} {data.total === 1 ? 'customer' : 'customers'} with something open, by
              code.
            </p>
            <div class="table-scroll">
              <table class="aged-debtors stack">
                <thead>
                  <tr>
                    <th scope="col">Customer</th>
                    <th scope="col" class="num">
                      Open documents
                    </th>
                    <AmountHeaders />
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((c) => (
                    <tr>
                      <td data-label="Customer">
                        <a href={`/customers/${encodeURIComponent(c.customerCode)}`}>{c.customerCode}</a>{' '}
                        {c.customerName}
                      </td>
                      <td data-label="Open documents" class="num">
                        {formatCount(c.openItems, locale)}
                      </td>
                      <AmountCells balance={c.balance} aging={c.aging} currency={c.currency} locale={locale} />
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager
              path="/aged-debtors"
              query={{ at: q.at, basis: q.basis === 'dueDate' ? undefined : q.basis }}
              page={q.page}
              pageSize={PAGE_SIZE}
              total={data.total}
              hasNext={q.page * PAGE_SIZE < data.total}
            />
          </section>
        </>
      )}
    </Layout>
  );
}
