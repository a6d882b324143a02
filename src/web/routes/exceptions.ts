import type { FastifyReply } from 'fastify';
import { h } from 'preact';
import { z } from 'zod';
import { ResolveBody } from '../../api/routes/exceptions.ts';
import { DomainError, isDomainError } from '../../domain/errors.ts';
import { getException, requireException, resolveOpenException, retryException } from '../../sync/exceptions.ts';
import { bookedBesides } from '../../sync/runs.ts';
import { auditAs } from '../../sync/pipelines.ts';
import { ErrorNotice, SuccessNotice } from '../components/common.tsx';
import { problemsInWords, zodProblems } from '../components/field-errors.tsx';
import type { PageContext } from '../context.ts';
import { actorLabel } from '../actors.ts';
import { type Exception, ExceptionDetailPage, ExceptionPanel, RESOLVE_WORDS } from '../pages/exception-detail.tsx';
import {
  ExceptionsPage,
  ExceptionsQuery,
  ExceptionsRegion,
  type RetryResult,
  loadExceptions,
  noRetry,
} from '../pages/exceptions.tsx';
import type { Dashboard } from '../plugin.ts';
import { sendFragment, sendPage } from '../render.ts';
import { assertMayChange } from '../session.ts';

const ExceptionId = z.object({
  id: z.coerce
    .number()
    .int()
    .positive()
    .max(2 ** 53 - 1),
});
/** At most this many exceptions are retried by one bulk retry (a page of the list holds 50). */
const BULK_LIMIT = 100;

function idOf(params: unknown): number {
  const r = ExceptionId.safeParse(params);
  if (!r.success) throw new DomainError('NOT_FOUND', 'No exception here: exception ids are whole numbers.');
  return r.data.id;
}

function formOf(body: unknown): Record<string, string | string[]> {
  return body && typeof body === 'object' ? (body as Record<string, string | string[]>) : {};
}

/** The filters the bulk-retry form carried (`filter.pipeline`, …), to show the same list afterwards. */
function filtersOf(form: Record<string, string | string[]>) {
  const pick = (k: string) => {
    const v = form[`filter.${k}`];
    return typeof v === 'string' ? v : undefined;
  };
  return ExceptionsQuery.parse({
    pipeline: pick('pipeline'),
    reason: pick('reason'),
    age: pick('age'),
    needs: pick('needs'),
    status: pick('status'),
    page: pick('page'),
  });
}

