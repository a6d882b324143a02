/*
 * Xero's published limits, as the simulated Xero enforces them: per tenant 5 calls in flight, 60
 * a minute and 5,000 a day; 10,000 a minute per app across tenants. Windows are rolling and their
 * length is configurable, so that a test can scale a minute down to a second. A refusal says which
 * limit was hit (X-Rate-Limit-Problem) and when to come back (Retry-After, whole seconds).
 */

export interface SimLimits {
  concurrent: number;
  perMinute: number;
  perDay: number;
  appPerMinute: number;
  /** The length of a "minute" in ms (default 60,000). */
  minuteMs: number;
  /** The length of a "day" in ms (default 86,400,000). */
  dayMs: number;
}

export const XERO_LIMITS: SimLimits = {
  concurrent: 5,
  perMinute: 60,
  perDay: 5000,
  appPerMinute: 10_000,
  minuteMs: 60_000,
  dayMs: 86_400_000,
};

export type LimitProblem = 'concurrent' | 'minute' | 'day' | 'appminute';

/** Timestamps of admitted calls in a rolling window. */
class Window {
  private readonly at: number[] = [];
  constructor(
    readonly size: number,
    readonly ms: number,
  ) {}
  private trim(now: number) {
    while (this.at.length > 0 && this.at[0]! <= now - this.ms) this.at.shift();
  }
  remaining(now: number): number {
    this.trim(now);
    return Math.max(0, this.size - this.at.length);
  }
  /** Ms until one more call fits. */
  waitMs(now: number): number {
    this.trim(now);
    return this.at.length < this.size ? 0 : this.at[0]! + this.ms - now;
  }
  add(now: number) {
    this.at.push(now);
  }
}

interface TenantBudget {
  inFlight: number;
  maxInFlight: number;
  minute: Window;
  day: Window;
}

export type Admission =
  | { ok: true; release: () => void; headers: Record<string, string> }
  | { ok: false; problem: LimitProblem; retryAfterSeconds: number; headers: Record<string, string> };

export class RateLimiter {
  private readonly tenants = new Map<string, TenantBudget>();
  private readonly app: Window;
  constructor(
    readonly limits: SimLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.app = new Window(limits.appPerMinute, limits.minuteMs);
  }

  private budget(tenantId: string): TenantBudget {
    let b = this.tenants.get(tenantId);
    if (!b) {
      b = {
        inFlight: 0,
        maxInFlight: 0,
        minute: new Window(this.limits.perMinute, this.limits.minuteMs),
        day: new Window(this.limits.perDay, this.limits.dayMs),
      };
      this.tenants.set(tenantId, b);
    }
    return b;
  }

  /** The most calls one tenant ever had in flight at once. */
  maxConcurrency(tenantId: string): number {
    return this.tenants.get(tenantId)?.maxInFlight ?? 0;
  }

  headers(tenantId: string | null): Record<string, string> {
    const now = this.now();
    const h: Record<string, string> = { 'X-AppMinLimit-Remaining': String(this.app.remaining(now)) };
    if (tenantId) {
      const b = this.budget(tenantId);
      h['X-MinLimit-Remaining'] = String(b.minute.remaining(now));
      h['X-DayLimit-Remaining'] = String(b.day.remaining(now));
    }
    return h;
  }

  /** Admits one call of a tenant, or says which limit refuses it. A refused call is not counted. */
  admit(tenantId: string): Admission {
    const now = this.now();
    const b = this.budget(tenantId);
    const refuse = (problem: LimitProblem, ms: number): Admission => ({
      ok: false,
      problem,
      retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)),
      headers: this.headers(tenantId),
    });
    if (b.day.waitMs(now) > 0) return refuse('day', b.day.waitMs(now));
    if (b.minute.waitMs(now) > 0) return refuse('minute', b.minute.waitMs(now));
    if (this.app.waitMs(now) > 0) return refuse('appminute', this.app.waitMs(now));
    if (b.inFlight >= this.limits.concurrent) return refuse('concurrent', 1000);
    b.day.add(now);
    b.minute.add(now);
    this.app.add(now);
    b.inFlight++;
    b.maxInFlight = Math.max(b.maxInFlight, b.inFlight);
    let released = false;
    return {
      ok: true,
      headers: this.headers(tenantId),
      release: () => {
        if (!released) b.inFlight--;
        released = true;
      },
    };
  }
}
