import { XMLBuilder, XMLParser } from 'fast-xml-parser';

/*
 * The part of AccountsIQ's "Integration" SOAP contract this connector uses, as data: each
 * operation's parameters and each complex type's elements, by name and XML Schema type. No WSDL is
 * in ../shared/specs (AccountsIQ serves it live per region and its GitHub copies carry no licence),
 * so most names come from ../shared/reference/accountsiq-api.md (read from the WSDL and the vendor's
 * wiki); the lookups, their answers and WSSundryReceiptPayment were since checked against a copy of
 * the WSDL (docs/connectors/accountsiq.md, "Checked against the WSDL"). The same table builds the
 * requests (element order = declaration order, as .NET's XmlSerializer expects) and lets the
 * simulator refuse any element it does not declare.
 */

/** The namespace of every Integration operation and type. */
export const NS = 'http://www.visorsoftware.com/visor/accountsiq/dashboard/Integration/';

/** XML Schema simple types, as the WSDL names them. */
export type Simple = 'string' | 'int' | 'decimal' | 'boolean' | 'dateTime' | 'double' | 'base64Binary';
/** An element's type: a simple type, a complex type by name, or an array of either (with its item element's name). */
export type ElementType = Simple | { type: string } | { array: Simple | { type: string }; item: string };

/**
 * How an element occurs, where the WSDL says more than minOccurs="0": `required` (minOccurs="1")
 * and `nillable` (nillable="true"). A required element that is not nillable must carry a value; a
 * required nillable one with no value is sent `xsi:nil="true"`, as .NET's XmlSerializer does.
 */
export interface Occurs {
  required?: true;
  nillable?: true;
}

export type Fields = readonly (readonly [string, ElementType, Occurs?])[];

const REQ: Occurs = { required: true };
const REQ_NIL: Occurs = { required: true, nillable: true };
const NIL: Occurs = { nillable: true };

const arr = (type: string): ElementType => ({ array: { type }, item: type });

