import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { loadCustomer } from '../src/ledger/customers.ts';

let t: TestApp;
let a: Client;
let b: Client;

beforeAll(async () => {
  t = await createTestApp();
  a = await t.entity('CUSTA', 'EUR');
  b = await t.entity('CUSTB', 'EUR');
});
afterAll(async () => t.close());

function expectError(res: { status: number; body: any }, status: number, code: string, field?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  if (field !== undefined) expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
}

async function auditCount(entityId: string) {
  const { rows } = await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log WHERE entity_id = $1', [
    entityId,
  ]);
  return rows[0]!.n;
}

/** The customer's row exactly as stored, to prove a refused request changed nothing. */
async function storedRow(entityId: string, code: string) {
  const { rows } = await t.db.query('SELECT * FROM customers WHERE entity_id = $1 AND code = $2', [entityId, code]);
  return rows[0] ?? null;
}

/** Runs `attempt` and checks it left the customer's row and the audit trail as they were. */
async function expectUnchanged(client: Client, code: string, attempt: () => Promise<unknown>) {
  const row = await storedRow(client.entityId, code);
  const audits = await auditCount(client.entityId);
  await attempt();
  expect(await storedRow(client.entityId, code)).toEqual(row);
  expect(await auditCount(client.entityId)).toBe(audits);
}

/** An invoice row written straight into the ledger, as the posting code will. */
async function postInvoice(client: Client, customerCode: string, currency: string) {
  await t.db.query(
    `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate, transaction_date,
                               net, gross, base_gross, created_by)
     VALUES ($1, 'SI', 'debit', (SELECT count(*) + 1 FROM transactions WHERE entity_id = $1), $2, $3, 1,
             '2026-01-15', 100, 100, 100, 'test')`,
    [client.entityId, customerCode, currency],
  );
}

const DEFAULTS = {
  currency: 'EUR',
  creditLimit: '0.00',
  creditTerms: { days: 30, endOfMonth: false },
  email: null,
  phone: null,
  address: { street: null, city: null, postalCode: null, country: null },
  vatNumber: null,
  defaultTaxCode: 'STD',
  defaultGlAccountCode: '4000',
  controlGlAccountCode: '1100',
  departmentId: null,
  discountRate: '0',
  notes: null,
  isActive: true,
  onHold: false,
};

describe('new customer from defaults', () => {
  it("prefills from the entity's customer defaults without saving anything", async () => {
    const res = await a.get('/v1/customers/new');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ code: null, name: null, ...DEFAULTS, rowVersion: null });
    expect((await a.get('/v1/customers')).body.total).toBe(0);
  });

  it("formats the default credit limit in the default currency's decimals", async () => {
    const yen = await t.entity('CUSTJPY', 'JPY');
    const res = await yen.get('/v1/customers/new');
    expect(res.body.currency).toBe('JPY');
    expect(res.body.creditLimit).toBe('0');
  });

  it('saves the prefilled customer once code and name are filled in', async () => {
    const template = (await a.get('/v1/customers/new')).body;
    const res = await a.put('/v1/customers/FROMNEW', { ...template, name: 'From the template' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toEqual({ ...template, code: 'FROMNEW', name: 'From the template', rowVersion: 1 });
  });
});

