import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/*
 * A local OpenID Connect provider for tests: discovery, JWKS, an authorize endpoint that signs in
 * the account the test chose and redirects back with a code, and a token endpoint that checks the
 * client, the redirect URI and the PKCE verifier before issuing an ID token. What the next token
 * looks like is the test's to choose (`next`): a wrong key, another audience, an expired token, an
 * unverified e-mail.
 */

export interface Account {
  sub: string;
  email: string;
  emailVerified?: boolean | undefined;
}

/** How the next ID token is made wrong (one issuance). */
export interface Tamper {
  signWithForeignKey?: boolean;
  audience?: string;
  expiresInSeconds?: number;
  nonce?: string;
  issuer?: string;
  alg?: 'none' | 'HS256';
}

export interface OidcProviderSim {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The account the authorize endpoint signs in (set it before the browser gets there). */
  account: Account;
  /** Applied to the next ID token issued, then cleared. */
  next: Tamper;
  /** The alg of the signing key: RS256 (default) or ES256. */
  alg: 'RS256' | 'ES256';
  /** Token requests received, as parsed forms. */
  tokenRequests: URLSearchParams[];
  /** What authorize was last called with. */
  lastAuthorize: URLSearchParams | null;
  close(): Promise<void>;
}

export async function startOidcProvider(
  opts: { clientId?: string; clientSecret?: string } = {},
): Promise<OidcProviderSim> {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const foreign = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const codes = new Map<string, { params: URLSearchParams; account: Account }>();
  const sim: OidcProviderSim = {
    issuer: '',
    clientId: opts.clientId ?? 'ledgerlink-test',
    clientSecret: opts.clientSecret ?? 'sim-secret-0123456789',
    account: { sub: 'sub-1', email: 'someone@example.com', emailVerified: true },
    next: {},
    alg: 'RS256',
    tokenRequests: [],
    lastAuthorize: null,
    close: async () => {},
  };

  const jwk = (key: KeyObject, kid: string, alg: string) => ({
    ...key.export({ format: 'jwk' }),
    kid,
    alg,
    use: 'sig',
  });
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

  const idToken = (account: Account, nonce: string | null): string => {
    const t = sim.next;
    sim.next = {};
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: t.issuer ?? sim.issuer,
      sub: account.sub,
      aud: t.audience ?? sim.clientId,
      exp: now + (t.expiresInSeconds ?? 300),
      iat: now + Math.min(0, t.expiresInSeconds ?? 0) - 10,
      nonce: t.nonce ?? nonce ?? undefined,
      email: account.email,
      email_verified: account.emailVerified ?? true,
    };
    if (t.alg === 'none') return `${b64({ alg: 'none' })}.${b64(claims)}.`;
    const alg = t.alg ?? sim.alg;
    const kid = alg === 'ES256' ? 'ec-1' : 'rsa-1';
    const head = `${b64({ alg, kid, typ: 'JWT' })}.${b64(claims)}`;
    if (alg === 'HS256') {
      return `${head}.${createHash('sha256').update(head).digest('base64url')}`;
    }
    const key = t.signWithForeignKey ? foreign.privateKey : alg === 'ES256' ? ec.privateKey : rsa.privateKey;
    const sig =
      alg === 'ES256'
        ? sign('sha256', Buffer.from(head), { key, dsaEncoding: 'ieee-p1363' })
        : sign('sha256', Buffer.from(head), key);
    return `${head}.${sig.toString('base64url')}`;
  };

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', sim.issuer);
    if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, {
        issuer: sim.issuer,
        authorization_endpoint: `${sim.issuer}/authorize`,
        token_endpoint: `${sim.issuer}/token`,
        jwks_uri: `${sim.issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256', 'ES256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      });
    }
    if (req.method === 'GET' && url.pathname === '/jwks') {
      return json(res, 200, { keys: [jwk(rsa.publicKey, 'rsa-1', 'RS256'), jwk(ec.publicKey, 'ec-1', 'ES256')] });
    }
    if (req.method === 'GET' && url.pathname === '/authorize') {
      const p = url.searchParams;
      sim.lastAuthorize = p;
      const back = new URL(p.get('redirect_uri') ?? 'http://invalid/');
      if (
        p.get('client_id') !== sim.clientId ||
        p.get('code_challenge_method') !== 'S256' ||
        !p.get('code_challenge')
      ) {
        back.searchParams.set('error', 'invalid_request');
      } else {
        const code = randomBytes(16).toString('hex');
        codes.set(code, { params: p, account: { ...sim.account } });
        back.searchParams.set('code', code);
      }
      back.searchParams.set('state', p.get('state') ?? '');
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (req.method === 'POST' && url.pathname === '/token') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        sim.tokenRequests.push(form);
        const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const [id, secret] = basic
          ? Buffer.from(basic, 'base64').toString('utf8').split(':').map(decodeURIComponent)
          : [form.get('client_id'), form.get('client_secret')];
        if (id !== sim.clientId || secret !== sim.clientSecret) return json(res, 401, { error: 'invalid_client' });
        const code = form.get('code') ?? '';
        const issued = codes.get(code);
        codes.delete(code); // a code is good once
        if (!issued) return json(res, 400, { error: 'invalid_grant' });
        const challenge = createHash('sha256')
          .update(form.get('code_verifier') ?? '')
          .digest('base64url');
        if (
          challenge !== issued.params.get('code_challenge') ||
          form.get('redirect_uri') !== issued.params.get('redirect_uri')
        )
          return json(res, 400, { error: 'invalid_grant' });
        return json(res, 200, {
          access_token: randomBytes(16).toString('hex'),
          token_type: 'Bearer',
          expires_in: 300,
          id_token: idToken(issued.account, issued.params.get('nonce')),
        });
      });
      return;
    }
    json(res, 404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sim.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sim.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sim;
}
