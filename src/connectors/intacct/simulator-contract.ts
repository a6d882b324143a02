/*
 * What the simulated gateway checks of every request: the control block, and for each function
 * the elements it takes, in the order Intacct declares them, which are required, and the form of
 * amounts and dates. The legacy functions' content models (create_invoice, create_aradjustment,
 * create_arpayment, apply_arpayment, lineitem, arpaymentitem) and the request's control and login
 * follow Intacct's published DTDs and schema (github.com/Intacct/intacct_dtd: v2.1 `intacct_request`,
 * `intacct_pr_functions`, and v3.0 `api.xsd` for `readByQuery`, `getAPISession` and `control`;
 * Apache-2.0; read, not copied); the generic objects (CUSTOMER, ITEM,
 * ARPYMT) have no DTD there, so theirs come from the vendor's pages and its SDK's tests. A request
 * breaking it is recorded as a violation (tests assert none) and still answered as Intacct would.
 */

type El = Record<string, unknown>;
const el = (v: unknown): El => (v && typeof v === 'object' && !Array.isArray(v) ? (v as El) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const many = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

interface Shape {
  /** Children in declared order (legacy functions) or as a set (`ordered: false`, the generic objects). */
  children: string[];
  required: string[];
  ordered: boolean;
}

const AMOUNT = /^-?\d{1,15}(\.\d{1,2})?$/;
const US_DATE = /^\d{2}\/\d{2}\/\d{4}$/;

const SHAPES: Record<string, Shape> = {
  create_invoice: {
    children: [
      'customerid',
      'datecreated',
      'dateposted',
      'datedue',
      'termname',
      'batchkey',
      'action',
      'invoiceno',
      'ponumber',
      'description',
      'externalid',
      'billto',
      'shipto',
      'basecurr',
      'currency',
      'exchratedate',
      'exchratetype',
      'exchrate',
      'nogl',
      'supdocid',
      'customfields',
      'invoiceitems',
    ],
    required: ['customerid', 'datecreated', 'invoiceitems'],
    ordered: true,
  },
  create_aradjustment: {
    children: [
      'customerid',
      'datecreated',
      'dateposted',
      'batchkey',
      'adjustmentno',
      'action',
      'invoiceno',
      'description',
      'externalid',
      'basecurr',
      'currency',
      'exchratedate',
      'exchratetype',
      'exchrate',
      'nogl',
      'aradjustmentitems',
    ],
    required: ['customerid', 'datecreated', 'aradjustmentitems'],
    ordered: true,
  },
  lineitem: {
    children: [
      'accountlabel',
      'glaccountno',
      'offsetglaccountno',
      'amount',
      'allocationid',
      'memo',
      'locationid',
      'departmentid',
      'projectid',
      'customerid',
      'vendorid',
      'employeeid',
      'itemid',
      'classid',
    ],
    required: ['glaccountno', 'amount'],
    ordered: true,
  },
  apply_arpayment: {
    children: ['arpaymentkey', 'paymentdate', 'batchkey', 'memo', 'overpaylocid', 'overpaydeptid', 'arpaymentitems'],
    required: ['arpaymentkey', 'paymentdate', 'arpaymentitems'],
    ordered: true,
  },
  create_arpayment: {
    children: [
      'customerid',
      'paymentamount',
      'translatedamount',
      'undepfundsacct',
      'batchkey',
      'bankaccountid',
      'refid',
      'overpaylocid',
      'overpaydeptid',
      'datereceived',
      'paymentmethod',
      'arpaymentitem',
    ],
    required: ['customerid', 'paymentamount', 'datereceived', 'paymentmethod'],
    ordered: true,
  },
  arpaymentitem: { children: ['invoicekey', 'amount'], required: ['invoicekey', 'amount'], ordered: true },
  ARPYMT: {
    children: [
      'FINANCIALENTITY',
      'UNDEPOSITEDACCOUNTNO',
      'PAYMENTMETHOD',
      'CUSTOMERID',
      'DOCNUMBER',
      'DESCRIPTION',
      'RECEIPTDATE',
      'PAYMENTDATE',
      'CURRENCY',
      'ARPYMTDETAILS',
    ],
    required: ['PAYMENTMETHOD', 'CUSTOMERID', 'RECEIPTDATE', 'ARPYMTDETAILS'],
    ordered: false,
  },
  ARPYMTDETAIL: {
    children: ['RECORDKEY', 'TRX_PAYMENTAMOUNT'],
    required: ['RECORDKEY', 'TRX_PAYMENTAMOUNT'],
    ordered: false,
  },
  // developer.intacct.com "Bank Interest Income/Charges" (BANKFEE); its lines' element names *(unverified)*.
  BANKFEE: {
    children: [
      'FINANCIALENTITY',
      'WHENCREATED',
      'TRANSACTIONTYPE',
      'RECORDID',
      'DESCRIPTION',
      'CURRENCY',
      'BANKFEEENTRIES',
    ],
    required: ['FINANCIALENTITY', 'WHENCREATED', 'TRANSACTIONTYPE', 'BANKFEEENTRIES'],
    ordered: false,
  },
  BANKFEEENTRY: {
    children: ['GLACCOUNTNO', 'TRX_AMOUNT', 'DESCRIPTION', 'CUSTOMERID', 'DEPARTMENTID', 'LOCATIONID'],
    required: ['GLACCOUNTNO', 'TRX_AMOUNT'],
    ordered: false,
  },
  CUSTOMER: {
    children: ['CUSTOMERID', 'NAME', 'DISPLAYCONTACT', 'STATUS'],
    required: ['CUSTOMERID', 'NAME'],
    ordered: false,
  },
  ITEM: { children: ['ITEMID', 'NAME', 'ITEMTYPE', 'STATUS'], required: ['ITEMID', 'NAME'], ordered: false },
  DISPLAYCONTACT: {
    children: ['PRINTAS', 'PHONE1', 'EMAIL1', 'MAILADDRESS'],
    required: ['PRINTAS'],
    ordered: false,
  },
  MAILADDRESS: { children: ['ADDRESS1', 'ADDRESS2', 'CITY', 'STATE', 'ZIP', 'COUNTRY'], required: [], ordered: false },
  // xs:all in the v3.0 schema: any order.
  readByQuery: {
    children: ['object', 'fields', 'query', 'pagesize', 'returnFormat', 'docparid'],
    required: ['object', 'query'],
    ordered: false,
  },
  // The next page of a readByQuery (the vendor's SDKs: ReadMore writes one <resultId>).
  readMore: { children: ['resultId'], required: ['resultId'], ordered: false },
};

function shape(name: string, v: unknown, problems: string[]): void {
  const s = SHAPES[name];
  if (!s) return;
  const keys = Object.keys(el(v)).filter((k) => !k.startsWith('@_'));
  for (const k of keys) if (!s.children.includes(k)) problems.push(`${name}: <${k}> is not an element of ${name}`);
  for (const k of s.required) if (!keys.includes(k)) problems.push(`${name}: <${k}> is required`);
  if (s.ordered) {
    const order = keys.map((k) => s.children.indexOf(k)).filter((i) => i >= 0);
    if (order.some((i, n) => n > 0 && i < order[n - 1]!))
      problems.push(`${name}: elements out of order (${keys.join(', ')})`);
  }
}

function legacyDate(name: string, v: unknown, problems: string[]): void {
  if (v === undefined) return;
  const d = el(v);
  if (!/^\d{4}$/.test(str(d.year)) || !/^\d{2}$/.test(str(d.month)) || !/^\d{2}$/.test(str(d.day)))
    problems.push(`${name}: a date is <year>yyyy</year><month>mm</month><day>dd</day>`);
}

function amount(name: string, v: unknown, problems: string[]): void {
  if (!AMOUNT.test(str(v))) problems.push(`${name}: "${str(v)}" is not a decimal amount`);
}

/** The control block: credentials, a control id, uniqueid true on writes, DTD 3.0. */
export function controlViolations(control: El, write: boolean): string[] {
  const problems: string[] = [];
  for (const k of ['senderid', 'password', 'controlid', 'uniqueid', 'dtdversion'])
    if (!str(control[k])) problems.push(`control: <${k}> is required`);
  if (str(control.dtdversion) !== '3.0') problems.push('control: dtdversion must be 3.0');
  if (str(control.controlid).length > 256) problems.push('control: controlid is longer than 256 characters');
  if (write && str(control.uniqueid) !== 'true') problems.push('control: a write is sent with uniqueid true');
  return problems;
}

/** The problems of one function (its element name and content). */
export function functionViolations(name: string, body: unknown): string[] {
  const problems: string[] = [];
  const b = el(body);
  switch (name) {
    case 'create_invoice':
    case 'create_aradjustment': {
      shape(name, b, problems);
      legacyDate(name, b.datecreated, problems);
      legacyDate(name, b.datedue, problems);
      if (name === 'create_invoice' && b.datedue === undefined && b.termname === undefined)
        problems.push('create_invoice: <datedue> or <termname> is required');
      const items = el(b[name === 'create_invoice' ? 'invoiceitems' : 'aradjustmentitems']);
      for (const l of many(items.lineitem)) {
        shape('lineitem', l, problems);
        amount('lineitem', el(l).amount, problems);
      }
      break;
    }
    case 'apply_arpayment':
      shape(name, b, problems);
      legacyDate(name, b.paymentdate, problems);
      for (const i of many(el(b.arpaymentitems).arpaymentitem)) {
        shape('arpaymentitem', i, problems);
        amount('arpaymentitem', el(i).amount, problems);
      }
      break;
    case 'create_arpayment':
      shape(name, b, problems);
      legacyDate(name, b.datereceived, problems);
      amount(name, b.paymentamount, problems);
      if (!b.bankaccountid && !b.undepfundsacct)
        problems.push('create_arpayment: bankaccountid or undepfundsacct is required');
      for (const i of many(b.arpaymentitem)) {
        shape('arpaymentitem', i, problems);
        amount('arpaymentitem', el(i).amount, problems);
      }
      break;
    case 'create':
    case 'update':
      for (const [object, fields] of Object.entries(b)) {
        if (object === 'CUSTOMER') {
          shape('CUSTOMER', fields, problems);
          const contact = el(fields).DISPLAYCONTACT;
          if (contact !== undefined) shape('DISPLAYCONTACT', contact, problems);
          if (el(contact).MAILADDRESS !== undefined) shape('MAILADDRESS', el(contact).MAILADDRESS, problems);
        } else if (object === 'ITEM') {
          shape('ITEM', fields, problems);
          if (name === 'create' && !str(el(fields).ITEMTYPE)) problems.push('ITEM: ITEMTYPE is required on create');
        } else if (object === 'ARPYMT' && name === 'create') {
          const f = el(fields);
          shape('ARPYMT', f, problems);
          if (!f.FINANCIALENTITY && !f.UNDEPOSITEDACCOUNTNO)
            problems.push('ARPYMT: FINANCIALENTITY or UNDEPOSITEDACCOUNTNO is required');
          for (const k of ['RECEIPTDATE', 'PAYMENTDATE'])
            if (f[k] !== undefined && !US_DATE.test(str(f[k]))) problems.push(`ARPYMT: ${k} is mm/dd/yyyy`);
          for (const d of many(el(f.ARPYMTDETAILS).ARPYMTDETAIL)) {
            shape('ARPYMTDETAIL', d, problems);
            amount('ARPYMTDETAIL', el(d).TRX_PAYMENTAMOUNT, problems);
          }
        } else if (object === 'BANKFEE' && name === 'create') {
          const f = el(fields);
          shape('BANKFEE', f, problems);
          if (f.WHENCREATED !== undefined && !US_DATE.test(str(f.WHENCREATED)))
            problems.push('BANKFEE: WHENCREATED is mm/dd/yyyy');
          for (const l of many(el(f.BANKFEEENTRIES).BANKFEEENTRY)) {
            shape('BANKFEEENTRY', l, problems);
            amount('BANKFEEENTRY', el(l).TRX_AMOUNT, problems);
          }
        } else problems.push(`${name}: object ${object} is not one this simulator takes`);
      }
      break;
    case 'readByQuery':
    case 'readMore':
      shape(name, b, problems);
      break;
    case 'getAPISession':
      break;
    default:
      problems.push(`function ${name} is not one this simulator takes`);
  }
  return problems;
}
