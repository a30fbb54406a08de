import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  programmeRepository,
  reportReadRepository,
  resultRepository,
  type Db,
  type Viewer,
} from '@panorama/db';
import {
  ConflictError,
  InstrumentSchema,
  NotFoundError,
  type Instrument,
  type Profile,
  type SecretKeys,
} from '@panorama/domain';
import { requireRole, signedIn } from '../auth/session.ts';
import { queueMail } from '../mail-queue.ts';
import { page } from '../render.ts';
import { canRelease, isUuid, subjectAccess, type SubjectAccess } from '../view-models/access.ts';
import { coachView, type CoachSubjectRow } from '../view-models/coach.ts';
import type { StoredChange } from '../view-models/hr-programme.ts';
import { leaderReportView, type LeaderReportInput } from '../view-models/leader-report.ts';
import { meView } from '../view-models/me.ts';

/** The one answer for unknown ids, malformed ids and reports the viewer may not see. */
export const NOT_FOUND =
  'There is nothing at this address. Check the link, or start again from the home page.';

/** Parsed instruments by (id, version); a pinned version never changes, so entries never go stale. */
export function createInstrumentReader(db: Db) {
  const cache = new Map<string, Promise<Instrument>>();
  return (id: string, version: number): Promise<Instrument> => {
    const key = `${id}@${version}`;
    let found = cache.get(key);
    if (!found) {
      found = programmeRepository
        .instrumentDefinition(db, id, version)
        .then((definition) => InstrumentSchema.parse(definition) as Instrument);
      found.catch(() => cache.delete(key));
      cache.set(key, found);
    }
    return found;
  };
}
export type InstrumentReader = ReturnType<typeof createInstrumentReader>;

export interface ReportRouteDeps {
  db: Db;
  instruments: InstrumentReader;
  /** Emails the leader when their report is released (absent in tests that do not need it). */
  notify?: { keys: SecretKeys; reportBaseUrl: string; pushJobs: () => Promise<void> };
}

/** Everything behind one leader report that the viewer may see; a NotFoundError for anything else. */
export async function loadSubjectReport(deps: ReportRouteDeps, viewer: Viewer, subjectId: string) {
  const { db } = deps;
  if (!isUuid(subjectId)) throw new NotFoundError(NOT_FOUND);
  const subject = await reportReadRepository.subject(db, subjectId);
  const access: SubjectAccess = subject ? subjectAccess(viewer, subject) : null;
  if (!subject || !access) throw new NotFoundError(NOT_FOUND);

  const [latest, siblings, instrument] = await Promise.all([
    resultRepository.latestProfile(db, subjectId),
    reportReadRepository.leaderSubjectsInProgramme(db, {
      programmeId: subject.programme_id,
      leaderId: subject.leader_id,
    }),
    deps.instruments(subject.instrument_id, subject.instrument_version),
  ]);
  // The leader reads the version pinned at release, never a later one.
  const profile =
    access === 'released' && subject.released_version !== null
      ? await resultRepository.profileVersion(db, subjectId, subject.released_version)
      : latest;

  let change: LeaderReportInput['change'] = null;
  let changeNote: string | null = null;
  if (subject.cycle_kind === 'follow_up') {
    const row = await resultRepository.latestChange(db, subjectId);
    const data = row?.data as StoredChange | undefined;
    const baseline = row ? siblings.find((s) => s.id === row.baseline_subject_id) : undefined;
    if (!row || !data) {
      changeNote = 'The comparison with the baseline appears here once both cycles have results.';
    } else if (
      access === 'released' &&
      (data.followUpVersion !== subject.released_version ||
        baseline?.released_version !== data.baselineVersion)
    ) {
      // The comparison would show numbers from versions the leader has not been given.
      changeNote =
        'The comparison with your baseline appears here once your coach has released both reports.';
    } else {
      change = { report: data.report, baselineCycleName: baseline?.cycle_name ?? 'Baseline' };
      if (profile && data.followUpVersion !== profile.version) {
        changeNote = `The comparison was computed from version ${data.followUpVersion} of this report and is being updated.`;
      }
    }
  }

  const otherReports = siblings
    .filter((s) => s.id !== subjectId && (access === 'latest' || s.released_version !== null))
    .map((s) => ({ href: `/reports/${s.id}`, label: s.cycle_name }));

  return {
    subject,
    access,
    profile,
    latestVersion: latest?.version ?? null,
    instrument,
    change,
    changeNote,
    otherReports,
  };
}

