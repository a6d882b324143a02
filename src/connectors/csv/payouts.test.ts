import { describe, expect, it } from 'vitest';
import { parseImport } from './parse.ts';

/* GoCardless and SmartDebit payout files: one document per key, and fees that are never dropped (docs/imports.md). */

const parse = (kind: 'gocardless' | 'smartdebit', lines: string[]) =>
  parseImport(new TextEncoder().encode(lines.join('\n') + '\n'), `${kind}.csv`, { kind });

type Parsed = Awaited<ReturnType<typeof parse>>;

/** Each document the file gives: [kind, sourceId, amount] for a record, [kind, sourceId, message] for a refused one. */
const documents = (p: Parsed) =>
  p.items.flatMap((i) => {
    if ('invalid' in i) return [[i.invalid.kind, i.invalid.sourceId, i.invalid.message]];
    const r = i.record;
    return r.kind === 'payment' || r.kind === 'refund' ? [[r.kind, r.sourceId, r.amount]] : [];
  });

const outcomes = (p: Parsed) =>
  p.rows.map((r) => [r.line, r.kind, r.sourceId, r.problems?.map((x) => `${x.field}: ${x.message}`) ?? null]);

const GC_HEADER =
  'customers.id,customers.given_name,customers.family_name,resources.type,resources.charge_date,gross_amount,gocardless_fees,currency,payments.id,refunds.id';

describe('GoCardless: a payment, refund or reversal is in a file once', () => {
  it('refuses a second payment row and a second refund row with the same id, each on its own row', async () => {
    const p = await parse('gocardless', [
      GC_HEADER,
      'CU1,Jane,Smith,payment,2026-11-04,30.00,-0.50,EUR,PM1,',
      'CU1,Jane,Smith,payment,2026-11-04,40.00,-0.60,EUR,PM1,',
      'CU1,Jane,Smith,refund,2026-11-05,-5.00,0.00,EUR,PM1,RF1',
      'CU1,Jane,Smith,refund,2026-11-05,-7.00,0.00,EUR,PM1,RF1',
    ]);
    expect(documents(p)).toEqual([
      ['payment', 'PM1', '30.00'],
      ['payment', 'PM1#3', 'payments.id: "PM1" is already used on line 2'],
      ['refund', 'RF1', '5.00'],
      ['refund', 'RF1#5', 'refunds.id: "RF1" is already used on line 4'],
    ]);
    expect(outcomes(p)).toEqual([
      [2, 'payment', 'PM1', null],
      [3, 'payment', 'PM1#3', ['payments.id: "PM1" is already used on line 2']],
      [4, 'refund', 'RF1', null],
      [5, 'refund', 'RF1#5', ['refunds.id: "RF1" is already used on line 4']],
    ]);
    // The refused row's exception holds that row, not the first.
    const refused = p.items.find((i) => 'invalid' in i && i.invalid.sourceId === 'PM1#3');
    expect(refused && 'invalid' in refused ? refused.invalid.payload : null).toMatchObject({
      rows: [{ line: 3, cells: { gross_amount: '40.00' } }],
    });
  });

  it('compares ids ignoring case, as the ledger does, and refuses a second reversal of one payment', async () => {
    const p = await parse('gocardless', [
      GC_HEADER,
      'CU1,Jane,Smith,payment,2026-11-04,30.00,0,EUR,PM1,',
      'CU1,Jane,Smith,payment,2026-11-04,30.00,0,EUR,pm1,',
      'CU1,Jane,Smith,payment,2026-11-20,-30.00,0,EUR,PM1,',
      'CU1,Jane,Smith,payment,2026-11-21,-30.00,0,EUR,PM1,',
    ]);
    expect(documents(p)).toEqual([
      ['payment', 'PM1', '30.00'],
      ['payment', 'pm1#3', 'payments.id: "pm1" is already used on line 2'],
      ['refund', 'PM1-reversal', '30.00'],
      ['refund', 'PM1-reversal#5', 'payments.id: "PM1-reversal" (the reversal of PM1) is already used on line 4'],
    ]);
  });

  it('keys the Payments export by its id column, and ignored rows claim no id', async () => {
    const p = await parse('gocardless', [
      'id,charge_date,amount,currency,status,transaction_fee,links.customer',
      'PM7,2026-11-05,15.00,EUR,failed,0.00,CU1',
      'PM7,2026-11-05,15.00,EUR,paid_out,0.30,CU1',
      'PM7,2026-11-06,15.00,EUR,paid_out,0.30,CU1',
    ]);
    expect(documents(p)).toEqual([
      ['payment', 'PM7', '15.00'],
      ['payment', 'PM7#4', 'id: "PM7" is already used on line 3'],
    ]);
    expect(p.rows[0]).toMatchObject({ line: 2, ignored: 'status "failed": no money received' });
  });
});

