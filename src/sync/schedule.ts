import { CronExpressionParser } from 'cron-parser';

/** Whether a cron expression parses (five or six fields, UTC). */
export function validCron(expr: string): boolean {
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
