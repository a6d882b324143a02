import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { benchArgs } from '../bench/cli-args.ts';

/*
 * npm run audit:prod: `npm audit --omit=dev`, failing on a high or critical advisory of a package
 * that ships (dependencies, not devDependencies), each listed.
 *
 * When npm cannot get an answer from the registry's advisory endpoint (a proxy that refuses the POST,
 * no network), nothing was checked, and the script says so in one plain line. It then fails
 * (exit 3) unless LEDGERLINK_AUDIT_OPTIONAL=1, which .ci/run sets because the machine's registry
 * proxy refuses the endpoint: CI does not go red for the proxy, and its log says "not checked".
 *
 * Exit codes: 0 checked and clean (or not checked and optional), 1 high or critical findings,
 * 3 not checked.
 */

const FAILING = new Set(['high', 'critical']);

interface Verdict {
  exitCode: 0 | 1 | 3;
  lines: string[];
}

interface AuditVulnerability {
  name?: string;
  severity?: string;
  range?: string;
  via?: (string | { title?: string; url?: string; severity?: string })[];
  fixAvailable?: boolean | { name?: string; version?: string };
}

/** What `npm audit --json` printed, and the environment, make the verdict (no I/O: tested alone). */
export function judgeAudit(stdout: string, env: Record<string, string | undefined>): Verdict {
  let report: {
    vulnerabilities?: Record<string, AuditVulnerability>;
    metadata?: { vulnerabilities?: Record<string, number> };
    message?: string;
    statusCode?: number;
    error?: { summary?: string; detail?: string } | string;
  };
  try {
    report = JSON.parse(stdout) as typeof report;
  } catch {
    report = { message: `npm audit printed no JSON: ${stdout.trim().slice(0, 200) || 'nothing'}` };
  }
  if (!report.vulnerabilities || !report.metadata) {
    const detail = typeof report.error === 'object' ? report.error.summary || report.error.detail : report.error;
    const reason = report.message ?? detail ?? 'no report';
    const optional = env.LEDGERLINK_AUDIT_OPTIONAL === '1';
    return {
      exitCode: optional ? 0 : 3,
      lines: [
        `npm audit: the advisory endpoint could not be reached (${reason}); not checked`,
        optional
          ? 'npm audit: LEDGERLINK_AUDIT_OPTIONAL=1, so this is not a failure; run npm run audit:prod where the registry answers'
          : 'npm audit: set LEDGERLINK_AUDIT_OPTIONAL=1 to go on without the check',
      ],
    };
  }
  const findings = Object.values(report.vulnerabilities).filter((v) => FAILING.has(v.severity ?? ''));
  const counts = report.metadata.vulnerabilities ?? {};
  const summary = ['critical', 'high', 'moderate', 'low', 'info'].map((s) => `${counts[s] ?? 0} ${s}`).join(', ');
  if (findings.length === 0) return { exitCode: 0, lines: [`npm audit: no high or critical advisory (${summary})`] };
  const lines = [`npm audit: ${findings.length} package(s) with a high or critical advisory (${summary}):`];
  for (const v of findings.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''))) {
    const advisories = (v.via ?? []).map((x) =>
      typeof x === 'string' ? `through ${x}` : `${x.title ?? 'advisory'}${x.url ? ` ${x.url}` : ''}`,
    );
    const fix =
      v.fixAvailable === true
        ? 'fix: npm audit fix'
        : typeof v.fixAvailable === 'object'
          ? `fix: ${v.fixAvailable.name}@${v.fixAvailable.version}`
          : 'no fix available';
    lines.push(`  ${v.severity} ${v.name} ${v.range ?? ''}: ${advisories.join('; ')} (${fix})`);
  }
  return { exitCode: 1, lines };
}

function main(): void {
  // npm exits non-zero both for findings and for an unreachable endpoint: the JSON tells them apart.
  const run = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.error) {
    console.error(`npm audit: could not run npm (${run.error.message}); not checked`);
    process.exit(3);
  }
  const verdict = judgeAudit(run.stdout, process.env);
  for (const line of verdict.lines) (verdict.exitCode === 0 ? console.log : console.error)(line);
  process.exit(verdict.exitCode);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchArgs(
    { options: {} },
    `Usage: npm run audit:prod

npm audit --omit=dev: fails on a high or critical advisory of a package that ships, each listed.
When the registry's advisory endpoint cannot be reached nothing was checked: it says so and exits 3,
unless LEDGERLINK_AUDIT_OPTIONAL=1. Exit codes: 0 clean (or not checked and optional), 1 findings,
3 not checked.`,
  );
  main();
}
