/** What a caller may do in an entity; each role includes the ones below it. */
export type Role = 'owner' | 'accountant' | 'viewer';

/** Roles from least to most: a principal reaches a route when its rank is at least the route's. */
export const ROLES: readonly Role[] = ['viewer', 'accountant', 'owner'];

/** True when `role` is at least `needed`. */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** The lesser of two roles (an API key never acts above its user's current role). */
export function lesserRole(a: Role, b: Role): Role {
  return roleAtLeast(a, b) ? b : a;
}
