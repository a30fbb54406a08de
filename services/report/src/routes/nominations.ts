import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { programmeRepository, rosterRepository } from '@panorama/db';
import { ConflictError, NotFoundError, ValidationError } from '@panorama/domain';
import {
  approveNominations,
  editableStatuses,
  minimumsOf,
  nominate,
  nominationStatus,
  NOMINATED_GROUPS,
  openNominations,
  regroupNominee,
  removeNominee,
  resendNomination,
  resolveNomination,
  submitNominations,
  withdrawNominee,
  type Minimums,
  type NominationDeps,
  type NomineeRow,
} from '../admin/nominations.ts';
import { requireRole } from '../auth/session.ts';
import { page } from '../render.ts';
import { adminCycleOf } from './admin.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ROWS = 5;
const RELATIONSHIP_OPTIONS = [
  { value: 'manager', label: 'Manager' },
  { value: 'peer', label: 'Peer' },
  { value: 'direct_report', label: 'Direct report' },
  { value: 'other', label: 'Other (e.g. a client or partner)' },
];

type Body = Record<string, string | undefined>;

function rowsFrom(body: Body): NomineeRow[] {
  return Array.from({ length: ROWS }, (_, i) => ({
    name: body[`name_${i}`] ?? '',
    email: body[`email_${i}`] ?? '',
    relationship: body[`relationship_${i}`] ?? '',
  }));
}

/**
 * What a nominating leader or an approving coach sees: the people nominated and approved, by name, but
 * never who has responded or declined. A nominee who declined stays on the list exactly as before (same
 * state); declines show only as a count per group, so a replacement can be found. The admin's cycle page
 * is the one place that names who declined.
 */
async function nominationView(
  deps: NominationDeps,
  subjectId: string,
  settings: Record<string, unknown>,
  cycleStatus: string,
) {
  const minimums = minimumsOf(settings);
  const status = await nominationStatus(deps.db, subjectId, minimums);
  const label = (rel: string) => RELATIONSHIP_OPTIONS.find((o) => o.value === rel)?.label ?? rel;
  const visible = status.nominees.filter((n) => n.status !== 'cancelled');
  const editable = new Set<string>(editableStatuses(cycleStatus));
  const declined = NOMINATED_GROUPS.map((g) => ({
    group: label(g),
    count: status.nominees.filter((n) => n.relationship === g && n.status === 'declined').length,
  })).filter((d) => d.count > 0);
  return {
    nominees: visible.map((n) => ({
      id: n.id,
      name: n.name,
      email: n.email,
      relationship: label(n.relationship),
      state: n.status === 'nominated' ? 'Awaiting approval' : 'Approved',
      withdrawable: n.status === 'nominated',
      // For the coach's page: remove or move to another group, while nobody has been emailed.
      editable: editable.has(n.status),
      groups: RELATIONSHIP_OPTIONS.map((o) => ({ ...o, selected: o.value === n.relationship })),
    })),
    minimums: NOMINATED_GROUPS.filter((g) => minimums[g] > 0).map((g) => ({
      group: label(g),
      need: minimums[g],
      have: status.counts[g],
      met: status.counts[g] >= minimums[g],
    })),
    declined,
    complete: status.short.length === 0,
    rows: Array.from({ length: ROWS }, (_, i) => ({ i, number: i + 1 })),
    relationships: RELATIONSHIP_OPTIONS,
  };
}

