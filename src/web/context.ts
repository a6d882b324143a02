import type { Principal } from '../api/route.ts';
import type { EntityContext } from '../ledger/entities.ts';

import type { Role } from '../domain/roles.ts';

export type { Role };

/** Who is looking at the dashboard: a signed-in user (or a bearer token) of one entity. */
export interface Viewer {
  entity: EntityContext;
  role: Role;
  user: { id: string; email: string } | null;
  /** Who is recorded as doing what this viewer does (`user:<id>`). */
  actor: string;
  /** The session's CSRF token, sent back by every form and htmx request; null for a bearer token. */
  csrfToken: string | null;
  /** The entities this user may switch to, with their role in each. */
  entities: { code: string; name: string; role: Role }[];
  /** The principal behind it, as the /v1 routes see it. */
  principal: Principal;
}

/** What every page is rendered with. */
export interface PageContext {
  viewer: Viewer;
  /** The locale of dates and amounts, from Accept-Language. */
  locale: string;
  now: Date;
  /** The path and query of this page, for links back to it. */
  url: string;
}