async function renderReport(
  deps: ReportRouteDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  subjectId: string,
  notice: LeaderReportInput['notice'],
) {
  const viewer = signedIn(request);
  const data = await loadSubjectReport(deps, viewer, subjectId);
  const { subject } = data;
  const view = leaderReportView({
    subject: {
      id: subject.id,
      leaderName: subject.leader_name,
      coachName: subject.coach_name,
      cycleName: subject.cycle_name,
      programmeName: subject.programme_name,
      releasedVersion: subject.released_version,
    },
    audience: data.access === 'released' ? 'leader' : 'staff',
    profile: data.profile
      ? {
          version: data.profile.version,
          computedAt: data.profile.computed_at,
          data: data.profile.data as Profile,
        }
      : null,
    latestVersion: data.latestVersion,
    instrument: data.instrument,
    change: data.change,
    changeNote: data.changeNote,
    otherReports: data.otherReports,
    canRelease: canRelease(viewer, subject),
    notice:
      notice ??
      ((request.query as { released?: string }).released !== undefined && subject.released_version !== null
        ? {
            kind: 'success',
            text: `Version ${subject.released_version} is released to ${subject.leader_name}.`,
          }
        : null),
  });
  return page(request, reply, 'report.hbs', { ...view });
}

/** The leader report, its release, the leader's home and the coach's home. */
export function reportRoutes(deps: ReportRouteDeps) {
  return async (app: FastifyInstance) => {
    app.get<{ Params: { subjectId: string } }>('/reports/:subjectId', async (request, reply) =>
      renderReport(deps, request, reply, request.params.subjectId, null),
    );

    app.post<{ Params: { subjectId: string } }>('/reports/:subjectId/release', async (request, reply) => {
      const viewer = signedIn(request);
      const { subjectId } = request.params;
      if (!isUuid(subjectId)) throw new NotFoundError(NOT_FOUND);
      const subject = await reportReadRepository.subject(deps.db, subjectId);
      if (!subject || !subjectAccess(viewer, subject)) throw new NotFoundError(NOT_FOUND);
      // A leader may read their released report but not release it: same answer as for a stranger.
      if (!canRelease(viewer, subject)) throw new NotFoundError(NOT_FOUND);
      try {
        await deps.db.transaction().execute(async (trx) => {
          const released = await resultRepository.release(trx, subjectId, viewer.personId);
          // The leader hears that their report is ready, in the same transaction as the release.
          if (released.changed && deps.notify) {
            await queueMail(trx, deps.notify.keys, {
              organisationId: subject.organisation_id,
              to: subject.leader_email,
              template: 'report-released',
              data: {
                leaderName: subject.leader_name,
                programmeName: subject.programme_name,
                link: `${deps.notify.reportBaseUrl.replace(/\/$/, '')}/reports/${subjectId}`,
              },
            });
          }
        });
        await deps.notify?.pushJobs();
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        reply.code(409);
        return renderReport(deps, request, reply, subjectId, { kind: 'error', text: error.message });
      }
      return reply.redirect(`/reports/${subjectId}?released`, 303);
    });

    app.get('/me', async (request, reply) => {
      const viewer = requireRole(request, 'leader');
      const rows = await reportReadRepository.releasedSubjectsOfLeader(deps.db, {
        leaderId: viewer.personId,
        organisationId: viewer.organisationId,
      });
      return page(request, reply, 'me.hbs', meView(viewer.name, rows));
    });

    app.get('/coach', async (request, reply) => {
      const viewer = requireRole(request, 'coach');
      const rows = await reportReadRepository.coachSubjects(deps.db, {
        coachId: viewer.personId,
        organisationId: viewer.organisationId,
      });
      return page(request, reply, 'coach.hbs', coachView(rows as CoachSubjectRow[]));
    });
  };
}