export const TYPES: Record<string, Fields> = {
  BatchSalesInvoiceLine: [
    ['GLAccountCode', 'string'],
    ['TaxCode', 'string'],
    ['Description', 'string'],
    ['DepartmentID', 'string'],
    ['NetAmount', 'decimal'],
    ['TaxRate', 'double'],
    ['TaxAmount', 'decimal'],
  ],
  BatchSalesInvoice: [
    ['CustomerCode', 'string'],
    ['InvoiceDate', 'dateTime'],
    ['ExternalReference', 'string'],
    ['Description', 'string'],
    ['Lines', arr('BatchSalesInvoiceLine')],
    ['ExchangeRate', 'decimal'],
    ['DueDate', 'dateTime'],
  ],
  // "Same shape" as the batch invoice (accountsiq-api.md: type names seen in the WSDL only).
  BatchSalesCreditNoteLine: [
    ['GLAccountCode', 'string'],
    ['TaxCode', 'string'],
    ['Description', 'string'],
    ['DepartmentID', 'string'],
    ['NetAmount', 'decimal'],
    ['TaxRate', 'double'],
    ['TaxAmount', 'decimal'],
  ],
  BatchSalesCreditNote: [
    ['CustomerCode', 'string'],
    ['InvoiceDate', 'dateTime'],
    ['ExternalReference', 'string'],
    ['Description', 'string'],
    ['Lines', arr('BatchSalesCreditNoteLine')],
    ['ExchangeRate', 'decimal'],
  ],
  SalesReceipt: [
    ['CustomerCode', 'string'],
    ['CheckReference', 'string'],
    ['PaymentAmount', 'decimal'],
    ['BankAccountCode', 'string'],
    ['LodgmentNumber', 'string'],
    ['PaymentDate', 'dateTime'],
    ['ExchangeRate', 'decimal'],
    ['BankExchangeRate', 'decimal'],
    ['Description', 'string'],
    ['DepartmentID', 'string'],
  ],
  WSPostPayAndAllocateSalesInvoiceQuery: [
    ['PerformExternalReferenceDuplicateCheckOnInvoice', 'boolean'],
    ['PerformExternalReferenceDuplicateCheckOnReceipt', 'boolean'],
    ['BatchInvoice', { type: 'BatchSalesInvoice' }],
    ['Receipt', { type: 'SalesReceipt' }],
    ['PerformAllocation', 'boolean'],
    ['AllocationDate', 'dateTime'],
    ['AllocationAmount', 'decimal'],
    ['AllocationReference', 'string'],
    ['ClientUniqueReference', 'string'],
    ['EnforceCreditLimit', 'boolean'],
  ],
  // Account: the fields this connector reads or writes, of the many the WSDL declares.
  Customer: [
    ['AccountID', 'int'],
    ['Code', 'string'],
    ['Name', 'string'],
    ['CurrencyCode', 'string'],
    ['AreaID', 'string'],
    ['BankAccountCode', 'string'],
    ['CreditTermID', 'int'],
    ['DefaultTaxCode', 'string'],
    ['DefaultGLAccountCode', 'string'],
    ['ControlGLAccountCode', 'string'],
    ['Address1', 'string'],
    ['Address2', 'string'],
    ['City', 'string'],
    ['County_State', 'string'],
    ['Country', 'string'],
    ['CountryCode', 'string'],
    ['PostCode', 'string'],
    ['Phone', 'string'],
    ['Email', 'string'],
    ['VATRegistrationNumber', 'string'],
    ['IsActive', 'boolean'],
    ['CreditLimit', 'decimal'],
    ['RowVersionNumber', 'int'],
  ],
  // Sales debit journals (refunds): accountsiq-api.md, from the WSDL.
  WSLedgerJournalLine: [
    ['GLAccountCode', 'string'],
    ['Description', 'string'],
    ['Amount', 'decimal'],
    ['DepartmentID', 'string'],
    ['BankExchangeRate', 'decimal'],
  ],
  WSLedgerJournal: [
    ['AccountCode', 'string'],
    ['ExchangeRate', 'decimal'],
    ['ExternalReference', 'string'],
    ['JournalNumber', 'string'],
    ['TransactionDate', 'dateTime'],
    ['Lines', arr('WSLedgerJournalLine')],
  ],
  // StockItem: the operations are in the WSDL (platform-contracts.md §1); these element names
  // are our reading of it, not checked against a copy (docs/connectors/accountsiq.md).
  StockItem: [
    ['StockItemID', 'string'],
    ['Description', 'string'],
    ['SalesGLAccountCode', 'string'],
    ['SalesTaxCode', 'string'],
    ['DepartmentID', 'string'],
    ['IsActive', 'boolean'],
    ['RowVersionNumber', 'int'],
  ],
  // A sundry bank receipt or payment (a payment provider's fee): the WSDL's WSSundryReceiptPayment,
  // every element in its declared order. The sign of Value decides receipt or payment (API wiki).
  WSSundryReceiptPayment: [
    ['ExternalReference', 'string'],
    ['TransactionDate', 'dateTime'],
    ['Description', 'string'],
    ['DepartmentID', 'string'],
    ['Value', 'decimal'],
    ['GLAccountCode', 'string'],
    ['BankAccountCode', 'string'],
    ['TaxID', 'string'],
    ['TaxRate', 'decimal'],
    ['ExchangeRate', 'decimal'],
    ['LodgmentNumber', 'string'],
    ['TaxAmount', 'decimal'],
  ],
  // The lookups and reads, every element in the WSDL's declared order with its minOccurs and
  // nillable (docs/connectors/accountsiq.md, "Checked against the WSDL").
  WSGetTransactionsByExternalReferenceQuery: [
    ['ExternalReference', 'string'],
    ['FromDate', 'dateTime', REQ],
    ['ToDate', 'dateTime', REQ],
    ['TypesFilter', { array: 'string', item: 'string' }],
    ['AccountIDsFilter', { array: 'int', item: 'int' }],
    ['TransactionIDsFilter', { array: 'int', item: 'int' }],
    ['DepartmentIDsFilter', { array: 'string', item: 'string' }],
  ],
  WSGetTransactionsByQuery: [
    ['FromDate', 'dateTime', REQ],
    ['ToDate', 'dateTime', REQ],
    ['FromCreationDate', 'dateTime', REQ],
    ['ToCreationDate', 'dateTime', REQ],
    ['Skip', 'int', REQ],
    ['TypesFilter', { array: 'string', item: 'string' }],
    ['AccountIDsFilter', { array: 'int', item: 'int' }],
    ['TransactionIDsFilter', { array: 'int', item: 'int' }],
    ['DepartmentIDsFilter', { array: 'string', item: 'string' }],
    ['FromPeriodDate', 'dateTime', REQ_NIL],
    ['ToPeriodDate', 'dateTime', REQ_NIL],
    ['FromDueDate', 'dateTime', NIL],
    ['ToDueDate', 'dateTime', NIL],
    ['ExcludeReconciliationInformation', 'boolean', REQ],
  ],
  // What both lookups answer (the items of ArrayOfWSTransactionSummary): the simulator's answers are
  // checked against these. Ledger is the WSDL's LedgerType, an enumeration of strings.
  WSTransactionSummary: [
    ['AccountID', 'int', REQ],
    ['AccountCode', 'string'],
    ['Ledger', 'string', REQ],
    ['TransactionType', 'string'],
    ['TransactionID', 'int', REQ],
    ['IsBatchInvoiceOrNote', 'boolean', REQ],
    ['InvoiceID', 'int', REQ],
    ['InternalNumber', 'string'],
    ['ExternalReference', 'string'],
    ['ControlAmount', 'decimal', REQ],
    ['OutstandingAmount', 'decimal', REQ],
    ['ControlBCAmount', 'decimal', REQ],
    ['TransactionDate', 'dateTime', REQ],
    ['FinancialYear', 'int', REQ],
    ['PeriodNumber', 'int', REQ],
    ['PeriodName', 'string'],
    ['CreationDate', 'dateTime', REQ],
    ['LineDetails', arr('WSTransactionDetail')],
    ['CurrencyCode', 'string'],
    ['PeriodDate', 'dateTime', REQ],
    ['CreatedBy', 'string'],
    ['AccountName', 'string'],
    ['TransactionBankGLAccountNumber', 'string'],
    ['IsReversed', 'boolean', REQ],
    ['IsInDispute', 'boolean', REQ],
    ['NumberOfAttachments', 'int', REQ],
    ['DueDate', 'dateTime', NIL],
  ],
  WSTransactionDetail: [
    ['GLAccountCode', 'string'],
    ['IsControlLine', 'boolean', REQ],
    ['IsTaxLine', 'boolean', REQ],
    ['IsStockLine', 'boolean', REQ],
    ['Amount', 'decimal', REQ],
    ['BCAmount', 'decimal', REQ],
    ['TaxID', 'string'],
    ['DepartmentID', 'string'],
    ['CurrencyCode', 'string'],
    ['IsReconciled', 'boolean', REQ],
    ['Description', 'string'],
    ['TransactionDate', 'dateTime', REQ_NIL],
    ['PeriodDate', 'dateTime', REQ_NIL],
    ['DueDate', 'dateTime', NIL],
    ['ExchangeRate', 'decimal', REQ],
  ],
  // What GetCustomerBalanceInformation answers (items of ArrayOfAccountBalanceInformation), in the
  // WSDL's declared order: the simulator's answers are checked against it.
  AccountBalanceInformation: [
    ['AccountID', 'int', REQ],
    ['AccountCode', 'string'],
    ['AccountType', 'string'],
    ['Balance', 'decimal', REQ],
    ['CreditLimit', 'decimal', REQ],
    ['CreditLeft', 'decimal', REQ],
    ['OverCreditLimitBalance', 'decimal', REQ],
    ['CurrencyCode', 'string'],
  ],
  // What GetAllocationsByTransactionId answers (items of ArrayOfWSAllocationTransactionDTO).
  WSAllocationTransactionDTO: [
    ['TransactionID', 'int', REQ],
    ['TransactionType', 'string'],
    ['InternalNumber', 'string'],
    ['ExternalReference', 'string'],
    ['AllocationEntries', arr('WSAllocationEntryDTO')],
    ['AccountID', 'int', REQ_NIL],
    ['AccountCode', 'string'],
  ],
  WSAllocationEntryDTO: [
    ['AllocatedToTransactionID', 'int', REQ],
    ['AllocatedToTransactionType', 'string'],
    ['AllocatedToInternalNumber', 'string'],
    ['AllocatedToExternalReference', 'string'],
    ['AllocationAmount', 'decimal', REQ],
    ['AllocationDate', 'dateTime', REQ],
    ['AllocationId', 'int', REQ],
    ['AllocationUserId', 'string'],
    ['AllocationCreationDate', 'dateTime', REQ],
    ['AllocatedToTransactionDate', 'dateTime', REQ],
    ['AllocationNumber', 'int', REQ],
  ],
};

