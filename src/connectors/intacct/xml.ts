import { XMLBuilder, XMLParser } from 'fast-xml-parser';

/*
 * The XML of Intacct's gateway (developer.intacct.com "XML requests", "Error handling"): one
 * `<request>` with its `<control>` block (sender, control id, `uniqueid`, DTD 3.0) and one
 * `<operation>` holding the authentication (a login, or a session id) and the functions, each
 * with its own control id; one `<response>` with the control's status and, per function, a
 * `<result>` with its status, data and errors. Built and read with fast-xml-parser; every value
 * stays text, so an amount never passes through a float.
 */

/** An element's content: text, children by name (an array repeats the element), or nothing. */
export type Xml = string | { [name: string]: Xml | Xml[] | undefined };

/** One function of a request: its element (`create`, `readByQuery`, `create_invoice`) and content. */
export interface XmlFunction {
  controlId: string;
  name: string;
  body: Xml;
}

export interface Control {
  senderId: string;
  senderPassword: string;
  controlId: string;
  uniqueId: boolean;
}

export type Authentication =
  | { login: { userId: string; companyId: string; password: string; locationId?: string | undefined } }
  | { sessionId: string };

/** Intacct's own error: errorno (a stable code) and its descriptions. */
export interface IntacctError {
  errorno: string;
  description: string;
  description2: string;
  correction: string;
}

export interface FunctionResult {
  status: string;
  function: string;
  controlId: string;
  /** The `<data>` element (its children by object name), or the legacy `<key>`. */
  data: Record<string, Xml | Xml[]> | undefined;
  key: string;
  errors: IntacctError[];
}

export interface GatewayResponse {
  controlStatus: string;
  controlErrors: IntacctError[];
  authStatus: string;
  authErrors: IntacctError[];
  results: FunctionResult[];
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: true });

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // Rows under <data> are always a list; its attributes (numremaining, resultId) never: the parser
  // asks for attributes too, by a path without their prefix.
  isArray: (name, path, _leaf, attribute) =>
    !attribute && (['result', 'error'].includes(name) || /\.data\.[A-Za-z_]+$/.test(String(path))),
});

/** The request as Intacct's gateway takes it. */
export function requestXml(control: Control, auth: Authentication, functions: XmlFunction[]): string {
  const authentication =
    'sessionId' in auth
      ? { sessionid: auth.sessionId }
      : {
          login: {
            userid: auth.login.userId,
            companyid: auth.login.companyId,
            password: auth.login.password,
            ...(auth.login.locationId !== undefined ? { locationid: auth.login.locationId } : {}),
          },
        };
  const doc = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    request: {
      control: {
        senderid: control.senderId,
        password: control.senderPassword,
        controlid: control.controlId,
        uniqueid: control.uniqueId ? 'true' : 'false',
        dtdversion: '3.0',
        includewhitespace: 'false',
      },
      operation: {
        authentication,
        content: {
          function: functions.map((f) => ({ '@_controlid': f.controlId, [f.name]: f.body })),
        },
      },
    },
  };
  return builder.build(doc);
}

type Node = Record<string, unknown>;
const obj = (v: unknown): Node => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : {});

/** An element's text ('' when it is absent or not text). */
export function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && '#text' in v) return text((v as Node)['#text']);
  return '';
}

function errorsOf(v: unknown): IntacctError[] {
  const list = obj(v).error;
  return (Array.isArray(list) ? list : []).map((e) => {
    const o = obj(e);
    return {
      errorno: text(o.errorno),
      description: text(o.description),
      description2: text(o.description2),
      correction: text(o.correction),
    };
  });
}

/** Reads a gateway response; null when it is not one. */
export function parseResponse(xml: string): GatewayResponse | null {
  let doc: Node;
  try {
    doc = obj(parser.parse(xml));
  } catch {
    return null;
  }
  const response = obj(doc.response);
  if (!('control' in response)) return null;
  const operation = obj(response.operation);
  const auth = obj(operation.authentication);
  const results = (Array.isArray(operation.result) ? operation.result : []).map((r): FunctionResult => {
    const o = obj(r);
    const data = o.data !== undefined ? obj(o.data) : undefined;
    return {
      status: text(o.status),
      function: text(o.function),
      controlId: text(o.controlid),
      data: data as FunctionResult['data'],
      key: text(o.key),
      errors: errorsOf(o.errormessage),
    };
  });
  return {
    controlStatus: text(obj(response.control).status),
    controlErrors: errorsOf(response.errormessage),
    authStatus: text(auth.status),
    authErrors: errorsOf(operation.errormessage ?? auth.errormessage),
    results,
  };
}

/** Builds any XML document (the simulator's answers). */
export function buildXml(doc: Record<string, unknown>): string {
  return builder.build({ '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' }, ...doc });
}

/** Parses any XML document as plain objects of text (the simulator reading requests). */
export function parseXml(xml: string): Node | null {
  try {
    return obj(
      new XMLParser({
        ignoreAttributes: false,
        attributeNamePrefix: '@_',
        parseTagValue: false,
        parseAttributeValue: false,
        trimValues: true,
      }).parse(xml),
    );
  } catch {
    return null;
  }
}

/** The short, printable form of Intacct's errors: errorno and descriptions, at most 300 characters. */
export function describe(errors: IntacctError[]): string {
  const t =
    errors
      .map((e) => [e.errorno, [e.description, e.description2].filter((x) => x !== '').join(' ')].join(': '))
      .join('; ') || 'no error given';
  return t.length > 300 ? t.slice(0, 297) + '...' : t;
}

/** An Intacct date of the legacy functions: `<year>`, `<month>`, `<day>` from an ISO date. */
export const legacyDate = (iso: string) => ({ year: iso.slice(0, 4), month: iso.slice(5, 7), day: iso.slice(8, 10) });
/** The mm/dd/yyyy form Intacct's objects use for dates, from an ISO date. */
export const usDate = (iso: string) => `${iso.slice(5, 7)}/${iso.slice(8, 10)}/${iso.slice(0, 4)}`;
/** An ISO date from Intacct's mm/dd/yyyy ('' when it is not one). */
export function isoDate(us: string): string {
  const m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(us);
  return m ? `${m[3]}-${m[1]}-${m[2]}` : '';
}
/** A value quoted for a readByQuery query (single quotes doubled). */
export const quote = (v: string) => `'${v.replace(/'/g, "''")}'`;
