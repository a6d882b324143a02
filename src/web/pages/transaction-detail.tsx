import type { Queryable } from '../../db/database.ts';
import { type AttachmentInfo, listAttachments } from '../../ledger/attachments.ts';
import { loadCustomer } from '../../ledger/customers.ts';
import type { EntityContext } from '../../ledger/entities.ts';
import { PDF_TYPES } from '../../ledger/pdf.ts';
import { type ReceiptFee, receiptFee, receiptOfFee } from '../../ledger/receipt-fees.ts';
import { type JournalLink, findGeneralJournal } from '../../ledger/reports/journals.ts';
import { reversibleKind } from '../../ledger/posting/journal-reversal.ts';
import { roleAtLeast } from '../../domain/roles.ts';
import { formatAmount } from '../../domain/money.ts';
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
import { allocationStatusText, signedForCustomer, typeName } from './transactions.tsx';

export interface TransactionDetailData {
  transaction: TransactionView;
  customerName: string | null;
  attachments: AttachmentInfo[];
  types: TransactionTypeInfo[];
  hasPdf: boolean;
  /** A receipt's payment provider's fee (null: none; undefined: not a receipt). */
  fee?: ReceiptFee | null;
  /** A general journal's reversal links, and the receipt whose fee it is. */
  journal?: {
    reverses: JournalLink | null;
    reversedBy: JournalLink | null;
    feeOfReceipt: { id: number; label: string } | null;
    /** Posted by hand or as a provider's fee, and not reversed: "Reverse journal" is offered. */
    reversible: boolean;
  };
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
  const data: TransactionDetailData = {
    transaction,
    customerName: customer?.name ?? null,
    attachments,
    types,
    hasPdf: PDF_TYPES.includes(transaction.type),
  };
  if (transaction.type === 'SR') data.fee = await receiptFee(db, entity.id, transactionId);
  if (transaction.type === 'GJ') {
    const [journal, feeOfReceipt] = await Promise.all([
      findGeneralJournal(db, entity.id, transactionId),
      receiptOfFee(db, entity.id, transactionId),
    ]);
    const details = (transaction.details ?? {}) as Record<string, unknown>;
    data.journal = {
      reverses: journal!.reverses,
      reversedBy: journal!.reversedBy,
      feeOfReceipt,
      reversible: reversibleKind(details) && journal!.reversedBy === null,
    };
  }
  return data;
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

/**
 * "Reverse journal": the reversal posted on the date chosen (the journal's own by default), then
 * its page (POST /transactions/{id}/reverse, as POST /v1/journals/{id}/reverse).
 */
function ReverseJournal(props: { transactionId: number; date: string; feeOf: number | null }) {
  const what = props.feeOf
    ? 'Reverse this payment provider’s fee? Its receipt is left without one: if the payment had a fee, key the right one and record it as the receipt’s fee.'
    : 'Reverse this journal? A reversing journal is posted; this one stays as it is.';
  return (
    <form class="reverse-journal" hx-post={`/transactions/${props.transactionId}/reverse`} hx-confirm={what}>
      <label>
        Reversal date <input type="date" name="date" value={props.date} min={props.date} required />
      </label>
      <button type="submit" class="secondary">
        Reverse journal
      </button>
    </form>
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
            <dd>
              {t.side === 'none' ? (
                '—'
              ) : (
                <>
                  {money(signedForCustomer(t.side, t.outstanding))}
                  {t.side === 'credit' && !isZero(t.outstanding) ? (
                    <small class="muted"> in the customer’s credit</small>
                  ) : null}
                </>
              )}
            </dd>
          </div>
          <div>
            <dt>Status</dt>
            <dd>{allocationStatusText(t.status)}</dd>
          </div>
          {data.fee !== undefined ? (
            <div>
              <dt>Payment provider’s fee</dt>
              <dd>
                {data.fee ? (
                  <>
                    <a href={`/transactions/${data.fee.transactionId}`}>General journal {data.fee.number}</a>{' '}
                    {formatMoney(formatAmount(data.fee.gross, data.fee.currency), data.fee.currency, locale)}
                    {data.fee.keyedByHand ? <small class="muted"> keyed by hand</small> : null}
                  </>
                ) : (
                  '—'
                )}
              </dd>
            </div>
          ) : null}
          {data.journal?.feeOfReceipt ? (
            <div>
              <dt>Fee of</dt>
              <dd>
                <a href={`/transactions/${data.journal.feeOfReceipt.id}`}>{data.journal.feeOfReceipt.label}</a>
              </dd>
            </div>
          ) : null}
          {data.journal?.reversedBy ? (
            <div>
              <dt>Reversed by</dt>
              <dd>
                <a href={`/transactions/${data.journal.reversedBy.transactionId}`}>
                  General journal {data.journal.reversedBy.number}
                </a>{' '}
                on {formatDate(data.journal.reversedBy.date, locale)}
              </dd>
            </div>
          ) : null}
          {data.journal?.reverses ? (
            <div>
              <dt>Reverses</dt>
              <dd>
                <a href={`/transactions/${data.journal.reverses.transactionId}`}>
                  General journal {data.journal.reverses.number}
                </a>
              </dd>
            </div>
          ) : t.relatedTransactionId !== null ? (
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

      {data.journal?.reversible && roleAtLeast(ctx.viewer.role, 'accountant') ? (
        <ReverseJournal
          transactionId={t.transactionId}
          date={t.transactionDate}
          feeOf={data.journal.feeOfReceipt?.id ?? null}
        />
      ) : null}

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