/** GET /exceptions and /exceptions/{id}; POST retry, bulk retry and resolve. */
export function registerExceptionPages(d: Dashboard): void {
  const { services } = d;
  const db = services.db;

  d.page('/exceptions', async (ctx, request, reply) => {
    const query = ExceptionsQuery.parse(request.query ?? {});
    const data = await loadExceptions(db, services.sync.box, ctx.viewer.entity.id, query, ctx.now);
    return sendPage(reply, h(ExceptionsPage, { ctx, data }));
  });

  const labelled = async (x: Exception): Promise<Exception> =>
    x.resolvedBy ? { ...x, resolvedByLabel: await actorLabel(db, x.entityId, x.resolvedBy) } : x;

  d.page('/exceptions/:id', async (ctx, request, reply) => {
    const x = await labelled(await requireException(db, idOf(request.params), ctx.viewer.entity.id));
    return sendPage(reply, h(ExceptionDetailPage, { ctx, x }));
  });

  const retry = async (ctx: PageContext, id: number) =>
    retryException(db, services.sync, id, ctx.viewer.actor, { entityId: ctx.viewer.entity.id, field: 'id' });

  /**
   * A refusal of a change to an exception, said in its panel in place of the notice before it (which
   * it may contradict); one of an exception not shown here goes to the page's flash area.
   */
  const refusedInPanel = async (ctx: PageContext, reply: FastifyReply, id: number, err: unknown) => {
    if (!isDomainError(err) || err.code === 'NOT_FOUND') throw err;
    const x = await getException(db, id, ctx.viewer.entity.id);
    if (!x) throw err;
    const notice = h(ErrorNotice, { code: err.code, message: err.message });
    return sendFragment(reply, h(ExceptionPanel, { ctx, x: await labelled(x), notice }), err.status);
  };

  d.action('/exceptions/:id/retry', async (ctx, request, reply) => {
    assertMayChange(request, services, ctx.viewer, 'accountant');
    const id = idOf(request.params);
    const current = await requireException(db, id, ctx.viewer.entity.id);
    // One that cannot be retried is not offered a retry; asked anyway (an old page), it says what to do instead.
    const blocked = current.status === 'open' ? noRetry(current) : null;
    if (blocked) {
      const notice = h(ErrorNotice, { code: 'VALIDATION_ERROR', message: blocked.text });
      return sendFragment(reply, h(ExceptionPanel, { ctx, x: await labelled(current), notice }), 400);
    }
    let outcome: Awaited<ReturnType<typeof retry>>;
    try {
      outcome = await retry(ctx, id);
    } catch (err) {
      return refusedInPanel(ctx, reply, id, err);
    }
    const x = await labelled(outcome.exception);
    const besides = x.status === 'resolved' ? await bookedBesides(db, outcome.runId, x.kind, x.sourceId) : 0;
    const notice =
      x.status === 'resolved'
        ? h(
            SuccessNotice,
            null,
            'Retried: the record went through and the exception is resolved. ',
            besides > 0
              ? `${besides} other parked record${besides === 1 ? '' : 's'} that needed it went through with it. `
              : null,
            runLink(outcome.runId),
          )
        : h(
            'div',
            { class: 'notice notice-warning', role: 'status' },
            `Retried, but the record was parked again: ${x.reasonCode}. `,
            runLink(outcome.runId),
          );
    return sendFragment(reply, h(ExceptionPanel, { ctx, x, notice }));
  });

  d.action('/exceptions/:id/resolve', async (ctx, request, reply) => {
    assertMayChange(request, services, ctx.viewer, 'accountant');
    const id = idOf(request.params);
    const form = formOf(request.body);
    const note = typeof form.note === 'string' ? form.note : undefined;
    const body = ResolveBody.safeParse({ note: note?.trim() });
    if (!body.success) {
      // Said at the note, in words, with what was typed kept; the panel's earlier notice goes.
      const x = await labelled(await requireException(db, id, ctx.viewer.entity.id));
      const [noteProblem] = problemsInWords(zodProblems(body.error), 'VALIDATION_ERROR', RESOLVE_WORDS, { note });
      return sendFragment(reply, h(ExceptionPanel, { ctx, x, noteProblem, note }), 400);
    }
    let resolved: Awaited<ReturnType<typeof resolveOpenException>>;
    try {
      resolved = await db.transaction((tx) =>
        resolveOpenException(tx, id, body.data.note, {
          actor: ctx.viewer.actor,
          entityId: ctx.viewer.entity.id,
          field: 'id',
          audit: auditAs(tx, ctx.viewer.actor),
        }),
      );
    } catch (err) {
      return refusedInPanel(ctx, reply, id, err);
    }
    const x = await labelled(resolved);
    return sendFragment(reply, h(ExceptionPanel, { ctx, x, notice: h(SuccessNotice, null, 'Resolved.') }));
  });

  d.action('/exceptions/retry', async (ctx, request, reply) => {
    assertMayChange(request, services, ctx.viewer, 'accountant');
    const form = formOf(request.body);
    const given = form.id === undefined ? [] : Array.isArray(form.id) ? form.id : [form.id];
    // Refused as a whole: said in the list's place for results, replacing those of the retry before.
    const refuse = async (message: string) => {
      const data = await loadExceptions(db, services.sync.box, ctx.viewer.entity.id, filtersOf(form), ctx.now);
      const refusal = { code: 'VALIDATION_ERROR', message };
      return sendFragment(reply, h(ExceptionsRegion, { ctx, data, refusal }), 400);
    };
    if (given.length === 0) return refuse('Select at least one exception to retry.');
    if (given.length > BULK_LIMIT) return refuse(`Retry at most ${BULK_LIMIT} exceptions at once.`);
    const results: RetryResult[] = [];
    const { rows: clock } = await db.query<{ at: Date }>('SELECT now() AS at');
    const started = clock[0]!.at;
    // One by one: each is a run of its own, and one that fails never stops the others.
    for (const raw of given) {
      const parsed = ExceptionId.safeParse({ id: raw });
      if (!parsed.success) {
        results.push({ id: 0, outcome: 'refused', message: `"${raw.slice(0, 20)}" is not an exception id` });
        continue;
      }
      const id = parsed.data.id;
      // Booked by the run of one retried before it, as what it needed came with that one.
      const before = await getException(db, id, ctx.viewer.entity.id);
      if (before?.status === 'resolved' && before.resolvedAt && new Date(before.resolvedAt) >= started) {
        results.push({ id, outcome: 'resolved', message: 'went through with one retried before it' });
        continue;
      }
      // Not retried, and said what to do instead (the list offers no checkbox for it; an old page may).
      const blocked = before?.status === 'open' ? noRetry(before) : null;
      if (blocked) {
        results.push({ id, outcome: 'refused', message: blocked.text });
        continue;
      }
      try {
        const outcome = await retry(ctx, id);
        const x = outcome.exception;
        results.push(
          x.status === 'resolved'
            ? { id, outcome: 'resolved', message: 'went through' }
            : { id, outcome: 'open', message: `parked again: ${x.reasonCode}` },
        );
      } catch (err) {
        if (!isDomainError(err)) throw err;
        results.push({ id, outcome: 'refused', message: err.message });
      }
    }
    const data = await loadExceptions(db, services.sync.box, ctx.viewer.entity.id, filtersOf(form), ctx.now);
    return sendFragment(reply, h(ExceptionsRegion, { ctx, data, results }));
  });
}

function runLink(runId: string) {
  return h('a', { href: `/runs/${runId}` }, 'Open the run');
}
