import type { z } from 'zod';
import { type DomainError, isDomainError } from '../../domain/errors.ts';

/*
 * Refusals of a form put in words for a person, beside the field they are about. The API speaks
 * to programs ({field: "body.email", message: "Too small: expected string to have >=3 characters"});
 * the dashboard translates those details here, once for every form it renders on the server, with
 * zod's issue codes and limits where the schema's error is in hand. /assets/app.js applies the same
 * rules to the forms it sends to /v1 itself (sign-in, set password), with the words
 * `fieldWordAttributes` writes on their inputs and the limit the API's message states.
 */

/** What a zod issue says beyond its message: its code and limits. */
export interface IssueFacts {
  code: string;
  origin?: string;
  minimum?: number;
  maximum?: number;
  values?: readonly unknown[];
}

/** A refusal of one field as a schema or the API gave it, before it is put in words. */
export interface RawProblem {
  /** The form field's name ("email", "branding.iban"); "" for the form as a whole. */
  field: string;
  message: string;
  issue?: IssueFacts;
}

/** A refusal in words for a person, about one field ("" for the form as a whole). */
export interface FieldProblem {
  field: string;
  message: string;
  /** The refusal's code, shown beside it when it says more than VALIDATION_ERROR. */
  code?: string;
}

/** How a form speaks of one of its fields. */
export interface FieldWords {
  label: string;
  /** Said when the field was left empty ("Enter your e-mail address"); else "Fill in <label>". */
  missing?: string;
  /** Said when the value is not of the right form ("Enter an e-mail address such as ann@example.com"). */
  invalid?: string;
}

const limit = (v: unknown): number | undefined =>
  typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;

/** A zod error's issues as problems, each with its code and limits. */
export function zodProblems(error: z.ZodError): RawProblem[] {
  return error.issues.map((i) => {
    const facts = i as unknown as Record<string, unknown>;
    const issue: IssueFacts = { code: i.code };
    if (typeof facts.origin === 'string') issue.origin = facts.origin;
    const min = limit(facts.minimum);
    const max = limit(facts.maximum);
    if (min !== undefined) issue.minimum = min;
    if (max !== undefined) issue.maximum = max;
    if (Array.isArray(facts.values)) issue.values = facts.values;
    return { field: i.path.map(String).join('.'), message: i.message, issue };
  });
}

/**
 * A refusal's field details (`[{field, message}]`, named as the API's body: "body.branding.iban")
 * as problems named as the form's fields, with zod's facts when a dashboard route put them there
 * (`zodProblems`); one without details is about the form as a whole.
 */
export function errorProblems(err: DomainError): RawProblem[] {
  const details = Array.isArray(err.details)
    ? (err.details as { field?: unknown; message?: unknown; issue?: unknown }[])
    : [];
  const listed = details
    .filter((d) => typeof d.field === 'string' && typeof d.message === 'string')
    .map((d) => {
      const issue = d.issue as IssueFacts | undefined;
      return {
        field: String(d.field).replace(/^body\./, ''),
        message: String(d.message),
        ...(issue && typeof issue.code === 'string' ? { issue } : {}),
      };
    });
  return listed.length ? listed : [{ field: '', message: err.message }];
}

/**
 * Our own messages are written to follow a field's name ("branding.iban: has wrong check digits"):
 * beside the field, one that needs its subject gets the label, the others a capital.
 */
