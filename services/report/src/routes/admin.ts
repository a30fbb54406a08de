import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import {
  organisationRepository,
  outboxRepository,
  programmeRepository,
  rosterRepository,
  type Database,
} from '@panorama/db';
import { NotFoundError, ValidationError, type SecretKeys } from '@panorama/domain';
import { closeCycle, openCycle, sendReminders, type LifecycleDeps } from '../admin/cycle-lifecycle.ts';
import { createProgrammeWithCycles } from '../admin/programmes.ts';
import { importRoster, parseRosterCsv } from '../admin/roster-import.ts';
import { requireRole } from '../auth/session.ts';
import { page } from '../render.ts';
import { adminCycleView, adminProgrammesView } from '../admin/view-models.ts';

export interface AdminDeps {
  db: Kysely<Database>;
  keys: SecretKeys;
  surveyBaseUrl: string;
  instrumentsDir: string;
  pushJobs: () => Promise<void>;
  completions?: LifecycleDeps['completions'];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
/**
 * A day that exists: `2030-13-01` matches DATE but is an Invalid Date, which reached SQL as a 500, and
 * `2030-02-31` would silently become 3 March (both found by test/security/fuzz-report.test.ts).
 */
const isDay = (value: string) => {
  if (!DATE.test(value)) return false;
  const day = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(day.getTime()) && day.toISOString().slice(0, 10) === value;
};
const MAX_NAME = 200;
// Control characters and bidi overrides make a name display differently from what is stored.
// eslint-disable-next-line no-control-regex
const UNSAFE_TEXT = /[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\uFFFD]/;

type Fields = Record<string, unknown>;
const text = (body: unknown, name: string) => {
  const value = (body as Fields | undefined)?.[name];
  return typeof value === 'string' ? value.trim() : Buffer.isBuffer(value) ? value.toString('utf8') : '';
};

/** The cycle named by `:id`, for HR and admins of its organisation only; a 404 for anything else. */
export async function adminCycleOf(db: AdminDeps['db'], request: FastifyRequest<{ Params: { id: string } }>) {
  const viewer = requireRole(request, 'admin', 'hr');
  const cycle = UUID.test(request.params.id)
    ? await programmeRepository.findCycleInOrganisation(db, request.params.id, viewer.organisationId)
    : undefined;
  if (!cycle) throw new NotFoundError('There is no such cycle.');
  return { viewer, cycle };
}

/** Admin pages: programmes, cycles, roster import, open / remind / close. HR and admins of the organisation only. */
export function adminRoutes(deps: AdminDeps) {
  return async (app: FastifyInstance) => {
    const cycleOf = (request: FastifyRequest<{ Params: { id: string } }>) => adminCycleOf(deps.db, request);

    const renderCycle = async (
      request: FastifyRequest<{ Params: { id: string } }>,
      reply: Parameters<typeof page>[1],
      extra: { notice?: string; problems?: { path: string; message: string }[] } = {},
    ) => {
      const { cycle } = await cycleOf(request);
      // This cycle's emails only: a sign-in or report email that bounced belongs to no cycle.
      const [subjects, invitations, bounced, delayed] = await Promise.all([
        rosterRepository.subjectsOfCycle(deps.db, cycle.id),
        rosterRepository.invitationsOfCycle(deps.db, cycle.id),
        outboxRepository.failedEmailsOfCycle(deps.db, cycle.id),
        outboxRepository.delayedEmailsOfCycle(deps.db, cycle.id),
      ]);
      return page(request, reply, 'admin-cycle.hbs', {
        pageTitle: `${cycle.programme_name}: ${cycle.name}`,
        ...adminCycleView({ cycle, subjects, invitations, bounced, delayed }),
        ...extra,
      });
    };

    app.get('/admin', async (request, reply) => {
      const viewer = requireRole(request, 'admin', 'hr');
      const programmes = await programmeRepository.listForOrganisation(deps.db, viewer.organisationId);
      const cycles = await Promise.all(programmes.map((p) => programmeRepository.cyclesOf(deps.db, p.id)));
      return page(request, reply, 'admin-programmes.hbs', {
        pageTitle: 'Admin',
        ...adminProgrammesView(programmes, cycles),
      });
    });

    app.post('/admin/programmes', async (request, reply) => {
      const viewer = requireRole(request, 'admin', 'hr');
      const name = text(request.body, 'name');
      const baseline = text(request.body, 'baseline_closes');
      const followUp = text(request.body, 'follow_up_closes');
      const problems: { path: string; message: string }[] = [];
      if (!name) problems.push({ path: 'name', message: 'Give the programme a name.' });
      else if (name.length > MAX_NAME || UNSAFE_TEXT.test(name))
        problems.push({
          path: 'name',
          message: `Use at most ${MAX_NAME} characters, without control characters.`,
        });
      if (!isDay(baseline))
        problems.push({ path: 'baseline_closes', message: 'Choose the baseline deadline.' });
      if (followUp && !isDay(followUp))
        problems.push({ path: 'follow_up_closes', message: 'Use a date like 2027-06-30.' });
      if (problems.length > 0) throw new ValidationError('The programme could not be created.', problems);
      const result = await createProgrammeWithCycles(deps.db, {
        organisationId: viewer.organisationId,
        name,
        instrumentFile: path.join(deps.instrumentsDir, 'leadership-360', 'instrument.yaml'),
        baselineClosesAt: new Date(`${baseline}T23:59:59Z`),
        followUpClosesAt: followUp ? new Date(`${followUp}T23:59:59Z`) : null,
      });
      await organisationRepository.audit(deps.db, {
        organisationId: viewer.organisationId,
        actorId: viewer.personId,
        action: 'programme.created',
        targetId: result.programme.id,
      });
      return reply.redirect(`/admin/cycles/${result.baseline.id}`, 303);
    });

    app.get<{ Params: { id: string }; Querystring: { asked?: string; resent?: string } }>(
      '/admin/cycles/:id',
      async (request, reply) => {
        const asked = Number(request.query.asked);
        const notice =
          Number.isInteger(asked) && asked >= 0
            ? `Nomination links sent to ${asked} leaders.`
            : request.query.resent === '1'
              ? 'A new nomination link is on its way to the leader; the earlier one still works.'
              : undefined;
        return renderCycle(request, reply, notice ? { notice } : {});
      },
    );

    app.post<{ Params: { id: string } }>('/admin/cycles/:id/roster', async (request, reply) => {
      const { viewer, cycle } = await cycleOf(request);
      const csv = text(request.body, 'roster');
      try {
        if (!csv.trim()) throw new ValidationError('Choose a CSV file to import.', []);
        const result = await importRoster(deps.db, { cycleId: cycle.id, rows: parseRosterCsv(csv) });
        await organisationRepository.audit(deps.db, {
          organisationId: viewer.organisationId,
          actorId: viewer.personId,
          action: 'roster.imported',
          targetId: cycle.id,
          details: result,
        });
        return renderCycle(request, reply, {
          notice: `Imported ${result.leaders} leaders and ${result.invitations} invitations.`,
        });
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        reply.code(400);
        return renderCycle(request, reply, {
          problems: [{ path: '', message: error.message }, ...error.problems],
        });
      }
    });

    const action = (name: 'open' | 'remind' | 'close', run: (cycleId: string) => Promise<string>) =>
      app.post<{ Params: { id: string } }>(`/admin/cycles/:id/${name}`, async (request, reply) => {
        const { viewer, cycle } = await cycleOf(request);
        const notice = await run(cycle.id);
        await organisationRepository.audit(deps.db, {
          organisationId: viewer.organisationId,
          actorId: viewer.personId,
          action: `cycle.${name}`,
          targetId: cycle.id,
        });
        await deps.pushJobs();
        return renderCycle(request, reply, { notice });
      });
    const lifecycle = {
      db: deps.db,
      keys: deps.keys,
      surveyBaseUrl: deps.surveyBaseUrl,
      completions: deps.completions,
    };
    action('open', async (id) => {
      const r = await openCycle(lifecycle, id);
      return `The cycle is open: ${r.invitations} invitations in ${r.emails} emails are on their way.`;
    });
    action('remind', async (id) => {
      const r = await sendReminders(lifecycle, id);
      return `Reminders sent for ${r.reminded.invitations} invitations; ${r.invited.invitations} new raters invited.`;
    });
    action('close', async (id) => {
      const r = await closeCycle({ db: deps.db }, id);
      return `The cycle is closed. Final profiles for ${r.subjects} leaders are being computed.`;
    });
  };
}
