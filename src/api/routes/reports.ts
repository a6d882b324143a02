import type { AnyRoute } from '../route.ts';

export const reportRoutes: AnyRoute[] = [];
