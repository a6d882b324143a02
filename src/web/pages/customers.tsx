import { z } from 'zod';
import type { Queryable } from '../../db/database.ts';
import { AGING_BUCKETS, type AgingBucket } from '../../domain/aging.ts';
import { creditPosition } from '../../domain/credit-limit.ts';
import { today } from '../../domain/dates.ts';
import { DomainError } from '../../domain/errors.ts';
import { formatAmount, parseAmount } from '../../domain/money.ts';
import { type Customer, listCustomers, loadCustomer } from '../../ledger/customers.ts';
import { PDF_TYPES } from '../../ledger/pdf.ts';
import { DOCUMENT_NAMES } from '../../ledger/pdf-receipt.ts';
import { type Statement, customerStatement, customerStatementsOf } from '../../ledger/reports/statement.ts';
import { AgingChart, agingBars } from '../components/aging.tsx';
import { Empty, Pager } from '../components/common.tsx';
import {
  FilterField,
  FilterProblems,
  type FilterProblem,
  QueryReader,
  invalidAttrs,
  quoted,
} from '../components/filters.tsx';
import { Layout } from '../components/layout.tsx';
import type { PageContext } from '../context.ts';
import { formatCount, formatDate, formatMoney } from '../format.ts';

const PAGE_SIZE = 50;

/** The longest customer name the ledger keeps (migrations/0001); codes are shorter. */
const SEARCH_MAX = 200;

/**
 * The customers list's query. A page that is not a page number shows the first page, and a search
 * longer than any code or name can find nothing; either is said (`problems`), never passed over.
 */
export const CustomersQuery = z.unknown().transform((raw) => {
  const r = new QueryReader(raw);
  const page = r.page();
  const search = r.text('search', 'Code or name', 'every customer is shown');
  const tooLong = search !== undefined && [...search].length > SEARCH_MAX;
  if (tooLong)
    r.problem(
      'search',
      `Code or name: the search is ${[...search].length} characters, longer than any customer’s code or name (at most ${SEARCH_MAX}); no customer can match.`,
    );
  return { page, search, matchesNothing: tooLong || r.matchesNothing, problems: r.problems };
});
type CustomersQuery = z.output<typeof CustomersQuery>;

export interface CustomersData {
  query: CustomersQuery;
  items: { customer: Customer; balance: string }[];
  total: number;
  /** Values of the query set aside, said at their field and above the list. */
  problems: FilterProblem[];
}

/** A page of customers by code, searched by code or name, each with its balance today. */
export async function loadCustomers(
  db: Queryable,
  entityId: string,
  query: CustomersQuery,
  now: Date,
): Promise<CustomersData> {
  if (query.matchesNothing) return { query, items: [], total: 0, problems: query.problems };
  const list = await listCustomers(db, entityId, { search: query.search }, { page: query.page, pageSize: PAGE_SIZE });
  const codes = list.items.map((c) => c.code);
  const statements = codes.length ? await customerStatementsOf(db, entityId, codes, today(now), 'dueDate') : [];
  const balance = new Map(statements.map((s) => [s.customerCode, s.currentBalance]));
  return {
    query,
    items: list.items.map((customer) => ({ customer, balance: balance.get(customer.code) ?? '0' })),
    total: list.total,
    problems: query.problems,
  };
}

