import pino, { type Logger } from 'pino';

/** Structured logs. Credentials and tokens are redacted wherever they appear in a logged object. */
export function createLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        '*.partnerKey',
        '*.userKey',
        '*.apiKey',
        '*.password',
        '*.secret',
        '*.token',
      ],
      censor: '[redacted]',
    },
  });
}
