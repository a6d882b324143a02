import { createHmac, randomBytes } from 'node:crypto';

/*
 * NetSuite's token-based authentication (TBA): OAuth 1.0a, every request signed with
 * HMAC-SHA256 over its method, its URL and its parameters (RFC 5849 §3.4), with the integration's
 * consumer key and secret and the user's token id and secret; the realm is the account id
 * ("Token-based Authentication and REST Web Services"). The signature is the whole
 * `Authorization` header of one request, made fresh for each (timestamp and nonce).
 */

export interface TbaCredentials {
  accountId: string;
  consumerKey: string;
  consumerSecret: string;
  tokenId: string;
  tokenSecret: string;
}

/** RFC 5849 §3.6: unreserved characters as they are, everything else %XX (upper case). */
export const oauthEncode = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The signature base string of a request (RFC 5849 §3.4.1). */
export function baseString(method: string, url: URL, oauth: Record<string, string>): string {
  const pairs: [string, string][] = [...url.searchParams, ...Object.entries(oauth)].map(([k, v]) => [
    oauthEncode(k),
    oauthEncode(v),
  ]);
  pairs.sort(([ak, av], [bk, bv]) => (ak === bk ? (av < bv ? -1 : av > bv ? 1 : 0) : ak < bk ? -1 : 1));
  const params = pairs.map(([k, v]) => `${k}=${v}`).join('&');
  // The URL parser has already lower-cased the scheme and host and dropped a default port (§3.4.1.2).
  return [method.toUpperCase(), oauthEncode(`${url.protocol}//${url.host}${url.pathname}`), oauthEncode(params)].join(
    '&',
  );
}

/** The realm: the account id in upper case (`1234567_SB1`). */
export const realmOf = (accountId: string): string => accountId.toUpperCase();

/** The `Authorization` header of one request. */
export function tbaAuthorization(
  c: TbaCredentials,
  method: string,
  url: URL,
  o: { timestamp?: number; nonce?: string } = {},
): string {
  const oauth: Record<string, string> = {
    oauth_consumer_key: c.consumerKey,
    oauth_token: c.tokenId,
    oauth_signature_method: 'HMAC-SHA256',
    oauth_timestamp: String(o.timestamp ?? Math.floor(Date.now() / 1000)),
    oauth_nonce: o.nonce ?? randomBytes(16).toString('hex'),
    oauth_version: '1.0',
  };
  const key = `${oauthEncode(c.consumerSecret)}&${oauthEncode(c.tokenSecret)}`;
  const signature = createHmac('sha256', key)
    .update(baseString(method, url, oauth))
    .digest('base64');
  const fields = { realm: realmOf(c.accountId), ...oauth, oauth_signature: signature };
  return `OAuth ${Object.entries(fields)
    .map(([k, v]) => `${k}="${oauthEncode(v)}"`)
    .join(', ')}`;
}
