import { PGlite, types } from '@electric-sql/pglite';
import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  DatabaseError,
  type Database,
  type QueryResult,
  type Queryable,
  type SqlParam,
  Mutex,
  nextSavepointName,
  toDriverParams,
} from './database.ts';
import { REPLAN_INTERVAL_MS, Replanner, type ReplanTarget } from './pglite-replan.ts';
import { PgliteStatements } from './pglite-statements.ts';

const TEXT_PARSERS = {
  [types.INT8]: (v: string) => v,
  [types.NUMERIC]: (v: string) => v,
  [types.DATE]: (v: string) => v,
};

/** The transaction open in this async context: on which database, and whether it is still open. */
interface OpenTransaction {
  db: PgliteScope;
  open: boolean;
}

/**
 * How a call on the database from inside its own transaction is caught. PGlite has one connection
 * behind a mutex that a transaction holds until it ends, so such a call would wait forever.
 *
 * - `exact`: each transaction runs its callback in an AsyncLocalStorage context and every call
 *   checks it, failing at once. On Node 20 an active AsyncLocalStorage tracks every promise of the
 *   process (a few per cent of a sync), so this is the mode of the test suite and of development
 *   (`LEDGERLINK_CHECK_TRANSACTIONS=exact`), where the mistake is made.
 * - `stall` (otherwise): free while nothing waits. A call that waits for the mutex while the
 *   transaction holding it has sent nothing for `stallMs` fails with the same error. A
 *   transaction that idles that long with the only connection is itself the bug: nothing else
 *   in the process can use the database meanwhile.
 */
export interface NestedCheck {
  mode: 'exact' | 'stall';
  stallMs: number;
}

export function nestedCheckFromEnv(env: NodeJS.ProcessEnv = process.env): NestedCheck {
  const setting = env.LEDGERLINK_CHECK_TRANSACTIONS;
  if (setting !== undefined && setting !== 'exact' && setting !== 'stall')
    throw new Error(`LEDGERLINK_CHECK_TRANSACTIONS must be "exact" or "stall", not ${JSON.stringify(setting)}`);
  const mode = setting ?? (env.VITEST ? 'exact' : 'stall');
  return { mode, stallMs: 5000 };
}

const openTransaction = new AsyncLocalStorage<OpenTransaction>();

function nestedUseError(what: string, after?: number): DatabaseError {
  const seen =
    after === undefined ? '' : ` (seen as a wait of ${after} ms on a transaction that sent nothing meanwhile)`;
  return new DatabaseError(
    `This code runs ${what} on the database while a transaction on it is open; pass the transaction (tx) instead ` +
      `(embedded PGlite has one connection: the call would wait for the transaction forever)${seen}`,
    { code: 'NESTED_TRANSACTION' },
  );
}

/** The transaction holding the connection, and when its `tx` last did anything. */
interface Holder {
  inFlight: number;
  lastActive: number;
}

class PgliteScope implements Queryable {
  /** Set on the database while a transaction holds its connection. */
  protected holder: Holder | null = null;

  constructor(
    protected readonly raw: PGlite,
    /** The connection's prepared statements, shared by the database and its transactions. */
    protected readonly statements: PgliteStatements,
    readonly inTransaction: boolean,
    private readonly mutex: Mutex | null,
    protected readonly check: NestedCheck,
    /** For a transaction's scope: the record its database watches. */
    private readonly activity: Holder | null = null,
  ) {}

