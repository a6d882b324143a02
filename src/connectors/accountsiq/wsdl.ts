import { XMLBuilder, XMLParser } from 'fast-xml-parser';

/*
 * The part of AccountsIQ's "Integration" SOAP contract this connector uses, as data: each
 * operation's parameters and each complex type's elements, by name and XML Schema type. No WSDL is
 * in ../shared/specs (AccountsIQ serves it live per region and its GitHub copies carry no licence),
 * so the names come from ../shared/reference/accountsiq-api.md (read from the WSDL and the vendor's
 * wiki); docs/connectors/accountsiq.md marks what is from the WSDL only. The same table builds the
 * requests (element order = declaration order, as .NET's XmlSerializer expects) and lets the
 * simulator refuse any element it does not declare.
 */

/** The namespace of every Integration operation and type. */
export const NS = 'http://www.visorsoftware.com/visor/accountsiq/dashboard/Integration/';

/** XML Schema simple types, as the WSDL names them. */
export type Simple = 'string' | 'int' | 'decimal' | 'boolean' | 'dateTime' | 'double' | 'base64Binary';
/** An element's type: a simple type, a complex type by name, or an array of either (with its item element's name). */
export type ElementType = Simple | { type: string } | { array: Simple | { type: string }; item: string };

export type Fields = readonly (readonly [string, ElementType])[];

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
  // Query shapes: field names from accountsiq-api.md's summary of the WSDL.
  TransactionsByExternalReferenceQuery: [
    ['ExternalReference', 'string'],
    ['FromDate', 'dateTime'],
    ['ToDate', 'dateTime'],
  ],
  TransactionsByQuery: [
    ['TransactionIDs', { array: 'int', item: 'int' }],
    ['Skip', 'int'],
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
  GetTransactionsByExternalReference: [token, ['query', { type: 'TransactionsByExternalReferenceQuery' }]],
  GetTransactionsBy: [token, ['query', { type: 'TransactionsByQuery' }]],
  GetInvoicePDFByTransactionID: [token, ['transactionID', 'int']],
  SaveSundryReceiptPaymentsGetBackTransactionIDs: [token, ['entries', arr('WSSundryReceiptPayment')]],
};

export type Operation = keyof typeof OPERATIONS;

/** A value to send: text (amounts as decimal text), a boolean, a nested object, a list; absent or null is left out. */
export type Value = string | number | boolean | null | undefined | Value[] | { [k: string]: Value };

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: false });

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
  for (const [name, type] of fields) {
    const v = values[name];
    if (v === undefined || v === null) continue;
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
 * a simple value of the wrong form, an item of a list under the wrong name.
 */
export function violations(fields: Fields, value: Xml, where: string): string[] {
  if (typeof value === 'string') return value === '' ? [] : [`${where}: text where elements were expected`];
  if (Array.isArray(value)) return [`${where}: repeated`];
  const out: string[] = [];
  const declared = new Map(fields.map(([n, t]) => [n, t]));
  for (const [name, v] of Object.entries(value)) {
    if (name.startsWith('@_')) continue;
    const type = declared.get(name);
    if (!type) {
      out.push(`${where}: unknown element ${name}`);
      continue;
    }
    out.push(...violationsOf(type, v, `${where}.${name}`));
  }
  return out;
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
