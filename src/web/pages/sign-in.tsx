import {
  type FieldProblem,
  type FieldWords,
  fieldWordAttributes,
  invalidAttributes,
} from '../components/field-errors.tsx';
import { Document } from '../components/layout.tsx';

/** How the sign-in form speaks of its fields, on the server and in /assets/app.js. */
export const SIGN_IN_WORDS: Record<string, FieldWords> = {
  email: {
    label: 'Email',
    missing: 'Enter your e-mail address',
    invalid: 'Enter an e-mail address such as ann@example.com',
  },
  password: { label: 'Password', missing: 'Enter your password' },
};

/** How the set-password form speaks of its field. */
export const SET_PASSWORD_WORDS: Record<string, FieldWords> = {
  password: { label: 'New password', missing: 'Enter the new password you want' },
};

/**
 * A field of the forms /assets/app.js sends: its problem beside it (empty and hidden until there
 * is one; app.js fills it from the API's refusal), named by `data-error` after the field; the
 * form's own message box is `data-error="form"`.
 */
function FieldErrorSlot(props: { id: string; field: string; problem: FieldProblem | undefined }) {
  return (
    <small id={props.id} class="field-error" data-error={props.field} hidden={!props.problem}>
      {props.problem?.message}
      {props.problem?.code ? ` (${props.problem.code})` : null}
    </small>
  );
}

/** A page of its own for signing in: no navigation, one form. */
function Plain(props: {
  lang: string;
  title: string;
  refresh?: string;
  referrer?: 'no-referrer';
  children: preact.ComponentChildren;
}) {
  return (
    <Document lang={props.lang} title={props.title} refresh={props.refresh} referrer={props.referrer}>
      <body>
        <main id="main" class="container narrow">
          <p class="brand-name">ledgerlink</p>
          {props.children}
        </main>
      </body>
    </Document>
  );
}

/** A next URL kept only when it is a path of this site (never another origin). */
export function safeNext(next: unknown): string {
  // A path of this server, written as a URL is (printable ASCII, anything else %-escaped): a control
  // or other character could not go into the Location header at all.
  return typeof next === 'string' && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) && !next.startsWith('/sign-in')
    ? next
    : '/';
}

/**
 * The sign-in form. /assets/app.js posts it as JSON to POST /v1/auth/sign-in (the cookie comes
 * back from there) and shows the error it answers, throttling included, in the alert below.
 * Without JavaScript (or before app.js has loaded) the browser posts it to POST /sign-in, which
 * signs in the same way and answers this page again with the error, or goes on to `next`.
 * An entity chosen in the link (`/sign-in?entity=CODE`) goes with both ways of signing in.
 */
export function SignInPage(props: {
  lang: string;
  next: string;
  /** The entity to open, as `entityCode` of the sign-in; else the user's first by code. */
  entity?: string | undefined;
  notice?: string | undefined;
  /** The e-mail address a refused sign-in was tried with, to try again without typing it. */
  email?: string | undefined;
  /** The OIDC provider's button, when one is configured. */
  oidcLabel?: string | null | undefined;
  /** Why a sign-in through the provider was refused. */
  error?: { code: string; message: string } | undefined;
  /** The fields refused, in words, beside them (a form posted without JavaScript). */
  problems?: FieldProblem[] | undefined;
  /** Just signed out: said so above the form. */
  signedOut?: boolean | undefined;
}) {
  const problem = (field: string) => props.problems?.find((p) => p.field === field);
  const email = problem('email');
  const password = problem('password');
  const general = props.problems?.filter((p) => p.field === '') ?? [];
  return (
    <Plain lang={props.lang} title="Sign in">
      <article class="sign-in">
        <h1>Sign in</h1>
        {props.entity ? (
          <p class="muted">
            To entity <code>{props.entity}</code>.
          </p>
        ) : null}
        {props.signedOut ? (
          <p class="notice notice-success" role="status">
            You are signed out. Sign in again to go on.
          </p>
        ) : null}
        {props.notice ? (
          <p class="notice notice-success" role="status">
            {props.notice}
          </p>
        ) : null}
        {props.error ? (
          <div class="notice notice-error" role="alert">
            <strong>Could not sign you in. </strong>
            {props.error.message} <small class="code">({props.error.code})</small>
          </div>
        ) : null}
        {general.length ? (
          <div class="notice notice-error" role="alert">
            <strong>Could not sign you in. </strong>
            {general.map((p) => p.message).join('; ')}
          </div>
        ) : null}
        <form
          data-api="/v1/auth/sign-in"
          data-next={props.next}
          method="post"
          action={props.next === '/' ? '/sign-in' : `/sign-in?next=${encodeURIComponent(props.next)}`}
          novalidate
        >
          <label for="email">Email</label>
          <input
            id="email"
            name="email"
            type="email"
            autocomplete="username"
            value={props.email}
            required
            autofocus={!password || !!email}
            {...fieldWordAttributes(SIGN_IN_WORDS.email!)}
            {...invalidAttributes('email-error', email)}
          />
          <FieldErrorSlot id="email-error" field="email" problem={email} />
          <label for="password">Password</label>
          <input
            id="password"
            name="password"
            type="password"
            autocomplete="current-password"
            required
            autofocus={!!password && !email}
            {...fieldWordAttributes(SIGN_IN_WORDS.password!)}
            {...invalidAttributes('password-error', password)}
          />
          <FieldErrorSlot id="password-error" field="password" problem={password} />
          {props.entity ? <input type="hidden" name="entityCode" value={props.entity} /> : null}
          <p class="form-error" role="alert" data-error="form"></p>
          <button type="submit">Sign in</button>
        </form>
        {props.oidcLabel ? (
          <p class="oidc-sign-in">
            <a role="button" class="secondary" href={oidcHref(props.next, props.entity)}>
              Sign in with {props.oidcLabel}
            </a>
          </p>
        ) : null}
        <p class="muted">
          No account yet? An owner of your entity adds you (or, on the server: <code>ledgerlink user create</code>) and
          gives you a one-time link to set your password.
        </p>
      </article>
    </Plain>
  );
}

