import { z } from 'zod';
import { defineRoute } from '../route.ts';

export const getHealth = defineRoute({
  method: 'GET',
  path: '/health',
  operationId: 'getHealth',
  summary: 'Liveness and database check',
  tags: ['system'],
  auth: 'none',
  success: {
    status: 200,
    description: 'The server and its database answer.',
    schema: z.object({ status: z.literal('ok'), database: z.string(), time: z.string() }),
  },
  errors: ['SERVICE_UNAVAILABLE'],
  handler: async ({ db, services }) => {
    await db.query('SELECT 1');
    return { status: 'ok', database: services.db.kind, time: new Date().toISOString() };
  },
});
