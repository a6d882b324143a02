import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestApp, type TestApp } from './helpers/app.ts';
import { addUser } from './helpers/users.ts';

/*
 * The login throttle under a burst of parallel guesses. The count of failures used to be read
 * before the (slow) check and written after it, so every request of a burst read the count before
 * any had failed and all were checked: 60 parallel guesses got 60 answers however low the limit.
 * Now each attempt is counted before it is checked, and a burst gets no more guesses than the limit.
 * On PostgreSQL the requests truly overlap; on PGlite they interleave between statements, which
 * showed the same defect.
 */

const LIMIT = 5;
let t: TestApp;
let keys: { entityId: string; partnerKey: string; userKey: string };

beforeAll(async () => {
  t = await createTestApp({ loginMaxFailures: LIMIT, passwordScryptLogN: 10 });
  const created = await t.request(
    'POST',
    '/v1/admin/entities',
    { code: 'BURST', name: 'x', baseCurrency: 'EUR' },
    { authorization: `Bearer ${ADMIN_TOKEN}` },
  );
  keys = { entityId: created.body.entityId, partnerKey: created.body.partnerKey, userKey: created.body.userKey };
}, 60_000);
afterAll(async () => t.close());

async function from(address: string, url: string, body: unknown) {
  const res = await t.app.inject({
    method: 'POST',
    url,
    remoteAddress: address,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
  return { status: res.statusCode, code: res.json<{ error?: { code?: string } }>().error?.code ?? null };
}

function tally(results: { status: number; code: string | null }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results)
    out[`${r.status} ${r.code ?? ''}`.trim()] = (out[`${r.status} ${r.code ?? ''}`.trim()] ?? 0) + 1;
  return out;
}

describe('a burst of parallel guesses gets no more answers than the limit', () => {
  it('entity login: 40 parallel wrong key pairs from one address, at most the limit checked, the rest 429', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        from('10.9.1.1', '/v1/auth/login', { entityId: keys.entityId, partnerKey: `pk_wrong${i}`, userKey: 'uk_x' }),
      ),
    );
    const counts = tally(results);
    expect(counts['401 INVALID_CREDENTIALS'] ?? 0, JSON.stringify(counts)).toBeLessThanOrEqual(LIMIT);
    expect(counts['429 LOGIN_THROTTLED'] ?? 0, JSON.stringify(counts)).toBeGreaterThanOrEqual(40 - LIMIT);
    expect(results.filter((r) => r.status >= 500)).toEqual([]);
    // Throttled and successful attempts are not counted: only the failures are, per subject.
    const { rows } = await t.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM login_failures WHERE subject = $1`,
      [`entity:${keys.entityId.toLowerCase()}`],
    );
    expect(rows[0]!.n).toBe(counts['401 INVALID_CREDENTIALS'] ?? 0);
  });

  it('entity login: a burst of right keys all log in, and a success is not counted', async () => {
    const created = await t.request(
      'POST',
      '/v1/admin/entities',
      { code: 'BURST2', name: 'y', baseCurrency: 'EUR' },
      { authorization: `Bearer ${ADMIN_TOKEN}` },
    );
    const k = { entityId: created.body.entityId, partnerKey: created.body.partnerKey, userKey: created.body.userKey };
    // Right keys only, in parallel: every one logs in and none is left counted.
    const good = await Promise.all(Array.from({ length: 3 * LIMIT }, () => from('10.9.2.2', '/v1/auth/login', k)));
    expect(tally(good)).toEqual({ '200': 3 * LIMIT });
    const { rows } = await t.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM login_failures WHERE subject IN ($1, 'address:10.9.2.2')`,
      [`entity:${k.entityId.toLowerCase()}`],
    );
    expect(rows[0]!.n).toBe(0);
  });

  it('user sign-in: 40 parallel wrong passwords for one account, at most the limit checked, the rest 429', async () => {
    const c = await t.entity('BURSTU', 'EUR');
    const u = await addUser(t, c, 'burst@throttle.example', 'viewer');
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        from(`10.9.3.${i + 1}`, '/v1/auth/sign-in', {
          email: u.email,
          password: i === 39 ? u.password : `wrong password number ${i}`,
        }),
      ),
    );
    const counts = tally(results);
    expect(counts['401 INVALID_CREDENTIALS'] ?? 0, JSON.stringify(counts)).toBeLessThanOrEqual(LIMIT);
    expect(counts['429 LOGIN_THROTTLED'] ?? 0, JSON.stringify(counts)).toBeGreaterThanOrEqual(40 - LIMIT - 1);
    expect(results.filter((r) => r.status >= 500)).toEqual([]);
  });
});
