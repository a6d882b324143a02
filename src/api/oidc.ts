import { type JsonWebKey, type KeyObject, createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { DomainError } from '../domain/errors.ts';
import { safeEqual } from '../domain/safe-equal.ts';
import { type GuardOptions, isOutboundRefused, outboundRequest } from '../sync/http.ts';
import type { OidcConfig } from '../sync/config.ts';

/*
 * The relying-party side of OpenID Connect's authorization code flow, on node:crypto (neither
 * `openid-client` nor `jose` is a dependency): discovery, PKCE (S256), state and nonce, the code
 * exchanged at the token endpoint, and the ID token verified against the provider's JWKS (RS256 or
 * ES256 only; never `none` or a shared-secret algorithm). Every call to the provider leaves through
 * src/sync/http.ts, under the outbound policy like any connector.
 */

/** What discovery tells about the provider (the fields this flow uses). */
export interface OidcProvider {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  jwksUri: string;
  /** client_secret_basic (default) or client_secret_post, as the provider supports. */
  tokenAuth: 'client_secret_basic' | 'client_secret_post';
}

/** The claims of a verified ID token that sign a user in. */
export interface OidcIdentity {
  issuer: string;
  subject: string;
  email: string;
}

const ALGORITHMS = new Set(['RS256', 'ES256']);
/** Clock skew tolerated on exp and iat. */
const SKEW_SECONDS = 60;
const CACHE_MS = 60 * 60 * 1000;
const TIMEOUT_MS = 10_000;

const b64url = (bytes: Buffer) => bytes.toString('base64url');

/** A random value for state, nonce, PKCE verifier or the browser binding: 32 bytes, base64url. */
export function randomToken(): string {
  return b64url(randomBytes(32));
}

/** The PKCE challenge of a verifier (S256). */
export function pkceChallenge(verifier: string): string {
  return b64url(createHash('sha256').update(verifier).digest());
}

function unavailable(what: string, cause?: unknown): DomainError {
  const refused = cause !== undefined && isOutboundRefused(cause);
  return new DomainError(
    'OIDC_PROVIDER_UNAVAILABLE',
    refused
      ? `${what}: the outbound policy refuses the provider's address (allow it with LEDGERLINK_OUTBOUND_ALLOW).`
      : `${what}. Try again later; if it persists, the operator checks auth.oidc in the configuration.`,
  );
}

async function getJson(url: string, what: string, guard: GuardOptions): Promise<Record<string, unknown>> {
  let answer;
  try {
    answer = await outboundRequest(
      url,
      {
        method: 'GET',
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(TIMEOUT_MS),
        maxBytes: 1 << 20,
      },
      guard,
    );
  } catch (err) {
    throw unavailable(`The sign-in provider could not be reached (${what})`, err);
  }
  if (answer.status !== 200) throw unavailable(`The sign-in provider answered ${answer.status} (${what})`);
  try {
    const json: unknown = JSON.parse(answer.text);
    if (json && typeof json === 'object' && !Array.isArray(json)) return json as Record<string, unknown>;
  } catch {
    // not JSON: refused below
  }
  throw unavailable(`The sign-in provider's ${what} is not a JSON object`);
}

function httpUrl(value: unknown, sameSchemeAs: string): string | null {
  if (typeof value !== 'string') return null;
  try {
    const u = new URL(value);
    // An https issuer never sends the browser or the code over plain http.
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && sameSchemeAs.startsWith('http:'))) return null;
    return u.href;
  } catch {
    return null;
  }
}

/** A provider's keys, by kid; refetched when a token names a kid not seen (key rotation). */
interface KeySet {
  keys: { kid: string | undefined; alg: string | undefined; key: KeyObject }[];
  fetchedAt: number;
}

/** The OIDC client of one configured provider: discovery and keys cached an hour. */
export class OidcClient {
  #provider: { value: OidcProvider; at: number } | null = null;
  #keys: KeySet | null = null;

  constructor(
    readonly config: OidcConfig,
    private readonly guard: GuardOptions = {},
  ) {}

