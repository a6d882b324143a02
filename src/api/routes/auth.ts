import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { login } from '../../ledger/sessions.ts';

export const loginRoute = defineRoute({
  method: 'POST',
  path: '/v1/auth/login',
  operationId: 'login',
  summary: 'Exchange an entity id and its key pair for a bearer token',
  description: 'The token is valid for 20 minutes (LEDGERLINK_TOKEN_TTL_SECONDS) and sees only its own entity.',
  tags: ['auth'],
  auth: 'none',
  body: z.strictObject({
    entityId: z.string().min(1).max(100),
    partnerKey: z.string().min(1).max(200),
    userKey: z.string().min(1).max(200),
  }),
  example: { entityId: '6f1c…', partnerKey: 'pk_…', userKey: 'uk_…' },
  success: {
    status: 200,
    description: 'A bearer token and when it expires.',
    schema: z.object({ token: z.string(), expiresAt: z.string() }),
  },
  errors: ['INVALID_CREDENTIALS'],
  handler: async ({ db, body, services, audit }) => {
    const session = await login(db, body, services.config.tokenTtlSeconds);
    await audit({ entityId: body.entityId, action: 'auth.login', objectType: 'session' });
    return session;
  },
});
