import type { ComponentChildren } from 'preact';
import type { AllSettings } from '../../ledger/settings.ts';
import type { Invitation, Member } from '../../ledger/users.ts';
import { ROLES } from '../../domain/roles.ts';
import { Empty, WithCode } from '../components/common.tsx';
import { FieldError, type FieldProblem, type FieldWords, invalidAttributes } from '../components/field-errors.tsx';
import { Layout } from '../components/layout.tsx';
import type { PageContext } from '../context.ts';
import { formatDateTime } from '../format.ts';

/** How the form that adds a user speaks of its fields. */
export const ADD_USER_WORDS: Record<string, FieldWords> = {
  email: {
    label: 'E-mail',
    missing: 'Enter the e-mail address of the person to add',
    invalid: 'Enter an e-mail address such as ann@example.com',
  },
  role: { label: 'Role' },
};

/** A secret shown this once (a sign-in link, an API key), with a button that copies it. */
export function ShownOnce(props: { id: string; label: string; value: string; children?: ComponentChildren }) {
  return (
    <div class="notice notice-success shown-once" role="status">
      {props.children}
      <label for={props.id}>{props.label}</label>
      <div class="copy-row">
        <input id={props.id} type="text" readonly value={props.value} spellcheck={false} autocomplete="off" />
        <button type="button" class="secondary" data-copy={`#${props.id}`}>
          Copy
        </button>
      </div>
      <p>
        <strong>It is shown only now.</strong> Copy it before you leave this page; it cannot be shown again.
      </p>
    </div>
  );
}

function statusOf(m: Member): string {
  if (m.disabled) return 'Disabled';
  return m.hasPassword ? 'Active' : 'Invited (no password yet)';
}

