import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Database } from '../../db/database.ts';

/** How long a pipeline's lease and a run's heartbeat stay good without renewal, by default. */
export const DEFAULT_LEASE_SECONDS = 15;

/** `LEDGERLINK_LEASE_SECONDS`: a whole number of seconds from 3 to 3600; anything else is refused. */
export function leaseSecondsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.LEDGERLINK_LEASE_SECONDS;
  if (text === undefined || text === '') return DEFAULT_LEASE_SECONDS;
  const n = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 3 && n <= 3600))
    throw new Error(
      `LEDGERLINK_LEASE_SECONDS must be a whole number of seconds from 3 to 3600, not ${JSON.stringify(text)}`,
    );
  return n;
}

/** A pipeline's lease, held by one execution of one run. */
export interface Lease {
  readonly pipelineId: string;
  readonly runId: string;
  /** True once another worker took the pipeline (this one was thought dead): stop, do not finish the run. */
  readonly lost: boolean;
  /** Renews the lease now; false when it was lost. */
  renew(): Promise<boolean>;
  release(): Promise<void>;
}

interface HeldLease {
  token: string;
  runId: string;
  lost: boolean;
}

/**
 * What tells other workers that this process is alive and working a run. Every run worked here
 * (executing, or waiting for its pipeline) has its `runs.heartbeat_at` refreshed, and every
 * pipeline lease held here its `expires_at` pushed on, by one timer every third of the lease.
 * A run whose heartbeat is older than a lease and that no job will start is an orphan: the
 * recovery sweep (src/sync/recovery.ts) queues it again, and it resumes from its saved cursor.
 *
 * Leases carry a token per execution, not the run's id: two executions of one run (a job the
 * sweep replaced, still alive after all) can never both hold the pipeline.
 */
export class Liveness {
  readonly leaseSeconds: number;
  private readonly runs = new Map<string, number>();
  private readonly leases = new Map<string, HeldLease>();
  private readonly prefix = `${hostname()}:${process.pid}:`;
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;
  readonly #stopping = new AbortController();

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
    leaseSeconds = DEFAULT_LEASE_SECONDS,
  ) {
    this.leaseSeconds = leaseSeconds;
  }

  /** How often heartbeats and lease renewals are written. */
  get heartbeatMs(): number {
    return Math.max(1000, Math.floor((this.leaseSeconds * 1000) / 3));
  }

  /**
   * True once the process is stopping: a run stops at its next page boundary and is handed back to
   * the queue, so that another worker goes on with it at once rather than after a lease.
   */
  get stopping(): boolean {
    return this.#stopping.signal.aborted;
  }

  /**
   * Aborted when the process begins to stop: what a run waits for inside a page (a rate-limit
   * permit, a Retry-After, a backoff) ends at once, so that the page ends and the run is handed on
   * without waiting out the pause. A call already sent is let finish (src/sync/remote/client.ts).
   */
  get stopSignal(): AbortSignal {
    return this.#stopping.signal;
  }

  /** Tells the runs worked here to stop at their next page boundary (a worker's SIGTERM). */
  beginStopping(): void {
    if (!this.stopping) this.#stopping.abort(new Error('this worker is stopping'));
  }

  /** The runs this process works now; never taken over by its own recovery sweep. */
  localRuns(): string[] {
    return [...this.runs.keys()];
  }

  /**
   * Marks a run as worked by this process and writes its first heartbeat; `release` ends it.
   * Null when this process already works the run (a second job of it): leave it to the first.
   */
  async hold(runId: string): Promise<(() => void) | null> {
    if (this.runs.has(runId)) return null;
    this.runs.set(runId, 1);
    try {
      await this.db.query(`UPDATE runs SET heartbeat_at = now() WHERE id = $1`, [runId]);
    } catch (err) {
      this.runs.delete(runId);
      throw err;
    }
    this.schedule();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.runs.delete(runId);
      this.schedule();
    };
  }

  /**
   * Takes a pipeline's lease for a run: null while another execution holds it (here, or in a
   * worker whose lease has not lapsed).
   */
  async takeLease(pipelineId: string, runId: string): Promise<Lease | null> {
    if (this.leases.has(pipelineId)) return null;
    const held: HeldLease = { token: this.prefix + randomUUID(), runId, lost: false };
    // Claimed locally first, so that two executions in this process cannot race for it.
    this.leases.set(pipelineId, held);
    let taken = false;
    try {
      const { rows } = await this.db.query(
        `INSERT INTO pipeline_leases (pipeline_id, run_id, holder, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4))
         ON CONFLICT (pipeline_id) DO UPDATE SET run_id = EXCLUDED.run_id, holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
           WHERE pipeline_leases.expires_at < now()
         RETURNING holder`,
        [pipelineId, runId, held.token, this.leaseSeconds],
      );
      taken = rows.length > 0;
    } finally {
      if (!taken) this.leases.delete(pipelineId);
    }
    if (!taken) return null;
    this.schedule();
    const renew = async () => {
      if (held.lost) return false;
      const { rows } = await this.db.query(
        `UPDATE pipeline_leases SET expires_at = now() + make_interval(secs => $3) WHERE pipeline_id = $1 AND holder = $2 RETURNING 1`,
        [pipelineId, held.token, this.leaseSeconds],
      );
      if (rows.length === 0) held.lost = true;
      return !held.lost;
    };
    return {
      pipelineId,
      runId,
      get lost() {
        return held.lost;
      },
      renew,
      release: async () => {
        if (this.leases.get(pipelineId) === held) this.leases.delete(pipelineId);
        this.schedule();
        await this.db.query(`DELETE FROM pipeline_leases WHERE pipeline_id = $1 AND holder = $2`, [
          pipelineId,
          held.token,
        ]);
      },
    };
  }

  /** Writes one heartbeat for every run and lease held here; a lease found taken is marked lost. */
  async beat(): Promise<void> {
    const runIds = this.localRuns();
    const held = [...this.leases.values()];
    if (runIds.length) await this.db.query(`UPDATE runs SET heartbeat_at = now() WHERE id = ANY($1::uuid[])`, [runIds]);
    if (held.length) {
      const { rows } = await this.db.query<{ holder: string }>(
        `UPDATE pipeline_leases SET expires_at = now() + make_interval(secs => $2) WHERE holder = ANY($1::text[]) RETURNING holder`,
        [held.map((h) => h.token), this.leaseSeconds],
      );
      const kept = new Set(rows.map((r) => r.holder));
      for (const h of held) if (!kept.has(h.token)) h.lost = true;
    }
  }

  /** Stops the timer (the process is shutting down). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The timer runs while something is held, and only then. */
  private schedule(): void {
    const busy = this.runs.size > 0 || this.leases.size > 0;
    if (busy && !this.timer) {
      this.timer = setInterval(() => {
        if (this.beating) return; // the last one is still waiting for the database
        this.beating = this.beat()
          .catch((err: unknown) => this.log.warn({ err }, 'heartbeat failed; retried at the next beat'))
          .finally(() => (this.beating = null));
      }, this.heartbeatMs);
      this.timer.unref();
    } else if (!busy) this.stop();
  }
}
