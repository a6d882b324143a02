import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { h } from 'preact';
import type { RouteContext } from '../../api/route.ts';
import { acceptInvitationRoute, setPasswordRoute, signInRoute } from '../../api/routes/user-auth.ts';
import type { AppServices } from '../../api/services.ts';
import { beginLoginAttempt, signInSubjects, signInThrottle, signInThrottled } from '../../api/sign-in-throttle.ts';
import { assertStorableText } from '../../api/text-guard.ts';
import { DomainError, isDomainError } from '../../domain/errors.ts';
import { recordAudit } from '../../ledger/audit.ts';
import { type FieldProblem, problemsInWords, refusalInWords, zodProblems } from '../components/field-errors.tsx';
import { localeOf } from '../format.ts';
import {
  ACCEPT_WORDS,
  AcceptInvitationPage,
  SET_PASSWORD_WORDS,
  SIGN_IN_WORDS,
  SetPasswordPage,
  SignInPage,
  safeNext,
} from '../pages/sign-in.tsx';
import { findInvitation, findSignInToken } from '../../ledger/users.ts';
import { sendPage } from '../render.ts';
import { viewerOf } from '../session.ts';

/** What the API takes from an anonymous caller (ANONYMOUS_BODY_LIMIT_BYTES): a sign-in form is far smaller. */
const SIGN_IN_BODY_LIMIT_BYTES = 16 * 1024;

/**
 * Whether a sign-in form was posted from one of this server's own pages. Without it, another site
 * could sign a visitor in to an account of its choosing (login CSRF): a page of ours always says so
 * (`Sec-Fetch-Site: same-origin`, or an `Origin` of ours); a browser that sends neither, or a person
 * who typed the address (`none`), passes, as the API's own check lets requests without `Origin` pass.
 */
export function postedFromOwnPage(request: FastifyRequest, services: AppServices): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  const own = [`${request.protocol}://${request.host}`];
  try {
    if (services.config.publicUrl) own.push(new URL(services.config.publicUrl).origin);
  } catch {
    // a public URL that does not parse was refused at start; nothing to add
  }
  return own.includes(origin);
}

/** Refuses (CSRF_TOKEN_INVALID) a form of the sign-in pages posted from another site, saying what to do instead. */
function refuseFromOtherSite(request: FastifyRequest, services: AppServices, what: string, instead: string): void {
  if (!postedFromOwnPage(request, services))
    throw new DomainError('CSRF_TOKEN_INVALID', `${what} was sent from another site, so it was refused. ${instead}`);
}

/**
 * What the API's router gives an anonymous route's handler, for a form that runs that handler
 * itself (the sign-in and set-password routes are not writes: they commit their own transactions).
 */
function anonymousContext<B>(
  request: FastifyRequest,
  reply: FastifyReply,
  services: AppServices,
  body: B,
): RouteContext<unknown, unknown, B> {
  return {
    params: undefined,
    query: undefined,
    body,
    db: services.db,
    principal: { kind: 'anonymous', actor: 'anonymous' },
    get entity(): never {
      throw new DomainError('UNAUTHORIZED', 'This endpoint needs an entity token.');
    },
    services,
    log: request.log as unknown as Logger,
    requestId: request.id,
    request,
    reply,
    setStatus: () => undefined,
    audit: (entry) =>
      recordAudit(services.db, {
        ...entry,
        entityId: entry.entityId ?? null,
        actor: 'anonymous',
        requestId: request.id,
      }),
  };
}

/** The fields of a posted urlencoded form (anything else reads as no fields). */
function formFields(request: FastifyRequest): (name: string) => string | undefined {
  const form = (request.body && typeof request.body === 'object' ? request.body : {}) as Record<string, unknown>;
  return (name) => (typeof form[name] === 'string' ? form[name] : undefined);
}

