import type { FastifyReply, FastifyRequest } from 'fastify';
import { type ComponentChildren, h } from 'preact';
import type { z } from 'zod';
import { SettingsBody, saveSettings } from '../../api/routes/settings.ts';
import {
  AddUserBody,
  CreateApiKeyBody,
  UpdateUserBody,
  addUser,
  changeUser,
  createUserApiKey,
  listUserApiKeys,
  reissueUserLink,
  revokeUserApiKey,
} from '../../api/routes/users.ts';
import type { RouteContext } from '../../api/route.ts';
import type { Queryable } from '../../db/database.ts';
import { DomainError, isDomainError } from '../../domain/errors.ts';
import { recordAudit } from '../../ledger/audit.ts';
import { getAllSettings } from '../../ledger/settings.ts';
import { INVITATION_DAYS, listInvitations, listMembers } from '../../ledger/users.ts';
import { ErrorNotice, SuccessNotice } from '../components/common.tsx';
import {
  type FieldProblem,
  type FieldWords,
  errorProblems,
  problemsInWords,
  refusalInWords,
  zodProblems,
} from '../components/field-errors.tsx';
import type { PageContext } from '../context.ts';
import { API_KEY_WORDS, ApiKeysPage, ApiKeysRegion } from '../pages/api-keys.tsx';
import {
  ADD_USER_WORDS,
  SETTINGS_FIELDS,
  SettingsForm,
  SettingsPage,
  ShownOnce,
  UsersRegion,
  settingsValues,
  settingsWords,
} from '../pages/settings.tsx';
import type { Dashboard } from '../plugin.ts';
import { sendFragment, sendPage } from '../render.ts';
import { assertMayChange } from '../session.ts';

type Form = Record<string, string | string[]>;

function formOf(body: unknown): Form {
  return body && typeof body === 'object' ? (body as Form) : {};
}

/** One value of a form field; a name sent twice is not a value we asked for. */
function one(form: Form, name: string): string | undefined {
  const v = form[name];
  return typeof v === 'string' ? v : undefined;
}

/** The owner-only pages refuse others on the server, whatever the navigation shows. */
function requireOwner(ctx: PageContext): void {
  if (ctx.viewer.role !== 'owner') {
    throw new DomainError(
      'FORBIDDEN_ROLE',
      `Settings and users need the owner role; you are signed in as ${ctx.viewer.role} of ${ctx.viewer.entity.code}.`,
      { requiredRole: 'owner', role: ctx.viewer.role },
    );
  }
}

/** Audit entries of a dashboard change: written in its transaction, as the viewer. */
function auditIn(tx: Queryable, ctx: PageContext): RouteContext<unknown, unknown, unknown>['audit'] {
  return (entry) =>
    recordAudit(tx, { ...entry, entityId: entry.entityId ?? ctx.viewer.entity.id, actor: ctx.viewer.actor });
}

const LABELS = new Map(SETTINGS_FIELDS.flatMap((g) => g.fields.map((f) => [f.name, f.label] as const)));
const SETTINGS_WORDS: Record<string, FieldWords> = settingsWords();

/**
 * The change a settings form asks for: only the fields whose value differs from the one the form was
 * shown with. Empty clears a field that may be empty (the lock date, a branding line); an address is
 * sent whole when any of its lines changed.
 */
export function settingsPatch(form: Form): { patch: Record<string, unknown>; changed: string[] } {
  const patch: Record<string, unknown> = {};
  const branding: Record<string, unknown> = {};
  const changed: string[] = [];
  let addressChanged = false;
  for (const name of LABELS.keys()) {
    const value = one(form, name);
    if (value === undefined) continue;
    if (value.trim() === (one(form, `was.${name}`) ?? '').trim()) continue;
    changed.push(name);
    const v = value.trim();
    if (name.startsWith('branding.address.')) addressChanged = true;
    else if (name.startsWith('branding.')) branding[name.slice('branding.'.length)] = v === '' ? null : v;
    else if (name === 'lockDate') patch.lockDate = v === '' ? null : v;
    else patch[name] = v;
  }
  if (addressChanged) {
    const address: Record<string, string> = {};
    for (const part of ['street', 'postalCode', 'city', 'country']) {
      const v = one(form, `branding.address.${part}`)?.trim();
      if (v) address[part] = v;
    }
    branding.address = Object.keys(address).length ? address : null;
  }
  if (Object.keys(branding).length) patch.branding = branding;
  return { patch, changed };
}