const token: readonly [string, ElementType] = ['token', 'string'];

/** Each operation's parameters, in order. */
export const OPERATIONS: Record<string, Fields> = {
  TokenGet: [
    ['clientId', 'string'],
    ['clientSecret', 'string'],
  ],
  TokenRefresh: [
    ['clientId', 'string'],
    ['clientSecret', 'string'],
    ['refreshToken', 'string'],
  ],
  Login: [
    ['entityID', 'string'],
    ['partnerKey', 'string'],
    ['userKey', 'string'],
  ],
  GetCurrencyList: [token],
  GetTaxCodeList: [token],
  GetCustomer: [token, ['customerCode', 'string']],
  GetNewCustomerFromDefaults: [token],
  UpdateCustomer: [token, ['customer', { type: 'Customer' }], ['create', 'boolean']],
  GetStockItem: [token, ['stockItemID', 'string']],
  GetNewStockItemFromDefaults: [token, ['stockItemID', 'string']],
  SaveStockItem: [token, ['stockItem', { type: 'StockItem' }], ['create', 'boolean']],
  PostPayAndAllocateSalesInvoices: [token, ['queries', arr('WSPostPayAndAllocateSalesInvoiceQuery')]],
  CreateBatchSalesCreditNoteGetBackTransactionID: [token, ['creditNote', { type: 'BatchSalesCreditNote' }]],
  PostSalesDebitJournalGetBackTransactionID: [token, ['journal', { type: 'WSLedgerJournal' }]],
  AllocateTransactions: [
    token,
    ['transactionID_1', 'int'],
    ['transactionID_2', 'int'],
    ['allocationReference', 'string'],
    ['allocationAmount', 'decimal'],
    ['allocationDate', 'dateTime'],
  ],
  GetAllocationsByTransactionId: [token, ['transactionId', 'string']],
  GetTransactionsByExternalReference: [token, ['query', { type: 'WSGetTransactionsByExternalReferenceQuery' }]],
  GetTransactionsBy: [token, ['query', { type: 'WSGetTransactionsByQuery' }]],
  GetInvoicePDFByTransactionID: [token, ['transactionID', 'int']],
  // As GetSupplierBalanceInformation is declared in the WSDL (edt required); the vendor's Postman
  // collection sends the customer one so: edt, then customerCodes.
  GetCustomerBalanceInformation: [
    token,
    ['edt', 'dateTime', REQ],
    ['customerCodes', { array: 'string', item: 'string' }],
  ],
  SaveSundryReceiptPaymentsGetBackTransactionIDs: [token, ['entries', arr('WSSundryReceiptPayment')]],
};