  async query<T>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<T>> {
    return this.#use('a query', async () => {
      const r = await this.statements.query<T>(sql, toDriverParams(params));
      return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
    });
  }

  async exec(sql: string): Promise<void> {
    return this.#use('a script', async () => {
      await this.raw.exec(sql);
      this.statements.afterScript(sql);
    });
  }

  /** Runs one statement: inside a transaction on its connection, outside it behind the mutex. */
  async #use<T>(what: string, run: () => Promise<T>): Promise<T> {
    if (this.activity) {
      const a = this.activity;
      a.inFlight++;
      try {
        return await run();
      } finally {
        a.inFlight--;
        a.lastActive = Date.now();
      }
    }
    if (!this.mutex) return run();
    this.#refuseNestedUse(what);
    return this.#queue(what, run);
  }

  #refuseNestedUse(what: string): void {
    if (this.check.mode !== 'exact') return;
    const store = openTransaction.getStore();
    if (store?.open && store.db === this) throw nestedUseError(what);
  }

  /** Waits for the connection; gives up when the transaction holding it stalls (see NestedCheck). */
  #queue<T>(what: string, run: () => Promise<T>): Promise<T> {
    if (!this.holder) return this.mutex!.run(run);
    let abandoned = false;
    let timer: NodeJS.Timeout | undefined;
    const started = Date.now();
    const queued = this.mutex!.run(async () => {
      if (abandoned) throw nestedUseError(what);
      return run();
    });
    const stalled = new Promise<never>((_, reject) => {
      const { stallMs } = this.check;
      const look = () => {
        const h = this.holder;
        if (h && h.inFlight === 0 && Date.now() - h.lastActive >= stallMs) {
          abandoned = true;
          reject(nestedUseError(what, Date.now() - started));
        } else if (h) timer = setTimeout(look, Math.max(10, stallMs / 4));
      };
      timer = setTimeout(look, Math.max(10, stallMs / 4));
    });
    queued.catch(() => undefined); // when abandoned, its refusal has already been reported
    return Promise.race([queued, stalled]).finally(() => clearTimeout(timer));
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    if (this.inTransaction) {
      const sp = nextSavepointName();
      await this.raw.exec(`SAVEPOINT ${sp}`);
      try {
        const result = await fn(this);
        await this.raw.exec(`RELEASE SAVEPOINT ${sp}`);
        return result;
      } catch (err) {
        await this.raw.exec(`ROLLBACK TO SAVEPOINT ${sp}; RELEASE SAVEPOINT ${sp}`);
        throw err;
      }
    }
    this.#refuseNestedUse('another transaction');
    return this.#queue('another transaction', async () => {
      await this.raw.exec('BEGIN');
      const holder: Holder = { inFlight: 0, lastActive: Date.now() };
      this.holder = holder;
      const tx = new PgliteScope(this.raw, this.statements, true, null, this.check, holder);
      const store: OpenTransaction = { db: this, open: true };
      try {
        const result = await (this.check.mode === 'exact' ? openTransaction.run(store, () => fn(tx)) : fn(tx));
        store.open = false;
        this.holder = null;
        await this.raw.exec('COMMIT');
        return result;
      } catch (err) {
        store.open = false;
        this.holder = null;
        // PGlite has one connection: a failed transaction left open would poison every later query.
        await this.raw.exec('ROLLBACK');
        throw err;
      }
    });
  }
}

class PgliteDatabase extends PgliteScope implements Database, ReplanTarget {
  readonly kind = 'pglite' as const;
  /** Makes cached plans again as tables grow (pglite-replan.ts). */
  readonly replanner: Replanner;
  constructor(
    private readonly pg: PGlite,
    readonly description: string,
    check: NestedCheck,
    replanIntervalMs = REPLAN_INTERVAL_MS,
  ) {
    super(pg, new PgliteStatements(pg), false, new Mutex(), check);
    this.replanner = new Replanner(this, replanIntervalMs);
    this.replanner.start();
  }
  /** Statements run on the connection so far (ReplanTarget). */
  get executed(): number {
    return this.statements.executed;
  }
  /** A transaction holds the connection (ReplanTarget). */
  get busy(): boolean {
    return this.holder !== null;
  }
  async close(): Promise<void> {
    await this.replanner.stop();
    await this.pg.close();
  }
  /**
   * The whole cluster as an uncompressed tarball, which `openPglite('memory', …, { from })` starts
   * from. Take it while nothing else uses the database.
   */
  async snapshot(): Promise<Blob> {
    return this.pg.dumpDataDir('none');
  }
}

/**
 * Raised when another live process already has the PGlite folder open. Its `code` is how the command
 * line shows it (`error: DATA_FOLDER_IN_USE: …`, or in the `--json` error body).
 */
