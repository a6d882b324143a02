/**
 * Every error code ledgerlink answers with, its HTTP status and what it means. The HTTP edge,
 * the OpenAPI document and docs/errors.md are all generated from this one table.
 */
export const ERROR_CODES = {
  // Request shape
  VALIDATION_ERROR: [400, 'The request does not match the schema; `details` names each field at fault.'],
  INVALID_JSON: [400, 'The body is not valid JSON.'],
  WEBHOOK_PAYLOAD_UNRECOGNIZED: [
    400,
    'The webhook body is JSON, but in none of the formats this route takes (its description names them; for QuickBooks: an array of CloudEvents, or the legacy object with `eventNotifications`).',
  ],
  AMOUNT_HAS_TOO_MANY_DECIMALS: [400, 'An amount has more decimals than its currency allows.'],
  DATE_OUT_OF_RANGE: [400, 'A date is outside 1900-01-01..2999-12-31.'],
  AMOUNT_OUT_OF_RANGE: [
    400,
    'An amount (or a total or base-currency value computed from it) is beyond the largest storable value (9223372036854775807 minor units).',
  ],
  PAYLOAD_TOO_LARGE: [413, 'The body is larger than the server accepts.'],
  UNSUPPORTED_MEDIA_TYPE: [415, 'Send `Content-Type: application/json`.'],
  ROUTE_NOT_FOUND: [404, 'No such endpoint.'],
  NOT_FOUND: [404, 'No such object in this entity.'],
  // Access
  UNAUTHORIZED: [401, 'No valid bearer token was sent.'],
  INVALID_CREDENTIALS: [
    401,
    'The entity id, partner key and user key (or the e-mail and password) do not match, or the user is disabled (no hint which).',
  ],
  TOKEN_EXPIRED: [401, 'The token has expired; log in again.'],
  ADMIN_TOKEN_REQUIRED: [401, 'This endpoint needs the admin token (LEDGERLINK_ADMIN_TOKEN).'],
  ADMIN_API_DISABLED: [403, 'No admin token is configured; set LEDGERLINK_ADMIN_TOKEN to enable admin endpoints.'],
  WEBHOOK_SIGNATURE_INVALID: [401, 'The webhook signature is missing, malformed, or does not match the body.'],
  WEBHOOK_TIMESTAMP_OUT_OF_RANGE: [401, 'The webhook signature is dated more than 5 minutes from the server clock.'],
  AUTH_THROTTLED: [
    429,
    'Too many requests with a token or session that is not valid came from this address; wait the seconds in `Retry-After` (and `details.retryAfterSeconds`).',
  ],
  API_KEYS_THROTTLED: [
    429,
    'You created too many API keys in the last hour; wait the seconds in `Retry-After` (and `details.retryAfterSeconds`).',
  ],
  LOGIN_THROTTLED: [
    429,
    'Too many failed logins for this entity or account, or from this address; wait the seconds in `Retry-After` (and `details.retryAfterSeconds`).',
  ],
  FORBIDDEN_ROLE: [
    403,
    "The caller's role in this entity is below what the endpoint needs (viewer < accountant < owner); `details.requiredRole` names it.",
  ],
  CSRF_TOKEN_INVALID: [
    403,
    "A change made with the session cookie lacks the session's CSRF token (header `X-CSRF-Token`, or form field `_csrf`), carries a wrong one, or comes from another origin.",
  ],
  USER_REQUIRED: [
    403,
    "This endpoint acts for a named user (a signed-in session or a user's API key), not for the entity key pair.",
  ],
  SIGN_IN_LINK_INVALID: [
    400,
    'The sign-in link is unknown, was used already, or is more than 24 hours old; ask an owner for a new one.',
  ],
  PASSWORD_TOO_WEAK: [
    422,
    'The password is shorter than 12 characters, is a commonly used password, or contains the e-mail address.',
  ],
  // Users
  USER_ALREADY_MEMBER: [409, 'The user already belongs to this entity; change the role with PUT /v1/users/{id}.'],
  SIGN_IN_LINK_NOT_ALLOWED: [
    409,
    'The user already has a password or belongs to another entity: an owner cannot hand out a link that sets it; the operator can (`ledgerlink user link`).',
  ],
  OIDC_NOT_CONFIGURED: [404, 'No OIDC provider is configured (`auth.oidc` in the configuration file).'],
  OIDC_PROVIDER_UNAVAILABLE: [
    502,
    "The OIDC provider's discovery document, keys or token endpoint could not be read (or the outbound policy refused its address); try again later.",
  ],
  OIDC_PROVIDER_ERROR: [400, 'The OIDC provider answered the sign-in with an error (for example access_denied).'],
  OIDC_STATE_INVALID: [
    400,
    'The sign-in came back with a state that is unknown, expired, already used, or started in another browser; start again.',
  ],
  OIDC_TOKEN_INVALID: [
    401,
    "The provider's ID token was refused: its signature, issuer, audience, expiry or nonce does not check out.",
  ],
  OIDC_EMAIL_NOT_VERIFIED: [403, 'The provider does not vouch for the e-mail address (email_verified is not true).'],
  OIDC_USER_UNKNOWN: [
    403,
    'No active user of any entity has this e-mail (or provider identity): an owner adds users first; there is no self sign-up.',
  ],
  LAST_OWNER: [409, 'The change would leave the entity without an active owner; make another user owner first.'],
  API_KEY_ROLE_TOO_HIGH: [422, "An API key's role cannot be above its user's own role in the entity."],
  // Concurrency and retries
  IDEMPOTENCY_KEY_REUSED: [409, 'This Idempotency-Key was used before with a different request.'],
  IDEMPOTENCY_REPLAY_OF_SECRET: [
    409,
    'This Idempotency-Key was used for a request whose answer held keys; keys are shown once and never stored, so nothing is issued again.',
  ],
  IDEMPOTENCY_REQUEST_IN_PROGRESS: [
    409,
    'A request with this Idempotency-Key is still being processed; retry shortly.',
  ],
  IDEMPOTENCY_KEY_NOT_SUPPORTED: [
    400,
    'This endpoint does not take an Idempotency-Key (its description says why); send the request without it.',
  ],
  OUTDATED_RECORD: [409, 'The record changed since it was read (stale or missing rowVersion); read it again.'],
  // Entities and setup data
  ENTITY_CODE_ALREADY_EXISTS: [409, 'An entity with this code exists.'],
  ENTITY_DOES_NOT_EXIST: [404, 'No entity with this code or id.'],
  CURRENCY_CODE_DOES_NOT_EXIST: [422, 'Not an ISO 4217 currency code.'],
  CUSTOMER_CODE_DOES_NOT_EXIST: [422, 'The customer code does not exist in this entity.'],
  CUSTOMER_IS_INACTIVE: [422, 'The customer is inactive; reactivate it before posting to it.'],
  CUSTOMER_IS_ON_HOLD: [422, 'The customer is on hold and credit checks were requested.'],
  CUSTOMER_CURRENCY_CANNOT_CHANGE: [422, 'The customer has transactions; its currency cannot change.'],
  GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST: [
    422,
    'The GL account (of a line, or the one a tax code or bank account posts through) does not exist, is inactive or is a header account.',
  ],
  GLACCOUNT_NO_DEPARTMENT_IS_DEPARTMENTAL: [422, 'The GL account is departmental; the line needs a departmentId.'],
  GLACCOUNT_TYPE_CANNOT_CHANGE: [422, 'The GL account has postings; its type cannot change.'],
  GLACCOUNT_IN_USE: [
    422,
    "An entity account role or customer default, a tax code, bank account, customer, supplier, item or a deferral schedule still to release uses the GL account (the message names them), so it stays an active posting account: give them another account first (the entity's roles and customer defaults cannot be changed).",
  ],
  GLACCOUNT_CANNOT_BECOME_HEADER: [
    422,
    'The GL account has postings; it cannot become a header (non-posting) account. Deactivate it (isActive: false) to close it.',
  ],
  GLACCOUNT_IS_CONTROL_ACCOUNT: [
    422,
    'The GL account is a control account: invoice, credit-note and journal lines, tax codes and bank accounts cannot use it.',
  ],
  GLACCOUNT_IS_NOT_CONTROL_ACCOUNT: [422, "A customer's control account must be a GL account marked isControl."],
  GLACCOUNT_CONTROL_ACCOUNT_IN_USE: [
    422,
    'The control account has a balance (it cannot be deactivated) or is in use as a control account (it stays one).',
  ],
  CUSTOMER_CONTROL_ACCOUNT_LOCKED: [422, 'The customer has postings; its control account cannot change.'],
  TAX_CODE_DOES_NOT_EXIST: [422, 'The tax code does not exist or is inactive.'],
  TAX_CODE_HAS_NO_RATE_ON_DATE: [422, "The tax code's first dated rate starts after the document date."],
  TAX_AMOUNT_ON_ZERO_RATE: [422, 'A line at a zero tax rate carries a non-zero taxAmount.'],
  BANK_ACCOUNT_DOES_NOT_EXIST: [422, 'The bank account does not exist or is inactive.'],
  BANK_ACCOUNT_CURRENCY_MISMATCH: [422, "The bank account's currency is neither the document's nor the base currency."],
  BANK_ACCOUNT_CURRENCY_CANNOT_CHANGE: [
    422,
    'The bank account has postings; its currency cannot change. Open another bank account in the new currency.',
  ],
  BANK_EXCHANGE_RATE_NOT_APPLICABLE: [
    422,
    "bankExchangeRate differs from exchangeRate but the bank account holds the customer's currency, so it would be ignored.",
  ],
  DEPARTMENT_DOES_NOT_EXIST: [422, 'The department (BI code) does not exist or is inactive.'],
  ANALYSIS_CODE_DOES_NOT_EXIST: [
    422,
    'An analysis code (of a line or a department) is not a code of its dimension, or the dimension is not defined (GET /v1/analysis-dimensions).',
  ],
  ANALYSIS_CODE_IS_INACTIVE: [422, "A line's analysis code is inactive; reactivate it or give another."],
  ANALYSIS_CODE_IN_USE: [
    422,
    'The analysis code is used by a department or a posted line, so it stays in its dimension; set `active: false` instead.',
  ],
  // Documents
  INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS: [
    409,
    'This customer already has an invoice with this external reference.',
  ],
  RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS: [409, 'This customer already has a receipt with this check reference.'],
  CREDIT_NOTE_EXTERNAL_REFERENCE_ALREADY_EXISTS: [
    409,
    'This customer already has a credit note with this external reference.',
  ],
  JOURNAL_EXTERNAL_REFERENCE_ALREADY_EXISTS: [
    409,
    'This customer already has a journal of this type with this reference.',
  ],
  CUSTOMER_CREDIT_LIMIT_EXCEEDED: [422, "The document would take the customer's balance past its credit limit."],
  EXCHANGE_RATE_MISSING: [
    422,
    'The document is in a foreign currency, no exchangeRate was sent and the entity has no rate for that currency dated on or before the document date (PUT /v1/currencies/{code}/rates/{date}).',
  ],
  EXCHANGE_RATE_FOR_BASE_CURRENCY: [422, 'The base currency is 1 by definition; it takes no dated rates.'],
  EXCHANGE_RATE_MUST_BE_ONE: [422, 'The document is in the base currency; its exchangeRate must be 1.'],
  EXCHANGE_RATE_IMPLAUSIBLE: [
    422,
    "The exchangeRate (or a receipt's bankExchangeRate, which values its bank line) is outside the plausible band around the last known rate of its currency (`details` has the field, the band and that rate); correct it, or send `confirmExchangeRate: true` if it is right.",
  ],
  DUE_DATE_BEFORE_TRANSACTION_DATE: [422, 'The due date is before the document date.'],
  DOCUMENT_TOTAL_MUST_BE_POSITIVE: [
    422,
    'The document total is zero or negative (lines may be negative, the total may not); there is nothing to post.',
  ],
  TRANSACTION_DOES_NOT_EXIST: [422, 'A referenced transaction does not exist in this entity.'],
  TRANSACTION_DUE_DATE_CANNOT_CHANGE: [
    422,
    'Only an invoice or debit journal that has a due date can have it moved; other documents have none to move.',
  ],
  TRANSACTION_CANNOT_BE_DISPUTED: [
    422,
    'Only a customer document (invoice, credit note, receipt, debit or credit journal) can be flagged as disputed.',
  ],
  INVOICE_LINE_DOES_NOT_EXIST: [422, 'A selected line number is not on the invoice.'],
  TRANSACTION_IS_NOT_AN_INVOICE: [422, 'A credit note can only copy a sales invoice.'],
  INVOICE_IS_NOT_AN_ITEM_INVOICE: [
    422,
    'An item credit note copies an invoice written as items; credit an invoice posted as amounts with POST /v1/sales/credit-notes.',
  ],
  EINVOICE_INCOMPLETE: [
    422,
    'The document cannot be sent as a Peppol BIS 3.0 e-invoice: a mandatory element is missing or invalid (an electronic address, the buyer reference, a country, a VAT number, an exemption reason...). `details` lists each one with the setting that fills it; nothing is emitted.',
  ],
  CREDIT_NOTE_EXCEEDS_INVOICE: [
    422,
    "The credit note would credit more than the invoice's gross (or a selected line's) less what earlier credit notes credited.",
  ],
  DRAFT_IS_POSTED: [409, 'The draft invoice was posted; it can no longer change or be cancelled (credit the invoice).'],
  DRAFT_IS_CANCELLED: [409, 'The draft invoice was cancelled; it can no longer change or be posted.'],
  JOURNAL_NOT_BALANCED: [422, 'The debits of the general journal do not equal its credits.'],
  JOURNAL_REVERSAL_DATE_NOT_AFTER_JOURNAL: [
    422,
    "A reversing journal's reversal date must be after the journal's date.",
  ],
  JOURNAL_REVERSAL_DATE_BEFORE_JOURNAL: [
    422,
    'A journal reversed after it was posted (POST /v1/journals/{id}/reverse) cannot be reversed on a date before its own.',
  ],
  JOURNAL_ALREADY_REVERSED: [
    409,
    'The general journal was reversed already (`reversedBy` on GET /v1/journals/{id}); a journal is reversed once.',
  ],
  JOURNAL_CANNOT_BE_REVERSED: [
    422,
    'The general journal cannot be reversed on its own: it is a reversal itself (post a new journal instead), or another document posted it (a deferral release, a revaluation), and is corrected through that document.',
  ],
  RECEIPT_ALREADY_HAS_FEE: [
    409,
    "The receipt has a payment provider's fee recorded already (GET /v1/transactions/{id}/fee); if it is not the fee, reverse that journal first.",
  ],
  FEE_JOURNAL_ALREADY_USED: [409, "The general journal is another receipt's payment provider's fee already."],
  FEE_JOURNAL_NOT_ELIGIBLE: [
    422,
    "The general journal cannot be the receipt's payment provider's fee: it is a reversal, or reversed, or takes no money out of the GL account the receipt went into, or is in another currency than the receipt; the message says which.",
  ],
  // Item invoices (issue #11)
  ITEM_CODE_DOES_NOT_EXIST: [
    422,
    'A line names an item code that does not exist in this entity (PUT /v1/items/{code}).',
  ],
  ITEM_IS_INACTIVE: [422, 'A line names an inactive item; reactivate it or name another.'],
  LINE_DEFAULT_MISSING: [
    422,
    'An item line leaves out its unit price, GL account or tax code, and neither its item nor the customer has a default.',
  ],
  // Allocation
  TRANSACTION_ALLOCATION_REFERENCE_IS_NULL: [422, 'An allocation needs a reference.'],
  TRANSACTION_ALLOCATION_AMOUNT_CANNOT_BE_NEGATIVE_OR_ZERO: [422, 'The allocation amount must be positive.'],
  TRANSACTION_IS_NOT_ALLOCATABLE: [422, 'This transaction type cannot be allocated.'],
  TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION: [422, 'One of the transactions is already fully allocated.'],
  TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANDING_AMOUNT: [
    422,
    'The amount (plus discount) is more than what is outstanding.',
  ],
  TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES: [
    422,
    'Both transactions are on the same side (two invoices, two receipts); or the same transaction twice.',
  ],
  TRANSACTIONS_BELONG_TO_DIFFERENT_ACCOUNTS: [422, 'The transactions belong to different customers.'],
  TRANSACTION_DISCOUNT_REQUIRES_DEBIT_DOCUMENT: [422, 'A discount can only be given on an invoice or debit journal.'],
  TRANSACTION_HAS_NO_ACTIVE_ALLOCATIONS: [422, 'Nothing to unallocate: the transaction has no active allocation.'],
  ALLOCATION_DATE_BEFORE_TRANSACTION: [
    422,
    'The allocation is dated before one of its two documents; date it on or after the later of them.',
  ],
  UNALLOCATION_DATE_BEFORE_ALLOCATION: [422, 'The unallocation is dated before the allocation it reverses.'],
  // Periods
  PERIOD_LOCKED: [
    422,
    "The date is on or before the entity's lock date (GET /v1/settings): nothing is posted, allocated or reversed there.",
  ],
  // Post, pay and allocate
  NOTHING_TO_POST: [422, 'Send a batchInvoice, a receipt, or both.'],
  INVOICE_AND_RECEIPT_CUSTOMER_MISMATCH: [422, 'The invoice and the receipt are for different customers.'],
  ALLOCATION_REQUIRES_INVOICE_AND_RECEIPT: [422, 'performAllocation needs both a batchInvoice and a receipt.'],
  // Purchases, back-to-back and intercompany
  SUPPLIER_CODE_DOES_NOT_EXIST: [422, 'The supplier code does not exist in this entity.'],
  SUPPLIER_IS_INACTIVE: [422, 'The supplier is inactive; reactivate it before posting to it.'],
  SUPPLIER_CURRENCY_CANNOT_CHANGE: [422, 'The supplier has transactions; its currency cannot change.'],
  SUPPLIER_CONTROL_ACCOUNT_LOCKED: [422, 'The supplier has postings; its control account cannot change.'],
  PURCHASE_INVOICE_SUPPLIER_REFERENCE_ALREADY_EXISTS: [
    409,
    "This supplier already has a purchase invoice with this supplier reference (the supplier's invoice number).",
  ],
  BACK_TO_BACK_CURRENCY_MISMATCH: [
    422,
    'The sales lines are copied from the purchase lines, but the customer and the supplier have different currencies; send the sales lines.',
  ],
  INTERCOMPANY_NOT_CONNECTED: [
    422,
    'This entity and the one named are not connected both ways (each must PUT /v1/intercompany/connections/{entityCode} naming the other), or no such entity exists.',
  ],
  INTERCOMPANY_CURRENCY_MISMATCH: [
    422,
    "The seller's customer for the buyer and the buyer's supplier for the seller have different currencies.",
  ],
  INTERCOMPANY_COUNTERPART_REFUSED: [
    422,
    "The other entity's half (the purchase invoice) was refused; `details.reason` is its error code. Nothing was posted in either entity.",
  ],
  // Pipelines
  PIPELINE_UNKNOWN_SOURCE_TYPE: [400, 'No source of this type is known; the message lists the known ones.'],
  PIPELINE_UNKNOWN_TARGET_TYPE: [400, 'No target of this type is known; the message lists the known ones.'],
  PIPELINE_SOURCE_CANNOT_FEED_TARGET: [
    400,
    'This source cannot send to this target (the embedded ledger mirrored into itself would book everything twice); the message says why.',
  ],
  PIPELINE_TARGET_SETTINGS_INVALID: [
    400,
    "The target's settings do not match its schema or name a setting it does not have; `details` names each field.",
  ],
  PIPELINE_SOURCE_SETTINGS_INVALID: [
    400,
    "The source's settings do not match its schema or name a setting it does not have; `details` names each field.",
  ],
  PIPELINE_URL_REFUSED: [
    400,
    'A URL of the settings is one the server does not call: https only, and no loopback, private, link-local or metadata address unless the operator allows it (docs/security.md).',
  ],
  PIPELINE_TOO_LARGE: [413, 'The mapping or the settings of the pipeline are larger than the limits in docs/sync.md.'],
  PIPELINE_MAPPING_TARGET_UNKNOWN: [
    422,
    "The mapping names a GL account, tax code, department or bank account the entity's ledger does not have (or not active); `details` names each field.",
  ],
  ENCRYPTION_KEY_OUTDATED: [
    409,
    "The server's encryption key was rotated away (`ledgerlink keys rotate`): restart it with the database's key. Nothing was saved.",
  ],
  SECRET_UNREADABLE: [
    409,
    'A secret of the pipeline was stored with another encryption key: enter it again (PUT /v1/pipelines/{name}, `ledgerlink config apply`) or run with the key it was stored with. Only this pipeline is affected.',
  ],
  PIPELINE_NOT_FOUND: [
    404,
    'No pipeline of this name in the entity, wherever the name was given (in the path, in the form field `pipeline` of an import, or in a filter such as `?pipeline=`); `details` names that field, and the message lists the known ones.',
  ],
  PIPELINE_DISABLED: [
    409,
    'The pipeline is disabled: it runs nothing, by hand or by import, until it is enabled again (`ledgerlink pipeline enable NAME`, or PUT /v1/pipelines/{name} with `"enabled": true`). Nothing was started.',
  ],
  PIPELINE_RUN_IN_PROGRESS: [
    409,
    'The pipeline has a run queued or running; try again once it has finished, or cancel it (POST /v1/runs/{runId}/cancel, `ledgerlink runs cancel`).',
  ],
  RUN_ALREADY_FINISHED: [
    409,
    'The run has finished (succeeded, partial or failed): there is nothing to cancel. Its status is in the message.',
  ],
  EXCEPTION_ALREADY_RESOLVED: [
    409,
    'The exception is resolved already (its record went through, or someone resolved it): there is nothing to retry or resolve. Nothing was changed.',
  ],
  RUN_NOT_CANCELLABLE: [
    409,
    'The run retries a parked record for its request (POST /v1/exceptions/{id}/retry), and ends with it: it cannot be cancelled while it works.',
  ],
  // Connections (OAuth 2.0)
  CONNECTION_NOT_OAUTH: [
    409,
    "The pipeline's target does not connect through OAuth 2.0 (its type declares no OAuth provider): nothing to connect.",
  ],
  OAUTH_STATE_INVALID: [
    400,
    'The consent came back with a `state` that is unknown, already used, expired (10 minutes) or started for another pipeline; `details.reason` says which. Nothing was stored: start the connection again (GET /v1/connections/{pipeline}/oauth/start).',
  ],
  OAUTH_CONSENT_DENIED: [
    403,
    'The user did not grant access at the platform (`error=access_denied`, or another error it sent back). Nothing was stored.',
  ],
  OAUTH_CODE_REJECTED: [
    400,
    "The platform refused to exchange the consent's code (expired, used, or not issued to this app and redirect URL). Nothing was stored: start the connection again.",
  ],
  OAUTH_PLATFORM_UNAVAILABLE: [
    502,
    "The platform's token or tenants endpoint could not be reached or failed. Nothing was stored: start the connection again later.",
  ],
  OAUTH_TENANT_AMBIGUOUS: [
    409,
    "The consent covers several organisations or companies and the pipeline's target names none: add the setting the message names (`tenantId`, `realmId`) with one of those listed in `details`, then start again.",
  ],
  OAUTH_TENANT_NOT_GRANTED: [
    409,
    "The consent covers no organisation or company, or not the one the pipeline's target names; `details` lists those it covers. Nothing was stored.",
  ],
  // Documents and attachments
  ATTACHMENT_TYPE_NOT_ALLOWED: [
    415,
    'The file is not a CSV (UTF-8 text without NUL or control bytes), an XLSX workbook or a PDF, judged by its content; nothing was stored.',
  ],
  ATTACHMENT_TYPE_MISMATCH: [
    422,
    "The file's name says one type and its content is another (a PDF renamed .csv); `details` gives both. Nothing was stored.",
  ],
  ATTACHMENT_TOO_LARGE: [413, 'The file is larger than 10 MB (10485760 bytes); nothing was stored.'],
  LOGO_INVALID: [
    422,
    'The logo is not a PNG or JPEG image that can be drawn (judged by its content), is not base64, or is larger than 1 MB.',
  ],
  DOCUMENT_TYPE_HAS_NO_PDF: [
    422,
    'Only invoices (SI), credit notes (SN) and receipts (SR) have a PDF; journals, discounts and exchange differences do not.',
  ],
  TRANSACTION_HAS_NO_LINES: [422, 'Only an invoice or credit note has lines to break down into a spreadsheet.'],
  // Everything else
  INTERNAL_ERROR: [500, 'Something failed on the server; it has been logged. Nothing was changed.'],
  SERVICE_UNAVAILABLE: [503, 'The database is unavailable; retry later.'],
  STORAGE_FULL: [
    507,
    'The disk that holds the database is full: nothing of this request was written. Free space on it (or move the data folder), then send the request again.',
  ],
  NOT_READY: [
    503,
    'The process is alive but not ready for traffic: `details.failed` names the checks that failed (database, migrations, queue).',
  ],
  METRICS_DISABLED: [404, 'GET /metrics is off: set LEDGERLINK_METRICS_TOKEN to turn it on (docs/deploy.md).'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Codes only the command line answers with (`error: CODE: message`, or the API's error body with
 * --json): refusals of the process itself, at start or before any work, that no HTTP request can
 * meet. They have no HTTP status. With ERROR_CODES they are every code the command line prints;
 * anything else (a driver's or Node's own code) is never passed off as one of ours.
 */
export const CLI_ERROR_CODES = {
  USAGE_ERROR:
    'The command line is not one the command takes: an unknown command or option, a missing argument, an option without its value, a value not among its choices, too many arguments. The message says which and names the `--help` to read.',
  SETTING_INVALID:
    'An environment variable or a command-line option does not parse or is out of its range (a port that is no number, a URL that is none); `details` names it.',
  FILE_NOT_READABLE:
    'The file named cannot be read: there is none of that name, it is a folder, or this user may not read it; `details` names the argument.',
  CONFIG_FILE_NOT_FOUND:
    'No configuration file was named, LEDGERLINK_CONFIG is not set and there is no ./ledgerlink.yaml: name the file.',
  DATA_FOLDER_NOT_FOUND:
    'There is no PGlite data folder where the command looks (./data, --data-dir, LEDGERLINK_DATA_DIR): run it where the data is, or say where it is. Commands that read or change what is stored never create an empty one.',
  DATA_FOLDER_IN_USE:
    'Another ledgerlink process uses the PGlite data folder (one process per folder): stop it, use its HTTP API, or run on a PostgreSQL server.',
  DATA_FOLDER_UNWRITABLE:
    'The PGlite data folder cannot be written: a read-only file system, a folder of another user, a full disk, or a file where the folder should be. Nothing was changed.',
  DATABASE_URL_INVALID:
    'DATABASE_URL (or `copy-to-postgres --to`) is not a PostgreSQL URL: expected postgres://user:password@host:5432/database.',
  DATABASE_NOT_FOUND:
    'The PostgreSQL server answers, but the database named in DATABASE_URL (or `--to`) does not exist on it: create it (createdb), or correct the name.',
  DATABASE_UNREACHABLE:
    'No PostgreSQL server answers at the host and port of DATABASE_URL (or `--to`), or it takes no connections now: check them and that the server runs.',
  DATABASE_AUTH_FAILED:
    'The PostgreSQL server refused the user of DATABASE_URL (or `--to`): no such role, a wrong or missing password, or no pg_hba.conf entry for it.',
  ENCRYPTION_KEY_MISSING:
    "No encryption key was given: with PostgreSQL every process needs LEDGERLINK_ENCRYPTION_KEY (the database's key).",
  ENCRYPTION_KEY_INVALID: 'The encryption key given is not 32 bytes written as base64.',
  ENCRYPTION_KEY_MISMATCH:
    "The encryption key given is not the database's (its fingerprint differs from the one the database recorded); nothing was written.",
  ENCRYPTION_KEY_FILE_MISSING:
    "The database has a key but the data folder's key file (.encryption-key) is gone: put it back, or give the key in LEDGERLINK_ENCRYPTION_KEY.",
  ENCRYPTION_KEY_UNCHANGED: '`keys rotate --new-key` was given the current key: nothing to rotate.',
  SECRETS_UNREADABLE:
    '`keys rotate` found stored secrets the current key cannot open: enter them again first. Nothing was changed.',
  PIPELINE_NAME_AMBIGUOUS: 'Pipelines of that name exist in several entities: say which with --entity CODE.',
  DEMO_RUNS_IN_SERVER:
    'The demo pipeline runs only inside `ledgerlink serve` (its sample system runs there): start the server instead.',
  OUTBOUND_REFUSED:
    'A request to an outside system was refused by the outbound policy before anything was sent: https only, and no loopback, private or metadata address unless the operator allows it (docs/security.md).',
  TARGET_NOT_EMPTY:
    '`copy-to-postgres`: the target database already holds ledgerlink data; copy into an empty database or a schema of its own (--schema).',
  SCHEMAS_DIFFER:
    '`copy-to-postgres`: the two databases are at different migrations or tables; run the same version of ledgerlink on both.',
} as const satisfies Record<string, string>;

export type CliErrorCode = keyof typeof CLI_ERROR_CODES;

export interface FieldProblem {
  field: string;
  message: string;
}

/** An expected business failure: a stable code, a message for people, and details for programs. */
export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | FieldProblem[] | undefined;
  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown> | FieldProblem[]) {
    super(message ?? ERROR_CODES[code][1]);
    this.name = 'DomainError';
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return ERROR_CODES[this.code][0];
  }
}

export function isDomainError(err: unknown): err is DomainError {
  return err instanceof DomainError;
}

/** A validation failure naming one field. */
export function fieldError(field: string, message: string, code: ErrorCode = 'VALIDATION_ERROR'): DomainError {
  return new DomainError(code, `${field}: ${message}`, [{ field, message }]);
}
