import fc from 'fast-check';
import { instalmentItem } from '../../src/connectors/ixpole/map.ts';
import { storable } from '../../src/domain/storable.ts';
import type { Pipeline } from '../../src/sync/pipelines.ts';
import { definePipeline } from '../../test/helpers/sync.ts';
import type { FuzzContext } from './context.ts';
import { FuzzIxpoleServer, type Script, type Scripted, type ServedPage } from './ixpole-server.ts';
import { countStatus, excerpt, type FamilyResult, newResult } from './state.ts';
import { anyValue, hostileString } from './values.ts';

/**
 * The iXpole family: each case scripts a small iXpole (bench/fuzz/ixpole-server.ts) with hostile
 * pages (hostile or wrongly typed fields, missing fields, duplicate ids, huge pages, broken JSON,
 * pages that are no page, wrong pagination, failing customer and product lookups) and runs a fresh
 * iXpole pipeline of the fuzzed entity against it. The run must end (succeeded, or failed with a
 * reason that is not a crash); every record it was served must be posted or parked with a message
 * and an exception (none skipped in silence); a parked record must have written nothing to the
 * ledger; the API must show the run and its exceptions. The ledger's invariants are checked at the
 * end of the whole fuzz (run.ts).
 */

const draw = <T>(arb: fc.Arbitrary<T>, seed: number): T => fc.sample(arb, { seed, numRuns: 1 })[0]!;

/**
 * Not a source failure but a bug in our code, when a run's error reads like one: a JavaScript
 * error, or the database refusing what we wrote (a source's bad value must be parked before that).
 */
const CRASH = new RegExp(
  [
    'TypeError|RangeError|ReferenceError|SyntaxError|Cannot read|is not a function|\\[object Object\\]',
    'invalid input syntax|unsupported Unicode|invalid byte sequence|not permitted|violates|duplicate key|out of range',
  ].join('|'),
);

/** Long enough for PGlite's slowest case on a loaded machine; a run still going after it is stuck. */
const STUCK_MS = 180_000;

type Field =
  | 'InstalmentCode'
  | 'CustomerId'
  | 'ProductId'
  | 'ContractNumber'
  | 'Description'
  | 'InvoiceDate'
  | 'DueDate'
  | 'Currency'
  | 'NetAmount'
  | 'VatRate'
  | 'VatAmount';
const FIELDS: Field[] = [
  'InstalmentCode',
  'CustomerId',
  'ProductId',
  'ContractNumber',
  'Description',
  'InvoiceDate',
  'DueDate',
  'Currency',
  'NetAmount',
  'VatRate',
  'VatAmount',
];

/** What is done to one field of an instalment: a hostile value, a value of another type, or nothing at all. */
const damage = fc.oneof(
  { weight: 3, arbitrary: hostileString.map((v) => ({ set: v })) },
  { weight: 2, arbitrary: anyValue.map((v) => ({ set: v })) },
  { weight: 1, arbitrary: fc.constant({ drop: true as const }) },
);

const instalmentPlan = fc.record({
  customer: fc.integer({ min: 1, max: 3 }),
  cents: fc.integer({ min: 1, max: 50_000_00 }),
  rate: fc.constantFrom('0.21', '0.21', '0'),
  // Most items are sound, the rest have one or two fields spoiled.
  damage: fc.oneof(
    { weight: 3, arbitrary: fc.constant([]) },
    { weight: 2, arbitrary: fc.array(fc.tuple(fc.constantFrom(...FIELDS), damage), { minLength: 1, maxLength: 2 }) },
  ),
  // A repeated id: an earlier item again as it was, or its code with other content.
  repeat: fc.constantFrom('none', 'none', 'none', 'none', 'none', 'none', 'same', 'code'),
});

type Pagination = 'normal' | 'string' | 'none' | 'backward' | 'self' | 'gap' | 'dangling';
type PageDefect = 'none' | 'broken-once' | 'broken-always' | 'not-a-page' | 'status-once' | 'status' | 'huge';

