import type { AnyRoute } from '../route.ts';

export const setupRoutes: AnyRoute[] = [];