export function CustomersPage(props: { ctx: PageContext; data: CustomersData }) {
  const { ctx, data } = props;
  const { locale } = ctx;
  const q = data.query;
  return (
    <Layout ctx={ctx} title="Customers" section="customers">
      <h1>Customers</h1>
      <p>
        <a href="/aged-debtors">Aged debtors</a>: what every customer owes, by age.
      </p>
      <form method="get" action="/customers" class="filters" role="search" aria-label="Search customers">
        <FilterField problems={data.problems} field="search">
          Code or name
          <input
            type="search"
            name="search"
            maxLength={SEARCH_MAX}
            value={q.search && !q.matchesNothing ? q.search : ''}
            placeholder="For example: ACME"
            {...invalidAttrs(data.problems, 'search')}
          />
        </FilterField>
        <button type="submit">Search</button>
      </form>
      <FilterProblems problems={data.problems} />
      <p class="muted" role="status">
        {formatCount(data.total, locale)} {data.total === 1 ? 'customer' : 'customers'}
        {q.search ? ` matching ${quoted(q.search)}` : ''}, by code.
      </p>
      {data.items.length === 0 ? (
        <Empty>
          {q.search ? (
            <>
              No customer’s code or name contains {quoted(q.search)}. <a href="/customers">Show all customers</a>.
            </>
          ) : (
            'No customers yet: pipelines and imports create them, or PUT /v1/customers/{code}.'
          )}
        </Empty>
      ) : (
        <div class="table-scroll">
          <table class="customers stack">
            <thead>
              <tr>
                <th scope="col">Code</th>
                <th scope="col">Name</th>
                <th scope="col" class="num">
                  Balance
                </th>
                <th scope="col" class="num">
                  Credit limit
                </th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map(({ customer: c, balance }) => (
                <tr>
                  <td data-label="Code">
                    <a href={`/customers/${encodeURIComponent(c.code)}`}>{c.code}</a>
                  </td>
                  <td data-label="Name">{c.name}</td>
                  <td data-label="Balance" class="num">
                    {formatMoney(balance, c.currency, locale)}
                  </td>
                  <td data-label="Credit limit" class="num">
                    {c.creditLimit > 0n
                      ? formatMoney(formatAmount(c.creditLimit, c.currency), c.currency, locale)
                      : 'None'}
                  </td>
                  <td data-label="Status">
                    {!c.isActive ? 'Inactive' : c.onHold ? <strong>On hold</strong> : 'Active'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager
        path="/customers"
        query={{ search: q.search }}
        page={q.page}
        pageSize={PAGE_SIZE}
        total={data.total}
        hasNext={q.page * PAGE_SIZE < data.total}
      />
    </Layout>
  );
}

export interface CustomerData {
  customer: Customer;
  statement: Statement;
  creditLeft: string | null;
  overLimitBy: string | null;
}

/** A customer with its statement as at today (aged on due dates) and its credit position. */
export async function loadCustomerDetail(
  db: Queryable,
  entityId: string,
  code: string,
  now: Date,
): Promise<CustomerData> {
  const customer = await loadCustomer(db, entityId, code);
  if (!customer) throw new DomainError('NOT_FOUND', `No customer ${code} in this entity.`);
  const statement = await customerStatement(db, entityId, customer.code, today(now), 'dueDate');
  const parsed = parseAmount(statement.currentBalance, customer.currency);
  const balance = parsed.ok ? parsed.value : 0n;
  const position = creditPosition(balance, customer.creditLimit);
  return {
    customer,
    statement,
    creditLeft: customer.creditLimit > 0n ? formatAmount(position.creditLeft, customer.currency) : null,
    overLimitBy: position.overCreditLimit ? formatAmount(position.overCreditLimitBy, customer.currency) : null,
  };
}

export function CustomerPage(props: { ctx: PageContext; data: CustomerData }) {
  const { ctx, data } = props;
  const { locale } = ctx;
  const { customer: c, statement: s } = data;
  const money = (amount: string) => formatMoney(amount, c.currency, locale);
  // The statement's buckets as exact minor units, signed: credits below the chart's zero line.
  const aging = Object.fromEntries(
    AGING_BUCKETS.map((b) => {
      const p = parseAmount(s.aging[b], c.currency);
      return [b, p.ok ? p.value : 0n];
    }),
  ) as Record<AgingBucket, bigint>;
  const code = encodeURIComponent(c.code);
  return (
    <Layout ctx={ctx} title={c.name} section="customers">
      <nav aria-label="Breadcrumb" class="breadcrumb">
        <a href="/customers">Customers</a>
      </nav>
      <h1>
        {c.name} <small class="muted">{c.code}</small>
      </h1>
      {c.onHold ? (
        <p class="notice notice-warning" role="status">
          This customer is on hold.
        </p>
      ) : null}
      <div class="grid-2">
        <section class="card" aria-labelledby="balance-title">
          <h2 id="balance-title">Balance</h2>
          <p class="big-number num">{money(s.currentBalance)}</p>
          <dl class="facts">
            <div>
              <dt>Credit limit</dt>
              <dd>{c.creditLimit > 0n ? money(formatAmount(c.creditLimit, c.currency)) : 'No limit'}</dd>
            </div>
            <div>
              <dt>Credit left</dt>
              <dd>{data.creditLeft !== null ? money(data.creditLeft) : '—'}</dd>
            </div>
            {data.overLimitBy ? (
              <div>
                <dt>Over the limit by</dt>
                <dd>
                  <strong>{money(data.overLimitBy)}</strong>
                </dd>
              </div>
            ) : null}
            <div>
              <dt>Payment terms</dt>
              <dd>
                {c.creditTerms.days} days{c.creditTerms.endOfMonth ? ' from the end of the month' : ''}
              </dd>
            </div>
          </dl>
          <p>
            <a href={`/v1/customers/${code}/statement.pdf`} target="_blank" rel="noopener">
              Statement as PDF
            </a>
          </p>
        </section>
        <section class="card" aria-labelledby="aging-title">
          <h2 id="aging-title">Aging</h2>
          <AgingChart
            id="customer-aging"
            title={`What ${c.name} owes by age, on due dates, in ${c.currency}`}
            valueLabel={`Amount (${c.currency})`}
            bars={agingBars(aging, (v) => money(formatAmount(v, c.currency)))}
          />
        </section>
      </div>
      <section aria-labelledby="items-title">
        <h2 id="items-title">Open items</h2>
        {s.openItems.length === 0 ? (
          <Empty>Nothing open: every document is settled.</Empty>
        ) : (
          <div class="table-scroll">
            <table class="open-items stack">
              <thead>
                <tr>
                  <th scope="col">Date</th>
                  <th scope="col">Document</th>
                  <th scope="col">Reference</th>
                  <th scope="col">Due</th>
                  <th scope="col" class="num">
                    Days overdue
                  </th>
                  <th scope="col" class="num">
                    Amount
                  </th>
                  <th scope="col" class="num">
                    Outstanding
                  </th>
                </tr>
              </thead>
              <tbody>
                {s.openItems.map((i) => (
                  <tr>
                    <td data-label="Date">{formatDate(i.transactionDate, locale)}</td>
                    <td data-label="Document">
                      <a href={`/transactions/${i.transactionId}`}>
                        {DOCUMENT_NAMES[i.type] ?? i.type} {i.number}
                      </a>
                      {PDF_TYPES.includes(i.type) ? (
                        <>
                          {' · '}
                          <a href={`/v1/transactions/${i.transactionId}/pdf`} target="_blank" rel="noopener">
                            PDF
                            <span class="visually-hidden">
                              {' '}
                              of {DOCUMENT_NAMES[i.type] ?? i.type} {i.number}
                            </span>
                          </a>
                        </>
                      ) : null}
                    </td>
                    <td data-label="Reference">{i.externalReference}</td>
                    <td data-label="Due">{i.dueDate ? formatDate(i.dueDate, locale) : '—'}</td>
                    <td data-label="Days overdue" class="num">
                      {i.daysOverdue > 0 ? formatCount(i.daysOverdue, locale) : '—'}
                    </td>
                    <td data-label="Amount" class="num">
                      {money(i.amount)}
                    </td>
                    <td data-label="Outstanding" class="num">
                      {money(i.outstanding)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </Layout>
  );
}
