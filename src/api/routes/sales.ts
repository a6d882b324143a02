import type { AnyRoute } from '../route.ts';

export const salesRoutes: AnyRoute[] = [];
