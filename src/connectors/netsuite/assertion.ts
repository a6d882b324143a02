import { type KeyObject, constants, createPrivateKey, sign } from 'node:crypto';
import type { Algorithm } from './settings.ts';

/*
 * The client assertion of NetSuite's OAuth 2.0 client credentials flow ("The Request Token
 * Structure"): a JWT whose header names the algorithm and the mapped certificate (`kid`), whose
 * payload names the integration (`iss`), the scopes, the token endpoint (`aud`) and a life of
 * less than 60 minutes, signed with the certificate's private key. Made fresh for every token
 * request, signed with node:crypto.
 */

const HASH: Record<Algorithm, string> = {
  PS256: 'sha256',
  PS384: 'sha384',
  PS512: 'sha512',
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
};
const SALT: Partial<Record<Algorithm, number>> = { PS256: 32, PS384: 48, PS512: 64 };

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export interface AssertionInput {
  clientId: string;
  certificateId: string;
  privateKey: string | KeyObject;
  algorithm: Algorithm;
  scope: string;
  /** The token endpoint, as `aud`. */
  audience: string;
  /** Seconds since the epoch; default now. */
  now?: number | undefined;
  /** Seconds the assertion lives; NetSuite takes less than 3600. Default 300. */
  lifeSeconds?: number | undefined;
}

/** A signed client assertion (compact JWS). */
export function clientAssertion(i: AssertionInput): string {
  const iat = i.now ?? Math.floor(Date.now() / 1000);
  const header = { typ: 'JWT', alg: i.algorithm, kid: i.certificateId };
  const payload = {
    iss: i.clientId,
    scope: i.scope.split(','),
    aud: i.audience,
    iat,
    exp: iat + (i.lifeSeconds ?? 300),
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const key = typeof i.privateKey === 'string' ? createPrivateKey(i.privateKey) : i.privateKey;
  const signature = i.algorithm.startsWith('PS')
    ? sign(HASH[i.algorithm], Buffer.from(input), {
        key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: SALT[i.algorithm]!,
      })
    : sign(HASH[i.algorithm], Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(signature)}`;
}

/** The hash and padding an algorithm verifies with (the simulator's side). */
export function verifyOptions(alg: Algorithm): { hash: string; pss: boolean; saltLength: number | undefined } {
  return { hash: HASH[alg], pss: alg.startsWith('PS'), saltLength: SALT[alg] };
}
