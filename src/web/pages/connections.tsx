import type { ComponentChildren } from 'preact';
import type { Queryable } from '../../db/database.ts';
import type { SideTest, ConnectionTest } from '../../sync/connection-test.ts';
import { type Pipeline, listPipelines, publicPipeline } from '../../sync/pipelines.ts';
import { sourceSettings, targetDefinition, targetSettings } from '../../sync/registry.ts';
import { readConnection } from '../../sync/remote/oauth-store.ts';
import { type ScopeBudget, pipelineRateScopes, rateBudget } from '../../sync/remote/rate-budget.ts';
import { REDACTED, UNREADABLE, type SecretBox, valueAt } from '../../sync/secrets.ts';
import { roleAtLeast } from '../../domain/roles.ts';
import { Empty } from '../components/common.tsx';
import { Layout } from '../components/layout.tsx';
import type { PageContext } from '../context.ts';
import { formatAgo, formatCount, formatDateTime } from '../format.ts';

/** One setting as shown: a secret reads only whether it is set. */
interface SettingRow {
  key: string;
  value: string;
  secret: boolean;
}

/** The OAuth connection of a pipeline whose target connects through OAuth: never a token. */
export interface ConnectionState {
  status: 'connected' | 'revoked' | 'not-connected';
  origin: 'oauth' | 'settings' | null;
  tenantId: string | null;
  tenantName: string | null;
  connectedAt: string | null;
  refreshedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  revokedReason: string | null;
  /** Why the last refresh failed while the grant stands (the platform down); null once one succeeds. */
  lastRefreshError: string | null;
  lastRefreshErrorAt: string | null;
}