/** How long a throttled visitor waits, in words, and the Retry-After header set on `reply`. */
function throttleWait(err: DomainError, reply?: FastifyReply): string {
  const wait = (err.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  if (reply && typeof wait === 'number') reply.header('retry-after', String(wait));
  return typeof wait === 'number' && wait >= 90 ? `${Math.ceil(wait / 60)} minutes` : `${String(wait)} seconds`;
}

/** A refusal of the sign-in as the page shows it: in words for a person, with its code. */
function signInError(err: DomainError): { code: string; message: string } {
  const message =
    err.code === 'INVALID_CREDENTIALS'
      ? 'The email or password is not right. Check them and try again.'
      : err.code === 'LOGIN_THROTTLED'
        ? `Too many failed attempts. For your security, signing in is paused: try again in ${throttleWait(err)}.`
        : err.code === 'VALIDATION_ERROR'
          ? 'Enter your email address and your password.'
          : err.message;
  return { code: err.code, message };
}

/**
 * POST /sign-in: the sign-in form as a browser posts it without JavaScript (or before /assets/app.js
 * has loaded), urlencoded. It runs the JSON sign-in's own handler (POST /v1/auth/sign-in: the same
 * throttle, the same constant-time password check, the same audit and the same SameSite=Strict
 * session cookie), then goes on to `next` (303), or shows the form again with the refusal: never JSON.
 */
async function signInWithForm(request: FastifyRequest, reply: FastifyReply, services: AppServices) {
  const text = formFields(request);
  const next = safeNext((request.query as { next?: unknown }).next);
  const email = text('email');
  const entityCode = text('entityCode') || undefined;
  const page = (status: number, said: { error: { code: string; message: string } } | { problems: FieldProblem[] }) =>
    sendPage(
      reply,
      h(SignInPage, {
        lang: localeOf(request.headers['accept-language']),
        next,
        entity: entityCode?.slice(0, 50),
        // Kept as typed, whole: a value cut short would be another address than the one refused.
        email,
        oidcLabel: services.config.oidc?.label,
        ...said,
      }),
      status,
    );
  const again = (err: DomainError) => {
    if (err.code === 'LOGIN_THROTTLED') throttleWait(err, reply);
    const problems =
      err.code === 'VALIDATION_ERROR'
        ? refusalInWords(err, SIGN_IN_WORDS, { email, password: text('password') })
        : null;
    return page(err.status, problems ? { problems } : { error: signInError(err) });
  };
  try {
    refuseFromOtherSite(request, services, 'This sign-in', 'Open this page yourself and sign in here.');
    const body = { email, password: text('password'), ...(entityCode ? { entityCode } : {}) };
    assertStorableText(body, 'body');
    const parsed = signInRoute.body!.safeParse(body);
    // A form that does not parse is said beside its fields, in words.
    if (!parsed.success)
      return page(400, {
        problems: problemsInWords(zodProblems(parsed.error), 'VALIDATION_ERROR', SIGN_IN_WORDS, {
          email,
          password: body.password,
        }),
      });
    // The JSON route's handler itself, given what the API's router would give it (sign-in is not a
    // write: it commits its own transactions; it answers with the cookie set on `reply`).
    await signInRoute.handler(anonymousContext(request, reply, services, parsed.data));
  } catch (err) {
    if (!isDomainError(err)) throw err;
    return again(err);
  }
  return reply.redirect(next, 303);
}

/** What the set-password page says of a link that cannot set a password (used, expired, unknown). */
const LINK_UNUSABLE =
  'This link has been used or has expired, so it cannot set a password. Ask an owner of your entity for a new one.';

/** A refusal of a new password as the page shows it: in words for a person, with its code. */
function setPasswordError(err: DomainError): { code: string; message: string } {
  const message =
    err.code === 'LOGIN_THROTTLED'
      ? `Too many failed attempts from this address. For your security, this is paused: try again in ${throttleWait(err)}.`
      : err.message;
  return { code: err.code, message };
}

/**
 * POST /sign-in/set-password: the set-password form as a browser posts it without JavaScript,
 * urlencoded. It runs POST /v1/auth/set-password's own handler (its throttle, its password policy,
 * its audit), then goes on to the sign-in page (303), or shows the form again with the refusal and
 * the link's token kept, so that a refused password can be tried again with the same link.
 */
async function setPasswordWithForm(request: FastifyRequest, reply: FastifyReply, services: AppServices) {
  const text = formFields(request);
  const token = text('token') || null;
  const password = text('password');
  try {
    refuseFromOtherSite(request, services, 'This form', 'Open your link yourself and set your password there.');
    const body = { token: token ?? undefined, password };
    assertStorableText(body, 'body');
    const parsed = setPasswordRoute.body!.safeParse(body);
    if (!parsed.success) {
      if (!token || parsed.error.issues.some((i) => i.path[0] === 'token'))
        throw new DomainError('SIGN_IN_LINK_INVALID');
      const [problem] = problemsInWords(zodProblems(parsed.error), 'VALIDATION_ERROR', SET_PASSWORD_WORDS, {
        password,
      });
      return setPasswordPage(request, reply, 400, { token: token.slice(0, 200), problem });
    }
    await setPasswordRoute.handler(anonymousContext(request, reply, services, parsed.data));
  } catch (err) {
    if (!isDomainError(err)) throw err;
    if (err.code === 'LOGIN_THROTTLED') throttleWait(err, reply);
    // A token that cannot be used again is not offered again.
    if (err.code === 'SIGN_IN_LINK_INVALID')
      return setPasswordPage(request, reply, err.status, { token: null, unusable: LINK_UNUSABLE });
    // A password refused (too weak, a character that cannot be stored) is said beside its field.
    const [problem] = refusalInWords(err, SET_PASSWORD_WORDS, { password }) ?? [];
    return setPasswordPage(request, reply, err.status, {
      token: token?.slice(0, 200) ?? null,
      ...(problem?.field === 'password' ? { problem } : { error: setPasswordError(err) }),
    });
  }
  return reply.redirect('/sign-in?password=set', 303);
}

function setPasswordPage(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  props: Omit<Parameters<typeof SetPasswordPage>[0], 'lang'>,
) {
  // The token is in the page's URL (and may be in the form): no other site may see it as a referrer.
  reply.header('referrer-policy', 'no-referrer');
  return sendPage(reply, h(SetPasswordPage, { lang: localeOf(request.headers['accept-language']), ...props }), status);
}

/**
 * Whether a one-time link can still set a password, looked at without using it, so that its page
 * offers the form only then. A token that cannot counts as a failed attempt from the address, in the
 * throttle POST /v1/auth/set-password counts it in: the page is no way around guessing links.
 */
async function signInLinkState(
  request: FastifyRequest,
  services: AppServices,
  token: string,
): Promise<'usable' | 'unusable' | { wait: number }> {
  const begun = await beginLoginAttempt(services.db, signInThrottle(services), signInSubjects(request.ip));
  if ('wait' in begun) return begun;
  const { attempt } = begun;
  try {
    // The lookup of POST /v1/auth/set-password (src/api/routes/user-auth.ts), which takes the link.
    if (!(await findSignInToken(services.db, token))) {
      await attempt.failed();
      return 'unusable';
    }
    await attempt.succeeded();
    return 'usable';
  } catch (err) {
    await attempt.succeeded().catch(() => undefined);
    throw err;
  }
}

/** What the invitation page says of a link that cannot be accepted (used, replaced, expired, unknown). */
const INVITATION_UNUSABLE =
  'This invitation has been accepted, replaced by a newer link, or has expired. Ask the owner who invited you for a new one.';

/**
 * The invitation page of a token, looked up without using it: the form to accept it, or why it
 * cannot be. A token that is no invitation counts as a failed attempt from the address, as on the
 * set-password page, so the page is no way around guessing links.
 */
async function invitationPage(
  request: FastifyRequest,
  reply: FastifyReply,
  services: AppServices,
  token: string | null,
  status = 200,
  extra: { error?: { code: string; message: string }; problem?: FieldProblem } = {},
) {
  const lang = localeOf(request.headers['accept-language']);
  reply.header('referrer-policy', 'no-referrer');
  const page = (props: Omit<Parameters<typeof AcceptInvitationPage>[0], 'lang'>, code = status) =>
    sendPage(reply, h(AcceptInvitationPage, { lang, ...props }), code);
  if (token === null) return page({ invitation: null });
  const begun = await beginLoginAttempt(services.db, signInThrottle(services), signInSubjects(request.ip));
  if ('wait' in begun) {
    const throttled = signInThrottled(begun.wait);
    return page({ invitation: null, error: setPasswordError(throttled) }, 429);
  }
  const found =
    token.length > 200
      ? null
      : await findInvitation(services.db, token).catch(async (err: unknown) => {
          await begun.attempt.succeeded().catch(() => undefined);
          throw err;
        });
  if (!found) {
    await begun.attempt.failed();
    return page({ invitation: null, unusable: INVITATION_UNUSABLE });
  }
  await begun.attempt.succeeded();
  const viewer = await viewerOf(request, services);
  const sessionCsrf = viewer?.user?.id === found.userId ? (viewer.csrfToken ?? null) : null;
  return page({
    invitation: {
      token,
      email: found.email,
      entityCode: found.entityCode,
      entityName: found.entityName,
      role: found.role,
      hasPassword: found.hasPassword,
      sessionCsrf,
    },
    ...extra,
  });
}

/**
 * POST /sign-in/accept: accepting an invitation as the form posts it (urlencoded), through POST
 * /v1/auth/accept-invitation's own handler (its throttle, its check of the person, its audit);
 * then the overview of the entity joined (303), or the page again with the refusal.
 */
async function acceptWithForm(request: FastifyRequest, reply: FastifyReply, services: AppServices) {
  const text = formFields(request);
  const token = text('token') || null;
  const password = text('password');
  try {
    refuseFromOtherSite(request, services, 'This form', 'Open your invitation link yourself and accept it there.');
    const body = { token: token ?? undefined, ...(password !== undefined ? { password } : {}) };
    assertStorableText(body, 'body');
    const parsed = acceptInvitationRoute.body!.safeParse(body);
    if (!parsed.success) {
      if (!token || parsed.error.issues.some((i) => i.path[0] === 'token'))
        throw new DomainError('SIGN_IN_LINK_INVALID');
      const [problem] = problemsInWords(zodProblems(parsed.error), 'VALIDATION_ERROR', ACCEPT_WORDS, { password });
      return invitationPage(request, reply, services, token, 400, problem ? { problem } : {});
    }
    await acceptInvitationRoute.handler(anonymousContext(request, reply, services, parsed.data));
  } catch (err) {
    if (!isDomainError(err)) throw err;
    if (err.code === 'SIGN_IN_LINK_INVALID') {
      reply.header('referrer-policy', 'no-referrer');
      return sendPage(
        reply,
        h(AcceptInvitationPage, {
          lang: localeOf(request.headers['accept-language']),
          invitation: null,
          unusable: INVITATION_UNUSABLE,
        }),
        err.status,
      );
    }
    if (err.code === 'LOGIN_THROTTLED') throttleWait(err, reply);
    const error =
      err.code === 'INVALID_CREDENTIALS'
        ? { code: err.code, message: 'The password is not right. Check it and try again.' }
        : setPasswordError(err);
    return invitationPage(request, reply, services, token?.slice(0, 200) ?? null, err.status, { error });
  }
  return reply.redirect('/', 303);
}

/**
 * GET /sign-in and /sign-in/set-password: the forms; /assets/app.js posts them to POST
 * /v1/auth/sign-in and /v1/auth/set-password, which set the session cookie and the password.
 * POST /sign-in and POST /sign-in/set-password take the forms without JavaScript (signInWithForm,
 * setPasswordWithForm).
 * `/sign-in?entity=CODE` signs in to that entity, by password or through the OIDC provider.
 */
export function registerAuthPages(app: FastifyInstance, services: AppServices): void {
  app.get<{ Querystring: { next?: string; password?: string; entity?: string; 'signed-out'?: string } }>(
    '/sign-in',
    async (request, reply) => {
      const next = safeNext(request.query.next);
      // Passed on as it is: the sign-in refuses an entity the user is not in (ENTITY_DOES_NOT_EXIST).
      const entity =
        typeof request.query.entity === 'string' && request.query.entity !== ''
          ? request.query.entity.slice(0, 50)
          : undefined;
      if (await viewerOf(request, services)) return reply.redirect(next, 303);
      const notice = request.query.password === 'set' ? 'Your password is set. Sign in with it.' : undefined;
      return sendPage(
        reply,
        h(SignInPage, {
          lang: localeOf(request.headers['accept-language']),
          next,
          entity,
          notice,
          signedOut: request.query['signed-out'] !== undefined,
          oidcLabel: services.config.oidc?.label,
        }),
      );
    },
  );
  app.post('/sign-in', { bodyLimit: SIGN_IN_BODY_LIMIT_BYTES }, (request, reply) =>
    signInWithForm(request, reply, services),
  );
  app.get<{ Querystring: { token?: string } }>('/sign-in/set-password', async (request, reply) => {
    const token = typeof request.query.token === 'string' && request.query.token !== '' ? request.query.token : null;
    if (token === null) return setPasswordPage(request, reply, 200, { token });
    // A link already used (or expired) is said so at once, rather than after a password is typed.
    const state = token.length > 200 ? 'unusable' : await signInLinkState(request, services, token);
    if (state === 'usable') return setPasswordPage(request, reply, 200, { token });
    if (state === 'unusable') return setPasswordPage(request, reply, 200, { token: null, unusable: LINK_UNUSABLE });
    const throttled = signInThrottled(state.wait);
    throttleWait(throttled, reply);
    return setPasswordPage(request, reply, 429, { token: null, error: setPasswordError(throttled) });
  });
  app.post('/sign-in/set-password', { bodyLimit: SIGN_IN_BODY_LIMIT_BYTES }, (request, reply) =>
    setPasswordWithForm(request, reply, services),
  );
  app.get<{ Querystring: { token?: string } }>('/sign-in/accept', async (request, reply) => {
    const token = typeof request.query.token === 'string' && request.query.token !== '' ? request.query.token : null;
    return invitationPage(request, reply, services, token);
  });
  app.post('/sign-in/accept', { bodyLimit: SIGN_IN_BODY_LIMIT_BYTES }, (request, reply) =>
    acceptWithForm(request, reply, services),
  );
}
