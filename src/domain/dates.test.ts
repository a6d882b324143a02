import { describe, expect, it } from 'vitest';
import { dateProblem, laterDate } from './dates.ts';

describe('dateProblem', () => {
  it('accepts real days within 1900-01-01..2999-12-31', () => {
    for (const d of ['1900-01-01', '2024-02-29', '2026-12-31', '2999-12-31']) expect(dateProblem(d)).toBeNull();
  });
  it('says a day the calendar does not have does not exist', () => {
    expect(dateProblem('2026-02-30')).toEqual({
      kind: 'DOES_NOT_EXIST',
      message: '2026-02-30 does not exist: February 2026 has 28 days',
    });
    expect(dateProblem('2025-02-29')?.message).toBe('2025-02-29 does not exist: February 2025 has 28 days');
    expect(dateProblem('2026-04-31')?.message).toBe('2026-04-31 does not exist: April 2026 has 30 days');
    expect(dateProblem('2026-13-01')?.kind).toBe('DOES_NOT_EXIST');
    expect(dateProblem('2026-01-00')?.kind).toBe('DOES_NOT_EXIST');
  });
  it('refuses dates out of range and text that is not YYYY-MM-DD', () => {
    expect(dateProblem('1899-12-31')?.kind).toBe('OUT_OF_RANGE');
    expect(dateProblem('3000-01-01')?.kind).toBe('OUT_OF_RANGE');
    expect(dateProblem('0000-01-01')?.kind).toBe('OUT_OF_RANGE');
    for (const d of ['2026-3-1', '26-03-01', '2026/03/01', '2026-03-01T00:00:00Z', ''])
      expect(dateProblem(d)?.kind).toBe('FORMAT');
  });
});

describe('laterDate', () => {
  it('is the later of two dates', () => {
    expect(laterDate('2026-03-01', '2026-03-20')).toBe('2026-03-20');
    expect(laterDate('2026-03-20', '2026-03-01')).toBe('2026-03-20');
  });
});
