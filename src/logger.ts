import pino, { type Logger } from 'pino';

const REDACT = {
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
};

/**
 * Structured JSON logs; on a terminal they are pretty-printed for people. Credentials and tokens
 * are redacted wherever they appear in a logged object.
 */
export function createLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  const pretty = process.stdout.isTTY && !process.env.LOG_JSON;
  return pino({
    level,
    redact: REDACT,
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' },
          },
        }
      : {}),
  });
}
