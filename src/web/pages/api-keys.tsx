import type { ComponentChildren } from 'preact';
import type { ApiKeyInfo } from '../../ledger/user-sessions.ts';
import { ROLES, roleAtLeast } from '../../domain/roles.ts';
import { Empty } from '../components/common.tsx';
import { FieldError, type FieldProblem, type FieldWords, invalidAttributes } from '../components/field-errors.tsx';
import { Layout } from '../components/layout.tsx';
import type { PageContext } from '../context.ts';
import { formatDateTime } from '../format.ts';

/** How the form that creates a key speaks of its fields. */
export const API_KEY_WORDS: Record<string, FieldWords> = {
  name: { label: 'Name', missing: 'Give the key a name' },
  role: { label: 'Role' },
};

/** The viewer's keys and the form that creates one: what htmx swaps after a create or a revoke. */
export function ApiKeysRegion(props: {
  ctx: PageContext;
  keys: ApiKeyInfo[];
  notice?: ComponentChildren;
  /** Why the key asked for was not created, beside the fields, with what was typed in them. */
  problems?: FieldProblem[] | undefined;
  values?: { name: string; role: string } | undefined;
}) {
  const { ctx, keys } = props;
  const nameProblem = props.problems?.find((p) => p.field === 'name');
  const roleProblem = props.problems?.find((p) => p.field === 'role');
  const formProblems = props.problems?.filter((p) => p.field === '') ?? [];
  const chosenRole = props.values?.role ?? ctx.viewer.role;
  const when = (iso: string | null, none: string) =>
    iso ? <time dateTime={iso}>{formatDateTime(iso, ctx.locale)}</time> : none;
  const target = { 'hx-target': '#api-keys-region', 'hx-swap': 'outerHTML' };
  const roles = [...ROLES].reverse().filter((r) => roleAtLeast(ctx.viewer.role, r));
  return (
    <div id="api-keys-region">
      <div aria-live="polite">{props.notice}</div>
      <section aria-labelledby="keys-title" class="card">
        <h2 id="keys-title">Keys</h2>
        {keys.length === 0 ? (
          <Empty>You have no API keys in {ctx.viewer.entity.name}. Create one below for a script.</Empty>
        ) : (
          <div class="table-scroll">
            <table class="stack">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {keys.map((k) => (
                  <tr>
                    <td data-label="Name">{k.name}</td>
                    <td data-label="Role">{k.role}</td>
                    <td data-label="Created">{when(k.createdAt, '')}</td>
                    <td data-label="Last used">{when(k.lastUsedAt, 'Never')}</td>
                    <td data-label="Status">{k.revokedAt ? <>Revoked {when(k.revokedAt, '')}</> : 'Active'}</td>
                    <td data-label="Actions">
                      {k.revokedAt ? null : (
                        <form
                          class="inline-form"
                          hx-post={`/settings/api-keys/${k.id}/revoke`}
                          hx-confirm={`Revoke the key “${k.name}”? Scripts that use it are refused from then on; this cannot be undone.`}
                          {...target}
                        >
                          <button type="submit" class="secondary outline">
                            Revoke<span class="visually-hidden"> {k.name}</span>
                          </button>
                        </form>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <form class="card" hx-post="/settings/api-keys" {...target}>
        <h2>Create a key</h2>
        {formProblems.length ? (
          <div class="notice notice-error" role="alert">
            <strong>No key was created. </strong>
            {formProblems.map((p) => p.message).join('; ')}
          </div>
        ) : null}
        <div class="grid">
          <div>
            <label for="key-name">Name</label>
            <input
              id="key-name"
              name="name"
              required
              value={props.values?.name}
              {...invalidAttributes('key-name-error', nameProblem, 'key-name-help')}
            />
            <small id="key-name-help">What the key is for, e.g. “nightly export”.</small>
            <FieldError id="key-name-error" problem={nameProblem} />
          </div>
          <div>
            <label for="key-role">Role</label>
            <select id="key-role" name="role" {...invalidAttributes('key-role-error', roleProblem, 'key-role-help')}>
              {roles.map((r) => (
                <option value={r} selected={r === chosenRole}>
                  {r}
                </option>
              ))}
            </select>
            <small id="key-role-help">At most your own role; the key never acts above your current role.</small>
            <FieldError id="key-role-error" problem={roleProblem} />
          </div>
        </div>
        <button type="submit">Create key</button>
      </form>
    </div>
  );
}

/** GET /settings/api-keys: the signed-in user's keys in this entity, for every role. */
export function ApiKeysPage(props: { ctx: PageContext; keys: ApiKeyInfo[] }) {
  return (
    <Layout ctx={props.ctx} title="Your API keys" section={null}>
      <h1>Your API keys</h1>
      <p>
        Keys let scripts act as you in {props.ctx.viewer.entity.name}: send one as{' '}
        <code>Authorization: Bearer llk_…</code>. A key is shown once, when it is created; only a hash of it is kept.
      </p>
      <ApiKeysRegion ctx={props.ctx} keys={props.keys} />
    </Layout>
  );
}
