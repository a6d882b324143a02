import type { Client, TestApp, TestResponse } from './app.ts';

/** A browser: its session cookie and CSRF token, sent as a browser sends them. */
export interface Browser {
  cookie: string;
  csrfToken: string;
  signIn: TestResponse;
  request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<TestResponse<T>>;
}

/** The `ll_session=…` pair of a response's Set-Cookie header. */
export function sessionCookieOf(res: TestResponse): string {
  const raw = res.headers['set-cookie'];
  const line = String(Array.isArray(raw) ? raw[0] : raw);
  return line.split(';')[0]!;
}

/**
 * Adds a user to the client's entity and sets their password through the one-time link; an
 * existing account is invited instead, and accepts the invitation with its password.
 */
export async function addUser(
  t: TestApp,
  owner: Client,
  email: string,
  role: 'owner' | 'accountant' | 'viewer',
  password = 'a long passphrase 4 tests',
): Promise<{ id: string; email: string; password: string }> {
  const added = await owner.post('/v1/users', { email, role });
  if (added.status !== 201) throw new Error(`add user failed: ${JSON.stringify(added.body)}`);
  const token = added.body.signInLink ? new URL(added.body.signInLink).searchParams.get('token')! : null;
  if (added.body.invitation) {
    const accepted = await t.request('POST', '/v1/auth/accept-invitation', { token, password });
    if (accepted.status !== 200) throw new Error(`accepting the invitation failed: ${JSON.stringify(accepted.body)}`);
    return { id: added.body.invitation.userId, email, password };
  }
  if (token) {
    const set = await t.request('POST', '/v1/auth/set-password', { token, password });
    if (set.status !== 200) throw new Error(`set password failed: ${JSON.stringify(set.body)}`);
  }
  return { id: added.body.user.id, email, password };
}

/** Signs in with e-mail and password and returns a browser holding the session. */
export async function signIn(t: TestApp, email: string, password: string, entityCode?: string): Promise<Browser> {
  const res = await t.request('POST', '/v1/auth/sign-in', { email, password, ...(entityCode ? { entityCode } : {}) });
  if (res.status !== 200) throw new Error(`sign-in failed: ${JSON.stringify(res.body)}`);
  const cookie = sessionCookieOf(res);
  const csrfToken = res.body.csrfToken as string;
  return {
    cookie,
    csrfToken,
    signIn: res,
    request: (method, path, body, headers = {}) =>
      t.request(method, path, body, {
        cookie,
        ...(method === 'GET' ? {} : { 'x-csrf-token': csrfToken }),
        ...headers,
      }),
  };
}
