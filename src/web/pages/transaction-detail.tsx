import type { Queryable } from '../../db/database.ts';
import { type AttachmentInfo, listAttachments } from '../../ledger/attachments.ts';
import { loadCustomer } from '../../ledger/customers.ts';
import type { EntityContext } from '../../ledger/entities.ts';
import { PDF_TYPES } from '../../ledger/pdf.ts';
import {
  type TransactionTypeInfo,
  type TransactionView,
  getTransaction,
  listTransactionTypes,
} from '../../ledger/reports/transactions.ts';
import { Empty } from '../components/common.tsx';
import { Layout } from '../components/layout.tsx';
import type { PageContext } from '../context.ts';
import { formatDate, formatDateTime, formatMoney } from '../format.ts';
import { allocationStatusText, typeName } from './transactions.tsx';

export interface TransactionDetailData {
  transaction: TransactionView;
  customerName: string | null;
  attachments: AttachmentInfo[];
  types: TransactionTypeInfo[];
  hasPdf: boolean;
}

/** One transaction of the entity with its journal, allocations and attachments; another entity's is NOT_FOUND. */
export async function loadTransactionDetail(
  db: Queryable,
  entity: EntityContext,
  transactionId: number,
): Promise<TransactionDetailData> {
  const transaction = await getTransaction(db, entity.id, entity.baseCurrency, transactionId);
  const [customer, attachments, types] = await Promise.all([
    transaction.customerCode ? loadCustomer(db, entity.id, transaction.customerCode) : null,
    listAttachments(db, entity.id, { transactionId }),
    listTransactionTypes(db),
  ]);
  return {
    transaction,
    customerName: customer?.name ?? null,
    attachments,
    types,
    hasPdf: PDF_TYPES.includes(transaction.type),
  };
}

const ROLE_WORDS: Record<string, string> = {
  control: 'Debtors control',
  net: 'Sales',
  tax: 'VAT',
  bank: 'Bank',
  gl: 'Account',
  discount: 'Discount',
  fx: 'Exchange difference',
};

/** An exact decimal amount that is zero ("0", "0.00"): left blank on its side of the journal. */
const isZero = (amount: string) => /^-?0(\.0+)?$/.test(amount);

/** A file size as people read it (`12.3 kB`), in the locale's digits. */
function fileSize(bytes: number, locale: string): string {
  const unit = bytes >= 1_000_000 ? 'megabyte' : bytes >= 1000 ? 'kilobyte' : 'byte';
  const value = unit === 'megabyte' ? bytes / 1_000_000 : unit === 'kilobyte' ? bytes / 1000 : bytes;
  return new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: 1 }).format(
    value,
  );
}