describe('create, read and update', () => {
  it('creates a customer from a name alone, the rest from the defaults', async () => {
    const res = await a.put('/v1/customers/MIN', { name: 'Minimal Ltd' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ code: 'MIN', name: 'Minimal Ltd', ...DEFAULTS, rowVersion: 1 });
    const read = await a.get('/v1/customers/MIN');
    expect(read.status).toBe(200);
    expect(read.body).toEqual(res.body);
  });

  it('creates a customer with every field and reads it back the same', async () => {
    await a.put('/v1/departments/NORTH', { name: 'North' });
    const full = {
      name: 'Ada Lovelace',
      currency: 'USD',
      creditLimit: '5000',
      creditTerms: { days: 14, endOfMonth: true },
      email: 'ada@example.com',
      phone: '+353 1 234 5678',
      address: { street: '1 Analytical Row', city: 'Dublin', postalCode: 'D01 X2Y3', country: 'IE' },
      vatNumber: 'IE1234567X',
      defaultTaxCode: 'ZERO',
      defaultGlAccountCode: '4000',
      controlGlAccountCode: '1100',
      departmentId: 'NORTH',
      discountRate: '0.025',
      notes: 'Pays by card.\nCall first.',
      isActive: true,
      onHold: true,
    };
    const res = await a.put('/v1/customers/ADA', full);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ code: 'ADA', ...full, creditLimit: '5000.00', rowVersion: 1 });
    expect((await a.get('/v1/customers/ADA')).body).toEqual(res.body);
  });

  it('takes credit limits as decimal strings or JSON numbers, exactly', async () => {
    expect((await a.put('/v1/customers/NUM', { name: 'n', creditLimit: 1234.5 })).body.creditLimit).toBe('1234.50');
    expect((await a.put('/v1/customers/BIG', { name: 'b', creditLimit: '90071992547409.93' })).body.creditLimit).toBe(
      '90071992547409.93',
    );
    const customer = await loadCustomer(t.db, a.entityId, 'BIG');
    expect(customer?.creditLimit).toBe(9007199254740993n);
    const jpy = await a.put('/v1/customers/YEN', { name: 'y', currency: 'JPY', creditLimit: '250000' });
    expect(jpy.body.creditLimit).toBe('250000');
    const kwd = await a.put('/v1/customers/DINAR', { name: 'd', currency: 'KWD', creditLimit: '10.125' });
    expect(kwd.body.creditLimit).toBe('10.125');
  });

  it('updates only the fields sent, clears with null, merges address and terms, and bumps rowVersion', async () => {
    const created = (
      await a.put('/v1/customers/UPD', {
        name: 'Update me',
        email: 'old@example.com',
        address: { street: 'Main St 1', city: 'Cork' },
        creditTerms: { days: 10, endOfMonth: true },
      })
    ).body;
    const res = await a.put('/v1/customers/UPD', {
      rowVersion: 1,
      email: null,
      phone: '555',
      address: { city: 'Galway', country: 'IE' },
      creditTerms: { days: 45 },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      ...created,
      email: null,
      phone: '555',
      address: { street: 'Main St 1', city: 'Galway', postalCode: null, country: 'IE' },
      creditTerms: { days: 45, endOfMonth: true },
      rowVersion: 2,
    });
    expect((await a.get('/v1/customers/UPD')).body).toEqual(res.body);
  });

  it('accepts a read-modify-write round trip of the whole customer', async () => {
    const read = (await a.get('/v1/customers/UPD')).body;
    const res = await a.put('/v1/customers/UPD', { ...read, notes: 'round trip' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...read, notes: 'round trip', rowVersion: read.rowVersion + 1 });
  });

  it('answers 404 for an unknown customer and refuses codes that cannot exist', async () => {
    expectError(await a.get('/v1/customers/NOBODY'), 404, 'NOT_FOUND');
    expectError(await a.get('/v1/customers/lower'), 400, 'VALIDATION_ERROR', 'params.code');
    expectError(await a.put('/v1/customers/lower', { name: 'x' }), 400, 'VALIDATION_ERROR', 'params.code');
    expectError(await a.get(`/v1/customers/${'X'.repeat(51)}`), 400, 'VALIDATION_ERROR', 'params.code');
  });

  it('refuses a code with invisible characters, which would list like another customer', async () => {
    await a.put('/v1/customers/LOOK', { name: 'Look' });
    const invisible = ['\u202e', 'LOOK\u200b', '\u200bLOOK', 'LO\u200dOK', 'LOOK\u2066', 'LOOK\ufeff', 'LOOK\u3164'];
    for (const code of invisible) {
      const path = `/v1/customers/${encodeURIComponent(code)}`;
      const put = await a.put(path, { name: 'Look-alike' });
      expectError(put, 400, 'VALIDATION_ERROR', 'params.code');
      expect(put.body.error.message, JSON.stringify(code)).toMatch(/must not contain invisible characters/);
      expectError(await a.get(path), 400, 'VALIDATION_ERROR', 'params.code');
    }
    // As a reference in a body too.
    expectError(
      await a.put('/v1/customers/LOOK2', { name: 'x', defaultTaxCode: 'STD\u200b' }),
      400,
      'VALIDATION_ERROR',
      'body.defaultTaxCode',
    );
    const { rows } = await t.db.query<{ code: string }>(
      `SELECT code FROM customers WHERE entity_id = $1 AND code LIKE '%LOOK%' ORDER BY code`,
      [a.entityId],
    );
    expect(rows.map((r) => r.code)).toEqual(['LOOK']);
  });

  it('still lists a customer whose code was stored with an invisible character before codes were checked for them', async () => {
    // Written as an older version could have: the check is on the way in, no stored code is rewritten.
    const { rows } = await t.db.query<{ code: string }>(
      `SELECT code FROM customers WHERE entity_id = $1 AND code = 'LOOK'`,
      [a.entityId],
    );
    expect(rows).toHaveLength(1);
    await t.db.query(
      `INSERT INTO customers (entity_id, code, name, currency, control_gl_account_code)
       SELECT entity_id, $2, 'Old look-alike', currency, control_gl_account_code FROM customers WHERE entity_id = $1 AND code = 'LOOK'`,
      [a.entityId, 'OLDLOOK\u200b'],
    );
    const listed = await a.get('/v1/customers?search=OLDLOOK');
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((c: { code: string }) => c.code)).toEqual(['OLDLOOK\u200b']);
  });

  it('records customer.created (the whole customer) and customer.updated (before and after of exactly the changed fields)', async () => {
    const created = (await a.put('/v1/customers/AUD', { name: 'Audited', email: 'old@aud.example' })).body;
    await a.put('/v1/customers/AUD', {
      name: 'Audited Ltd',
      email: 'old@aud.example',
      address: { city: 'Gent' },
      rowVersion: 1,
    });
    const { rows } = await t.db.query<{ action: string; object_type: string; before: any; after: any; actor: string }>(
      `SELECT action, object_type, before, after, actor FROM audit_log
        WHERE entity_id = $1 AND object_id = 'AUD' ORDER BY id`,
      [a.entityId],
    );
    expect(rows.map((r) => [r.action, r.object_type, r.before, r.after])).toEqual([
      ['customer.created', 'customer', null, (({ rowVersion: _, ...rest }) => rest)(created)],
      [
        'customer.updated',
        'customer',
        { name: 'Audited', address: { city: null } },
        { name: 'Audited Ltd', address: { city: 'Gent' } },
      ],
    ]);
    expect(rows[0]!.actor).toMatch(/^credential:/);
  });
});