export class DataDirInUseError extends Error {
  readonly code = 'DATA_FOLDER_IN_USE';
  constructor(dir: string, pid: number) {
    super(
      `Another ledgerlink process (pid ${pid}) is using ${dir}. Embedded PostgreSQL allows one process per folder: ` +
        'stop it, use its HTTP API (e.g. POST /v1/pipelines/NAME/runs), or run on a PostgreSQL server (DATABASE_URL) to share it.',
    );
    this.name = 'DataDirInUseError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Raised when the PGlite folder cannot be written: read-only, not ours, or its disk is full. */
export class DataDirUnwritableError extends Error {
  readonly code = 'DATA_FOLDER_UNWRITABLE';
  /** The setting to change, as every refusal names its field. */
  readonly details: { field: string; message: string }[];
  constructor(dir: string, reason: string) {
    super(
      `Cannot write to the data folder ${dir}: ${reason}. Embedded PostgreSQL keeps its files there and writes ` +
        'them on every change: point LEDGERLINK_DATA_DIR (or --data-dir) at a writable folder on a disk with room, ' +
        'or run on a PostgreSQL server (DATABASE_URL). Nothing was changed.',
    );
    this.name = 'DataDirUnwritableError';
    this.details = [{ field: 'LEDGERLINK_DATA_DIR', message: reason }];
  }
}

/**
 * What PostgreSQL needs free to start on a folder: recovery after a crash or a full disk writes a
 * new 16 MB WAL segment before anything else, and a checkpoint may need another.
 */
export const PGLITE_MIN_FREE_BYTES = 32 * 1024 * 1024;

const UNWRITABLE: Record<string, string> = {
  EROFS: 'it is on a read-only file system',
  EACCES: 'this user may not write there',
  EPERM: 'this user may not write there',
  ENOSPC: 'its disk is full',
  EDQUOT: "the user's disk quota is used up",
  ENOTDIR: 'a file stands where the folder should be',
  // mkdir of a path that is a file (the folder itself, not one above it).
  EEXIST: 'a file stands where the folder should be',
};

/** The error to show for a file system error on the data folder, in words; null when it is not about writing there. */
export function unwritable(dir: string, err: unknown): DataDirUnwritableError | null {
  const reason = UNWRITABLE[(err as NodeJS.ErrnoException | null)?.code ?? ''];
  return reason ? new DataDirUnwritableError(dir, reason) : null;
}

/** Refuses a folder whose disk has less free space than PostgreSQL needs to start. */
function checkFreeSpace(dir: string): void {
  let free: number;
  try {
    const s = statfsSync(dir);
    free = s.bavail * s.bsize;
  } catch {
    return; // a file system that cannot say: PGlite's own error will tell
  }
  if (free < PGLITE_MIN_FREE_BYTES)
    throw new DataDirUnwritableError(
      dir,
      `its disk has ${(free / 1048576).toFixed(1)} MB free, and embedded PostgreSQL needs at least ` +
        `${PGLITE_MIN_FREE_BYTES / 1048576} MB free to start (it writes 16 MB WAL segments)`,
    );
}

/** One process per folder: two PGlite instances writing one folder would corrupt it. */
function lockDataDir(dir: string): () => void {
  const file = join(dir, '.ledgerlink.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw unwritable(dir, err) ?? err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid && pid !== process.pid && alive(pid)) throw new DataDirInUseError(dir, pid);
      rmSync(file, { force: true }); // left by a process that is gone
    }
  }
  throw new Error(`Could not lock ${dir}`);
}

/**
 * PostgreSQL settings of the embedded server, where ours differ from PostgreSQL's defaults (docs/performance.md,
 * "Memory (issue 8)"). PGlite runs PostgreSQL in a WebAssembly heap that grows and never shrinks, and it zeroes the
 * shared buffers at start-up, so the default 128 MB of `shared_buffers` is resident from the first second. One
 * connection does not need it: pages it evicts are still in the system's file cache.
 */
export const PGLITE_SETTINGS = { shared_buffers: '16MB' } as const;

const START_PARAMS = [
  ...PGlite.defaultStartParams,
  ...Object.entries(PGLITE_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
];

/**
 * Creates the cluster of a fresh folder in a child process. PGlite's initdb runs a second PostgreSQL in memory and
 * copies its files over as a tarball: about 500 MB at the peak, which in this process would stay resident long after
 * (the JavaScript heap is not collected for memory it does not see). The child returns all of it when it exits.
 */
async function createCluster(dir: string): Promise<void> {
  if (existsSync(join(dir, 'PG_VERSION'))) return;
  const pglite = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const script =
    `require(${JSON.stringify(pglite)}).PGlite.create(process.argv[1], { startParams: JSON.parse(process.argv[2]) })` +
    '.then((pg) => pg.close()).catch((err) => { console.error(err); process.exit(1); });';
  try {
    await promisify(execFile)(process.execPath, ['-e', script, dir, JSON.stringify(START_PARAMS)]);
  } catch (err) {
    const { stderr } = err as { stderr?: string };
    throw new Error(`Could not create the embedded database in ${dir}: ${stderr?.trim() || String(err)}`, {
      cause: err,
    });
  }
}

/**
 * Opens embedded PostgreSQL: `dataDir` is a folder, or `memory` for a throw-away database. `from`, a
 * snapshot (`snapshot()`), starts the database as a copy of it instead of a fresh cluster: in
 * memory, or in a folder that holds no database yet. `replanIntervalMs`: how often the replanner
 * looks for tables that grew (pglite-replan.ts; 0: never).
 */
export async function openPglite(
  dataDir: string,
  check: NestedCheck = nestedCheckFromEnv(),
  options: { from?: Blob; replanIntervalMs?: number } = {},
): Promise<Database & { snapshot(): Promise<Blob>; replanner: Replanner }> {
  const unlock = dataDir === 'memory' ? () => undefined : lockDataDir(dataDir);
  try {
    if (dataDir !== 'memory') {
      checkFreeSpace(dataDir);
      if (!options.from) await createCluster(dataDir);
      else if (existsSync(join(dataDir, 'PG_VERSION')))
        throw new Error(`${dataDir} already holds a database; a snapshot starts only an empty folder`);
    }
    // A snapshot skips initdb, the slow part of starting a fresh cluster.
    const pg = await PGlite.create(dataDir === 'memory' ? undefined : dataDir, {
      parsers: TEXT_PARSERS,
      startParams: START_PARAMS,
      ...(options.from ? { loadDataDir: options.from } : {}),
    });
    const db = new PgliteDatabase(
      pg,
      dataDir === 'memory' ? 'PGlite (in memory)' : `PGlite (${dataDir})`,
      check,
      options.replanIntervalMs,
    );
    const close = db.close.bind(db);
    return Object.assign(db, {
      close: async () => {
        try {
          await close();
        } finally {
          unlock();
        }
      },
    });
  } catch (err) {
    unlock();
    throw err;
  }
}
