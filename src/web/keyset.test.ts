import { describe, expect, it } from 'vitest';
import { MAX_BACK, NEWEST_PAGE, backParam, olderBack, parseBack, previousStep, type KeysetStep } from './keyset.ts';

const isCursor = (s: string) => /^[1-9]\d*$/.test(s);

/** Walks Older from the newest page `n` times, as the links would, and returns every page's step. */
function walkOlder(cursors: string[]): KeysetStep[] {
  const steps: KeysetStep[] = [{ cursor: undefined, back: undefined }];
  for (const cursor of cursors) {
    const here = steps.at(-1)!;
    steps.push({ cursor, back: parseBack(backParam(olderBack(here)), isCursor) });
  }
  return steps;
}

describe('the way back through keyset pages', () => {
  it('goes back one page at a time to the newest, through the query string', () => {
    const steps = walkOlder(['90', '80', '70', '60']);
    let here = steps.at(-1)!;
    for (let i = steps.length - 2; i >= 0; i--) {
      const back = previousStep(here);
      expect(back, `from page ${i + 2}`).toEqual(steps[i]);
      here = { cursor: back!.cursor, back: parseBack(backParam(back!.back), isCursor) };
    }
    expect(here).toEqual({ cursor: undefined, back: undefined });
    expect(previousStep(here)).toBeNull();
  });

  it('offers no Previous on a page reached without a trail, and ends the way back there', () => {
    expect(previousStep({ cursor: '50', back: undefined })).toBeNull();
    expect(olderBack({ cursor: '50', back: undefined })).toEqual(['50']);
    expect(previousStep({ cursor: '40', back: ['50'] })).toEqual({ cursor: '50', back: undefined });
  });

  it(`remembers the last ${MAX_BACK} pages; past them the way back stops short of the newest`, () => {
    const cursors = Array.from({ length: MAX_BACK + 5 }, (_, i) => String(1000 - i));
    const steps = walkOlder(cursors);
    const last = steps.at(-1)!;
    expect(last.back).toHaveLength(MAX_BACK);
    expect(last.back![0]).not.toBe(NEWEST_PAGE);
    let here: KeysetStep | null = last;
    let pages = 0;
    while (here && previousStep(here)) {
      here = previousStep(here);
      pages++;
    }
    expect(pages).toBe(MAX_BACK);
    expect(here!.cursor).toBe(cursors[cursors.length - 1 - MAX_BACK]);
  });

  it('ignores a trail that does not parse, rather than going back to a wrong page', () => {
    expect(parseBack('-,5,x', isCursor)).toBeUndefined();
    expect(parseBack('5,-', isCursor)).toBeUndefined();
    expect(parseBack('', isCursor)).toBeUndefined();
    expect(parseBack(['-', '5'], isCursor)).toBeUndefined();
    expect(parseBack(Array.from({ length: MAX_BACK + 1 }, () => '7').join(','), isCursor)).toBeUndefined();
    expect(parseBack('-,5,4', isCursor)).toEqual(['-', '5', '4']);
  });
});
