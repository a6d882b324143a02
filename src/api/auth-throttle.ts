/**
 * Failed bearer-token and session-cookie authentications, counted per client address in this
 * process. Past `maxFailures` within `windowSeconds`, every request from the address that carries a
 * credential is answered 429 AUTH_THROTTLED before its credential is looked at, so guessing tokens
 * gets nowhere and a flood of bad tokens costs no database work.
 *
 * In memory on purpose: the check runs on every authenticated request, and a table would cost a
 * query each time. So each process counts its own (N processes allow N times the limit), and a
 * restart forgets; tokens are 256-bit random values, so this limit is a brake on floods, not what
 * keeps them secret. At most `maxAddresses` addresses are remembered; past that the oldest is forgotten.
 */
export class FailedAuthThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowSeconds: number,
    private readonly maxAddresses = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The failures of an address still in the window, oldest first (older ones are dropped). */
  private recent(address: string): number[] {
    const list = this.failures.get(address);
    if (!list) return [];
    const since = this.now() - this.windowSeconds * 1000;
    while (list.length > 0 && list[0]! <= since) list.shift();
    if (list.length === 0) this.failures.delete(address);
    return list;
  }

  /** Seconds until the address may try again; 0 when it may now. */
  retryAfter(address: string): number {
    const list = this.recent(address);
    if (list.length < this.maxFailures) return 0;
    const oldest = list[list.length - this.maxFailures]!;
    return Math.max(1, Math.ceil((oldest + this.windowSeconds * 1000 - this.now()) / 1000));
  }

  recordFailure(address: string): void {
    const list = this.recent(address);
    if (list.length === 0) {
      if (this.failures.size >= this.maxAddresses) {
        const first = this.failures.keys().next();
        if (!first.done) this.failures.delete(first.value);
      }
      this.failures.set(address, list);
    }
    list.push(this.now());
    // Only the last maxFailures matter for the answer: the list never grows past them.
    if (list.length > this.maxFailures) list.splice(0, list.length - this.maxFailures);
  }
}