export interface PipelineConnections {
  pipeline: Pipeline;
  source: { type: string; settings: SettingRow[] };
  target: { type: string; settings: SettingRow[] };
  /** Null when the target does not connect through OAuth, or the viewer may not read it. */
  oauth: ConnectionState | null;
  /** Null when the viewer may not read it. */
  budget: ScopeBudget[] | null;
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/**
 * A connector's settings as rows, from the pipeline as the API shows it (secrets already `[secret]`):
 * each declared secret says set, not set or unreadable; nested settings read as dotted keys.
 */
function settingRows(shown: Record<string, unknown>, secrets: readonly string[]): SettingRow[] {
  const rows: SettingRow[] = [];
  const walk = (value: unknown, key: string) => {
    if (value === REDACTED) rows.push({ key, value: 'set', secret: true });
    else if (value === UNREADABLE)
      rows.push({ key, value: 'unreadable: stored with another encryption key, enter it again', secret: true });
    else if (value !== null && typeof value === 'object' && !Array.isArray(value))
      for (const [k, v] of Object.entries(value)) walk(v, key ? `${key}.${k}` : k);
    else if (Array.isArray(value))
      rows.push({
        key,
        value: value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', '),
        secret: false,
      });
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      rows.push({ key, value: String(value), secret: false });
    else if (value !== undefined) rows.push({ key, value: JSON.stringify(value), secret: false });
  };
  const { type: _type, ...rest } = shown;
  walk(rest, '');
  // A declared secret the settings do not hold reads "not set" (a refresh token left to the OAuth flow).
  for (const path of secrets)
    if (!path.includes('*') && valueAt(rest, path) === undefined)
      rows.push({ key: path, value: 'not set', secret: true });
  return rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** A pipeline's OAuth connection as people see it (the tokens stay in the database). */
export async function loadConnectionState(db: Queryable, p: Pipeline): Promise<ConnectionState> {
  const row = await readConnection(db, p.id);
  return {
    status: !row ? 'not-connected' : row.status === 'active' ? 'connected' : 'revoked',
    origin: row?.origin ?? null,
    tenantId: row?.tenant_id ?? null,
    tenantName: row?.tenant_name ?? null,
    connectedAt: iso(row?.connected_at),
    refreshedAt: iso(row?.refreshed_at),
    expiresAt: iso(row?.expires_at),
    revokedAt: iso(row?.revoked_at),
    revokedReason: row?.revoked_reason ?? null,
    lastRefreshError: row?.last_refresh_error ?? null,
    lastRefreshErrorAt: iso(row?.last_refresh_error_at),
  };
}

/**
 * Every pipeline of the entity with its sides' settings (what GET /v1/pipelines shows every role) and,
 * with `connection`, its OAuth connection and its tenant's rate budget (what GET /v1/connections/{pipeline}
 * shows owners only; the budget names the tenant the connection found).
 */
export async function loadConnections(
  db: Queryable,
  box: SecretBox,
  entityId: string,
  options: { connection: boolean },
): Promise<PipelineConnections[]> {
  const pipelines = await listPipelines(db, box, entityId);
  return Promise.all(
    pipelines.map(async (p): Promise<PipelineConnections> => {
      const shown = publicPipeline(p);
      let oauth: ConnectionState | null = null;
      let hasOAuth = false;
      try {
        hasOAuth = targetDefinition(p.targetType).oauth !== undefined;
      } catch {
        // a type this build does not have: its settings are still shown
      }
      if (hasOAuth && options.connection) oauth = await loadConnectionState(db, p);
      const webhookSecret: SettingRow[] =
        p.sourceType === 'webhook' || shown.hasWebhookSecret
          ? [{ key: 'webhookSecret', value: shown.hasWebhookSecret ? 'set' : 'not set', secret: true }]
          : [];
      return {
        pipeline: p,
        source: {
          type: p.sourceType,
          settings: [...settingRows(shown.source, sourceSettings(p.sourceType)?.secrets ?? []), ...webhookSecret],
        },
        target: {
          type: p.targetType,
          settings: settingRows(shown.target, targetSettings(p.targetType)?.secrets ?? []),
        },
        oauth,
        budget: options.connection ? await rateBudget(db, await pipelineRateScopes(db, p)) : null,
      };
    }),
  );
}

export const testSlotId = (pipeline: string) => `test-${pipeline}`;

function Settings(props: { title: string; id: string; type: string; rows: SettingRow[] }) {
  return (
    <div>
      <h3 id={props.id}>
        {props.title}: <code>{props.type}</code>
      </h3>
      {props.rows.length === 0 ? (
        <p class="muted">No settings.</p>
      ) : (
        <dl class="settings" aria-labelledby={props.id}>
          {props.rows.map((r) => (
            <div>
              <dt>
                <code>{r.key}</code>
              </dt>
              <dd class={r.secret ? 'secret' : undefined}>
                {r.secret ? <span class="muted">secret, </span> : null}
                {r.value}
              </dd>
            </div>
          ))}
        </dl>
      )}
    </div>
  );
}

const STATUS_WORDS: Record<ConnectionState['status'], string> = {
  connected: 'Connected',
  revoked: 'Revoked',
  'not-connected': 'Not connected',
};

/** A pipeline's OAuth connection with Connect and Disconnect for owners: what htmx swaps after a disconnect. */
export function OAuthState(props: {
  ctx: PageContext;
  name: string;
  oauth: ConnectionState;
  notice?: ComponentChildren;
}) {
  const { ctx, name, oauth } = props;
  const { locale, now } = ctx;
  const owner = roleAtLeast(ctx.viewer.role, 'owner');
  const when = (v: string | null) =>
    v ? (
      <>
        <time dateTime={v}>{formatDateTime(v, locale)}</time> ({formatAgo(v, now, locale)})
      </>
    ) : (
      '—'
    );
  const badge = oauth.status === 'connected' ? 'succeeded' : oauth.status === 'revoked' ? 'failed' : 'skipped';
  return (
    <div class="oauth" id={`oauth-${name}`}>
      <h3>OAuth connection</h3>
      {props.notice}
      <p>
        <span class={`badge badge-${badge}`}>{STATUS_WORDS[oauth.status]}</span>
        {oauth.origin === 'settings' ? <span class="muted"> (from the refresh token in the settings)</span> : null}
      </p>
      <dl class="facts">
        <div>
          <dt>Organisation or company</dt>
          <dd>
            {oauth.tenantName ?? '—'}
            {oauth.tenantId ? (
              <>
                {' '}
                <code>{oauth.tenantId}</code>
              </>
            ) : null}
          </dd>
        </div>
        <div>
          <dt>Connected</dt>
          <dd>{when(oauth.connectedAt)}</dd>
        </div>
        <div>
          <dt>Access token runs until</dt>
          <dd>{when(oauth.expiresAt)}</dd>
        </div>
        <div>
          <dt>Last refreshed</dt>
          <dd>{when(oauth.refreshedAt)}</dd>
        </div>
        {oauth.lastRefreshError && oauth.status === 'connected' ? (
          <div>
            <dt>Last refresh error</dt>
            <dd>
              {oauth.lastRefreshError} {oauth.lastRefreshErrorAt ? <>({when(oauth.lastRefreshErrorAt)})</> : null}
            </dd>
          </div>
        ) : null}
        {oauth.revokedReason || oauth.revokedAt ? (
          <div>
            <dt>Why it was revoked</dt>
            <dd>
              {oauth.revokedReason ?? 'revoked'} {oauth.revokedAt ? <>({when(oauth.revokedAt)})</> : null}
            </dd>
          </div>
        ) : null}
      </dl>
      {owner ? (
        <div class="action-row">
          <button
            type="button"
            hx-post={`/connections/${name}/connect`}
            hx-target={`#${testSlotId(name)}`}
            hx-disabled-elt="this"
          >
            {oauth.status === 'connected' ? 'Connect again' : 'Connect'}
          </button>
          {oauth.status === 'connected' ? (
            <button
              type="button"
              class="secondary outline"
              hx-post={`/connections/${name}/disconnect`}
              hx-confirm={`Disconnect ${name}? Its documents are parked (TARGET_AUTH_REVOKED) until it is connected again.`}
              hx-target={`#oauth-${name}`}
              hx-swap="outerHTML"
              hx-disabled-elt="this"
            >
              Disconnect
            </button>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

/** "12 of 60", or just the count when the scope has no such limit. */
function used(n: number, limit: number | undefined, locale: string): string {
  return limit === undefined
    ? `${formatCount(n, locale)} (no limit)`
    : `${formatCount(n, locale)} of ${formatCount(limit, locale)}`;
}

function Budget(props: { ctx: PageContext; name: string; budget: ScopeBudget[]; remote: boolean }) {
  const { locale } = props.ctx;
  const id = `budget-${props.name}`;
  if (props.budget.length === 0)
    return (
      <p class="muted">
        {props.remote
          ? 'Rate budget: shown once the organisation or company is known (connect the pipeline, or name it in the settings).'
          : 'Rate budget: this target makes no paced calls.'}
      </p>
    );
  return (
    <>
      <h3 id={id}>Rate budget in use</h3>
      <p class="muted">Calls the rate planner granted to this organisation or company, every worker included.</p>
      <div class="table-scroll">
        <table class="stack budget" aria-labelledby={id}>
          <thead>
            <tr>
              <th scope="col">Scope</th>
              <th scope="col" class="num">
                Last second
              </th>
              <th scope="col" class="num">
                Last minute
              </th>
              <th scope="col" class="num">
                Last 24 hours
              </th>
              <th scope="col" class="num">
                In flight
              </th>
              <th scope="col">Paused until</th>
            </tr>
          </thead>
          <tbody>
            {props.budget.map((b) => (
              <tr>
                <td data-label="Scope">
                  <code>{b.scope}</code>
                </td>
                <td data-label="Last second" class="num">
                  {used(b.lastSecond, b.limits.callsPerSecond, locale)}
                </td>
                <td data-label="Last minute" class="num">
                  {used(b.lastMinute, b.limits.callsPerMinute, locale)}
                </td>
                <td data-label="Last 24 hours" class="num">
                  {used(b.lastDay, b.limits.callsPerDay, locale)}
                </td>
                <td data-label="In flight" class="num">
                  {used(b.inFlight, b.limits.concurrent, locale)}
                </td>
                <td data-label="Paused until">
                  {b.blockedUntil ? (
                    <strong>
                      <time dateTime={b.blockedUntil}>{formatDateTime(b.blockedUntil, locale)}</time> (the platform
                      asked to wait)
                    </strong>
                  ) : (
                    'Not paused'
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

const OUTCOME: Record<SideTest['outcome'], { icon: string; word: string; badge: string }> = {
  ok: { icon: '✓', word: 'OK', badge: 'succeeded' },
  failed: { icon: '✗', word: 'Failed', badge: 'failed' },
  skipped: { icon: '–', word: 'Nothing to call', badge: 'skipped' },
};

/** The result of a connection test: what htmx swaps into the pipeline's slot. */
export function ConnectionTestResult(props: { result: ConnectionTest }) {
  const { result } = props;
  return (
    <div class={`notice ${result.ok ? 'notice-success' : 'notice-error'}`} role="status">
      <p>
        <strong>
          {result.ok
            ? `Connection test of ${result.pipeline} passed.`
            : `Connection test of ${result.pipeline} failed.`}
        </strong>
      </p>
      <ul class="test-sides">
        {[result.target, result.source].map((s) => {
          const o = OUTCOME[s.outcome];
          return (
            <li>
              <span class={`badge badge-${o.badge}`}>
                <span aria-hidden="true">{o.icon}</span> {o.word}
              </span>{' '}
              {s.side === 'source' ? 'Source' : 'Target'} <code>{s.type}</code>: {s.message}
              {s.code ? (
                <>
                  {' '}
                  <small class="code">
                    ({s.code}
                    {s.reason ? `, ${s.reason}` : ''})
                  </small>
                </>
              ) : null}
              {s.next ? <p class="next">What to do: {s.next}</p> : null}
            </li>
          );
        })}
      </ul>
    </div>
  );
}

export function ConnectionsPage(props: { ctx: PageContext; items: PipelineConnections[] }) {
  const { ctx, items } = props;
  const owner = roleAtLeast(ctx.viewer.role, 'owner');
  return (
    <Layout ctx={ctx} title="Connections" section="connections">
      <h1>Connections</h1>
      <p class="lead">
        Where each pipeline reads from and books into, with its settings. Secrets are never shown: they read “set” or
        “not set”.
        {owner ? '' : ' The OAuth connections, the rate budgets, testing and connecting are for owners.'}
      </p>
      {items.length === 0 ? (
        <Empty>
          No pipelines yet. Add one in ledgerlink.yaml or with <code>PUT /v1/pipelines/{'{name}'}</code>.
        </Empty>
      ) : (
        items.map((c) => {
          const name = c.pipeline.name;
          const titleId = `pipeline-${name}`;
          return (
            <section class="card connection" aria-labelledby={titleId}>
              <h2 id={titleId}>
                {name} {c.pipeline.enabled ? null : <span class="badge badge-skipped">Disabled</span>}
              </h2>
              <div class="grid-2">
                <Settings title="Source" id={`source-${name}`} type={c.source.type} rows={c.source.settings} />
                <div>
                  <Settings title="Target" id={`target-${name}`} type={c.target.type} rows={c.target.settings} />
                  {c.oauth ? <OAuthState ctx={ctx} name={name} oauth={c.oauth} /> : null}
                </div>
              </div>
              {c.budget !== null ? <Budget ctx={ctx} name={name} budget={c.budget} remote={c.oauth !== null} /> : null}
              {owner ? (
                <div class="action-row">
                  <button
                    type="button"
                    class="secondary"
                    hx-post={`/connections/${name}/test`}
                    hx-target={`#${testSlotId(name)}`}
                    hx-disabled-elt="this"
                    aria-describedby={titleId}
                  >
                    Test connection
                  </button>
                </div>
              ) : null}
              <div id={testSlotId(name)} class="progress-slot" aria-live="polite"></div>
            </section>
          );
        })
      )}
    </Layout>
  );
}