export type Operation = keyof typeof OPERATIONS;

/** A value to send: text (amounts as decimal text), a boolean, a nested object, a list; absent or null is left out. */
export type Value = string | number | boolean | null | undefined | Value[] | { [k: string]: Value };

// suppressBooleanAttributes off: xsi:nil="true" must keep its value (XML has no bare attributes).
const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  suppressEmptyNode: false,
  suppressBooleanAttributes: false,
});

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  // Everything stays text: an amount never passes through a binary float.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

function simpleText(type: Simple, v: Value): string {
  if (type === 'boolean') return v === true || v === 'true' ? 'true' : 'false';
  if (typeof v === 'object' && v !== null) throw new Error(`a ${type} cannot be an object`);
  return String(v);
}

/** An object of values as elements of `fields`, in the declared order; an undeclared key is a programming error. */
function elements(fields: Fields, values: Record<string, Value>, where: string): Record<string, unknown> {
  const known = new Set(fields.map(([n]) => n));
  for (const k of Object.keys(values)) if (!known.has(k)) throw new Error(`${where}: no element ${k} in the contract`);
  const out: Record<string, unknown> = {};
  for (const [name, type, occurs] of fields) {
    const v = values[name];
    if (v === undefined || v === null) {
      if (occurs?.nillable && (occurs.required || v === null)) out[name] = { '@_xsi:nil': 'true' };
      else if (occurs?.required) throw new Error(`${where}.${name}: required by the contract and not nillable`);
      continue;
    }
    out[name] = element(type, v, `${where}.${name}`);
  }
  return out;
}

