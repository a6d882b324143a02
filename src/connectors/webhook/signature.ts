import { createHmac } from 'node:crypto';
import { safeEqual } from '../../domain/safe-equal.ts';
import { DomainError } from '../../domain/errors.ts';
import { WEBHOOK_TOLERANCE_SECONDS } from '../../sync/registry.ts';

/** The header a sender signs canonical webhooks with: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'x-ledgerlink-signature';

/** How far a signature's timestamp may be from our clock, either way, before it is refused. */
export const SIGNATURE_TOLERANCE_SECONDS = WEBHOOK_TOLERANCE_SECONDS;

function mac(secret: string, timestamp: string, body: Buffer): Buffer {
  // The timestamp is signed with the body, so that a captured delivery cannot be re-dated.
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/** The header value for a body, as a sender computes it (`t` defaults to now). */
export function signatureHeader(body: Buffer | string, secret: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${mac(secret, String(t), Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')).toString('hex')}`;
}

/**
 * Checks `X-Ledgerlink-Signature` over the exact body bytes: the HMAC first, compared in constant
 * time (several `v1` values are accepted, for a sender rotating its secret), then the timestamp
 * window. Returns why it is refused (WEBHOOK_SIGNATURE_INVALID or WEBHOOK_TIMESTAMP_OUT_OF_RANGE),
 * or null when it is good.
 */
export function signatureProblem(
  header: string | undefined,
  body: Buffer,
  secret: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): DomainError | null {
  let timestamp: string | null = null;
  const signatures: Buffer[] = [];
  for (const part of (header ?? '').split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = value;
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(value)) signatures.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === null || signatures.length === 0) {
    return new DomainError(
      'WEBHOOK_SIGNATURE_INVALID',
      'X-Ledgerlink-Signature is missing or is not "t=<unix seconds>,v1=<hex HMAC-SHA256>"',
    );
  }
  const expected = mac(secret, timestamp, body);
  if (!signatures.some((s) => safeEqual(s, expected))) {
    return new DomainError(
      'WEBHOOK_SIGNATURE_INVALID',
      'The signature does not match the body (HMAC-SHA256 of "<t>.<body>" with the pipeline\'s webhook secret)',
    );
  }
  const skew = nowSeconds - Number(timestamp);
  if (Math.abs(skew) > SIGNATURE_TOLERANCE_SECONDS) {
    return new DomainError(
      'WEBHOOK_TIMESTAMP_OUT_OF_RANGE',
      `The signature is dated ${Math.abs(skew)} s ${skew > 0 ? 'ago' : 'ahead'}; at most ${SIGNATURE_TOLERANCE_SECONDS} s either way is accepted`,
    );
  }
  return null;
}
