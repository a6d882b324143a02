/*
 * The AccountsIQ lookups the exactly-once protocol depends on, held to the WSDL's shapes
 * (GetTransactionsByExternalReference with WSGetTransactionsByExternalReferenceQuery,
 * GetTransactionsBy with WSGetTransactionsByQuery, answers of WSTransactionSummary whose
 * LineDetails items are WSTransactionDetail): the simulator refuses what the WSDL refuses, and the
 * connector's reads count what the real service answers.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../src/db/database.ts';
import { idsQuery, referenceQuery, summariesOf } from '../src/connectors/accountsiq/map.ts';
import { type AccountsIqSimulator, startAccountsIqSimulator } from '../src/connectors/accountsiq/simulator.ts';
import { createAccountsIqTarget } from '../src/connectors/accountsiq/target.ts';
import {
  NS,
  TYPES,
  type Xml,
  parseEnvelope,
  requestEnvelope,
  responseEnvelope,
  violations,
} from '../src/connectors/accountsiq/wsdl.ts';
import type { RatePlanner } from '../src/sync/remote/contracts.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import type { TargetCallContext, TargetConnector, TargetInvoice } from '../src/sync/target.ts';

const noDb = new Proxy({} as Queryable, {
  get() {
    throw new Error('the AccountsIQ target must not use the database in these tests');
  },
});
const ctx: TargetCallContext = { db: noDb, log: pino({ level: 'silent' }), actor: 'test' };
const planner: RatePlanner = {
  acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
  pause: () => Promise.resolve(),
  observe: () => Promise.resolve(),
};
const CLIENT = { clientId: 'aiq-app-1', clientSecret: 'aiq-secret-0123456789abcdef' };

let sim: AccountsIqSimulator;
beforeAll(async () => {
  sim = await startAccountsIqSimulator({ entityId: 'ACME', ...CLIENT, seed: 5 });
});
afterAll(() => sim.close());

function target(): TargetConnector {
  return createAccountsIqTarget(
    {
      db: noDb,
      log: ctx.log,
      mapping: { defaultGlAccountCode: '4000' },
      settings: { type: 'accountsiq', url: sim.url, entityId: 'ACME', ...CLIENT },
      entityId: 'e1',
      pipelineId: 'p1',
      pipelineName: 'test',
      box: new SecretBox(Buffer.alloc(32, 1)),
    },
    { planner, client: { maxAttempts: 2, backoffBaseMs: 1, backoffMaxMs: 2 } },
  );
}

function invoice(ref: string, customer: string, lines: number): TargetInvoice {
  return {
    sourceId: ref,
    customerTargetId: customer,
    productTargetIds: {},
    idempotencyKey: `p1:invoice:${ref}`,
    record: {
      kind: 'invoice',
      sourceId: ref,
      externalReference: ref,
      customerSourceId: customer,
      invoiceDate: '2026-11-02',
      dueDate: '2026-12-02',
      currency: 'EUR',
      description: 'Tickets',
      lines: Array.from({ length: lines }, (_, i) => ({
        description: `Ticket ${i + 1}`,
        netAmount: '10.00',
        vatRate: '0.21',
        vatAmount: '2.10',
      })),
    },
  };
}

/** Sends a body as one operation's SOAP call; the simulator's status, answer and new violations. */
async function call(op: string, body: string) {
  const before = sim.violations.length;
  const res = await fetch(sim.url, {
    method: 'POST',
    headers: { 'content-type': 'text/xml', soapaction: `"${NS}${op}"` },
    body,
  });
  const answer = await res.text();
  const errors = sim.violations.splice(before).flatMap((v) => v.errors);
  return { status: res.status, answer, errors };
}

/** A request built from the contract, then edited as a regressed connector would send it. */
const edited =
  (op: 'GetTransactionsBy' | 'GetTransactionsByExternalReference', query: Record<string, string>) =>
  (edit: (xml: string) => string) =>
    edit(requestEnvelope(op, { token: '', query }));