/** The users of the entity with their actions, and the form that adds one: what htmx swaps after each change. */
export function UsersRegion(props: {
  ctx: PageContext;
  members: Member[];
  /** Existing accounts invited, not yet accepted: they have no access until they accept. */
  invitations: Invitation[];
  notice?: ComponentChildren;
  addProblems?: FieldProblem[];
  addValues?: { email?: string; role?: string };
}) {
  const { ctx, members } = props;
  const me = ctx.viewer.user?.id;
  const target = { 'hx-target': '#users-region', 'hx-swap': 'outerHTML' };
  const emailProblem = props.addProblems?.find((p) => p.field === 'email');
  const roleProblem = props.addProblems?.find((p) => p.field === 'role');
  const formProblems = props.addProblems?.filter((p) => p.field === '') ?? [];
  return (
    <section id="users-region" aria-labelledby="users-title" class="card">
      <h2 id="users-title">Users</h2>
      <div aria-live="polite">{props.notice}</div>
      {members.length + props.invitations.length === 0 ? (
        <Empty>No users yet: add one below.</Empty>
      ) : (
        <div class="table-scroll">
          <table class="stack users">
            <thead>
              <tr>
                <th scope="col">E-mail</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Last sign-in</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {members.map((m) => (
                <tr>
                  <td data-label="E-mail">
                    {m.email}
                    {m.id === me ? ' (you)' : ''}
                  </td>
                  <td data-label="Role">
                    <form class="inline-form" hx-post={`/settings/users/${m.id}`} {...target}>
                      <label for={`role-${m.id}`} class="visually-hidden">
                        Role of {m.email}
                      </label>
                      <select id={`role-${m.id}`} name="role">
                        {[...ROLES].reverse().map((r) => (
                          <option value={r} selected={r === m.role}>
                            {r}
                          </option>
                        ))}
                      </select>
                      <button type="submit" class="secondary outline">
                        Change role<span class="visually-hidden"> of {m.email}</span>
                      </button>
                    </form>
                  </td>
                  <td data-label="Status">{statusOf(m)}</td>
                  <td data-label="Last sign-in">
                    {m.lastSignInAt ? (
                      <time dateTime={m.lastSignInAt}>{formatDateTime(m.lastSignInAt, ctx.locale)}</time>
                    ) : (
                      'Never'
                    )}
                  </td>
                  <td data-label="Actions">
                    <div class="action-row">
                      <form class="inline-form" hx-post={`/settings/users/${m.id}`} {...target}>
                        <input type="hidden" name="disabled" value={m.disabled ? 'false' : 'true'} />
                        <button type="submit" class="secondary outline">
                          {m.disabled ? 'Enable' : 'Disable'}
                          <span class="visually-hidden"> {m.email}</span>
                        </button>
                      </form>
                      {!m.hasPassword && !m.disabled ? (
                        <form class="inline-form" hx-post={`/settings/users/${m.id}/sign-in-link`} {...target}>
                          <button type="submit" class="secondary outline">
                            New sign-in link<span class="visually-hidden"> for {m.email}</span>
                          </button>
                        </form>
                      ) : null}
                    </div>
                  </td>
                </tr>
              ))}
              {props.invitations.map((i) => (
                <tr>
                  <td data-label="E-mail">{i.email}</td>
                  <td data-label="Role">{i.role}</td>
                  <td data-label="Status">
                    Invited, not yet accepted (until{' '}
                    <time dateTime={i.expiresAt}>{formatDateTime(i.expiresAt, ctx.locale)}</time>)
                  </td>
                  <td data-label="Last sign-in">Never</td>
                  <td data-label="Actions">
                    <form class="inline-form" hx-post={`/settings/users/${i.userId}/sign-in-link`} {...target}>
                      <button type="submit" class="secondary outline">
                        New invitation link<span class="visually-hidden"> for {i.email}</span>
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form class="add-user" hx-post="/settings/users" {...target}>
        <h3>Add a user</h3>
        {formProblems.length ? (
          <div class="notice notice-error" role="alert">
            <strong>The user was not added. </strong>
            {formProblems.map((p) => p.message).join('; ')}
          </div>
        ) : null}
        <div class="grid">
          <div>
            <label for="new-email">E-mail</label>
            <input
              id="new-email"
              name="email"
              type="email"
              required
              autocomplete="off"
              value={props.addValues?.email ?? ''}
              {...invalidAttributes('new-email-error', emailProblem)}
            />
            <FieldError id="new-email-error" problem={emailProblem} />
          </div>
          <div>
            <label for="new-role">Role</label>
            <select id="new-role" name="role" {...invalidAttributes('new-role-error', roleProblem, 'new-role-help')}>
              {[...ROLES].reverse().map((r) => (
                <option value={r} selected={r === (props.addValues?.role ?? 'viewer')}>
                  {r}
                </option>
              ))}
            </select>
            <small id="new-role-help">
              Owner: users, connections, settings. Accountant: post, allocate, fix exceptions, run pipelines. Viewer:
              read only.
            </small>
            <FieldError id="new-role-error" problem={roleProblem} />
          </div>
        </div>
        <button type="submit">Add user</button>
        <p class="help">
          A new user gets a one-time link (valid 24 hours) to choose a password; it is shown here once. An e-mail that
          already has an account (in another entity, say) is invited instead: its link (valid 7 days) lets its person
          join by accepting with their own password, and gives no access until then. Where an OIDC provider is
          configured, a user whose e-mail it verifies can sign in there instead.
        </p>
      </form>
    </section>
  );
}

/** How the settings form speaks of its fields: by their labels. */
export function settingsWords(): Record<string, FieldWords> {
  return Object.fromEntries(SETTINGS_FIELDS.flatMap((g) => g.fields.map((f) => [f.name, { label: f.label }])));
}

/** The form's fields: name (as the API's body path), label, help, and kind. */
interface FieldSpec {
  name: string;
  label: string;
  help: string;
  kind: 'text' | 'date' | 'select';
  choices?: { value: string; label: string }[];
  max?: number;
}

export const SETTINGS_FIELDS: { legend: string; fields: FieldSpec[] }[] = [
  {
    legend: 'Books',
    fields: [
      {
        name: 'lockDate',
        label: 'Books locked up to',
        kind: 'date',
        help: 'Nothing can be posted, allocated or reversed on or before this date. Leave empty to lock no period.',
      },
    ],
  },
  {
    legend: 'Tax',
    fields: [
      {
        name: 'discountVatTreatment',
        label: 'Settlement discounts',
        kind: 'select',
        choices: [
          { value: 'gross', label: 'Whole to discount allowed (gross)' },
          { value: 'adjustVat', label: 'Split into net and VAT (adjust VAT)' },
        ],
        help: 'Whether a settlement discount reduces output VAT in the proportions of the invoice.',
      },
      {
        name: 'vatTolerance',
        label: 'VAT tolerance per line',
        kind: 'text',
        max: 30,
        help: 'How far a supplied tax amount may differ from net × rate, in units of the currency, before a warning (e.g. 1 or 0.05).',
      },
      {
        name: 'taxCalculation',
        label: 'Tax on item documents',
        kind: 'select',
        choices: [
          { value: 'perLine', label: 'Rounded per line' },
          { value: 'perDocument', label: 'Rounded once per rate and document' },
        ],
        help: 'How the tax of item invoices and credit notes is computed.',
      },
      {
        name: 'taxRounding',
        label: 'Rounding at the half',
        kind: 'select',
        choices: [
          { value: 'halfUp', label: 'Half up (away from zero)' },
          { value: 'halfEven', label: 'Half even (banker’s rounding)' },
        ],
        help: 'How computed nets and taxes round at exactly half a cent.',
      },
    ],
  },
  {
    legend: 'Exchange rates',
    fields: [
      {
        name: 'exchangeRateTolerance',
        label: 'Plausible band',
        kind: 'text',
        max: 30,
        help: 'How far a document’s exchange rate may differ from the last known rate, as a fraction (0.5 = ±50 %), before it must be confirmed.',
      },
    ],
  },
  {
    legend: 'On the PDFs',
    fields: [
      {
        name: 'branding.companyName',
        label: 'Company name',
        kind: 'text',
        max: 200,
        help: 'Empty: the entity’s name.',
      },
      { name: 'branding.vatNumber', label: 'VAT number', kind: 'text', max: 50, help: 'Empty: the entity’s.' },
      {
        name: 'branding.address.street',
        label: 'Street',
        kind: 'text',
        max: 200,
        help: 'Empty address: the entity’s.',
      },
      { name: 'branding.address.postalCode', label: 'Postal code', kind: 'text', max: 20, help: '' },
      { name: 'branding.address.city', label: 'City', kind: 'text', max: 100, help: '' },
      { name: 'branding.address.country', label: 'Country', kind: 'text', max: 100, help: '' },
      { name: 'branding.bankName', label: 'Bank', kind: 'text', max: 100, help: 'Printed with the payment details.' },
      { name: 'branding.bankAccountName', label: 'Account name', kind: 'text', max: 100, help: '' },
      {
        name: 'branding.iban',
        label: 'IBAN',
        kind: 'text',
        max: 50,
        help: 'Spaces are allowed; the check digits are checked.',
      },
      { name: 'branding.bic', label: 'BIC', kind: 'text', max: 20, help: '8 or 11 characters.' },
      {
        name: 'branding.footer',
        label: 'Footer',
        kind: 'text',
        max: 500,
        help: 'A line at the foot of every page (registration, terms).',
      },
    ],
  },
];

/** The settings as the form's flat field values ("" for none). */
export function settingsValues(s: AllSettings): Record<string, string> {
  const b = s.branding;
  return {
    lockDate: s.lockDate ?? '',
    discountVatTreatment: s.discountVatTreatment,
    vatTolerance: s.vatTolerance,
    taxCalculation: s.taxCalculation,
    taxRounding: s.taxRounding,
    exchangeRateTolerance: s.exchangeRateTolerance,
    'branding.companyName': b.companyName ?? '',
    'branding.vatNumber': b.vatNumber ?? '',
    'branding.address.street': b.address?.street ?? '',
    'branding.address.postalCode': b.address?.postalCode ?? '',
    'branding.address.city': b.address?.city ?? '',
    'branding.address.country': b.address?.country ?? '',
    'branding.bankName': b.bankName ?? '',
    'branding.bankAccountName': b.bankAccountName ?? '',
    'branding.iban': b.iban ?? '',
    'branding.bic': b.bic ?? '',
    'branding.footer': b.footer ?? '',
  };
}

const fieldId = (name: string) => `setting-${name.replace(/\./g, '-')}`;

/**
 * The entity's settings: each field carries the value it was shown with (`was.<name>`), so that a
 * save sends only what the person changed and leaves a concurrent change to another field alone.
 */
export function SettingsForm(props: {
  values: Record<string, string>;
  was: Record<string, string>;
  problems?: FieldProblem[];
  notice?: ComponentChildren;
}) {
  const problemOf = (name: string) =>
    props.problems?.find(
      (p) => p.field === name || (name.startsWith('branding.address.') && p.field === 'branding.address'),
    );
  const placed = new Set(SETTINGS_FIELDS.flatMap((g) => g.fields.map((f) => problemOf(f.name))));
  const unplaced = props.problems?.filter((p) => !placed.has(p));
  const marked = (props.problems?.length ?? 0) - (unplaced?.length ?? 0);
  return (
    <form id="settings-form" class="card settings-form" hx-post="/settings/entity" hx-target="this" hx-swap="outerHTML">
      <h2>Entity settings</h2>
      <div aria-live="polite">
        {props.notice}
        {props.problems?.length ? (
          <div class="notice notice-error" role="alert">
            <strong>Nothing was saved.</strong>
            {marked > 0
              ? marked === 1
                ? ' Correct the field marked below.'
                : ` Correct the ${marked} fields marked below.`
              : null}
            {unplaced?.length ? (
              <ul>
                {unplaced.map((p) => (
                  <li>
                    <WithCode text={p.message} />
                    {p.code ? <span class="code"> ({p.code})</span> : null}
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : null}
      </div>
      {SETTINGS_FIELDS.map((group) => (
        <fieldset>
          <legend>{group.legend}</legend>
          {group.fields.map((f) => {
            const id = fieldId(f.name);
            const problem = problemOf(f.name);
            const common = {
              id,
              name: f.name,
              ...invalidAttributes(`${id}-error`, problem, f.help ? `${id}-help` : undefined),
            };
            const value = props.values[f.name] ?? '';
            return (
              <div class="field">
                <label for={id}>{f.label}</label>
                {f.kind === 'select' ? (
                  <select {...common}>
                    {f.choices!.map((c) => (
                      <option value={c.value} selected={c.value === value}>
                        {c.label}
                      </option>
                    ))}
                  </select>
                ) : (
                  <input {...common} type={f.kind} value={value} maxLength={f.max} autocomplete="off" />
                )}
                <input type="hidden" name={`was.${f.name}`} value={props.was[f.name] ?? ''} />
                {f.help ? <small id={`${id}-help`}>{f.help}</small> : null}
                <FieldError id={`${id}-error`} problem={problem} />
              </div>
            );
          })}
        </fieldset>
      ))}
      <p class="help">
        The logo is set through the API: <code>PUT /v1/settings</code> with <code>branding.logo</code>.
      </p>
      <button type="submit">Save changes</button>
    </form>
  );
}

/** GET /settings: users and the entity's settings (owners only). */
export function SettingsPage(props: {
  ctx: PageContext;
  members: Member[];
  invitations: Invitation[];
  settings: AllSettings;
}) {
  const values = settingsValues(props.settings);
  return (
    <Layout ctx={props.ctx} title="Settings" section="settings">
      <h1>Settings</h1>
      <p>
        Users of {props.ctx.viewer.entity.name} and the entity’s settings. Your own API keys are under{' '}
        <a href="/settings/api-keys">Your API keys</a>.
      </p>
      <UsersRegion ctx={props.ctx} members={props.members} invitations={props.invitations} />
      <SettingsForm values={values} was={values} />
    </Layout>
  );
}
