import type { HttpPostingResult } from './http-posting.ts';
import type { ReadsResult } from './http-reads.ts';
import { table } from './stats.ts';
import type { ThroughputResult } from './throughput.ts';

/** What the HTTP sections measured: the posting and the read load, per database. */
export interface HttpResults {
  posting: HttpPostingResult[];
  reads: ReadsResult[];
  /** Wall time of both sections, setup included: what they add to `npm run bench`. */
  seconds: number;
}

const ms = (v: number) => v.toFixed(1);

/** Sections 9 and 10 of the report; `throughput` gives the floor of section 1–2 (batches of 1,000) to compare with. */
export function httpReport(r: HttpResults, throughput: ThroughputResult[]): string {
  const out: string[] = [];
  const p = r.posting[0];
  out.push(
    `9. Bulk post-pay-allocate over real HTTP (autocannon, loopback), ${p ? `${p.queries.toLocaleString('en')} queries ` : ''}` +
      `in requests of ${p?.batchQueries ?? '?'} queries; each writer on a fresh database, the writers taking ${p?.turns ?? '?'} turns; ` +
      'the client in a process of its own',
  );
  const rows: (string | number)[][] = [
    [
      'database',
      'writer',
      'documents/s',
      '÷ floor',
      '÷ inject',
      'request p50 ms',
      'p95 ms',
      'p99 ms',
      'non-2xx',
      'errors',
      'rows = floor',
    ],
  ];
  for (const x of r.posting) {
    rows.push([
      x.kind,
      `floor: set-based, ${x.batchQueries} per batch`,
      x.floor.documentsPerSecond,
      1,
      '',
      '',
      '',
      '',
      '',
      '',
      '',
    ]);
    const i = x.inject;
    rows.push([
      x.kind,
      'inject, one request at a time',
      i.documentsPerSecond,
      i.ratioToFloor.toFixed(2),
      1,
      ms(i.ms.p50),
      ms(i.ms.p95),
      ms(i.ms.p99),
      '',
      '',
      i.identicalRows ? 'yes' : 'NO',
    ]);
    for (const h of x.http) {
      rows.push([
        x.kind,
        `HTTP, ${h.connections} connections`,
        h.documentsPerSecond,
        h.ratioToFloor.toFixed(2),
        h.ratioToInject.toFixed(2),
        ms(h.ms.p50),
        ms(h.ms.p95),
        ms(h.ms.p99),
        h.non2xx,
        h.errors + h.timeouts + h.failedAnswers,
        h.identicalRows ? 'yes' : 'NO',
      ]);
    }
  }
  out.push(table(rows));
  for (const x of r.posting) {
    const best = Math.max(...x.http.map((h) => h.documentsPerSecond));
    const floor1000 = throughput.find((t) => t.kind === x.kind)?.writers.setBased.documentsPerSecond;
    out.push(
      `${x.kind}: best HTTP ÷ floor in the same requests = ${(best / x.floor.documentsPerSecond).toFixed(2)} (aim 0.8)` +
        (floor1000 ? `; ÷ the floor in batches of 1,000 (section 1–2) = ${(best / floor1000).toFixed(2)}` : ''),
    );
  }
  out.push('');
  out.push(
    `10. Read API under concurrent load (autocannon, closed loop), on the database section 9 left at its most connections`,
  );
  const read = r.reads[0];
  if (read) out.push(`mix, in turn on each connection: ${read.endpoints.join('; ')}`);
  out.push(
    table([
      [
        'database',
        'load',
        'connections',
        'requests/s',
        '× 1 connection',
        '÷ /health',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'non-2xx',
        'errors',
      ],
      ...r.reads.flatMap((x) =>
        [...x.health.map((l) => ['GET /health', l] as const), ...x.mix.map((l) => ['reads mix', l] as const)].map(
          ([what, l]) => [
            x.kind,
            what,
            l.connections,
            l.requestsPerSecond,
            l.scaling.toFixed(2),
            l.ratioToHealth === null ? '' : l.ratioToHealth.toFixed(3),
            ms(l.ms.p50),
            ms(l.ms.p95),
            ms(l.ms.p99),
            l.non2xx,
            l.errors + l.timeouts,
          ],
        ),
      ),
    ]),
  );
  const problems = [...r.posting.flatMap((x) => x.problems), ...r.reads.flatMap((x) => x.problems)];
  out.push(`(sections 9–10 took ${r.seconds} s in all, setup included)`);
  out.push(
    problems.length
      ? `PROBLEMS: ${problems.join('; ')}`
      : "Every answer 2xx, no error; every writer wrote the floor's rows.",
  );
  return out.join('\n');
}
