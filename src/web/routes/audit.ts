import { h } from 'preact';
import { AuditPage, AuditQuery, loadAudit } from '../pages/audit.tsx';
import type { Dashboard } from '../plugin.ts';
import { sendPage } from '../render.ts';

/**
 * GET /audit: the entity's audit trail, for every role. A viewer reads it through GET /v1/audit
 * already (docs/security.md); entries hold no secrets, and a viewer is often the auditor.
 */
export function registerAuditPage(d: Dashboard): void {
  const { db } = d.services;
  d.page('/audit', async (ctx, request, reply) => {
    const data = await loadAudit(db, ctx.viewer.entity.id, AuditQuery.parse(request.query ?? {}));
    return sendPage(reply, h(AuditPage, { ctx, data }));
  });
}