describe('optimistic concurrency', () => {
  it('refuses an update without or with a stale rowVersion, and accepts the current one', async () => {
    await a.put('/v1/customers/VER', { name: 'Versioned' });
    await expectUnchanged(a, 'VER', async () => {
      expectError(await a.put('/v1/customers/VER', { name: 'No version' }), 409, 'OUTDATED_RECORD', 'body.rowVersion');
      expectError(
        await a.put('/v1/customers/VER', { name: 'Null version', rowVersion: null }),
        409,
        'OUTDATED_RECORD',
        'body.rowVersion',
      );
      expectError(
        await a.put('/v1/customers/VER', { name: 'Future', rowVersion: 2 }),
        409,
        'OUTDATED_RECORD',
        'body.rowVersion',
      );
    });
    const ok = await a.put('/v1/customers/VER', { name: 'Version two', rowVersion: 1 });
    expect(ok.status).toBe(200);
    expect(ok.body.rowVersion).toBe(2);
    await expectUnchanged(a, 'VER', async () => {
      expectError(
        await a.put('/v1/customers/VER', { name: 'Stale', rowVersion: 1 }),
        409,
        'OUTDATED_RECORD',
        'body.rowVersion',
      );
    });
    const three = await a.put('/v1/customers/VER', { onHold: true, rowVersion: 2 });
    expect(three.body).toMatchObject({ name: 'Version two', onHold: true, rowVersion: 3 });
  });

  it('lets exactly one of two concurrent updates from the same version win', async () => {
    await a.put('/v1/customers/RACE', { name: 'Race' });
    const results = await Promise.all([
      a.put('/v1/customers/RACE', { name: 'First', rowVersion: 1 }),
      a.put('/v1/customers/RACE', { name: 'Second', rowVersion: 1 }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const winner = results.find((r) => r.status === 200)!;
    expect((await a.get('/v1/customers/RACE')).body).toEqual(winner.body);
    expect(winner.body.rowVersion).toBe(2);
  });

  it('refuses a rowVersion for a customer that does not exist rather than creating it', async () => {
    expectError(
      await a.put('/v1/customers/GHOST', { name: 'Ghost', rowVersion: 1 }),
      404,
      'NOT_FOUND',
      'body.rowVersion',
    );
    expect(await storedRow(a.entityId, 'GHOST')).toBeNull();
  });
});

describe('entity isolation', () => {
  it("does not let entity B read, list or update entity A's customer", async () => {
    const mine = (await a.put('/v1/customers/PRIVATE', { name: 'Private to A', creditLimit: '100' })).body;
    expectError(await b.get('/v1/customers/PRIVATE'), 404, 'NOT_FOUND');
    expect((await b.get('/v1/customers?search=private')).body.total).toBe(0);
    await expectUnchanged(a, 'PRIVATE', async () => {
      expectError(
        await b.put('/v1/customers/PRIVATE', { name: 'Taken over', rowVersion: mine.rowVersion }),
        404,
        'NOT_FOUND',
      );
    });
    expect((await a.get('/v1/customers/PRIVATE')).body).toEqual(mine);
    expect(await loadCustomer(t.db, b.entityId, 'PRIVATE')).toBeNull();
    expect((await loadCustomer(t.db, a.entityId, 'PRIVATE'))?.creditLimit).toBe(10000n);
  });

  it("keeps codes per entity: B's customer with the same code leaves A's alone", async () => {
    const a1 = (await a.get('/v1/customers/PRIVATE')).body;
    const own = await b.put('/v1/customers/PRIVATE', { name: "B's own" });
    expect(own.status).toBe(201);
    expect((await a.get('/v1/customers/PRIVATE')).body).toEqual(a1);
  });

  it("does not accept another entity's setup data as references", async () => {
    await a.put('/v1/tax-codes/AONLY', { name: 'A only', rate: '0.1', glAccountCode: '2200' });
    await a.put('/v1/departments/AONLY', { name: 'A only' });
    expectError(
      await b.put('/v1/customers/REFS', { name: 'x', defaultTaxCode: 'AONLY' }),
      422,
      'TAX_CODE_DOES_NOT_EXIST',
      'body.defaultTaxCode',
    );
    expectError(
      await b.put('/v1/customers/REFS', { name: 'x', departmentId: 'AONLY' }),
      422,
      'DEPARTMENT_DOES_NOT_EXIST',
      'body.departmentId',
    );
  });
});

describe('validation', () => {
  it('refuses bad fields with VALIDATION_ERROR naming each, and creates nothing', async () => {
    const audits = await auditCount(a.entityId);
    const cases: [unknown, string][] = [
      [{}, 'body.name'],
      [{ name: '' }, 'body.name'],
      [{ name: 'a\u0000b' }, 'body.name'],
      [{ name: 'x', currency: 'EUX' }, 'body.currency'],
      [{ name: 'x', currency: 'eur' }, 'body.currency'],
      [{ name: 'x', creditLimit: '-5' }, 'body.creditLimit'],
      [{ name: 'x', creditLimit: 'abc' }, 'body.creditLimit'],
      [{ name: 'x', creditLimit: '1e99999999' }, 'body.creditLimit'],
      [{ name: 'x', creditTerms: { days: 5000 } }, 'body.creditTerms.days'],
      [{ name: 'x', creditTerms: { days: 1.5 } }, 'body.creditTerms.days'],
      [{ name: 'x', creditTerms: { weeks: 2 } }, 'body.creditTerms'],
      [{ name: 'x', email: 'not-an-email' }, 'body.email'],
      [{ name: 'x', address: { street: 'x', planet: 'Mars' } }, 'body.address'],
      [{ name: 'x', isActive: 'yes' }, 'body.isActive'],
      [{ name: 'x', controlGlAccountCode: null }, 'body.controlGlAccountCode'],
      [{ name: 'x', defaultTaxCode: 'std' }, 'body.defaultTaxCode'],
      [{ name: 'x', rowVersion: 0 }, 'body.rowVersion'],
      [{ name: 'x', favouriteColour: 'blue' }, 'body'],
      [{ code: 'OTHER', name: 'x' }, 'body.code'],
    ];
    for (const [body, field] of cases) {
      expectError(await a.put('/v1/customers/BADNEW', body), 400, 'VALIDATION_ERROR', field);
    }
    // Beyond what can be stored is its own code (issue 7), still a 400 that creates nothing.
    expectError(
      await a.put('/v1/customers/BADNEW', { name: 'x', creditLimit: '99999999999999999999' }),
      400,
      'AMOUNT_OUT_OF_RANGE',
      'body.creditLimit',
    );
    expect(await storedRow(a.entityId, 'BADNEW')).toBeNull();
    expect(await auditCount(a.entityId)).toBe(audits);
  });

  it('refuses a name that shows nothing (spaces, zero-width or other invisible characters) like an empty one', async () => {
    const empty = await a.put('/v1/customers/BLANK', { name: '' });
    expectError(empty, 400, 'VALIDATION_ERROR', 'body.name');
    const blanks = [
      '   ',
      '\t',
      '\u00a0',
      '\u3000',
      '\u200b',
      '\u202e',
      '\u2060',
      '\ufeff',
      '\u3164',
      ' \u200b\u200d \u2066',
    ];
    for (const name of blanks) {
      const created = await a.put('/v1/customers/BLANK', { name });
      expect(created.body, JSON.stringify(name)).toEqual(empty.body);
    }
    expect(await storedRow(a.entityId, 'BLANK')).toBeNull();
    // An update is refused alike, and changes nothing (curl -X PUT /v1/customers/UPD1 -d '{"rowVersion":1,"name":"   "}').
    const saved = await a.put('/v1/customers/BLANKUPD', { name: 'Ada Lovelace' });
    expect(saved.status).toBe(201);
    for (const name of blanks) {
      await expectUnchanged(a, 'BLANKUPD', async () => {
        const res = await a.put('/v1/customers/BLANKUPD', { rowVersion: saved.body.rowVersion, name });
        expect(res.body, JSON.stringify(name)).toEqual(empty.body);
      });
    }
  });

  it('keeps a name that shows something exactly as sent, invisible characters and outer spaces included', async () => {
    for (const [code, name] of [
      ['KEEP1', '  Ada Lovelace  '],
      ['KEEP2', 'Zoë\u200d Ltd'],
      ['KEEP3', '\u200bx'],
      ['KEEP4', '\u05e9\u05dc\u05d5\u05dd\u200f'],
    ] as [string, string][]) {
      const res = await a.put(`/v1/customers/${code}`, { name });
      expect(res.status).toBe(201);
      expect(res.body.name).toBe(name);
      expect((await storedRow(a.entityId, code))?.name).toBe(name);
    }
  });

  it('refuses a blank name on every record that has one, and on a new entity', async () => {
    const blank = ' \u200b ';
    const attempts: [string, Promise<{ status: number; body: any }>, string][] = [
      ['supplier', a.put('/v1/suppliers/BLANK', { name: blank }), 'body.name'],
      ['GL account', a.put('/v1/gl-accounts/4990', { name: blank, type: 'income' }), 'body.name'],
      ['tax code', a.put('/v1/tax-codes/BLANK', { name: blank, rate: '0.1', glAccountCode: '2200' }), 'body.name'],
      ['department', a.put('/v1/departments/BLANK', { name: blank }), 'body.name'],
      [
        'bank account',
        a.put('/v1/bank-accounts/BLANK', { name: blank, glAccountCode: '1200', currency: 'EUR' }),
        'body.name',
      ],
      ['item', a.put('/v1/items/BLANK', { description: blank }), 'body.description'],
      ['analysis dimension', a.put('/v1/analysis-dimensions/1', { name: blank, codes: [] }), 'body.name'],
      [
        'analysis code',
        a.put('/v1/analysis-dimensions/1', { name: 'Region', codes: [{ code: 'NORTH', name: blank }] }),
        'body.codes.0.name',
      ],
      [
        'entity',
        t.request(
          'POST',
          '/v1/admin/entities',
          { code: 'BLANKENT', name: blank, baseCurrency: 'EUR' },
          {
            authorization: `Bearer ${ADMIN_TOKEN}`,
          },
        ),
        'body.name',
      ],
    ];
    for (const [what, pending, field] of attempts) {
      const res = await pending;
      expect({ what, status: res.status, code: res.body.error?.code }).toEqual({
        what,
        status: 400,
        code: 'VALIDATION_ERROR',
      });
      expect(res.body.error.details, what).toContainEqual({ field, message: 'must not be empty' });
    }
  });

  it('refuses a credit limit with more decimals than its currency allows', async () => {
    expectError(
      await a.put('/v1/customers/DEC', { name: 'x', creditLimit: '10.001' }),
      400,
      'AMOUNT_HAS_TOO_MANY_DECIMALS',
      'body.creditLimit',
    );
    expectError(
      await a.put('/v1/customers/DEC', { name: 'x', currency: 'JPY', creditLimit: '10.5' }),
      400,
      'AMOUNT_HAS_TOO_MANY_DECIMALS',
      'body.creditLimit',
    );
    expect(await storedRow(a.entityId, 'DEC')).toBeNull();
    // trailing zeros are not extra precision
    expect((await a.put('/v1/customers/DEC', { name: 'x', creditLimit: '10.5000' })).body.creditLimit).toBe('10.50');
    await expectUnchanged(a, 'DEC', async () => {
      expectError(
        await a.put('/v1/customers/DEC', { creditLimit: '0.001', rowVersion: 1 }),
        400,
        'AMOUNT_HAS_TOO_MANY_DECIMALS',
        'body.creditLimit',
      );
    });
  });

  it('refuses unknown or inactive references with their own codes, on create and on update', async () => {
    await a.put('/v1/tax-codes/GONE', { name: 'Gone', rate: '0.1', glAccountCode: '2200', isActive: false });
    await a.put('/v1/departments/SHUT', { name: 'Shut', isActive: false });
    await a.put('/v1/gl-accounts/4999', { name: 'Closed', type: 'income', isActive: false });
    const cases: [Record<string, unknown>, number, string, string][] = [
      [{ defaultTaxCode: 'NOPE' }, 422, 'TAX_CODE_DOES_NOT_EXIST', 'body.defaultTaxCode'],
      [{ defaultTaxCode: 'GONE' }, 422, 'TAX_CODE_DOES_NOT_EXIST', 'body.defaultTaxCode'],
      [
        { defaultGlAccountCode: '1000' },
        422,
        'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
        'body.defaultGlAccountCode',
      ],
      [
        { defaultGlAccountCode: '4999' },
        422,
        'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
        'body.defaultGlAccountCode',
      ],
      [
        { controlGlAccountCode: '7777' },
        422,
        'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
        'body.controlGlAccountCode',
      ],
      [
        { controlGlAccountCode: '2000' },
        422,
        'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
        'body.controlGlAccountCode',
      ],
      [{ departmentId: 'NOPE' }, 422, 'DEPARTMENT_DOES_NOT_EXIST', 'body.departmentId'],
      [{ departmentId: 'SHUT' }, 422, 'DEPARTMENT_DOES_NOT_EXIST', 'body.departmentId'],
    ];
    await a.put('/v1/customers/REFS', { name: 'References' });
    for (const [fields, status, code, field] of cases) {
      expectError(await a.put('/v1/customers/REFNEW', { name: 'x', ...fields }), status, code, field);
      await expectUnchanged(a, 'REFS', async () => {
        expectError(await a.put('/v1/customers/REFS', { ...fields, rowVersion: 1 }), status, code, field);
      });
    }
    expect(await storedRow(a.entityId, 'REFNEW')).toBeNull();
    // null clears the optional references
    const cleared = await a.put('/v1/customers/REFS', {
      defaultTaxCode: null,
      defaultGlAccountCode: null,
      rowVersion: 1,
    });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({
      defaultTaxCode: null,
      defaultGlAccountCode: null,
      controlGlAccountCode: '1100',
    });
  });

  it('checks a reference when it is set, not again when an unrelated field changes', async () => {
    await a.put('/v1/tax-codes/LATER', { name: 'Later closed', rate: '0.1', glAccountCode: '2200' });
    await a.put('/v1/departments/LATER', { name: 'Later closed' });
    const c = (await a.put('/v1/customers/LATE', { name: 'Late', defaultTaxCode: 'LATER', departmentId: 'LATER' }))
      .body;
    await a.put('/v1/tax-codes/LATER', { isActive: false });
    await a.put('/v1/departments/LATER', { isActive: false });
    const res = await a.put('/v1/customers/LATE', { ...c, phone: '123' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ defaultTaxCode: 'LATER', departmentId: 'LATER', phone: '123' });
  });

  it('answers 401 without an entity token', async () => {
    expectError(await t.request('GET', '/v1/customers/new'), 401, 'UNAUTHORIZED');
    expectError(await t.request('GET', '/v1/customers'), 401, 'UNAUTHORIZED');
    expectError(await t.request('PUT', '/v1/customers/X', { name: 'x' }), 401, 'UNAUTHORIZED');
  });
});

describe('currency changes', () => {
  it('moves a customer without transactions to another currency, keeping the credit limit value', async () => {
    await a.put('/v1/customers/FXOK', { name: 'Fx', creditLimit: '5000' });
    const usd = await a.put('/v1/customers/FXOK', { currency: 'USD', rowVersion: 1 });
    expect(usd.status).toBe(200);
    expect(usd.body).toMatchObject({ currency: 'USD', creditLimit: '5000.00' });
    const jpy = await a.put('/v1/customers/FXOK', { currency: 'JPY', rowVersion: 2 });
    expect(jpy.body).toMatchObject({ currency: 'JPY', creditLimit: '5000' });
    expect((await loadCustomer(t.db, a.entityId, 'FXOK'))?.creditLimit).toBe(5000n);
  });

  it('refuses a currency whose decimals cannot hold the current credit limit unless a new one is sent', async () => {
    await a.put('/v1/customers/FXDEC', { name: 'Fx', creditLimit: '100.50' });
    await expectUnchanged(a, 'FXDEC', async () => {
      expectError(
        await a.put('/v1/customers/FXDEC', { currency: 'JPY', rowVersion: 1 }),
        400,
        'AMOUNT_HAS_TOO_MANY_DECIMALS',
        'body.creditLimit',
      );
    });
    const ok = await a.put('/v1/customers/FXDEC', { currency: 'JPY', creditLimit: '15000', rowVersion: 1 });
    expect(ok.body).toMatchObject({ currency: 'JPY', creditLimit: '15000' });
  });

  it('refuses to change the currency of a customer with transactions', async () => {
    await a.put('/v1/customers/FXTX', { name: 'Has invoices' });
    await postInvoice(a, 'FXTX', 'EUR');
    await expectUnchanged(a, 'FXTX', async () => {
      expectError(
        await a.put('/v1/customers/FXTX', { currency: 'USD', name: 'Renamed too', rowVersion: 1 }),
        422,
        'CUSTOMER_CURRENCY_CANNOT_CHANGE',
        'body.currency',
      );
    });
    const same = await a.put('/v1/customers/FXTX', { currency: 'EUR', name: 'Renamed', rowVersion: 1 });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ currency: 'EUR', name: 'Renamed' });
  });
});

describe('list', () => {
  let l: Client;
  beforeAll(async () => {
    l = await t.entity('CUSTLIST', 'EUR');
    const customers: [string, Record<string, unknown>][] = [
      ['C001', { name: 'Alpha Sports' }],
      ['C002', { name: 'beta athletics', currency: 'USD' }],
      ['C003', { name: 'Gamma 50% Club', onHold: true }],
      ['C004', { name: 'Delta', isActive: false }],
      ['C005', { name: 'Epsilon Sports', currency: 'USD', onHold: true }],
      ['SPORT1', { name: 'Zeta' }],
      ['C007', { name: 'Eta_Club', isActive: false, onHold: true }],
    ];
    for (const [code, body] of customers) {
      const res = await l.put(`/v1/customers/${code}`, body);
      if (res.status !== 201) throw new Error(JSON.stringify(res.body));
    }
  });
  const codes = (res: { body: { items: { code: string }[] } }) => res.body.items.map((c) => c.code);

  it('pages through customers ordered by code with the total', async () => {
    const first = await l.get('/v1/customers?pageSize=3');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ page: 1, pageSize: 3, total: 7 });
    expect(codes(first)).toEqual(['C001', 'C002', 'C003']);
    expect(codes(await l.get('/v1/customers?page=2&pageSize=3'))).toEqual(['C004', 'C005', 'C007']);
    expect(codes(await l.get('/v1/customers?page=3&pageSize=3'))).toEqual(['SPORT1']);
    const beyond = await l.get('/v1/customers?page=9&pageSize=3');
    expect(beyond.body).toEqual({ items: [], page: 9, pageSize: 3, total: 7 });
    const all = await l.get('/v1/customers');
    expect(all.body).toMatchObject({ page: 1, pageSize: 100, total: 7 });
    expect(all.body.items[1]).toEqual((await l.get('/v1/customers/C002')).body);
  });

  it('filters by search on code or name in any case, by isActive, onHold and currency', async () => {
    expect(codes(await l.get('/v1/customers?search=SPORT'))).toEqual(['C001', 'C005', 'SPORT1']);
    expect(codes(await l.get('/v1/customers?search=Beta'))).toEqual(['C002']);
    expect(codes(await l.get('/v1/customers?search=c00'))).toEqual(['C001', 'C002', 'C003', 'C004', 'C005', 'C007']);
    // % and _ are plain characters, not wildcards
    expect(codes(await l.get('/v1/customers?search=50%25'))).toEqual(['C003']);
    expect(codes(await l.get('/v1/customers?search=_'))).toEqual(['C007']);
    expect(codes(await l.get('/v1/customers?isActive=false'))).toEqual(['C004', 'C007']);
    expect(codes(await l.get('/v1/customers?onHold=true'))).toEqual(['C003', 'C005', 'C007']);
    expect(codes(await l.get('/v1/customers?currency=USD'))).toEqual(['C002', 'C005']);
    const combined = await l.get('/v1/customers?onHold=true&isActive=true&search=sports&pageSize=1');
    expect(combined.body).toMatchObject({ total: 1, pageSize: 1 });
    expect(codes(combined)).toEqual(['C005']);
    expect((await l.get('/v1/customers?search=nothing-like-this')).body).toMatchObject({ items: [], total: 0 });
  });

  it('refuses bad paging and filters with VALIDATION_ERROR naming the parameter', async () => {
    expectError(await l.get('/v1/customers?pageSize=0'), 400, 'VALIDATION_ERROR', 'query.pageSize');
    expectError(await l.get('/v1/customers?pageSize=501'), 400, 'VALIDATION_ERROR', 'query.pageSize');
    expectError(await l.get('/v1/customers?page=0'), 400, 'VALIDATION_ERROR', 'query.page');
    expectError(await l.get('/v1/customers?page=abc'), 400, 'VALIDATION_ERROR', 'query.page');
    expectError(await l.get('/v1/customers?isActive=maybe'), 400, 'VALIDATION_ERROR', 'query.isActive');
    expectError(await l.get('/v1/customers?currency=XXX'), 400, 'VALIDATION_ERROR', 'query.currency');
    expectError(await l.get('/v1/customers?search=%00'), 400, 'VALIDATION_ERROR', 'query.search');
    expectError(await l.get('/v1/customers?page=100000000000000000000'), 400, 'VALIDATION_ERROR', 'query.page');
    // the largest page the schema lets through still makes a valid OFFSET
    const last = await l.get(`/v1/customers?page=${Number.MAX_SAFE_INTEGER}&pageSize=500`);
    expect(last.body).toMatchObject({ items: [], total: 7 });
  });
});