export const casePlan = fc.record({
  pages: fc.array(fc.array(instalmentPlan, { maxLength: 5 }), { minLength: 1, maxLength: 4 }),
  pagination: fc.constantFrom<Pagination>(
    'normal',
    'normal',
    'normal',
    'normal',
    'string',
    'none',
    'backward',
    'self',
    'gap',
    'dangling',
  ),
  // Persistent faults cost the run's own retries (seconds each), so they are the rare ones.
  defect: fc.oneof(
    { weight: 80, arbitrary: fc.constant<PageDefect>('none') },
    { weight: 6, arbitrary: fc.constant<PageDefect>('broken-once') },
    { weight: 6, arbitrary: fc.constant<PageDefect>('status-once') },
    { weight: 3, arbitrary: fc.constant<PageDefect>('huge') },
    { weight: 2, arbitrary: fc.constant<PageDefect>('status') },
    { weight: 1, arbitrary: fc.constant<PageDefect>('not-a-page') },
    { weight: 1, arbitrary: fc.constant<PageDefect>('broken-always') },
  ),
  defectPage: fc.nat(3),
  status: fc.constantFrom(400, 403, 404, 429, 500, 503),
  notAPage: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    anyValue.map((items) => ({ items })),
    anyValue.map((nextPage) => ({ items: [], nextPage })),
  ),
  broken: fc.constantFrom('{"items": [', '<html><body>Server error</body></html>', '', '{"items":[{"a":}]}', 'nul'),
  customers: fc.array(
    fc.record({
      answer: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'ok', 'hostile', 'hostile', 'missing', 'wrong', 'broken-once'),
      name: hostileString,
      email: hostileString,
      street: hostileString,
      code: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: hostileString }),
    }),
    { minLength: 3, maxLength: 3 },
  ),
  product: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'missing', 'wrong', 'hostile'),
  productName: hostileString,
});
type CasePlan = ReturnType<(typeof casePlan)['generate']>['value'];

const json = (status: number, body: unknown): Scripted => ({ status, body: JSON.stringify(body) });

/** The script of case `n`: ids carry the case number, so that cases do not meet in the ledger. */
export function scriptOf(plan: CasePlan, n: number): Script {
  const pages = new Map<number, Scripted>();
  const numbers = plan.pagination === 'gap' ? plan.pages.map((_, i) => 1 + i * 7) : plan.pages.map((_, i) => i + 1);
  const made: Record<string, unknown>[] = [];
  plan.pages.forEach((plans, p) => {
    const items: unknown[] = plans.map((ip, i) => {
      if (ip.repeat !== 'none' && made.length > 0) {
        const earlier = made[(i * 7 + p) % made.length]!;
        if (ip.repeat === 'same') return earlier;
        return { ...earlier, NetAmount: `${ip.cents + 1}.00` };
      }
      const item: Record<string, unknown> = {
        InstalmentCode: `IX${n}-${p}-${i}`,
        CustomerId: `${n}-${ip.customer}`,
        ProductId: `${n}-p`,
        ContractNumber: `CTR-${n}`,
        Description: `Instalment ${i + 1} of case ${n}`,
        InvoiceDate: '2026-11-01',
        DueDate: '2026-12-01',
        Currency: 'EUR',
        NetAmount: `${Math.floor(ip.cents / 100)}.${String(ip.cents % 100).padStart(2, '0')}`,
        VatRate: ip.rate,
      };
      for (const [field, d] of ip.damage) {
        if ('drop' in d) delete item[field];
        else item[field] = d.set;
      }
      made.push(item);
      return item;
    });
    const here = numbers[p]!;
    const last = p === plan.pages.length - 1;
    const next: unknown =
      plan.pagination === 'none'
        ? undefined
        : last
          ? plan.pagination === 'backward'
            ? 1
            : plan.pagination === 'dangling'
              ? here + 3
              : null
          : plan.pagination === 'self' && p === 0
            ? here
            : plan.pagination === 'string'
              ? String(numbers[p + 1])
              : numbers[p + 1];
    let body: unknown = next === undefined ? { items } : { items, nextPage: next };
    if (plan.defect === 'huge' && p === plan.defectPage % plan.pages.length) {
      // Thousands of copies of one item (one record), and one item with a 3 MB description.
      const first = items[0] ?? { InstalmentCode: `IX${n}-huge` };
      const big = { ...first, InstalmentCode: `IX${n}-big`, Description: 'x'.repeat(3_000_000) };
      body = { ...(body as object), items: [...items, ...Array<unknown>(3000).fill(first), big] };
    }
    pages.set(here, json(200, body));
  });
  if (plan.defect !== 'none' && plan.defect !== 'huge') {
    const at = numbers[plan.defectPage % numbers.length]!;
    const good = pages.get(at)!;
    const failure =
      plan.defect === 'broken-once' || plan.defect === 'broken-always'
        ? { status: 200, body: plan.broken }
        : plan.defect === 'not-a-page'
          ? json(200, plan.notAPage)
          : json(plan.status, { error: 'fuzzed failure' });
    const once = plan.defect === 'broken-once' || plan.defect === 'status-once';
    pages.set(at, { ...good, failures: once ? 1 : Infinity, failure });
  }
  const customers = new Map<string, Scripted>();
  plan.customers.forEach((c, i) => {
    const id = `${n}-${i + 1}`;
    const sound = {
      CustomerId: id,
      CustomerCode: null,
      Name: `Customer ${id}`,
      Email: `c${n}-${i}@example.org`,
      Street: 'Kerkstraat 1',
      PostalCode: '9000',
      City: 'Gent',
      Country: 'BE',
    };
    if (c.answer === 'ok') customers.set(id, json(200, sound));
    else if (c.answer === 'hostile')
      customers.set(id, json(200, { ...sound, Name: c.name, Email: c.email, Street: c.street, CustomerCode: c.code }));
    else if (c.answer === 'wrong') customers.set(id, json(200, { ...sound, Name: 42, CustomerId: [] }));
    else if (c.answer === 'broken-once')
      customers.set(id, { ...json(200, sound), failures: 1, failure: { status: 200, body: '{"Name": ' } });
  });
  const products = new Map<string, Scripted>();
  const product = { ProductId: `${n}-p`, Code: `P${n}`, Name: 'Season ticket', VatRate: '0.21', GlAccount: '4000' };
  if (plan.product === 'ok') products.set(`${n}-p`, json(200, product));
  else if (plan.product === 'hostile') products.set(`${n}-p`, json(200, { ...product, Name: plan.productName }));
  else if (plan.product === 'wrong') products.set(`${n}-p`, json(200, { ...product, Code: null, VatRate: '21' }));
  return { pages, customers, products };
}

