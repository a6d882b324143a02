import { describe, expect, it } from 'vitest';
import { judgeAudit } from '../scripts/audit.ts';

/* scripts/audit.ts (npm run audit:prod, in .ci/run): what it makes of npm audit's JSON. */

const report = (vulnerabilities: Record<string, unknown>, counts: Record<string, number>) =>
  JSON.stringify({
    auditReportVersion: 2,
    vulnerabilities,
    metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, ...counts } },
  });

describe('judgeAudit', () => {
  it('passes a clean report, and one with only moderate or low findings', () => {
    expect(judgeAudit(report({}, {}), {})).toEqual({
      exitCode: 0,
      lines: ['npm audit: no high or critical advisory (0 critical, 0 high, 0 moderate, 0 low, 0 info)'],
    });
    const moderate = report({ qs: { name: 'qs', severity: 'moderate', via: [] } }, { moderate: 1 });
    expect(judgeAudit(moderate, {}).exitCode).toBe(0);
  });

  it('fails on a high or critical advisory and lists each package with its advisory and fix', () => {
    const r = judgeAudit(
      report(
        {
          fastify: {
            name: 'fastify',
            severity: 'high',
            range: '<5.3.2',
            via: [{ title: 'Content-Type bypass', url: 'https://github.com/advisories/GHSA-x' }],
            fixAvailable: { name: 'fastify', version: '5.3.2' },
          },
          pg: { name: 'pg', severity: 'critical', range: '*', via: ['pg-protocol'], fixAvailable: false },
          qs: { name: 'qs', severity: 'low', via: [] },
        },
        { high: 1, critical: 1, low: 1 },
      ),
      { LEDGERLINK_AUDIT_OPTIONAL: '1' },
    );
    expect(r.exitCode).toBe(1);
    expect(r.lines).toEqual([
      'npm audit: 2 package(s) with a high or critical advisory (1 critical, 1 high, 0 moderate, 1 low, 0 info):',
      '  high fastify <5.3.2: Content-Type bypass https://github.com/advisories/GHSA-x (fix: fastify@5.3.2)',
      '  critical pg *: through pg-protocol (no fix available)',
    ]);
  });

  it('says plainly that nothing was checked when the endpoint answers with an error, and fails unless optional', () => {
    const refused = JSON.stringify({
      message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
      statusCode: 405,
      error: { summary: '', detail: '' },
    });
    const strict = judgeAudit(refused, { CI: 'true' });
    expect(strict.exitCode).toBe(3);
    expect(strict.lines[0]).toBe(
      'npm audit: the advisory endpoint could not be reached (405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk); not checked',
    );
    const optional = judgeAudit(refused, { CI: 'true', LEDGERLINK_AUDIT_OPTIONAL: '1' });
    expect(optional.exitCode).toBe(0);
    expect(optional.lines[0]).toContain('not checked');
    expect(judgeAudit('', {}).exitCode).toBe(3);
    expect(judgeAudit('npm ERR! network', {}).lines[0]).toContain('not checked');
  });
});
