import { Document } from '../components/layout.tsx';

/** A page of its own for signing in: no navigation, one form. */
function Plain(props: { lang: string; title: string; children: preact.ComponentChildren }) {
  return (
    <Document lang={props.lang} title={props.title}>
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
  return typeof next === 'string' && /^\/(?![/\\])[^\s]*$/.test(next) && !next.startsWith('/sign-in') ? next : '/';
}

/**
 * The sign-in form. /assets/app.js posts it as JSON to POST /v1/auth/sign-in (the cookie comes
 * back from there) and shows the error it answers, throttling included, in the alert below.
 */
export function SignInPage(props: { lang: string; next: string; notice?: string }) {
  return (
    <Plain lang={props.lang} title="Sign in">
      <article class="sign-in">
        <h1>Sign in</h1>
        {props.notice ? (
          <p class="notice notice-success" role="status">
            {props.notice}
          </p>
        ) : null}
        <form data-api="/v1/auth/sign-in" data-next={props.next} method="post" action="/sign-in" novalidate>
          <label for="email">Email</label>
          <input id="email" name="email" type="email" autocomplete="username" required autofocus />
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autocomplete="current-password" required />
          <p class="form-error" role="alert" data-error></p>
          <button type="submit">Sign in</button>
        </form>
        <p class="muted">
          No account yet? An owner of your entity adds you (or, on the server: <code>ledgerlink user create</code>) and
          gives you a one-time link to set your password.
        </p>
      </article>
    </Plain>
  );
}

/** The page of a one-time sign-in link: choose a password, then sign in with it. */
export function SetPasswordPage(props: { lang: string; token: string | null }) {
  return (
    <Plain lang={props.lang} title="Set your password">
      <article class="sign-in">
        <h1>Set your password</h1>
        {props.token ? (
          <form data-api="/v1/auth/set-password" data-next="/sign-in?password=set" method="post" novalidate>
            <input type="hidden" name="token" value={props.token} />
            <label for="password">New password</label>
            <input
              id="password"
              name="password"
              type="password"
              autocomplete="new-password"
              minLength={12}
              required
              aria-describedby="password-help"
              autofocus
            />
            <small id="password-help">At least 12 characters; not your email address and not a common password.</small>
            <p class="form-error" role="alert" data-error></p>
            <button type="submit">Set password</button>
          </form>
        ) : (
          <p class="notice notice-error" role="alert">
            This link has no token. Open the whole link you were given, or ask an owner for a new one.
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
