import { LosslessNumber } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { ODataFilterError, odataFilter } from './odata-filter.ts';

/*
 * The simulators' OData `$filter` (MYOB's, Acumatica's): what it keeps, and what it refuses.
 */

const rows = [
  {
    No: 'A-1',
    Customer: { UID: 'AB56E1F2-0000-4000-8000-000000000001' },
    Date: '2026-11-30T00:00:00',
    Total: new LosslessNumber('110.10'),
    Open: true,
  },
  {
    No: 'a-2',
    Customer: { UID: 'ab56e1f2-0000-4000-8000-000000000002' },
    Date: '2026-12-01T00:00:00',
    Total: 55,
    Open: false,
  },
  { No: 'B-3', Customer: null, Date: '2026-11-29 23:30', Total: '0.1', Open: true },
];
const kept = (filter: string) => rows.filter(odataFilter(filter)).map((r) => r.No);

describe('odataFilter', () => {
  it('and binds before or; parentheses and not group', () => {
    expect(kept(`No eq 'B-3' or Open eq true and Total gt 100`)).toEqual(['A-1', 'B-3']);
    expect(kept(`(No eq 'B-3' or Open eq true) and Total gt 100`)).toEqual(['A-1']);
    expect(kept(`not (Open eq true)`)).toEqual(['a-2']);
  });

  it('compares text without regard to case, guids as text, and a field path', () => {
    expect(kept(`No ge 'a-1' and No lt 'B'`)).toEqual(['A-1', 'a-2']);
    expect(kept(`Customer/UID eq guid'ab56e1f2-0000-4000-8000-000000000001'`)).toEqual(['A-1']);
  });

  it('compares date-times as instants, one without an offset in UTC', () => {
    expect(kept(`Date lt datetime'2026-12-01T00:00:00'`)).toEqual(['A-1', 'B-3']);
    expect(kept(`Date lt datetimeoffset'2026-12-01T00:00:00+01:00'`)).toEqual(['A-1', 'B-3']);
    // 2026-11-29T23:30Z: B-3's own minute, kept by ge, not by gt.
    expect(kept(`Date ge datetimeoffset'2026-11-30T00:30:00+01:00'`)).toEqual(['A-1', 'a-2', 'B-3']);
    expect(kept(`Date gt datetimeoffset'2026-11-30T00:30:00+01:00'`)).toEqual(['A-1', 'a-2']);
  });

  it('compares numbers as exact decimals, whatever their written form', () => {
    expect(kept(`Total eq 110.1`)).toEqual(['A-1']);
    expect(kept(`Total eq 0.10m`)).toEqual(['B-3']);
    expect(kept(`Total lt 55.000001`)).toEqual(['a-2', 'B-3']);
  });

  it('an absent field meets only ne and eq null', () => {
    expect(kept(`Customer/UID eq null`)).toEqual(['B-3']);
    expect(kept(`Customer/UID ne null`)).toEqual(['A-1', 'a-2']);
    expect(kept(`Customer/UID ne guid'ab56e1f2-0000-4000-8000-000000000001'`)).toEqual(['a-2', 'B-3']);
    expect(kept(`Customer/UID lt 'z'`)).toEqual(['A-1', 'a-2']);
  });

  it('refuses what it does not take, saying why', () => {
    for (const [filter, why] of [
      [`No eq 'A-1`, /not closed/],
      [`No like 'A'`, /operator/],
      [`Customer/UID eq guid'nope'`, /not a guid/],
      [`Date eq datetime'30/11/2026'`, /not a datetime/],
      [`(No eq 'A-1'`, /"\)" expected/],
      [`No eq 'A-1' xor Open eq true`, /unexpected/],
      [`substringof('A', No)`, /operator/],
    ] as const) {
      expect(() => odataFilter(filter), filter).toThrow(ODataFilterError);
      expect(() => odataFilter(filter), filter).toThrow(why);
    }
  });
});
