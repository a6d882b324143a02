import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DomainError } from '../domain/errors.ts';
import {
  type FileFormat,
  type ImportedFile,
  ImportFileError,
  type InboundHandler,
  headerValue,
  importKinds,
  inboundHandlers,
  parseImportFile,
  registerFileFormat,
  registerInbound,
  registerSource,
  registerTarget,
  sourceSettings,
  targetDefinition,
  targetTypes,
} from './registry.ts';

// Each test file has its own module graph, so these registrations meet no connector.

function handler(sourceType: string, pathSuffix: InboundHandler['pathSuffix']): InboundHandler {
  return {
    sourceType,
    pathSuffix,
    docs: {
      operationId: `receive${sourceType}`,
      summary: sourceType,
      description: sourceType,
      body: z.object({}),
      accepted: 'stored',
      errors: ['NOT_FOUND'],
    },
    verify: () => ({ ok: false, noEndpoint: true }),
  };
}

/** A format that reads "<kind>:<rows>" files, recording which format read what. */
function format(name: string, kinds: string[], seen: string[]): FileFormat {
  return {
    name,
    kinds,
    parse: async (bytes, fileName, { kind }) => {
      const text = Buffer.from(bytes).toString('utf8');
      const [head] = text.split(':');
      const k = kind ?? head!;
      if (!kinds.includes(k)) throw new ImportFileError(`${name} cannot read ${fileName}`, 1);
      seen.push(`${name}:${k}`);
      return { kind: k, format: name, items: [], rows: [], ignoredColumns: [] } satisfies ImportedFile;
    },
  };
}

describe('a registration undone', () => {
  const target = (description: string) => ({
    type: 'undo-sink',
    description,
    settings: z.strictObject({}),
    secrets: [],
    create: () => Promise.reject(new Error('not used')),
  });

  it('puts back the definition it replaced, and removes one that replaced nothing', () => {
    const removeFirst = registerTarget(target('first'));
    const removeSecond = registerTarget(target('second'));
    expect(targetDefinition('undo-sink').description).toBe('second');
    removeSecond();
    expect(targetDefinition('undo-sink').description).toBe('first');
    removeFirst();
    expect(targetTypes()).not.toContain('undo-sink');
    expect(() => targetDefinition('undo-sink')).toThrow(DomainError);

    const removeSource = registerSource('undo-source', () => ({ type: 'undo-source', pages: async function* () {} }));
    expect(sourceSettings('undo-source')).not.toBeNull();
    removeSource();
    expect(sourceSettings('undo-source')).toBeNull();
  });

  it('takes an inbound route back, so another source may have the path', () => {
    const remove = registerInbound(handler('first', '/undo'));
    expect(() => registerInbound(handler('second', '/undo'))).toThrow(/already the first source's/);
    remove();
    expect(inboundHandlers().some((h) => h.pathSuffix === '/undo')).toBe(false);
    registerInbound(handler('second', '/undo'))();
  });
});

describe('inbound registry', () => {
  it('lists routes by path whatever the load order, and refuses a second source on a taken path', () => {
    registerInbound(handler('zeta', '/zeta'));
    registerInbound(handler('canonical', ''));
    registerInbound(handler('alpha', '/alpha'));
    expect(inboundHandlers().map((h) => h.pathSuffix)).toEqual(['', '/alpha', '/zeta']);
    expect(() => registerInbound(handler('other', '/alpha'))).toThrow(/already the alpha source's/);
    // The same source registering again (a module loaded twice) replaces its own entry.
    const again = handler('alpha', '/alpha');
    registerInbound(again);
    expect(inboundHandlers()[1]).toBe(again);
  });

  it('reads a header whatever its case, joining repeated values', () => {
    const headers = { 'stripe-signature': 't=1,v1=a', 'x-many': ['a', 'b'] };
    expect(headerValue(headers, 'Stripe-Signature')).toBe('t=1,v1=a');
    expect(headerValue(headers, 'x-many')).toBe('a,b');
    expect(headerValue(headers, 'x-none')).toBeUndefined();
  });
});

describe('file formats', () => {
  const seen: string[] = [];
  registerFileFormat(format('tabular', ['invoices', 'receipts'], seen));
  registerFileFormat(format('bankfile', ['camt'], seen));

  it('knows every kind, and refuses a format that claims a kind already read by another', () => {
    expect(importKinds()).toEqual(['invoices', 'receipts', 'camt']);
    expect(() => registerFileFormat(format('other', ['receipts'], seen))).toThrow(/already read by format tabular/);
    expect(importKinds()).toEqual(['invoices', 'receipts', 'camt']);
  });

  it("reads a file with its kind's format, or with the first format that can read it", async () => {
    seen.length = 0;
    expect((await parseImportFile(Buffer.from('x'), 'a.csv', { kind: 'camt' })).format).toBe('bankfile');
    expect((await parseImportFile(Buffer.from('camt:1'), 'b.xml', {})).format).toBe('bankfile');
    expect((await parseImportFile(Buffer.from('receipts:1'), 'c.csv', {})).format).toBe('tabular');
    expect(seen).toEqual(['bankfile:camt', 'bankfile:camt', 'tabular:receipts']);
  });

  it('refuses an unknown kind and a file no format reads as ImportFileError, naming the known kinds', async () => {
    await expect(parseImportFile(Buffer.from('x'), 'a.csv', { kind: 'payroll' })).rejects.toThrow(
      new ImportFileError('Unknown kind of file "payroll"; known: invoices, receipts, camt'),
    );
    const refused = parseImportFile(Buffer.from('payroll:1'), 'd.csv', {});
    await expect(refused).rejects.toBeInstanceOf(ImportFileError);
    // The last format's refusal is the answer.
    await expect(refused).rejects.toThrow('bankfile cannot read d.csv (line 1)');
  });

  it('lets an error other than a refusal of the file through', async () => {
    registerFileFormat({
      name: 'broken',
      kinds: ['broken'],
      parse: () => Promise.reject(new DomainError('INTERNAL_ERROR', 'disk on fire')),
    });
    // Tried last, after two formats refused the file: its failure is not hidden behind their refusals.
    await expect(parseImportFile(Buffer.from('?'), 'e.csv', {})).rejects.toThrow('disk on fire');
    await expect(parseImportFile(Buffer.from('?'), 'e.csv', { kind: 'broken' })).rejects.toThrow('disk on fire');
  });
});