  /** The provider's endpoints, from `${issuer}/.well-known/openid-configuration`. */
  async provider(): Promise<OidcProvider> {
    if (this.#provider && Date.now() - this.#provider.at < CACHE_MS) return this.#provider.value;
    const issuer = this.config.issuer;
    const doc = await getJson(`${issuer}/.well-known/openid-configuration`, 'discovery document', this.guard);
    // The document must speak for the issuer configured (OpenID Connect Discovery 4.3).
    if (typeof doc.issuer !== 'string' || doc.issuer.replace(/\/+$/, '') !== issuer)
      throw unavailable(`The discovery document names another issuer than ${issuer}`);
    const authorizationEndpoint = httpUrl(doc.authorization_endpoint, issuer);
    const tokenEndpoint = httpUrl(doc.token_endpoint, issuer);
    const jwksUri = httpUrl(doc.jwks_uri, issuer);
    if (!authorizationEndpoint || !tokenEndpoint || !jwksUri)
      throw unavailable('The discovery document lacks an authorization, token or jwks_uri endpoint');
    const methods = Array.isArray(doc.token_endpoint_auth_methods_supported)
      ? doc.token_endpoint_auth_methods_supported
      : ['client_secret_basic'];
    const value: OidcProvider = {
      issuer,
      authorizationEndpoint,
      tokenEndpoint,
      jwksUri,
      tokenAuth:
        methods.includes('client_secret_post') && !methods.includes('client_secret_basic')
          ? 'client_secret_post'
          : 'client_secret_basic',
    };
    this.#provider = { value, at: Date.now() };
    return value;
  }

  /** Where the browser goes to sign in at the provider. */
  async authorizationUrl(input: { redirectUri: string; state: string; nonce: string; codeVerifier: string }) {
    const p = await this.provider();
    const url = new URL(p.authorizationEndpoint);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', this.config.clientId);
    url.searchParams.set('redirect_uri', input.redirectUri);
    url.searchParams.set('scope', 'openid email');
    url.searchParams.set('state', input.state);
    url.searchParams.set('nonce', input.nonce);
    url.searchParams.set('code_challenge', pkceChallenge(input.codeVerifier));
    url.searchParams.set('code_challenge_method', 'S256');
    return url.href;
  }

  /** Exchanges the code for tokens and returns the verified identity of the ID token. */
  async exchange(input: {
    code: string;
    redirectUri: string;
    codeVerifier: string;
    nonce: string;
  }): Promise<OidcIdentity> {
    const p = await this.provider();
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code: input.code,
      redirect_uri: input.redirectUri,
      code_verifier: input.codeVerifier,
    });
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    const { clientId, clientSecret } = this.config;
    if (clientSecret && p.tokenAuth === 'client_secret_basic') {
      // RFC 6749 2.3.1: each part form-encoded before the Basic encoding.
      const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
      headers.authorization = `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64')}`;
    } else {
      form.set('client_id', clientId);
      if (clientSecret) form.set('client_secret', clientSecret);
    }
    let answer;
    try {
      answer = await outboundRequest(
        p.tokenEndpoint,
        { method: 'POST', headers, body: form.toString(), signal: AbortSignal.timeout(TIMEOUT_MS), maxBytes: 1 << 20 },
        this.guard,
      );
    } catch (err) {
      throw unavailable('The sign-in provider could not be reached (token endpoint)', err);
    }
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(answer.text);
      if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
    } catch {
      // refused below
    }
    if (answer.status !== 200 || typeof body.id_token !== 'string') {
      // invalid_grant: the code was used or has expired. Only a token-like error name is repeated.
      const code = typeof body.error === 'string' && /^[a-z_]{1,40}$/.test(body.error) ? body.error : null;
      throw new DomainError(
        'OIDC_TOKEN_INVALID',
        `The sign-in provider refused to exchange the code (${answer.status}${code ? ` ${code}` : ''}). Start again.`,
      );
    }
    return this.verifyIdToken(body.id_token, input.nonce);
  }

  /** Verifies an ID token: signature by the provider's key, iss, aud (and azp), exp, iat, nonce, e-mail verified. */
  async verifyIdToken(token: string, nonce: string): Promise<OidcIdentity> {
    const invalid = (why: string) =>
      new DomainError('OIDC_TOKEN_INVALID', `The provider's ID token was refused: ${why}.`);
    const parts = token.split('.');
    if (parts.length !== 3) throw invalid('it is not a signed JWT');
    const [h, c, s] = parts as [string, string, string];
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
      claims = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      throw invalid('it does not decode');
    }
    const alg = header.alg;
    if (typeof alg !== 'string' || !ALGORITHMS.has(alg))
      throw invalid(`algorithm ${String(alg)} is not RS256 or ES256`);
    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    const key = await this.#key(kid, alg);
    if (!key) throw invalid(`no key of the provider matches (kid ${kid ?? 'none'})`);
    const signature = Buffer.from(s, 'base64url');
    const data = Buffer.from(`${h}.${c}`);
    let ok = false;
    try {
      ok =
        alg === 'RS256'
          ? key.asymmetricKeyType === 'rsa' && verify('sha256', data, key, signature)
          : key.asymmetricKeyType === 'ec' &&
            key.asymmetricKeyDetails?.namedCurve === 'prime256v1' &&
            verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    } catch {
      ok = false;
    }
    if (!ok) throw invalid('the signature does not verify');
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== this.config.issuer) throw invalid('it was issued by another issuer');
    const aud = claims.aud;
    const audiences = Array.isArray(aud) ? aud : [aud];
    if (!audiences.includes(this.config.clientId)) throw invalid('it is meant for another client (aud)');
    if (audiences.length > 1 && claims.azp !== this.config.clientId) throw invalid('its azp is another client');
    if (typeof claims.exp !== 'number' || claims.exp + SKEW_SECONDS < now) throw invalid('it has expired');
    if (typeof claims.iat === 'number' && claims.iat - SKEW_SECONDS > now) throw invalid('it is dated in the future');
    if (typeof claims.nonce !== 'string' || !safeEqual(claims.nonce, nonce))
      throw invalid('its nonce is not this sign-in’s');
    if (typeof claims.sub !== 'string' || claims.sub === '' || claims.sub.length > 255)
      throw invalid('it has no subject');
    if (typeof claims.email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(claims.email) || claims.email.length > 254)
      throw new DomainError(
        'OIDC_EMAIL_NOT_VERIFIED',
        'The provider did not share an e-mail address for this account.',
      );
    if (claims.email_verified !== true && claims.email_verified !== 'true')
      throw new DomainError(
        'OIDC_EMAIL_NOT_VERIFIED',
        `The provider has not verified ${claims.email}; verify it there, or sign in with your password.`,
      );
    return { issuer: this.config.issuer, subject: claims.sub, email: claims.email };
  }

  async #key(kid: string | undefined, alg: string): Promise<KeyObject | null> {
    const pick = (set: KeySet) => {
      const usable = set.keys.filter(
        (k) => (k.alg === undefined || k.alg === alg) && (kid === undefined || k.kid === kid),
      );
      // Without a kid, only an unambiguous key is taken.
      return kid === undefined && usable.length !== 1 ? null : (usable[0]?.key ?? null);
    };
    if (this.#keys && Date.now() - this.#keys.fetchedAt < CACHE_MS) {
      const found = pick(this.#keys);
      // A kid not seen may be a rotated key: fetch again, at most once a minute.
      if (found || Date.now() - this.#keys.fetchedAt < 60_000) return found;
    }
    const p = await this.provider();
    const doc = await getJson(p.jwksUri, 'keys (JWKS)', this.guard);
    const keys: KeySet['keys'] = [];
    for (const jwk of Array.isArray(doc.keys) ? (doc.keys as Record<string, unknown>[]) : []) {
      if (!jwk || typeof jwk !== 'object' || (jwk.use !== undefined && jwk.use !== 'sig')) continue;
      if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') continue;
      try {
        // Only the public members: a JWKS that carried a private key would still give a public key.
        const pub: Record<string, unknown> =
          jwk.kty === 'RSA' ? { kty: 'RSA', n: jwk.n, e: jwk.e } : { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
        keys.push({
          kid: typeof jwk.kid === 'string' ? jwk.kid : undefined,
          alg: typeof jwk.alg === 'string' ? jwk.alg : undefined,
          key: createPublicKey({ key: pub as JsonWebKey, format: 'jwk' }),
        });
      } catch {
        // a key that does not parse is skipped; the others still serve
      }
    }
    this.#keys = { keys, fetchedAt: Date.now() };
    return pick(this.#keys);
  }
}