function element(type: ElementType, v: Value, where: string): unknown {
  if (typeof type === 'string') return simpleText(type, v);
  if ('type' in type) {
    const fields = TYPES[type.type];
    if (!fields) throw new Error(`${where}: unknown type ${type.type}`);
    return elements(fields, v as Record<string, Value>, where);
  }
  const items = (v as Value[]).map((x) => element(type.array, x, `${where}[]`));
  return { [type.item]: items };
}

/** The SOAP 1.1 envelope of one call: values escaped by the builder, never by hand. */
export function requestEnvelope(
  op: Operation,
  args: Record<string, Value>,
  header?: { AccessToken: string; Entity: string },
): string {
  const body = { '@_xmlns': NS, ...elements(OPERATIONS[op]!, args, op) };
  const envelope: Record<string, unknown> = {
    '@_xmlns:soap': 'http://schemas.xmlsoap.org/soap/envelope/',
    '@_xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
    '@_xmlns:xsd': 'http://www.w3.org/2001/XMLSchema',
  };
  if (header) envelope['soap:Header'] = { AiqSoapHeader: { '@_xmlns': NS, ...header } };
  envelope['soap:Body'] = { [op]: body };
  return `<?xml version="1.0" encoding="utf-8"?>` + builder.build({ 'soap:Envelope': envelope });
}

/** A response envelope (the simulator's side): `<OpResponse><OpResult>…</OpResult>…outs</OpResponse>`. */
export function responseEnvelope(op: string, result: unknown, outs: Record<string, unknown> = {}): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?>` +
    builder.build({
      'soap:Envelope': {
        '@_xmlns:soap': 'http://schemas.xmlsoap.org/soap/envelope/',
        '@_xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
        'soap:Body': { [`${op}Response`]: { '@_xmlns': NS, [`${op}Result`]: result, ...outs } },
      },
    })
  );
}

/** A SOAP 1.1 fault: `soap:Client` (the request is wrong) or `soap:Server`. */
export function faultEnvelope(code: 'Client' | 'Server', message: string): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?>` +
    builder.build({
      'soap:Envelope': {
        '@_xmlns:soap': 'http://schemas.xmlsoap.org/soap/envelope/',
        'soap:Body': { 'soap:Fault': { faultcode: `soap:${code}`, faultstring: message } },
      },
    })
  );
}

export type Xml = string | { [k: string]: Xml } | Xml[];

/**
 * Whether an answer is a SOAP 1.1 `Client` fault: the request itself was refused (malformed, an
 * unknown element) and nothing was done, so sending it again cannot help. ASMX sends it with 500.
 */
export function isClientFault(res: { text: string }): boolean {
  const fault = parseEnvelope(res.text)?.body.Fault;
  if (!fault || typeof fault !== 'object' || Array.isArray(fault)) return false;
  return /(^|:)Client(\.|$)/.test(text(fault.faultcode));
}