describe('GoCardless fees on refunds, late failures and chargebacks', () => {
  it('refuses a refund or reversal row with a fee other than zero, naming the fee column; a zero fee is no fee', async () => {
    const p = await parse('gocardless', [
      `${GC_HEADER},app_fees`,
      'CU1,Jane,Smith,payment,2026-11-04,30.00,-0.50,EUR,PM1,,0.00',
      'CU1,Jane,Smith,refund,2026-11-05,-5.00,-0.20,EUR,PM1,RF1,0.00',
      'CU1,Jane,Smith,payment,2026-11-20,-30.00,0.50,EUR,PM2,,',
      'CU1,Jane,Smith,refund,2026-11-05,-5.00,0.00,EUR,PM1,RF2,-0.00',
      'CU1,Jane,Smith,refund,2026-11-05,-5.00,0.00,EUR,PM1,RF3,0.1x',
    ]);
    const why =
      'and a refund carries no fee in the ledger; book the fee to bank charges by hand, blank the cell and import the file again';
    expect(documents(p)).toEqual([
      ['payment', 'PM1', '30.00'],
      ['refund', 'RF1', `gocardless_fees: "-0.20" is a fee on a refund, late failure or chargeback row, ${why}`],
      [
        'refund',
        'PM2-reversal',
        `gocardless_fees: "0.50" is a fee on a refund, late failure or chargeback row, ${why}`,
      ],
      ['refund', 'RF2', '5.00'],
      ['refund', 'RF3', 'app_fees: "0.1x" is not an amount; write a decimal number such as 120.50'],
    ]);
    // The payment's own fee is still booked with it.
    const payment = p.items.find((i) => 'record' in i && i.record.kind === 'payment');
    expect(payment && 'record' in payment ? payment.record : null).toMatchObject({ fee: '0.50' });
  });
});

describe('SmartDebit: one receipt per payer and collection date', () => {
  const header = 'Payer Reference,Account Name,Amount,Date of Payment,Customer ID,Success';

  it('refuses a second successful row for one payer and date, and books the same payer on another date', async () => {
    const p = await parse('smartdebit', [
      header,
      'SD1,J SMITH,25.00,03/11/2026,,1',
      'SD1,J SMITH,35.00,03/11/2026,,1',
      'sd1,J SMITH,45.00,2026-11-03,,1',
      'SD1,J SMITH,25.00,03/12/2026,,1',
      'SD1,J SMITH,25.00,03/12/2026,,Rejected',
    ]);
    expect(documents(p)).toEqual([
      ['payment', 'SD-SD1-2026-11-03', '25.00'],
      [
        'payment',
        'SD-SD1-2026-11-03#3',
        'payer_reference: "SD-SD1-2026-11-03" (SD1 collected on 2026-11-03) is already used on line 2',
      ],
      [
        'payment',
        'SD-sd1-2026-11-03#4',
        'payer_reference: "SD-sd1-2026-11-03" (sd1 collected on 2026-11-03) is already used on line 2',
      ],
      ['payment', 'SD-SD1-2026-12-03', '25.00'],
    ]);
    expect(p.rows.map((r) => [r.line, r.sourceId, r.ignored ?? r.problems?.length ?? 'ok'])).toEqual([
      [2, 'SD-SD1-2026-11-03', 'ok'],
      [3, 'SD-SD1-2026-11-03#3', 1],
      [4, 'SD-sd1-2026-11-03#4', 1],
      [5, 'SD-SD1-2026-12-03', 'ok'],
      [6, 'SD-SD1-2026-12-03', 'collection unsuccessful'],
    ]);
  });
});

describe('SmartDebit: the account name is the bank account holder, not a customer record', () => {
  const header = 'Payer Reference,Account Name,Amount,Date of Payment,Customer ID,Success';

  it('sends no customer record, and offers as new customers only the holders of valid collections, the first naming each', async () => {
    const p = await parse('smartdebit', [
      header,
      'SD1,J SMITH,25.00,03/11/2026,C-1002,1',
      'SD2,X BAD,abc,03/11/2026,,1',
      'SD2,A BROWN,10.00,04/11/2026,,1',
      'SD3,J SMITH & K SMITH,25.00,03/12/2026,C-1002,1',
      'SD4,,10.00,03/11/2026,,1',
      'SD5,R ROE,10.00,03/11/2026,,Rejected',
    ]);
    // A customer record would update (rename) a customer the pipeline or the ledger already has.
    expect(p.items.filter((i) => 'record' in i && i.record.kind === 'customer')).toEqual([]);
    expect([...(p.sourceParams?.newCustomers ?? new Map()).values()]).toEqual([
      { kind: 'customer', sourceId: 'C-1002', name: 'J SMITH', currency: 'GBP' },
      { kind: 'customer', sourceId: 'SD2', name: 'A BROWN', currency: 'GBP' },
    ]);
    const descriptions = p.items.flatMap((i) =>
      'record' in i && i.record.kind === 'payment' ? [[i.record.customerSourceId, i.record.description]] : [],
    );
    expect(descriptions).toEqual([
      ['C-1002', 'SmartDebit collection SD1, account J SMITH'],
      ['SD2', 'SmartDebit collection SD2, account A BROWN'],
      ['C-1002', 'SmartDebit collection SD3, account J SMITH & K SMITH'],
      ['SD4', 'SmartDebit collection SD4'],
    ]);
  });
});