function sentence(message: string, label: string | undefined): string {
  const text = message.trim();
  if (label && /^(has|is|does|contains) /.test(text)) return `${label} ${text}`;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const characters = (n: number) => `${n} character${n === 1 ? '' : 's'}`;

/** Which of a field's problems to say first, when a schema gave several (lower first). */
function rank(p: RawProblem): number {
  switch (p.issue?.code) {
    case 'too_big':
      return 0;
    case 'invalid_format':
    case 'custom':
    case undefined:
      return 1;
    case 'too_small':
      return 3;
    default:
      return 2;
  }
}

/** One problem in words: what was typed (`value`) decides between "missing" and the rest. */
export function problemInWords(p: RawProblem, words: FieldWords | undefined, value: string | undefined): string {
  const label = words?.label;
  const missing = words?.missing ?? (label ? `Fill in “${label}”` : 'Fill this in');
  const issue = p.issue;
  if (value !== undefined && value.trim() === '') return missing;
  if (issue?.code === 'invalid_type' && value === undefined) return missing;
  if (issue?.code === 'too_big' && issue.maximum !== undefined) {
    if (issue.origin === 'string') {
      const typed = value === undefined ? '' : ` (this has ${[...value.trim()].length})`;
      return `At most ${characters(issue.maximum)}${typed}`;
    }
    return `At most ${issue.maximum}`;
  }
  if (issue?.code === 'too_small' && issue.minimum !== undefined) {
    if (issue.origin === 'string') return issue.minimum <= 1 ? missing : `At least ${characters(issue.minimum)}`;
    return `At least ${issue.minimum}`;
  }
  if (issue?.code === 'invalid_format' && words?.invalid) return words.invalid;
  if (issue?.code === 'invalid_value' && issue.values?.length) {
    return `Choose one of: ${issue.values.map(String).join(', ')}`;
  }
  return sentence(p.message, label);
}

/**
 * A refusal's problems in words, one per field (the first that matters most), in the form's order
 * of `words`; problems about no field of the form are kept with the field "" (the form as a whole).
 */
export function problemsInWords(
  raw: RawProblem[],
  code: string,
  words: Record<string, FieldWords>,
  values: Record<string, string | undefined> = {},
): FieldProblem[] {
  const shown = code === 'VALIDATION_ERROR' ? undefined : code;
  const byField = new Map<string, RawProblem>();
  const rest: FieldProblem[] = [];
  for (const p of raw) {
    if (!Object.hasOwn(words, p.field)) {
      const label = p.field ? `${p.field}: ` : '';
      rest.push({ field: '', message: `${label}${sentence(p.message, undefined)}`, ...(shown ? { code: shown } : {}) });
      continue;
    }
    const prior = byField.get(p.field);
    if (!prior || rank(p) < rank(prior)) byField.set(p.field, p);
  }
  const placed = Object.keys(words)
    .filter((f) => byField.has(f))
    .map((f) => ({
      field: f,
      message: problemInWords(byField.get(f)!, words[f], values[f]),
      ...(shown ? { code: shown } : {}),
    }));
  return [...placed, ...rest];
}

/** A refusal of a form in words: its field problems when it names fields, else null (say it as a notice). */
export function refusalInWords(
  err: unknown,
  words: Record<string, FieldWords>,
  values: Record<string, string | undefined> = {},
): FieldProblem[] | null {
  if (!isDomainError(err)) return null;
  const raw = errorProblems(err);
  if (!raw.some((p) => Object.hasOwn(words, p.field))) return null;
  return problemsInWords(raw, err.code, words, values);
}

/** The attributes that tie a field to its problem: marked invalid, described by the message. */
export function invalidAttributes(
  errorId: string,
  problem: FieldProblem | undefined,
  describedBy?: string,
): { 'aria-invalid'?: 'true'; 'aria-describedby'?: string } {
  const ids = [describedBy, problem ? errorId : undefined].filter(Boolean).join(' ');
  return { ...(problem ? { 'aria-invalid': 'true' as const } : {}), ...(ids ? { 'aria-describedby': ids } : {}) };
}

/**
 * The words of a field for /assets/app.js, which puts the API's refusals of the forms it sends
 * itself (sign-in, set password) into words by the same rules as `problemInWords`.
 */
export function fieldWordAttributes(words: FieldWords): Record<string, string> {
  return {
    'data-label': words.label,
    ...(words.missing ? { 'data-missing': words.missing } : {}),
    ...(words.invalid ? { 'data-invalid': words.invalid } : {}),
  };
}

/** A field's problem, beside it (the field names it in `aria-describedby`). */
export function FieldError(props: { id: string; problem: FieldProblem | undefined }) {
  if (!props.problem) return null;
  return (
    <small id={props.id} class="field-error">
      {props.problem.message}
      {props.problem.code ? <span class="code"> ({props.problem.code})</span> : null}
    </small>
  );
}
