import type { ComponentChildren } from 'preact';
import { MAX_DATE, MIN_DATE, dateProblem } from '../../domain/dates.ts';
import { unstorableProblem } from '../../domain/storable.ts';

/*
 * Filters that cannot be used are never dropped in silence. A value that is not one of the choices
 * (a date that does not exist, a type the ledger does not have, a number that is not a document
 * number) is set aside, and the page says so at its field and above the list, naming what it shows
 * instead, as the reconciliation page does with its dates. The list never reads as filtered when it
 * is not.
 */

/** A query parameter that could not be used, and what the page shows instead. */
export interface FilterProblem {
  /** The query parameter, which is also the form field's name. */
  field: string;
  /** The sentence shown at the field and above the list: what is wrong, then what is shown instead. */
  message: string;
}

/** The query of a page as Fastify parses it: a parameter given twice is an array. */
export type RawQuery = Record<string, unknown>;

/** At most this much of a value is quoted back: a 3,000-character value is not repeated whole. */
const QUOTE_MAX = 40;

/** A value as the page quotes it back to the person, shortened when long. */
export function quoted(value: string): string {
  const chars = [...value];
  return `“${chars.length > QUOTE_MAX ? `${chars.slice(0, QUOTE_MAX).join('')}…` : value}”`;
}

/**
 * Collects the problems of one page's query while its parameters are read: each reader answers
 * the value to use (undefined: not filtered by it) and notes a problem for a value set aside.
 */
export class QueryReader {
  readonly problems: FilterProblem[] = [];
  /** Set when a text holds what no stored text can (a NUL, a broken character): nothing can match it. */
  matchesNothing = false;

  constructor(private readonly raw: unknown) {}

  /** Notes that `field` could not be used, with the sentence to show. */
  problem(field: string, message: string): void {
    if (!this.problems.some((p) => p.field === field)) this.problems.push({ field, message });
  }

  /**
   * The parameter as one string, trimmed; undefined when absent or empty. Given more than once it
   * is set aside (`instead` says what is shown then).
   */
  text(field: string, label: string, instead: string): string | undefined {
    const query = this.raw !== null && typeof this.raw === 'object' ? (this.raw as RawQuery) : {};
    const value = Object.hasOwn(query, field) ? query[field] : undefined;
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      this.problem(field, `${label} was given more than once; ${instead}.`);
      return undefined;
    }
    const trimmed = value.trim();
    if (unstorableProblem(trimmed)) {
      // PostgreSQL keeps no NUL and no lone surrogate in text: no stored value can be it, or contain it.
      this.problem(
        field,
        `${label}: the value holds a character no stored text has (a NUL or a broken one); nothing can match it.`,
      );
      this.matchesNothing = true;
      return undefined;
    }
    return trimmed === '' ? undefined : trimmed;
  }

  /** A business date (YYYY-MM-DD) in the ledger's range; anything else is set aside and said so. */
  date(field: string, label: string, instead: string): string | undefined {
    const value = this.text(field, label, instead);
    if (value === undefined) return undefined;
    const wrong = dateProblem(value);
    if (!wrong) return value;
    const why =
      wrong.kind === 'FORMAT'
        ? `${quoted(value)} is not a date written YYYY-MM-DD`
        : wrong.kind === 'DOES_NOT_EXIST'
          ? `${quoted(value)} is not a date (${wrong.message.replace(/^.*?: /, '')})`
          : `${quoted(value)} is outside the dates the ledger keeps (${MIN_DATE} to ${MAX_DATE})`;
    this.problem(field, `${label}: ${why}; ${instead}.`);
    return undefined;
  }

  /** A whole number from 1 (a document number, a page), at most `max`. */
  positive(
    field: string,
    label: string,
    what: string,
    instead: string,
    max = Number.MAX_SAFE_INTEGER,
  ): number | undefined {
    const value = this.text(field, label, instead);
    if (value === undefined) return undefined;
    const n = /^[1-9][0-9]{0,15}$/.test(value) ? Number(value) : NaN;
    if (Number.isSafeInteger(n) && n <= max) return n;
    this.problem(field, `${label}: ${quoted(value)} is not ${what}; ${instead}.`);
    return undefined;
  }

  /** One of `choices`; anything else is set aside and said so. */
  choice<T extends string>(
    field: string,
    label: string,
    choices: readonly T[],
    what: string,
    instead: string,
  ): T | undefined {
    const value = this.text(field, label, instead);
    if (value === undefined) return undefined;
    if ((choices as readonly string[]).includes(value)) return value as T;
    this.problem(field, `${label}: ${quoted(value)} is not ${what}; ${instead}.`);
    return undefined;
  }

  /** The page number of a list paged by number (at most `max`): page 1 when absent or not one, said so. */
  page(max = 100_000): number {
    return this.positive('page', 'Page', 'a page number', 'the first page is shown', max) ?? 1;
  }
}

/** The problem of one field, if it has one. */
export function problemOf(problems: readonly FilterProblem[], field: string): FilterProblem | undefined {
  return problems.find((p) => p.field === field);
}

/** The id of a field's problem text, for its `aria-describedby`. */
export const problemId = (field: string) => `${field}-problem`;

/** The attributes of a field with a problem: marked invalid and described by the problem's text. */
export function invalidAttrs(problems: readonly FilterProblem[], field: string) {
  return problemOf(problems, field) ? { 'aria-invalid': 'true' as const, 'aria-describedby': problemId(field) } : {};
}

/** A filter's label with its control, and under it the field's problem, if any. */
export function FilterField(props: { problems: readonly FilterProblem[]; field: string; children: ComponentChildren }) {
  const p = problemOf(props.problems, props.field);
  return (
    <label>
      {props.children}
      {p ? (
        <small class="field-error" id={problemId(props.field)}>
          {p.message}
        </small>
      ) : null}
    </label>
  );
}

/**
 * Above the list, every value that was set aside and what is shown instead. A problem of a
 * parameter with no field on the form (a page number, a cursor) is said here only.
 */
export function FilterProblems(props: { problems: readonly FilterProblem[] }) {
  if (props.problems.length === 0) return null;
  return (
    <div class="notice notice-warning filter-problems" role="status">
      <strong>Part of this address could not be used, so the list is not what it asked for:</strong>
      <ul>
        {props.problems.map((p) => (
          <li>{p.message}</li>
        ))}
      </ul>
    </div>
  );
}

/**
 * A search form that folds away on a phone (app.css), its summary saying what is searched
 * ("Search: customer BOLT · Sales invoice") so the first results fit on the first screen; on a
 * wider screen the form is always shown and the summary is not. It is open while a field has a
 * problem to show.
 */
export function SearchPanel(props: { active: readonly string[]; open: boolean; children: ComponentChildren }) {
  return (
    <details class="search-panel" open={props.open || undefined}>
      <summary>
        Search
        {props.active.length > 0 ? <span class="active-filters">: {props.active.join(' · ')}</span> : null}
      </summary>
      {props.children}
    </details>
  );
}