/** The provider's button: the same next page and entity as the form. */
function oidcHref(next: string, entity: string | undefined): string {
  const q = new URLSearchParams({ next });
  if (entity) q.set('entity', entity);
  return `/sign-in/oidc?${q.toString()}`;
}

/** The page of a one-time sign-in link: choose a password, then sign in with it. */
export function SetPasswordPage(props: {
  lang: string;
  token: string | null;
  /** Why the password posted without JavaScript was refused (POST /sign-in/set-password). */
  error?: { code: string; message: string } | undefined;
  /** The password refused, in words, beside its field. */
  problem?: FieldProblem | undefined;
  /** The link cannot set a password (used, expired, unknown): said instead of the form. */
  unusable?: string | undefined;
}) {
  const problem = props.problem;
  return (
    // The page's URL holds the link's token: no request it makes may carry it as a referrer.
    <Plain lang={props.lang} title="Set your password" referrer="no-referrer">
      <article class="sign-in">
        <h1>Set your password</h1>
        {props.unusable ? (
          <>
            <p class="notice notice-error" role="alert">
              {props.unusable} <small class="code">(SIGN_IN_LINK_INVALID)</small>
            </p>
            <p>
              Already set your password with it? <a href="/sign-in">Sign in</a>.
            </p>
          </>
        ) : props.error ? (
          <div class="notice notice-error" role="alert">
            <strong>Your password was not set. </strong>
            {props.error.message} <small class="code">({props.error.code})</small>
          </div>
        ) : null}
        {props.token ? (
          <form
            data-api="/v1/auth/set-password"
            data-next="/sign-in?password=set"
            method="post"
            action="/sign-in/set-password"
            novalidate
          >
            <input type="hidden" name="token" value={props.token} />
            <label for="password">New password</label>
            <input
              id="password"
              name="password"
              type="password"
              autocomplete="new-password"
              minLength={12}
              required
              autofocus
              {...fieldWordAttributes(SET_PASSWORD_WORDS.password!)}
              {...invalidAttributes('password-error', problem, 'password-help')}
            />
            <small id="password-help">At least 12 characters; not your email address and not a common password.</small>
            <FieldErrorSlot id="password-error" field="password" problem={problem} />
            <p class="form-error" role="alert" data-error="form"></p>
            <button type="submit">Set password</button>
          </form>
        ) : props.error || props.unusable ? null : (
          <p class="notice notice-error" role="alert">
            This link has no token. Open the whole link you were given, or ask an owner for a new one.
          </p>
        )}
      </article>
    </Plain>
  );
}

export const ACCEPT_WORDS: Record<string, FieldWords> = {
  password: { label: 'Password', missing: 'Enter the password of your account' },
};