export function nominationRoutes(deps: NominationDeps & { pushJobs: () => Promise<void> }) {
  return async (app: FastifyInstance) => {
    // --- Admin: ask leaders to nominate ---
    app.post<{ Params: { id: string }; Body: Body }>(
      '/admin/cycles/:id/nominations',
      async (request, reply) => {
        const { cycle } = await adminCycleOf(deps.db, request);
        const minimums = Object.fromEntries(
          NOMINATED_GROUPS.map((g) => [g, Number(request.body?.[`min_${g}`] ?? NaN)]),
        ) as Minimums;
        const { asked } = await openNominations(deps, cycle.id, minimums);
        await deps.pushJobs();
        return reply.redirect(`/admin/cycles/${cycle.id}?asked=${asked}`, 303);
      },
    );

    // --- Admin: email a leader a new nomination link (the first one was lost, deleted or bounced) ---
    app.post<{ Params: { id: string; subjectId: string } }>(
      '/admin/cycles/:id/nominations/:subjectId/resend',
      async (request, reply) => {
        const { cycle } = await adminCycleOf(deps.db, request);
        if (!UUID.test(request.params.subjectId)) throw new NotFoundError('There is no such leader.');
        await resendNomination(deps, cycle.id, request.params.subjectId);
        await deps.pushJobs();
        return reply.redirect(`/admin/cycles/${cycle.id}?resent=1`, 303);
      },
    );

    // --- The leader, by emailed link ---
    const leaderPage = async (
      request: FastifyRequest<{ Params: { token: string } }>,
      reply: FastifyReply,
      extra: Record<string, unknown> = {},
    ) => {
      const context = await resolveNomination(deps, request.params.token);
      return page(request, reply, 'nominate.hbs', {
        pageTitle: 'Choose who gives you feedback',
        token: request.params.token,
        leaderName: context.leader_name,
        submitted: context.nomination === 'submitted',
        approved: context.nomination === 'approved',
        ...(await nominationView(deps, context.subject_id, context.settings, context.cycle_status)),
        ...extra,
      });
    };

    app.get<{ Params: { token: string } }>(
      '/nominate/:token',
      { config: { rateLimit: { max: 60, timeWindow: '1 minute' } } },
      async (request, reply) => leaderPage(request, reply),
    );

    app.post<{ Params: { token: string }; Body: Body }>(
      '/nominate/:token',
      { config: { rateLimit: { max: 30, timeWindow: '1 minute' } } },
      async (request, reply) => {
        const context = await resolveNomination(deps, request.params.token);
        const body = request.body ?? {};
        try {
          if (body.action === 'withdraw' && body.invitation && UUID.test(body.invitation)) {
            await withdrawNominee(deps, context.subject_id, body.invitation);
          } else if (body.action === 'submit') {
            await submitNominations(deps, context);
            return leaderPage(request, reply, {
              notice: 'Thank you. Your list was sent to your coach for approval.',
            });
          } else {
            await nominate(deps, context, rowsFrom(body));
            return leaderPage(request, reply, { notice: 'Added. Submit the list when it is complete.' });
          }
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          reply.code(400);
          return leaderPage(request, reply, {
            problems: [{ path: '', message: error.message }, ...error.problems],
            values: body,
          });
        }
        return leaderPage(request, reply);
      },
    );

    // --- The coach (or HR) approves ---
    const subjectFor = async (request: FastifyRequest<{ Params: { subjectId: string } }>) => {
      const viewer = requireRole(request, 'coach', 'hr', 'admin');
      const subject = UUID.test(request.params.subjectId)
        ? await rosterRepository.findSubject(deps.db, request.params.subjectId)
        : undefined;
      const cycle =
        subject &&
        (await programmeRepository.findCycleInOrganisation(deps.db, subject.cycle_id, viewer.organisationId));
      const isHr = viewer.roles.includes('hr') || viewer.roles.includes('admin');
      if (!subject || !cycle || (!isHr && subject.coach_id !== viewer.personId)) {
        throw new NotFoundError('There is nothing at this address.');
      }
      return { subject, cycle };
    };

    app.get('/nominations', async (request, reply) => {
      const viewer = requireRole(request, 'coach', 'hr', 'admin');
      const isHr = viewer.roles.includes('hr') || viewer.roles.includes('admin');
      let query = deps.db
        .selectFrom('subjects')
        .innerJoin('people as leader', 'leader.id', 'subjects.leader_id')
        .innerJoin('cycles', 'cycles.id', 'subjects.cycle_id')
        .innerJoin('programmes', 'programmes.id', 'cycles.programme_id')
        .select([
          'subjects.id',
          'leader.name as leader_name',
          'programmes.name as programme_name',
          'cycles.name as cycle_name',
          'subjects.nomination',
        ])
        .where('programmes.organisation_id', '=', viewer.organisationId)
        .where('subjects.nomination', 'in', ['open', 'submitted']);
      if (!isHr) query = query.where('subjects.coach_id', '=', viewer.personId);
      const subjects = await query.orderBy('leader.name').execute();
      return page(request, reply, 'nominations.hbs', {
        pageTitle: 'Nominations',
        subjects: subjects.map((s) => ({
          href: `/nominations/${s.id}`,
          leader: s.leader_name,
          cycle: `${s.programme_name}: ${s.cycle_name}`,
          state: s.nomination === 'submitted' ? 'Ready for your approval' : 'The leader is still choosing',
        })),
      });
    });

    const reviewPage = async (
      request: FastifyRequest<{ Params: { subjectId: string } }>,
      reply: FastifyReply,
      extra: Record<string, unknown> = {},
    ) => {
      const { subject, cycle } = await subjectFor(request);
      const leader = await deps.db
        .selectFrom('people')
        .select('name')
        .where('id', '=', subject.leader_id)
        .executeTakeFirstOrThrow();
      return page(request, reply, 'nominations-review.hbs', {
        pageTitle: `Raters for ${leader.name}`,
        subjectId: subject.id,
        leaderName: leader.name,
        state: subject.nomination,
        ...(await nominationView(deps, subject.id, cycle.settings, cycle.status)),
        ...extra,
      });
    };

    app.get<{ Params: { subjectId: string } }>('/nominations/:subjectId', async (request, reply) =>
      reviewPage(request, reply),
    );

    app.post<{ Params: { subjectId: string }; Body: Body }>(
      '/nominations/:subjectId',
      async (request, reply) => {
        const { subject } = await subjectFor(request);
        const body = request.body ?? {};
        if (body.action === 'withdraw' || body.action === 'regroup') {
          if (!body.invitation || !UUID.test(body.invitation))
            throw new ValidationError('Choose someone on the list.');
          try {
            if (body.action === 'withdraw') await removeNominee(deps, subject, body.invitation);
            else await regroupNominee(deps, subject, body.invitation, body.relationship ?? '');
          } catch (error) {
            if (!(error instanceof ConflictError) && !(error instanceof ValidationError)) throw error;
            reply.code(error instanceof ConflictError ? 409 : 400);
            return reviewPage(request, reply, { problems: [{ path: '', message: error.message }] });
          }
          return reviewPage(request, reply, {
            notice: body.action === 'withdraw' ? 'Removed from the list.' : 'Moved to another group.',
          });
        }
        if (body.action === 'add') {
          const leader = await deps.db
            .selectFrom('people')
            .select(['email', 'organisation_id'])
            .where('id', '=', subject.leader_id)
            .executeTakeFirstOrThrow();
          try {
            await nominate(
              deps,
              {
                subject_id: subject.id,
                organisation_id: leader.organisation_id,
                leader_email: leader.email,
                nomination: subject.nomination,
              },
              rowsFrom(body),
            );
          } catch (error) {
            if (!(error instanceof ValidationError)) throw error;
            reply.code(400);
            return reviewPage(request, reply, {
              problems: [{ path: '', message: error.message }, ...error.problems],
            });
          }
          return reviewPage(request, reply, { notice: 'Added. Approve the list when it is complete.' });
        }
        if (body.action === 'approve') {
          const result = await approveNominations(deps, subject.id);
          await deps.pushJobs();
          return reviewPage(request, reply, {
            notice: `Approved ${result.approved} people${result.invited ? `; ${result.invited} invitations sent` : ''}.`,
          });
        }
        throw new ValidationError('Choose approve, add, remove or move.');
      },
    );
  };
}