/** GET /settings (owners), /settings/api-keys (everyone); POST the changes they make. */
export function registerSettingsPages(d: Dashboard): void {
  const { services } = d;
  const db = services.db;

  /** The entity's members and the invitations of existing accounts not yet accepted. */
  const people = async (entityId: string) => ({
    members: await listMembers(db, entityId),
    invitations: await listInvitations(db, entityId),
  });

  d.page('/settings', async (ctx, _request, reply) => {
    requireOwner(ctx);
    const [users, settings] = [await people(ctx.viewer.entity.id), await getAllSettings(db, ctx.viewer.entity.id)];
    return sendPage(reply, h(SettingsPage, { ctx, ...users, settings }));
  });

  /** Runs an owner's change to the users and answers the users region, with its outcome. */
  const usersAction = async (
    ctx: PageContext,
    request: FastifyRequest,
    reply: FastifyReply,
    work: (tx: Queryable) => Promise<{ notice: ComponentChildren; addValues?: { email?: string; role?: string } }>,
  ) => {
    assertMayChange(request, services, ctx.viewer, 'owner');
    try {
      const done = await db.transaction(work);
      return sendFragment(reply, h(UsersRegion, { ctx, ...(await people(ctx.viewer.entity.id)), notice: done.notice }));
    } catch (err) {
      if (!isDomainError(err)) throw err;
      const users = await people(ctx.viewer.entity.id);
      const form = formOf(request.body);
      const isAdd = request.url.split('?')[0] === '/settings/users';
      const values = { email: one(form, 'email') ?? '', role: one(form, 'role') ?? 'viewer' };
      // A refusal of what was typed is said beside its field, in words, and what was typed is kept.
      const problems = isAdd ? refusalInWords(err, ADD_USER_WORDS, values) : null;
      return sendFragment(
        reply,
        h(UsersRegion, {
          ctx,
          ...users,
          notice: problems ? undefined : h(ErrorNotice, { code: err.code, message: err.message }),
          ...(problems ? { addProblems: problems } : {}),
          ...(isAdd ? { addValues: values } : {}),
        }),
        err.status,
      );
    }
  };

  /** The body a form asks for, or its refusal: each problem with zod's issue code and limits, to be put in words. */
  const parse = <T extends z.ZodType>(schema: T, value: unknown): z.output<T> => {
    const r = schema.safeParse(value);
    if (!r.success) {
      const problems = zodProblems(r.error);
      throw new DomainError('VALIDATION_ERROR', problems.map((p) => `${p.field}: ${p.message}`).join('; '), problems);
    }
    return r.data;
  };

  d.action('/settings/users', async (ctx, request, reply) =>
    usersAction(ctx, request, reply, async (tx) => {
      const form = formOf(request.body);
      const body = parse(AddUserBody, { email: one(form, 'email'), role: one(form, 'role') });
      const added = await addUser(tx, ctx.viewer.entity.id, body, services.config, auditIn(tx, ctx));
      const notice = added.invitation
        ? h(
            ShownOnce,
            { id: 'new-sign-in-link', label: `Invitation for ${added.invitation.email}`, value: added.signInLink! },
            h(
              'p',
              null,
              `${added.invitation.email} already has an account, so they are invited as ${added.invitation.role}: ` +
                `send them this link (valid ${INVITATION_DAYS} days). They join once they open it and accept with their own password.`,
            ),
          )
        : added.signInLink
          ? h(
              ShownOnce,
              { id: 'new-sign-in-link', label: `Sign-in link for ${added.user!.email}`, value: added.signInLink },
              h(
                'p',
                null,
                `${added.user!.email} was added as ${added.user!.role}. Send them this link (valid 24 hours).`,
              ),
            )
          : h(
              SuccessNotice,
              null,
              `${added.user!.email} was added as ${added.user!.role}. They already sign in elsewhere: their password stays.`,
            );
      return { notice };
    }),
  );

  d.action('/settings/users/:id', async (ctx, request, reply) =>
    usersAction(ctx, request, reply, async (tx) => {
      const form = formOf(request.body);
      const disabled = one(form, 'disabled');
      const body = parse(UpdateUserBody, {
        role: one(form, 'role'),
        disabled: disabled === undefined ? undefined : disabled === 'true',
      });
      const id = (request.params as { id: string }).id;
      const m = await changeUser(tx, ctx.viewer.entity.id, id, body, auditIn(tx, ctx));
      const what = body.role !== undefined ? `is now ${m.role}` : m.disabled ? 'is disabled' : 'is enabled';
      return { notice: h(SuccessNotice, null, `${m.email} ${what}.`) };
    }),
  );

  d.action('/settings/users/:id/sign-in-link', async (ctx, request, reply) =>
    usersAction(ctx, request, reply, async (tx) => {
      const id = (request.params as { id: string }).id;
      const link = await reissueUserLink(tx, ctx.viewer.entity.id, id, services.config, auditIn(tx, ctx));
      return {
        notice: h(ShownOnce, { id: 'new-sign-in-link', label: 'New sign-in link', value: link.signInLink }),
      };
    }),
  );

  d.action('/settings/entity', async (ctx, request, reply) => {
    assertMayChange(request, services, ctx.viewer, 'owner');
    const form = formOf(request.body);
    const { patch, changed } = settingsPatch(form);
    const submitted = Object.fromEntries([...LABELS.keys()].map((n) => [n, one(form, n) ?? '']));
    const was = Object.fromEntries([...LABELS.keys()].map((n) => [n, one(form, `was.${n}`) ?? '']));
    const refuse = (problems: FieldProblem[], status: number) =>
      sendFragment(reply, h(SettingsForm, { values: submitted, was, problems }), status);
    const inWords = (code: string, raw: Parameters<typeof problemsInWords>[0]) =>
      problemsInWords(raw, code, SETTINGS_WORDS, submitted);
    if (changed.length === 0) {
      const values = settingsValues(await getAllSettings(db, ctx.viewer.entity.id));
      return sendFragment(
        reply,
        h(SettingsForm, {
          values,
          was: values,
          notice: h(SuccessNotice, null, 'Nothing to save: no field was changed.'),
        }),
      );
    }
    // Every wrong value at once (the schema checks each field): one problem beside each field.
    const body = SettingsBody.safeParse(patch);
    if (!body.success) return refuse(inWords('VALIDATION_ERROR', zodProblems(body.error)), 400);
    try {
      const saved = await db.transaction((tx) => saveSettings(tx, ctx.viewer.entity.id, body.data, auditIn(tx, ctx)));
      const values = settingsValues(saved.after);
      const names = changed.map((n) => LABELS.get(n) ?? n).join(', ');
      return sendFragment(
        reply,
        h(SettingsForm, { values, was: values, notice: h(SuccessNotice, null, `Saved: ${names}.`) }),
      );
    } catch (err) {
      if (!isDomainError(err)) throw err;
      return refuse(inWords(err.code, errorProblems(err)), err.status);
    }
  });

  // Every role has API keys of its own.
  d.page('/settings/api-keys', async (ctx, _request, reply) => {
    const keys = await listUserApiKeys(db, ctx.viewer.principal);
    return sendPage(reply, h(ApiKeysPage, { ctx, keys }));
  });

  const keysAction = async (
    ctx: PageContext,
    request: FastifyRequest,
    reply: FastifyReply,
    work: (tx: Queryable) => Promise<ComponentChildren>,
    /** What the create form was sent with: a refusal of it is said beside its fields, and what was typed kept. */
    typed?: { name: string; role: string },
  ) => {
    assertMayChange(request, services, ctx.viewer, 'viewer');
    let notice: ComponentChildren;
    let problems: FieldProblem[] | null = null;
    let status = 200;
    try {
      notice = await db.transaction(work);
    } catch (err) {
      if (!isDomainError(err)) throw err;
      problems = typed ? refusalInWords(err, API_KEY_WORDS, typed) : null;
      notice = problems ? null : h(ErrorNotice, { code: err.code, message: err.message });
      status = err.status;
    }
    const keys = await listUserApiKeys(db, ctx.viewer.principal);
    return sendFragment(
      reply,
      h(ApiKeysRegion, { ctx, keys, notice, ...(problems ? { problems, values: typed } : {}) }),
      status,
    );
  };

  d.action('/settings/api-keys', async (ctx, request, reply) => {
    const form = formOf(request.body);
    const typed = { name: one(form, 'name') ?? '', role: one(form, 'role') ?? ctx.viewer.role };
    return keysAction(
      ctx,
      request,
      reply,
      async (tx) => {
        const body = parse(CreateApiKeyBody, { name: one(form, 'name'), role: one(form, 'role') });
        const created = await createUserApiKey(tx, ctx.viewer.principal, body, auditIn(tx, ctx));
        return h(
          ShownOnce,
          { id: 'new-api-key', label: `The key “${created.name}” (${created.role})`, value: created.key },
          h('p', null, 'Created.'),
        );
      },
      typed,
    );
  });

  d.action('/settings/api-keys/:id/revoke', async (ctx, request, reply) =>
    keysAction(ctx, request, reply, async (tx) => {
      const id = (request.params as { id: string }).id;
      if (!/^[0-9a-f-]{36}$/i.test(id)) throw new DomainError('NOT_FOUND', 'No such API key.');
      await revokeUserApiKey(tx, ctx.viewer.principal, id, auditIn(tx, ctx));
      return h(SuccessNotice, null, 'Revoked: the key is refused from now on.');
    }),
  );
}
