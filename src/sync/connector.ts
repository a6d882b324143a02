import type { Logger } from 'pino';
import type { CanonicalCustomer, CanonicalProduct, CanonicalRecord, RecordKind } from './canonical.ts';
import type { ExceptionCode } from './reasons.ts';

/** A record a source could not turn into a canonical one: it is parked with this reason. */
export interface InvalidItem {
  kind: RecordKind;
  sourceId: string;
  /** From the closed list of src/sync/reasons.ts. */
  reasonCode: ExceptionCode;
  message: string;
  field?: string | undefined;
  payload: unknown;
}

export type SourceItem =
  { record: CanonicalRecord; raw?: unknown; line?: number } | { invalid: InvalidItem; line?: number };

export interface SourcePage {
  items: SourceItem[];
  /** Where to resume after this page, should the run be interrupted. */
  cursor?: string | null;
}

export interface SourceContext {
  log: Logger;
  signal?: AbortSignal;
}

export type Lookup<T> = { found: T } | { missing: string };

/** What ledgerlink reports back to a source once it has booked something. */
export type WriteBackItem =
  | {
      kind: 'invoice';
      sourceId: string;
      externalReference: string;
      number: string;
      dueDate: string;
      pdfBase64?: string | undefined;
    }
  | { kind: 'payment'; sourceId: string; externalReference: string; paymentReference: string }
  | { kind: 'customer-code'; sourceId: string; code: string };

/**
 * A system ledgerlink reads sales from. Pull sources page through the remote system; push
 * sources (webhooks, files) hand over records they already hold. Lookups fetch what a document
 * refers to when the page did not carry it.
 */
export interface SourceConnector {
  readonly type: string;
  pages(ctx: SourceContext, cursor: string | null): AsyncIterable<SourcePage>;
  customer?(sourceId: string): Promise<Lookup<CanonicalCustomer>>;
  product?(sourceId: string): Promise<Lookup<CanonicalProduct>>;
  /** Reports booked documents back; throws a ConnectorError (retryable or not) on failure. */
  writeBack?(items: WriteBackItem[]): Promise<void>;
  /** Which write-back kinds this source accepts. */
  readonly writeBackKinds?: readonly WriteBackItem['kind'][];
  /**
   * The cheapest authenticated read the system offers (a one-record page, the account's balance),
   * for "Test connection": resolves with what it reached, in a few words; throws a ConnectorError
   * saying what is wrong. Absent where there is nothing to call (files, webhooks pushed to us).
   */
  checkConnection?(ctx: SourceContext): Promise<string>;
}

/** Records in hand (an import, a webhook batch, a retry) as pages of 500, each with where to resume. */
export function* pagesOf(items: SourceItem[], size = 500): Generator<SourcePage> {
  for (let i = 0; i < items.length; i += size) yield { items: items.slice(i, i + size), cursor: String(i + size) };
}

/** A failure talking to an outside system: which system, what status, whether a retry is safe. */
export class ConnectorError extends Error {
  readonly system: string;
  readonly status: number | null;
  readonly retryable: boolean;
  readonly retryAfterMs: number | null;
  /**
   * The reason a document is parked with when this failure is final (TARGET_AUTH_REVOKED,
   * TARGET_SETTING_MISSING); TARGET_REFUSED when absent.
   */
  readonly code: ExceptionCode | null;
  constructor(
    system: string,
    message: string,
    opts: {
      status?: number | null;
      retryable: boolean;
      retryAfterMs?: number | null;
      cause?: unknown;
      code?: ExceptionCode | null;
    },
  ) {
    super(`${system}: ${message}`, { cause: opts.cause });
    this.name = 'ConnectorError';
    this.system = system;
    this.status = opts.status ?? null;
    this.retryable = opts.retryable;
    this.retryAfterMs = opts.retryAfterMs ?? null;
    this.code = opts.code ?? null;
  }
}