/** What an invitation link shows: who is asked to join which entity, with which role. */
export interface InvitationView {
  token: string;
  email: string;
  entityCode: string;
  entityName: string;
  role: string;
  hasPassword: boolean;
  /** The CSRF token of a browser session of the invited account itself: it accepts without the password. */
  sessionCsrf: string | null;
}

/**
 * GET /sign-in/accept: an invitation of an existing account to join an entity. Its person accepts
 * with the account's own password (or from a session of that account), never by the link alone:
 * whoever holds the link (the owner who invited) cannot join the account in by themselves.
 */
export function AcceptInvitationPage(props: {
  lang: string;
  invitation: InvitationView | null;
  /** The link cannot be accepted (used, replaced, expired, unknown): said instead of the form. */
  unusable?: string | undefined;
  error?: { code: string; message: string } | undefined;
  problem?: FieldProblem | undefined;
}) {
  const i = props.invitation;
  const problem = props.problem;
  return (
    <Plain lang={props.lang} title="Accept an invitation" referrer="no-referrer">
      <article class="sign-in">
        <h1>Accept an invitation</h1>
        {props.unusable ? (
          <p class="notice notice-error" role="alert">
            {props.unusable} <small class="code">(SIGN_IN_LINK_INVALID)</small>
          </p>
        ) : props.error ? (
          <div class="notice notice-error" role="alert">
            <strong>You have not joined. </strong>
            {props.error.message} <small class="code">({props.error.code})</small>
          </div>
        ) : null}
        {i ? (
          <>
            <p>
              <strong>{i.email}</strong> is invited to join <strong>{i.entityName}</strong> ({i.entityCode}) as{' '}
              <strong>{i.role}</strong>.
            </p>
            {i.sessionCsrf ? (
              <form method="post" action="/sign-in/accept">
                <input type="hidden" name="token" value={i.token} />
                <input type="hidden" name="_csrf" value={i.sessionCsrf} />
                <p>You are signed in as {i.email}.</p>
                <button type="submit">Join {i.entityName}</button>
              </form>
            ) : i.hasPassword ? (
              <form method="post" action="/sign-in/accept" novalidate>
                <input type="hidden" name="token" value={i.token} />
                <label for="password">Password of {i.email}</label>
                <input
                  id="password"
                  name="password"
                  type="password"
                  autocomplete="current-password"
                  required
                  autofocus
                  {...fieldWordAttributes(ACCEPT_WORDS.password!)}
                  {...invalidAttributes('password-error', problem, 'password-help')}
                />
                <small id="password-help">
                  The password you sign in with. Not yours, or not invited? Do not accept: tell whoever sent you the
                  link.
                </small>
                <FieldErrorSlot id="password-error" field="password" problem={problem} />
                <button type="submit">Join {i.entityName}</button>
              </form>
            ) : (
              <p class="notice notice-warning" role="status">
                Your account has no password. If you sign in through your organisation&rsquo;s provider,{' '}
                <a href="/sign-in">sign in</a> first, then open this link again. Otherwise set a password with the link
                you were given for it, or ask the operator for one (<code>ledgerlink user link</code>), then open this
                link again.
              </p>
            )}
          </>
        ) : props.unusable || props.error ? null : (
          <p class="notice notice-error" role="alert">
            This link has no token. Open the whole link you were given, or ask the owner who invited you for a new one.
          </p>
        )}
      </article>
    </Plain>
  );
}

/** A page when something went wrong before a viewer is known (or for a signed-out visitor). */
export function PlainErrorPage(props: { lang: string; title: string; message: string }) {
  return (
    <Plain lang={props.lang} title={props.title}>
      <h1>{props.title}</h1>
      <p role="alert">{props.message}</p>
      <p>
        <a href="/">Back to the overview</a>
      </p>
    </Plain>
  );
}

/**
 * The answer to a successful return from the OIDC provider: the session cookie is SameSite=Strict,
 * which a browser does not send on a redirect that began at another site, so this page (of our own
 * site) moves on to `next` itself, with a link for a browser that does not follow the refresh.
 */
export function SignedInPage(props: { lang: string; next: string }) {
  return (
    <Plain lang={props.lang} title="Signed in" refresh={`0;url=${props.next}`}>
      <h1>Signed in</h1>
      <p role="status">
        <a href={props.next}>Continue</a>
      </p>
    </Plain>
  );
}
