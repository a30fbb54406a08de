import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  programmeRepository,
  reportReadRepository,
  resultRepository,
  type Db,
  type StaffPublication,
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
import { page, pageAround, renderBody } from '../render.ts';
import { reportCacheKey, type ReportCache } from '../report-cache.ts';
import { canRelease, isUuid, subjectAccess, type SubjectAccess } from '../view-models/access.ts';
import { coachView, type CoachSubjectRow } from '../view-models/coach.ts';
import type { StoredChange } from '../view-models/hr-programme.ts';
import {
  leaderReportView,
  type LeaderReportInput,
  type ReportPublication,
} from '../view-models/leader-report.ts';
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
  /** Rendered leader report bodies; absent, every report is rendered in full. */
  cache?: ReportCache;
}

/** The cheap facts behind a leader report (no stored JSON) and the viewer's access; a 404 for no access. */
export async function subjectReportFacts(db: Db, viewer: Viewer, subjectId: string) {
  if (!isUuid(subjectId)) throw new NotFoundError(NOT_FOUND);
  const facts = await reportReadRepository.reportFacts(db, subjectId);
  const access: SubjectAccess = facts ? subjectAccess(viewer, facts) : null;
  if (!facts || !access) throw new NotFoundError(NOT_FOUND);
  return { facts, access };
}
export type SubjectReportFacts = NonNullable<Awaited<ReturnType<typeof reportReadRepository.reportFacts>>>;

/**
 * Which stored rows a viewer is shown, decided without reading stored JSON (the render cache is keyed by it):
 * for staff, the version the publication rule allows (`resultRepository.staffPublication`, which records a
 * version shown for the first time); for the leader, the released one. A follow-up's change section is the
 * change computed from exactly the two versions the viewer is shown of baseline and follow-up.
 */
export async function reportSelection(db: Db, facts: SubjectReportFacts, access: NonNullable<SubjectAccess>) {
  const publication: StaffPublication | null =
    access === 'published' ? await resultRepository.staffPublication(db, facts.id, facts.publication) : null;
  const version = publication
    ? publication.state === 'shown'
      ? publication.version
      : null
    : facts.released_version;
  let changeId: string | null = null;
  let changeNote: string | null = null;
  const baseline = facts.siblings.find((s) => s.cycle_kind === 'baseline');
  if (facts.cycle_kind === 'follow_up' && version !== null) {
    let baselineVersion: number | null = null;
    if (baseline && access === 'released') baselineVersion = baseline.released_version;
    else if (baseline) {
      const shown = await resultRepository.staffPublication(db, baseline.id, baseline.publication);
      baselineVersion = shown.state === 'shown' ? shown.version : null;
    }
    if (baseline && baselineVersion !== null) {
      changeId = await reportReadRepository.changeRowIdFor(db, {
        subjectId: facts.id,
        baselineSubjectId: baseline.id,
        baselineVersion,
        followUpVersion: version,
      });
    }
    if (!changeId) {
      changeNote =
        access === 'released'
          ? 'The comparison with your baseline appears here once your coach has released both reports.'
          : baselineVersion === null
            ? 'The comparison with the baseline appears here once the baseline report is published.'
            : 'The comparison with the baseline appears here once it is computed for the versions shown.';
    }
  }
  return {
    publication,
    version,
    changeId,
    changeNote,
    baselineCycleName: baseline?.cycle_name ?? 'Baseline',
  };
}
export type ReportSelection = Awaited<ReturnType<typeof reportSelection>>;