/** The source id the engine files an item under (the connector's own rule: its InstalmentCode, else a hash). */
function sourceIdOf(raw: unknown, page: number, index: number): string {
  const item = instalmentItem(raw, { page, index });
  // Run records keep what a column can (a lone surrogate as U+FFFD).
  return storable('record' in item ? item.record.sourceId : item.invalid.sourceId);
}

interface RunFacts {
  status: string;
  error: string | null;
  records: { kind: string; source_id: string; outcome: string; message: string | null }[];
  unparked: string[];
  posted: string;
  partial: string[];
}

async function factsOf(ctx: FuzzContext, pipeline: Pipeline, runId: string, lastTx: string): Promise<RunFacts> {
  const db = ctx.t.db;
  const run = await db.query<{ status: string; error: string | null }>(`SELECT status, error FROM runs WHERE id = $1`, [
    runId,
  ]);
  const records = await db.query<RunFacts['records'][number]>(
    `SELECT kind, source_id, outcome, message FROM run_records WHERE run_id = $1 ORDER BY id`,
    [runId],
  );
  const parked = [
    ...new Set(records.rows.filter((r) => r.kind === 'invoice' && r.outcome === 'parked').map((r) => r.source_id)),
  ];
  const unparked = await db.query<{ source_id: string }>(
    `SELECT p.source_id FROM unnest($2::text[]) AS p(source_id)
      WHERE NOT EXISTS (SELECT 1 FROM exceptions x WHERE x.pipeline_id = $1 AND x.source_id = p.source_id AND x.status = 'open')`,
    [pipeline.id, parked],
  );
  // Written by this case: invoices posted since it began, and any of them under a parked record's reference.
  const posted = await db.query<{ n: string; partial: string[] | null }>(
    `SELECT count(*)::text AS n,
            array_agg(external_reference) FILTER (WHERE external_reference = ANY($3::text[])) AS partial
       FROM transactions WHERE entity_id = $1 AND type = 'SI' AND id > $2`,
    [ctx.entityId, lastTx, parked],
  );
  return {
    status: run.rows[0]?.status ?? 'missing',
    error: run.rows[0]?.error ?? null,
    records: records.rows,
    unparked: unparked.rows.map((r) => r.source_id),
    posted: posted.rows[0]!.n,
    partial: posted.rows[0]!.partial ?? [],
  };
}