describe('AccountsIQ lookups, as the WSDL declares them', () => {
  it('builds GetTransactionsBy with every required date, the IDs as TransactionIDsFilter and the period dates nil', () => {
    const xml = requestEnvelope('GetTransactionsBy', { token: 't', query: idsQuery(['7', '9']) });
    const query = xml.slice(xml.indexOf('<query>'), xml.indexOf('</query>'));
    expect([...query.matchAll(/<(\w+)[ >]/g)].map((m) => m[1])).toEqual([
      'query',
      'FromDate',
      'ToDate',
      'FromCreationDate',
      'ToCreationDate',
      'Skip',
      'TransactionIDsFilter',
      'int',
      'int',
      'FromPeriodDate',
      'ToPeriodDate',
      'ExcludeReconciliationInformation',
    ]);
    expect(query).toContain('<FromPeriodDate xsi:nil="true"></FromPeriodDate>');
    expect(query).toContain('<TransactionIDsFilter><int>7</int><int>9</int></TransactionIDsFilter>');
    expect(xml).not.toContain('<TransactionIDs>');
  });

  it('builds GetTransactionsByExternalReference with FromDate and ToDate (required, not nillable)', () => {
    const xml = requestEnvelope('GetTransactionsByExternalReference', { token: 't', query: referenceQuery('R&1') });
    expect(xml).toMatch(
      /<query><ExternalReference>R&amp;1<\/ExternalReference><FromDate>[^<]+<\/FromDate><ToDate>[^<]+<\/ToDate><\/query>/,
    );
    expect(() =>
      requestEnvelope('GetTransactionsByExternalReference', { token: 't', query: { ExternalReference: 'R' } }),
    ).toThrow(/FromDate: required/);
  });

  it('the simulator refuses a query without its required dates, nil where not nillable, out of order, or with an undeclared element', async () => {
    const byRef = edited('GetTransactionsByExternalReference', referenceQuery('R-1') as Record<string, string>);
    const noDates = await call(
      'GetTransactionsByExternalReference',
      byRef((x) => x.replace(/<FromDate>[^<]*<\/FromDate><ToDate>[^<]*<\/ToDate>/, '')),
    );
    expect(noDates.status).toBe(500);
    expect(noDates.answer).toContain('soap:Client');
    expect(noDates.errors).toEqual([
      'GetTransactionsByExternalReference.query: required element FromDate missing',
      'GetTransactionsByExternalReference.query: required element ToDate missing',
    ]);

    const nilDate = await call(
      'GetTransactionsByExternalReference',
      byRef((x) => x.replace(/<FromDate>[^<]*<\/FromDate>/, '<FromDate xsi:nil="true"></FromDate>')),
    );
    expect(nilDate.errors).toEqual(['GetTransactionsByExternalReference.query.FromDate: nil but not nillable']);

    const swapped = await call(
      'GetTransactionsByExternalReference',
      byRef((x) => x.replace(/(<FromDate>[^<]*<\/FromDate>)(<ToDate>[^<]*<\/ToDate>)/, '$2$1')),
    );
    expect(swapped.errors).toEqual(['GetTransactionsByExternalReference.query: FromDate out of the declared order']);

    // The old shape: the IDs as TransactionIDs, no dates.
    const old = await call(
      'GetTransactionsBy',
      requestEnvelope('GetTransactionsByExternalReference', { token: '', query: referenceQuery('x') })
        .replace(/GetTransactionsByExternalReference/g, 'GetTransactionsBy')
        .replace(/<query>.*<\/query>/, '<query><TransactionIDs><int>1</int></TransactionIDs><Skip>0</Skip></query>'),
    );
    expect(old.status).toBe(500);
    expect(old.errors).toContain('GetTransactionsBy.query: unknown element TransactionIDs');
    for (const name of ['FromDate', 'ToDate', 'FromCreationDate', 'ToCreationDate', 'FromPeriodDate', 'ToPeriodDate'])
      expect(old.errors).toContain(`GetTransactionsBy.query: required element ${name} missing`);
    expect(old.errors).toContain('GetTransactionsBy.query: required element ExcludeReconciliationInformation missing');
  });

  it('reads an invoice back with its lines counted, by ID and by reference, through answers the WSDL declares', async () => {
    const t = target();
    const [c] = await t.upsertCustomers(ctx, [
      { sourceId: 'k-1', code: 'K-1', targetId: null, record: { kind: 'customer', sourceId: 'k-1', name: 'K' } },
    ]);
    expect(c).toMatchObject({ ok: true });
    const [r] = await t.createInvoices(ctx, [invoice('W-1', 'K-1', 3)]);
    expect(r).toMatchObject({ ok: true });
    const id = r!.ok ? r!.targetId : '';

    const docs = await t.documents!(ctx, [id]);
    expect(docs.get(id)).toMatchObject({ kind: 'invoice', externalReference: 'W-1', lines: 3, gross: 3630n });
    expect(await t.findByReference(ctx, 'invoice', 'W-1', 'K-1')).toMatchObject({ targetId: id });

    // What the simulator answers is a WSTransactionSummary as declared, lines as WSTransactionDetail,
    // read through the same envelope the service sends.
    const txn = sim.books.transactions.get(Number(id))!;
    const wire = parseEnvelope(
      responseEnvelope('GetTransactionsBy', { WSTransactionSummary: [sim.books.summary(txn)] }),
    )!;
    const result = (wire.body.GetTransactionsByResponse as Record<string, Xml>).GetTransactionsByResult;
    const summary = (result as Record<string, Xml>).WSTransactionSummary as Record<string, Xml>;
    expect(violations(TYPES.WSTransactionSummary!, summary, 'WSTransactionSummary')).toEqual([]);
    expect(Object.keys(summary.LineDetails as Record<string, Xml>)).toEqual(['WSTransactionDetail']);
    expect(summariesOf(result)[0]).toMatchObject({ id, lines: 3, type: 'SalesBatchInvoice' });
    expect(sim.violations).toEqual([]);
  });

  it('answers GetAllocationsByTransactionId as WSAllocationTransactionDTO with WSAllocationEntryDTO entries, as declared', async () => {
    const t = target();
    const [r] = await t.createInvoices(ctx, [invoice('W-2', 'K-1', 1)]);
    const id = r!.ok ? r!.targetId : '';
    const [p] = await t.createPayments!(ctx, [
      {
        sourceId: 'P-2',
        customerTargetId: 'K-1',
        invoiceTargetId: id,
        bankAccountCode: 'BANK',
        idempotencyKey: 'p1:payment:P-2',
        record: {
          kind: 'payment',
          sourceId: 'P-2',
          externalReference: 'P-2',
          customerSourceId: 'K-1',
          date: '2026-11-05',
          amount: '5.00',
          currency: 'EUR',
          description: '',
        },
      },
    ]);
    expect(p).toMatchObject({ ok: true });
    const wire = parseEnvelope(
      responseEnvelope('GetAllocationsByTransactionId', {
        WSAllocationTransactionDTO: sim.books.allocationsOf(Number(id)),
      }),
    )!;
    const result = (wire.body.GetAllocationsByTransactionIdResponse as Record<string, Xml>)
      .GetAllocationsByTransactionIdResult as Record<string, Xml>;
    const dto = result.WSAllocationTransactionDTO as Record<string, Xml>;
    expect(violations(TYPES.WSAllocationTransactionDTO!, dto, 'WSAllocationTransactionDTO')).toEqual([]);
    expect(Object.keys(dto.AllocationEntries as Record<string, Xml>)).toEqual(['WSAllocationEntryDTO']);
    expect(sim.violations).toEqual([]);
  });

  it('the declared answer types are the WSDL’s: an item under another name is not a line', () => {
    const asOld = { WSTransactionSummary: { TransactionID: '1', LineDetails: { WSTransactionLineSummary: [{}] } } };
    const errors = violations(TYPES.WSTransactionSummary!, asOld.WSTransactionSummary, 'S');
    expect(errors).toContain('S.LineDetails: unknown element WSTransactionLineSummary (items are WSTransactionDetail)');
    expect(summariesOf(asOld as Xml)[0]!.lines).toBe(0);
  });
});
