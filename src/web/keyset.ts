/*
 * The way back through a list paged by keyset. A keyset page knows the page after it (its last row)
 * but not the one before, and counting rows to find it is what keyset paging avoids. So each Older
 * link carries the cursors of the pages already seen in the query string (`back`), oldest first,
 * the newest page (which has no cursor) written `-`. Previous takes the last of them off again.
 */

/** How the newest page (no cursor) is written in a trail. */
export const NEWEST_PAGE = '-';

/**
 * Pages remembered behind the current one: bounds the URL. Past it the oldest are dropped, and a
 * page reached by going back that far offers Newest only.
 */
export const MAX_BACK = 20;

/** One page of the list: its cursor (undefined for the newest page) and the trail behind it. */
export interface KeysetStep {
  cursor: string | undefined;
  back: string[] | undefined;
}

/**
 * A `back` parameter as a trail, or undefined when there is none or it does not parse: a trail
 * that cannot be trusted offers Newest only, never a wrong Previous.
 */
export function parseBack(raw: unknown, isCursor: (s: string) => boolean): string[] | undefined {
  if (typeof raw !== 'string' || raw === '' || raw.length > 40 * MAX_BACK) return undefined;
  const parts = raw.split(',');
  if (parts.length > MAX_BACK) return undefined;
  const valid = parts.every((p, i) => (p === NEWEST_PAGE ? i === 0 : isCursor(p)));
  return valid ? parts : undefined;
}

/** The trail an Older link carries from this page: this page's own, then this page. */
export function olderBack(here: KeysetStep): string[] {
  if (here.cursor === undefined) return [NEWEST_PAGE];
  // Reached without a trail (a bookmark): the way back ends at this page.
  if (here.back === undefined) return [here.cursor];
  return [...here.back, here.cursor].slice(-MAX_BACK);
}

/** The page Previous opens, or null on the newest page and when the trail does not say. */
export function previousStep(here: KeysetStep): KeysetStep | null {
  if (here.cursor === undefined || here.back === undefined || here.back.length === 0) return null;
  const cursor = here.back.at(-1)!;
  if (cursor === NEWEST_PAGE) return { cursor: undefined, back: undefined };
  const rest = here.back.slice(0, -1);
  return { cursor, back: rest.length > 0 ? rest : undefined };
}

/** A trail as the query string's `back`, or undefined for none. */
export function backParam(back: string[] | undefined): string | undefined {
  return back && back.length > 0 ? back.join(',') : undefined;
}
