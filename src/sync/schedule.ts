import { CronExpressionParser } from 'cron-parser';

/**
 * Whether a cron expression parses: five fields (or six, with seconds first), or an alias such as
 * `@daily`, in UTC. cron-parser alone takes fewer fields, filling in the rest; a schedule written
 * that way is refused rather than run at times nobody wrote.
 */
export function validCron(expr: string): boolean {
  const fields = expr.trim().split(/\s+/).length;
  if (!expr.trim().startsWith('@') && fields !== 5 && fields !== 6) return false;
  try {
    CronExpressionParser.parse(expr, { tz: 'UTC' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The latest time at or before `now` that a cron expression fires: the slot a scheduled run stands
 * for. Workers that tick at the same time agree on it, and the runs table admits one run per slot.
 */
export function currentSlot(expr: string, now: Date): string {
  const it = CronExpressionParser.parse(expr, { tz: 'UTC', currentDate: new Date(now.getTime() + 1000) });
  return it.prev().toDate().toISOString();
}

/** The next time after `now` that a cron expression (UTC) fires, or null when it never does. */
export function nextFire(expr: string, now: Date): string | null {
  try {
    return CronExpressionParser.parse(expr, { tz: 'UTC', currentDate: now }).next().toDate().toISOString();
  } catch {
    return null;
  }
}