export function TransactionPage(props: { ctx: PageContext; data: TransactionDetailData }) {
  const { ctx, data } = props;
  const { locale } = ctx;
  const t = data.transaction;
  const money = (amount: string) => formatMoney(amount, t.currency, locale);
  const base = ctx.viewer.entity.baseCurrency;
  const title = `${typeName(data.types, t.type)} ${t.number}`;
  const pdf = `/v1/transactions/${t.transactionId}/pdf`;
  return (
    <Layout ctx={ctx} title={title} section="transactions">
      <nav aria-label="Breadcrumb" class="breadcrumb">
        <a href="/transactions">Transactions</a>
      </nav>
      <h1>
        {title} <small class="muted">{t.type}</small>
      </h1>
      {t.disputed ? (
        <p class="notice notice-warning" role="status">
          Disputed{t.disputeReason ? `: ${t.disputeReason}` : '.'}
        </p>
      ) : null}
      <section class="card" aria-labelledby="header-title">
        <h2 id="header-title" class="visually-hidden">
          Document
        </h2>
        <dl class="facts">
          <div>
            <dt>Date</dt>
            <dd>{formatDate(t.transactionDate, locale)}</dd>
          </div>
          <div>
            <dt>Due</dt>
            <dd>{t.dueDate ? formatDate(t.dueDate, locale) : '—'}</dd>
          </div>
          <div>
            <dt>Customer</dt>
            <dd>
              {t.customerCode ? (
                <a href={`/customers/${encodeURIComponent(t.customerCode)}`}>
                  {data.customerName ?? t.customerCode} ({t.customerCode})
                </a>
              ) : (
                '—'
              )}
            </dd>
          </div>
          <div>
            <dt>Reference</dt>
            <dd>{t.externalReference || '—'}</dd>
          </div>
          <div>
            <dt>Currency</dt>
            <dd>
              {t.currency}
              {t.currency !== base ? ` (rate ${t.exchangeRate} per ${base})` : ''}
            </dd>
          </div>
          <div>
            <dt>Net</dt>
            <dd>{money(t.net)}</dd>
          </div>
          <div>
            <dt>Tax</dt>
            <dd>{money(t.tax)}</dd>
          </div>
          <div>
            <dt>Gross</dt>
            <dd>
              <strong>{money(t.gross)}</strong>
            </dd>
          </div>
          <div>
            <dt>Outstanding</dt>
            <dd>{money(t.outstanding)}</dd>
          </div>
          <div>
            <dt>Status</dt>
            <dd>{allocationStatusText(t.status)}</dd>
          </div>
          {t.relatedTransactionId !== null ? (
            <div>
              <dt>Related document</dt>
              <dd>
                <a href={`/transactions/${t.relatedTransactionId}`}>Transaction {t.relatedTransactionId}</a>
              </dd>
            </div>
          ) : null}
          <div>
            <dt>Posted</dt>
            <dd>{formatDateTime(t.createdAt, locale)}</dd>
          </div>
        </dl>
        {t.description ? <p>{t.description}</p> : null}
      </section>

      <section aria-labelledby="journal-title">
        <h2 id="journal-title">Journal</h2>
        <div class="table-scroll">
          <table class="journal stack">
            <thead>
              <tr>
                <th scope="col">Account</th>
                <th scope="col">Description</th>
                <th scope="col">Tax code</th>
                <th scope="col" class="num">
                  Debit
                </th>
                <th scope="col" class="num">
                  Credit
                </th>
              </tr>
            </thead>
            <tbody>
              {t.lines.map((l) => (
                <tr>
                  <td data-label="Account">
                    {l.glAccountCode} <small class="muted">{ROLE_WORDS[l.role] ?? l.role}</small>
                  </td>
                  <td data-label="Description">{l.description || '—'}</td>
                  <td data-label="Tax code">{l.taxCode ?? '—'}</td>
                  <td data-label="Debit" class="num">
                    {isZero(l.debit) ? '' : money(l.debit)}
                  </td>
                  <td data-label="Credit" class="num">
                    {isZero(l.credit) ? '' : money(l.credit)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <section aria-labelledby="allocations-title">
        <h2 id="allocations-title">Allocations</h2>
        {t.allocations.length === 0 ? (
          <Empty>Not allocated to any other document.</Empty>
        ) : (
          <div class="table-scroll">
            <table class="allocations stack">
              <thead>
                <tr>
                  <th scope="col">Date</th>
                  <th scope="col">Document</th>
                  <th scope="col">Reference</th>
                  <th scope="col" class="num">
                    Amount
                  </th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {t.allocations.map((a) => (
                  <tr>
                    <td data-label="Date">{formatDate(a.date, locale)}</td>
                    <td data-label="Document">
                      <a href={`/transactions/${a.transactionId}`}>
                        {typeName(data.types, a.type)} {a.number}
                      </a>
                    </td>
                    <td data-label="Reference">{a.reference || a.externalReference || '—'}</td>
                    <td data-label="Amount" class="num">
                      {money(a.amount)}
                    </td>
                    <td data-label="State">
                      {a.active ? 'Active' : `Reversed ${a.reversalDate ? formatDate(a.reversalDate, locale) : ''}`}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section aria-labelledby="attachments-title">
        <h2 id="attachments-title">Attachments</h2>
        {data.attachments.length === 0 ? (
          <Empty>No files attached (POST /v1/transactions/{t.transactionId}/attachments adds one).</Empty>
        ) : (
          <ul class="attachments">
            {data.attachments.map((a) => (
              <li>
                <a href={`/v1/transactions/${t.transactionId}/attachments/${a.attachmentId}`} download={a.fileName}>
                  {a.fileName}
                </a>{' '}
                <span class="muted">
                  {fileSize(a.size, locale)}, added {formatDateTime(a.createdAt, locale)}
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>

      {data.hasPdf ? (
        <section aria-labelledby="pdf-title">
          <h2 id="pdf-title">PDF</h2>
          <p>
            <a href={pdf} target="_blank" rel="noopener">
              Open the PDF in a new tab
            </a>
          </p>
          <iframe class="pdf" src={pdf} title={`${title} as PDF`}></iframe>
        </section>
      ) : (
        <p class="muted">Only invoices, credit notes and receipts have a PDF.</p>
      )}
    </Layout>
  );
}