/** What is wrong with how a run handled what it was served, or an empty list. */
function problemsOf(facts: RunFacts, served: FuzzIxpoleServer['answers']): string[] {
  const problems: string[] = [];
  if (!['succeeded', 'partial', 'failed'].includes(facts.status)) problems.push(`the run is still ${facts.status}`);
  if (facts.status === 'failed' && !facts.error?.trim()) problems.push('the run failed without a reason');
  if (facts.error && CRASH.test(facts.error))
    problems.push(`the run's error reads like a crash: ${excerpt(facts.error, 200)}`);
  // A page the source never read, and the run says it went well: records skipped in silence.
  const read = new Set(served.filter((a): a is ServedPage => 'items' in a).map((a) => a.page));
  const unread = served.filter((a) => !('items' in a) && !read.has(a.page)).map((a) => a.page);
  if (facts.status === 'succeeded' && unread.length > 0)
    problems.push(`succeeded although page ${unread.join(', ')} was never read`);
  // Every record of a page the source read was posted, skipped as seen, or parked; the last page
  // read may be the one a failed run stopped on (its page was rolled back whole).
  const recorded = new Map(facts.records.filter((r) => r.kind === 'invoice').map((r) => [r.source_id, r]));
  const lastRead = [...served].reverse().find((a): a is ServedPage => 'items' in a);
  const missing = new Set<string>();
  for (const a of served) {
    if (!('items' in a)) continue;
    if (a === lastRead && facts.status === 'failed') continue;
    a.items.forEach((raw, i) => {
      const id = sourceIdOf(raw, a.page, i);
      if (!recorded.has(id)) missing.add(id);
    });
  }
  if (missing.size > 0)
    problems.push(`${missing.size} record(s) served but neither posted nor parked: ${excerpt([...missing], 200)}`);
  const silent = facts.records.filter((r) => ['parked', 'failed', 'skipped'].includes(r.outcome) && !r.message?.trim());
  if (silent.length > 0) problems.push(`${silent.length} record(s) ${silent[0]!.outcome} without a reason`);
  if (facts.unparked.length > 0) problems.push(`parked without an open exception: ${excerpt(facts.unparked, 200)}`);
  if (facts.partial.length > 0) problems.push(`parked but posted all the same: ${excerpt(facts.partial, 200)}`);
  const created = facts.records.filter((r) => r.kind === 'invoice' && r.outcome === 'created').length;
  if (String(created) !== facts.posted)
    problems.push(`${created} invoice(s) recorded as created, ${facts.posted} posted`);
  return problems;
}

export async function fuzzIxpole(ctx: FuzzContext, runs: number, seed: number): Promise<FamilyResult> {
  const result = newResult('ixpole');
  const started = Date.now();
  const server = await new FuzzIxpoleServer().start();
  try {
    for (let n = 0; n < runs; n++) {
      const caseSeed = (seed + n * 104729) | 0;
      const plan = draw(casePlan, caseSeed);
      const report = (problem: string) =>
        result.findings.push({
          family: 'ixpole',
          target: 'GET api/instalments',
          seed,
          path: `${n}:${plan.pagination}/${plan.defect}`,
          problem,
          input: excerpt(plan.pages),
        });
      result.cases++;
      server.load(scriptOf(plan, n));
      const pipeline = await definePipeline(ctx.t.db, 'FUZZ', {
        name: `ixpole-${seed >>> 0}-${n}`.slice(0, 63),
        source: {
          type: 'ixpole',
          baseUrl: server.url,
          apiKey: server.apiKey,
          maxAttempts: 2,
          backoffBaseMs: 1,
          backoffMaxMs: 2,
          retryAfterMaxMs: 5,
          timeoutMs: 60_000,
        },
      });
      const { rows } = await ctx.t.db.query<{ id: string }>(
        `SELECT coalesce(max(id), 0)::text AS id FROM transactions`,
      );
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<{ stuck: true }>(
        (resolve) => (timer = setTimeout(() => resolve({ stuck: true }), STUCK_MS)),
      );
      let runId: string | null | { stuck: true };
      try {
        runId = await Promise.race([ctx.t.sync.trigger(pipeline, 'manual', 'fuzz'), stuck]);
      } catch (err) {
        report(`the run threw: ${excerpt(err instanceof Error ? err.stack : err, 400)}`);
        countStatus(result, 'threw');
        continue;
      } finally {
        clearTimeout(timer);
      }
      if (runId === null || typeof runId === 'object') {
        report(runId === null ? 'no run was created' : `the run had not ended after ${STUCK_MS / 1000} s`);
        countStatus(result, 'stuck');
        // A stuck run keeps its pipeline: the next cases have their own, but stop here to be readable.
        break;
      }
      const facts = await factsOf(ctx, pipeline, runId, rows[0]!.id);
      countStatus(result, facts.status === 'failed' ? 'run failed' : 'run ok');
      for (const r of facts.records.filter((x) => x.kind === 'invoice'))
        if (r.outcome === 'created' || r.outcome === 'parked') countStatus(result, r.outcome);
      for (const p of problemsOf(facts, server.answers)) report(p);
      // The API shows the run, its records and its exceptions, whatever they hold.
      for (const url of [
        `/v1/runs/${runId}`,
        `/v1/runs/${runId}/records`,
        `/v1/exceptions?pipeline=${encodeURIComponent(pipeline.name)}`,
      ]) {
        const get = () => ctx.t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${ctx.token()}` } });
        let res = await get();
        // A long run outlives the fuzzer's session (20 minutes): sign in again, as the other families do.
        if (res.statusCode === 401) {
          await ctx.renewSessions();
          res = await get();
        }
        if (res.statusCode !== 200) report(`GET ${url} answered ${res.statusCode}: ${excerpt(res.body, 200)}`);
      }
      ctx.progress('ixpole', n + 1, runs);
    }
  } finally {
    await server.close();
  }
  result.ms = Date.now() - started;
  return result;
}
