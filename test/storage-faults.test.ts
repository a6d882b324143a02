import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/open.ts';
import { DataDirUnwritableError } from '../src/db/pglite.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import { type TestResponse, createTestApp } from './helpers/app.ts';
import { invoice, seedCustomer } from './helpers/ledger.ts';
import { startCli } from './helpers/process.ts';

/*
 * The PGlite folder on a disk that is full, too small to start on, or mounted read-only (issue 14,
 * "Faults"): a clear error that says what to do, and nothing half-written. Real file systems: a
 * tmpfs of a set size and a read-only bind mount, which need root's mount privilege (CI runs as
 * root); elsewhere the tests are skipped with a message. PGlite only: on a PostgreSQL server the
 * server's own disk is not ledgerlink's to manage.
 */

const root = mkdtempSync(join(tmpdir(), 'll-storage-'));
const mounts: string[] = [];

function mount(args: string[], at: string): void {
  mkdirSync(at, { recursive: true });
  execFileSync('mount', [...args, at], { stdio: 'pipe' });
  mounts.push(at);
}

const why = (() => {
  if (process.env.DATABASE_URL) return 'they are about the PGlite folder; run them without DATABASE_URL';
  try {
    mount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs'], join(root, 'probe'));
    return null;
  } catch (err) {
    return `mounting a tmpfs is not permitted here (${String(err).split('\n')[0]}); run as root to include them`;
  }
})();
if (why) console.warn(`test/storage-faults.test.ts: skipped: ${why}`);

afterAll(() => {
  for (const m of mounts.reverse()) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'pipe' });
    } catch {
      // already gone
    }
  }
  rmSync(root, { recursive: true, force: true });
});

const freeBytes = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

describe.skipIf(why !== null)('the PGlite folder when its disk cannot be written', () => {
  it('a read-only data folder: a clear error naming the folder and what to do, from the library and the CLI', async () => {
    const ro = join(root, 'ro');
    mkdirSync(ro, { recursive: true });
    mount(['--bind', ro], ro);
    execFileSync('mount', ['-o', 'remount,bind,ro', ro], { stdio: 'pipe' });

    const opened = openDatabase({ dataDir: ro });
    await expect(opened).rejects.toBeInstanceOf(DataDirUnwritableError);
    await expect(opened).rejects.toThrow(
      new RegExp(`^Cannot write to the data folder ${ro}: it is on a read-only file system\\. .*LEDGERLINK_DATA_DIR`),
    );
    // A folder still to be made under it says the same, not a bare EROFS.
    await expect(openDatabase({ dataDir: join(ro, 'data') })).rejects.toThrow(/read-only file system\. /);

    const cli = startCli(['entity', 'list'], { LEDGERLINK_DATA_DIR: ro });
    expect(await cli.exited).toBe(1);
    expect(cli.output()).toContain(`Cannot write to the data folder ${ro}: it is on a read-only file system`);
    expect(cli.output()).not.toMatch(/at .*\.ts:\d+/);
  });

  it('a disk with too little room to start: refused before anything is written', async () => {
    const small = join(root, 'small');
    mount(['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs'], small);
    await expect(openDatabase({ dataDir: small })).rejects.toThrow(
      /its disk has \d+\.\d MB free, and embedded PostgreSQL needs at least 32 MB free to start/,
    );
    expect(readdirSync(small)).toEqual([]);
  });

  it('the disk fills up while documents are posted: 507 STORAGE_FULL, nothing half-written, and it goes on once there is room', async () => {
    const disk = join(root, 'disk');
    mount(['-t', 'tmpfs', '-o', 'size=120m', 'tmpfs'], disk);
    const dataDir = join(disk, 'data');
    const t = await createTestApp({}, { db: await openDatabase({ dataDir }) });
    try {
      const c = await t.entity('FULL');
      await seedCustomer(t.db, c.entityId, 'C1');
      const count = async () =>
        (await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM transactions')).rows[0]!.n;
      expect((await c.post('/v1/sales/batch-invoices', invoice('C1', '100.00'))).status).toBe(201);

      // Leave a little room, then post until the disk is full.
      const filler = join(disk, 'filler');
      execFileSync('fallocate', ['-l', String(Math.max(0, freeBytes(disk) - 768 * 1024)), filler]);
      const long = 'Goods, described at length. '.repeat(8);
      let full: TestResponse<{ error: { code: string; message: string } }> | null = null;
      let before = '';
      for (let i = 0; i < 3000 && !full; i++) {
        before = await count();
        const r = await c.post(
          '/v1/sales/batch-invoices',
          invoice('C1', '10.00', { externalReference: `FULL-${i}`, description: long }),
        );
        if (r.status !== 201) full = r;
      }
      expect(full).not.toBeNull();
      expect({ status: full!.status, body: full!.body }).toMatchObject({ status: 507 });
      expect(full!.body.error.code).toBe('STORAGE_FULL');
      expect(full!.body.error.message).toMatch(/^The disk that holds the database is full: nothing of this request/);
      // The refused request wrote nothing.
      expect(await count()).toBe(before);

      // Room again: the same database goes on, with every invariant holding.
      rmSync(filler);
      const again = await c.post('/v1/sales/batch-invoices', invoice('C1', '10.00', { externalReference: 'AFTER' }));
      expect(again.status).toBe(201);
      expect(Number(await count())).toBe(Number(before) + 1);
      const v = await verifyLedger(t.db, { id: c.entityId, code: 'FULL' });
      expect(v.checks.filter((x) => x.problems.length > 0)).toEqual([]);
    } finally {
      await t.close();
    }
  }, 240_000);
});
