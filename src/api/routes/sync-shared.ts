import type { RouteContext } from '../route.ts';

/** The entity a caller is confined to: its own for an entity token, none for the admin token. */
export function scopeOf(ctx: RouteContext<unknown, unknown, unknown>): string | undefined {
  return ctx.principal.kind === 'entity' ? ctx.principal.entity.id : undefined;
}
