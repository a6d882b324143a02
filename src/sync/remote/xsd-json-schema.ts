import { readFileSync } from 'node:fs';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';

/*
 * XML Schema → JSON Schema, for platforms whose official contract is an XSD while their API speaks
 * JSON with the same element names as keys (QuickBooks Online v3). Only what such contracts use:
 * named complexTypes with sequences and choices (nested), xs:group references, complexContent
 * extension (inheritance: the base's elements first), simpleContent extension (a `value` plus the
 * attributes, as QuickBooks' ReferenceType `{"value": "1", "name": "…"}`), attributes as keys,
 * simpleType restrictions (enumerations) and the xs: built-ins. Every object is closed
 * (`additionalProperties: false`) so that a misspelt field fails validation; `xs:any` opens it.
 *
 * Used by the platforms' simulators to check every entity a connector sends against the contract.
 */

type Node = Record<string, unknown> & { $?: Record<string, string> };
type Schema = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  attributesGroupName: '$',
  removeNSPrefix: true,
  isArray: (name) => name !== '$',
});

const children = (node: Node | undefined, name: string): Node[] => (node?.[name] as Node[] | undefined) ?? [];
const attr = (node: Node, name: string): string | undefined => node.$?.[name];

/** The JSON form of an XSD built-in type. */
function builtin(type: string): Schema | null {
  switch (type) {
    case 'string':
    case 'anyURI':
    case 'normalizedString':
    case 'token':
      return { type: 'string' };
    case 'boolean':
      return { type: 'boolean' };
    case 'decimal':
    case 'double':
    case 'float':
      return { type: 'number' };
    case 'int':
    case 'integer':
    case 'long':
    case 'short':
      return { type: 'integer' };
    case 'positiveInteger':
      return { type: 'integer', minimum: 1 };
    case 'nonNegativeInteger':
      return { type: 'integer', minimum: 0 };
    case 'date':
      return { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}' };
    case 'dateTime':
      return { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T' };
    case 'time':
    case 'duration':
    case 'base64Binary':
      return { type: 'string' };
    default:
      return null;
  }
}

/** A set of XSD files (following `xs:include`) turned into JSON Schema definitions on demand. */
export class XsdSchemas {
  private readonly complex = new Map<string, Node>();
  private readonly simple = new Map<string, Node>();
  private readonly groups = new Map<string, Node>();
  private readonly defs: Record<string, Schema> = {};

  /** Loads `root` and every file it includes, from its folder. Throws when a file is missing. */
  constructor(root: string) {
    const seen = new Set<string>();
    const load = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const doc = parser.parse(readFileSync(file, 'utf8')) as Node;
      const schema = children(doc, 'schema')[0];
      if (!schema) throw new Error(`${file} is not an XML Schema`);
      for (const inc of children(schema, 'include')) load(path.join(path.dirname(file), attr(inc, 'schemaLocation')!));
      for (const t of children(schema, 'complexType')) this.complex.set(attr(t, 'name')!, t);
      for (const t of children(schema, 'simpleType')) this.simple.set(attr(t, 'name')!, t);
      for (const g of children(schema, 'group')) this.groups.set(attr(g, 'name')!, g);
    };
    load(root);
  }

  /** Whether the files define this complexType. */
  has(name: string): boolean {
    return this.complex.has(name);
  }

  /**
   * A self-contained JSON Schema for the complexType `name` (its `$defs` hold every type it
   * reaches), for ajv: `new Ajv().compile(schemas.schemaFor('Invoice'))`.
   */
  schemaFor(name: string): Schema {
    const ref = this.typeRef(name);
    return { $ref: ref.$ref, $defs: this.defs };
  }

  private typeRef(type: string): Schema {
    const local = type.includes(':') ? type.slice(type.indexOf(':') + 1) : type;
    if (type.startsWith('xs:') || type.startsWith('xsd:')) {
      const b = builtin(local);
      if (!b) throw new Error(`XSD built-in type ${type} is not supported`);
      return b;
    }
    if (!(local in this.defs)) {
      const complex = this.complex.get(local);
      const simple = this.simple.get(local);
      if (!complex && !simple) throw new Error(`XSD type ${type} is not defined`);
      this.defs[local] = {}; // placeholder: recursive types refer to it while it is built
      this.defs[local] = complex ? this.complexSchema(complex) : this.simpleSchema(simple!);
    }
    return { $ref: `#/$defs/${local}` };
  }

  private simpleSchema(node: Node): Schema {
    const restriction = children(node, 'restriction')[0];
    if (!restriction) return { type: 'string' };
    const base = this.typeRef(attr(restriction, 'base') ?? 'xs:string');
    const values = children(restriction, 'enumeration').map((e) => attr(e, 'value')!);
    if (values.length > 0) return { type: 'string', enum: values };
    const out: Schema = { ...base };
    const max = children(restriction, 'maxLength')[0];
    if (max) out.maxLength = Number(attr(max, 'value'));
    return out;
  }

  private complexSchema(node: Node): Schema {
    const props: Record<string, Schema> = {};
    let open = false;
    const collect = (particle: Node) => {
      for (const e of children(particle, 'element')) {
        const name = attr(e, 'name');
        if (!name) throw new Error('XSD element without a name is not supported');
        const inline = children(e, 'complexType')[0] ?? null;
        const inlineSimple = children(e, 'simpleType')[0] ?? null;
        const type = attr(e, 'type');
        const item = inline
          ? this.complexSchema(inline)
          : inlineSimple
            ? this.simpleSchema(inlineSimple)
            : type
              ? this.typeRef(type)
              : {};
        const many = attr(e, 'maxOccurs') === 'unbounded' || Number(attr(e, 'maxOccurs') ?? '1') > 1;
        props[name] = many ? { type: 'array', items: item } : item;
      }
      for (const g of children(particle, 'group')) {
        const def = this.groups.get(attr(g, 'ref')!.replace(/^.*:/, ''));
        if (!def) throw new Error(`XSD group ${attr(g, 'ref')} is not defined`);
        for (const s of [...children(def, 'sequence'), ...children(def, 'choice')]) collect(s);
      }
      for (const s of [...children(particle, 'sequence'), ...children(particle, 'choice')]) collect(s);
      if (children(particle, 'any').length > 0) open = true;
    };
    const attributes = (n: Node) => {
      for (const a of children(n, 'attribute')) props[attr(a, 'name')!] = this.typeRef(attr(a, 'type') ?? 'xs:string');
    };
    const complexContent = children(node, 'complexContent')[0];
    const simpleContent = children(node, 'simpleContent')[0];
    if (complexContent) {
      const ext = children(complexContent, 'extension')[0] ?? children(complexContent, 'restriction')[0];
      if (!ext) throw new Error('XSD complexContent without extension is not supported');
      const base = attr(ext, 'base')!.replace(/^.*:/, '');
      this.typeRef(base);
      const inherited = this.defs[base] as { properties?: Record<string, Schema>; additionalProperties?: boolean };
      Object.assign(props, inherited.properties ?? {});
      if (inherited.additionalProperties !== false) open = true;
      collect(ext);
      attributes(ext);
    } else if (simpleContent) {
      const ext = children(simpleContent, 'extension')[0] ?? children(simpleContent, 'restriction')[0];
      if (!ext) throw new Error('XSD simpleContent without extension is not supported');
      props.value = this.typeRef(attr(ext, 'base')!);
      attributes(ext);
    } else {
      collect(node);
      attributes(node);
    }
    return { type: 'object', properties: props, additionalProperties: open };
  }
}