/** Everything behind one leader report that the viewer may see, from its facts and selection. */
export async function loadReportData(
  deps: ReportRouteDeps,
  facts: SubjectReportFacts,
  access: NonNullable<SubjectAccess>,
  selection: ReportSelection,
) {
  const { db } = deps;
  const subject = facts;
  const { publication } = selection;
  const [profile, changeRow, instrument, participation] = await Promise.all([
    selection.version !== null
      ? reportReadRepository.profileOfVersion(db, subject.id, selection.version)
      : undefined,
    selection.changeId ? reportReadRepository.changeRow(db, selection.changeId) : undefined,
    deps.instruments(subject.instrument_id, subject.instrument_version),
    // While the cycle is open, staff see how many responded (counts only, small groups not counted).
    publication?.state === 'withheld' ? reportReadRepository.latestParticipation(db, subject.id) : null,
  ]);
  const data = changeRow?.data as StoredChange | undefined;
  const change: LeaderReportInput['change'] = data
    ? { report: data.report, baselineCycleName: selection.baselineCycleName }
    : null;

  const otherReports = facts.siblings
    .filter((s) => s.id !== subject.id && (access === 'published' || s.released_version !== null))
    .map((s) => ({ href: `/reports/${s.id}`, label: s.cycle_name }));

  const reportPublication: ReportPublication | null = !publication
    ? null
    : publication.state === 'withheld'
      ? {
          state: 'withheld',
          closesAt: publication.closesAt,
          participation: (participation ?? null) as Profile['participation'] | null,
        }
      : publication.state === 'shown'
        ? {
            state: 'shown',
            updating: publication.updating,
            heldBack: publication.heldBack?.map((p) => ({ group: p.group, required: p.required })) ?? null,
          }
        : { state: publication.state };

  return {
    subject,
    access,
    profile,
    // The version staff are shown (what the release status compares with the released one).
    latestVersion: publication?.state === 'shown' ? publication.version : null,
    publication: reportPublication,
    instrument,
    change,
    changeNote: selection.changeNote,
    otherReports,
  };
}

/** Everything behind one leader report that the viewer may see; a NotFoundError for anything else. */
export async function loadSubjectReport(deps: ReportRouteDeps, viewer: Viewer, subjectId: string) {
  const { facts, access } = await subjectReportFacts(deps.db, viewer, subjectId);
  const selection = await reportSelection(deps.db, facts, access);
  return loadReportData(deps, facts, access, selection);
}

/** The leader report's view, built from the stored JSON (the expensive part a cache hit skips). */
async function buildReportView(
  deps: ReportRouteDeps,
  facts: SubjectReportFacts,
  access: NonNullable<SubjectAccess>,
  selection: ReportSelection,
  releasable: boolean,
  notice: LeaderReportInput['notice'],
) {
  const data = await loadReportData(deps, facts, access, selection);
  const { subject } = data;
  return leaderReportView({
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
    canRelease: releasable,
    notice,
    publication: data.publication,
  });
}

/**
 * The leader report. The access check runs on every request, from one query without the stored JSON; the
 * rendered body is cached by everything it is rendered from (see reportCacheKey), while the layout (the
 * viewer's name and navigation) and the CSRF token are rendered per request. A page with a notice (just
 * released, or a refused release) is rendered in full and not cached.
 */
async function renderReport(
  deps: ReportRouteDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  subjectId: string,
  refusal: LeaderReportInput['notice'],
) {
  const viewer = signedIn(request);
  const { facts, access } = await subjectReportFacts(deps.db, viewer, subjectId);
  const releasable = canRelease(viewer, facts);
  const notice =
    refusal ??
    ((request.query as { released?: string }).released !== undefined && facts.released_version !== null
      ? {
          kind: 'success' as const,
          text: `Version ${facts.released_version} is released to ${facts.leader_name}.`,
        }
      : null);
  const selection = await reportSelection(deps.db, facts, access);
  const cache = notice ? undefined : deps.cache;
  if (!cache)
    return page(request, reply, 'report.hbs', {
      ...(await buildReportView(deps, facts, access, selection, releasable, notice)),
    });

  // The publication facts only decide the selection, which is in the key; they themselves change when a
  // first view publishes a version, which would miss the cache once for nothing.
  const { publication: _publication, siblings, ...keyFacts } = facts;
  const key = reportCacheKey(
    {
      facts: { ...keyFacts, siblings: siblings.map(({ publication: _p, ...sibling }) => sibling) },
      selection,
    },
    access,
    releasable,
  );
  let body = cache.get(key);
  if (!body) {
    const view = await buildReportView(deps, facts, access, selection, releasable, null);
    body = (await renderBody(reply, 'report.hbs', { ...view })) ?? undefined;
    if (!body) return page(request, reply, 'report.hbs', { ...view });
    cache.set(key, body);
  }
  return pageAround(request, reply, body);
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