/** The Envelope of an XML text, namespace prefixes removed; null when it is not a SOAP envelope. */
export function parseEnvelope(text: string): { header: Record<string, Xml>; body: Record<string, Xml> } | null {
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
  const env = doc.Envelope as Record<string, unknown> | undefined;
  if (!env || typeof env !== 'object' || !env.Body || typeof env.Body !== 'object') return null;
  const header = (env.Header && typeof env.Header === 'object' ? env.Header : {}) as Record<string, Xml>;
  return { header, body: env.Body as Record<string, Xml> };
}

/** The items of a list element (`<Lines><X/><X/></Lines>`): always an array. */
export function items(list: Xml | undefined, item: string): Record<string, Xml>[] {
  if (list === undefined || typeof list === 'string') return [];
  const v = (list as Record<string, Xml>)[item];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]) as Record<string, Xml>[];
}

/** The text of an element ('' when empty or nil). */
export function text(v: Xml | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return text(v[0]);
  const t = v['#text'];
  return typeof t === 'string' ? t : '';
}

/** True when an element is xsi:nil or absent. */
export function isNil(v: Xml | undefined): boolean {
  return v === undefined || (typeof v === 'object' && !Array.isArray(v) && v['@_nil'] === 'true');
}

const PATTERNS: Record<Exclude<Simple, 'string'>, RegExp> = {
  int: /^-?\d{1,10}$/,
  decimal: /^-?\d+(\.\d+)?$/,
  double: /^-?\d+(\.\d+)?(E[+-]?\d+)?$/i,
  boolean: /^(true|false)$/,
  dateTime: /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?)?$/,
  base64Binary: /^[A-Za-z0-9+/=\s]*$/,
};

/**
 * Every way an element breaks the contract: an element the operation or type does not declare,
 * one out of the declared order, a required one missing, nil where it is not nillable, a simple
 * value of the wrong form, an item of a list under the wrong name.
 */
export function violations(fields: Fields, value: Xml, where: string): string[] {
  if (typeof value === 'string' && value !== '') return [`${where}: text where elements were expected`];
  if (Array.isArray(value)) return [`${where}: repeated`];
  const present = typeof value === 'string' ? {} : value;
  const out: string[] = [];
  const declared = new Map(fields.map(([n, t, o], i) => [n, { type: t, occurs: o, at: i }]));
  let last = -1;
  for (const [name, v] of Object.entries(present)) {
    if (name.startsWith('@_')) continue;
    const d = declared.get(name);
    if (!d) {
      out.push(`${where}: unknown element ${name}`);
      continue;
    }
    if (d.at < last) out.push(`${where}: ${name} out of the declared order`);
    last = Math.max(last, d.at);
    if (isNilMarked(v)) {
      if (!d.occurs?.nillable) out.push(`${where}.${name}: nil but not nillable`);
      continue;
    }
    out.push(...violationsOf(d.type, v, `${where}.${name}`));
  }
  for (const [name, , occurs] of fields)
    if (occurs?.required && !(name in present)) out.push(`${where}: required element ${name} missing`);
  return out;
}

function isNilMarked(v: Xml): boolean {
  return typeof v === 'object' && !Array.isArray(v) && v['@_nil'] === 'true';
}

function violationsOf(type: ElementType, v: Xml, where: string): string[] {
  if (Array.isArray(v)) return [`${where}: repeated`];
  if (typeof type === 'string') {
    if (typeof v !== 'string') return isNil(v) ? [] : [`${where}: elements where ${type} was expected`];
    if (type === 'string') return [];
    return PATTERNS[type].test(v) ? [] : [`${where}: "${v.slice(0, 40)}" is not a ${type}`];
  }
  if ('type' in type) return violations(TYPES[type.type]!, v, where);
  if (typeof v === 'string') return v === '' ? [] : [`${where}: text where a list was expected`];
  const out: string[] = [];
  for (const [name, x] of Object.entries(v)) {
    if (name.startsWith('@_')) continue;
    if (name !== type.item) {
      out.push(`${where}: unknown element ${name} (items are ${type.item})`);
      continue;
    }
    for (const [n, one] of (Array.isArray(x) ? x : [x]).entries())
      out.push(...violationsOf(type.array, one, `${where}[${n}]`));
  }
  return out;
}
