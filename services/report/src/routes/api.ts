import type { FastifyInstance } from 'fastify';
import { reportReadRepository, resultRepository, type Db } from '@panorama/db';
import { publicMixWarnings, type Profile } from '@panorama/domain';
import { requireRole, signedIn } from '../auth/session.ts';
import type { StoredCohort } from '../view-models/hr-programme.ts';
import { JSON_FORMAT, PROFILES_CSV_COLUMNS } from '../view-models/exports.ts';
import type { ReportPublication } from '../view-models/leader-report.ts';
import { publicProfile } from '../view-models/public-profile.ts';
import { programmeOfViewer, programmeProfileRecords } from './hr.ts';
import { loadSubjectReport, type InstrumentReader } from './reports.ts';

export interface ApiRouteDeps {
  db: Db;
  instruments: InstrumentReader;
}

/**
 * The JSON API (docs/api.md): session-authenticated, the same access rules as the pages, errors as JSON
 * from the shared error handler (401 signed out, 404 unknown or not yours).
 */
export function apiRoutes(deps: ApiRouteDeps) {
  return async (app: FastifyInstance) => {
    app.get<{ Params: { programmeId: string } }>(
      '/api/programmes/:programmeId/cohort',
      async (request, reply) => {
        const viewer = requireRole(request, 'hr', 'admin');
        const programme = await programmeOfViewer(deps.db, viewer.organisationId, request.params.programmeId);
        // Nothing from a cycle that is still collecting responses (the publication rule).
        const { cohort, withheld } = await resultRepository.publishedCohort(deps.db, programme.id);
        const data = cohort?.data as (StoredCohort & { invitations?: unknown }) | undefined;
        reply.header('cache-control', 'no-store');
        return {
          programme: { id: programme.id, name: programme.name },
          withheld: withheld ? { reason: 'cycle_open', closesAt: withheld.closesAt } : null,
          cohort:
            cohort && data
              ? {
                  version: cohort.version,
                  computedAt: cohort.computed_at,
                  leaders: data.leaders,
                  invitations: data.invitations ?? null,
                  report: data.report,
                }
              : null,
        };
      },
    );

    app.get<{ Params: { subjectId: string } }>('/api/subjects/:subjectId/profile', async (request, reply) => {
      const viewer = signedIn(request);
      const data = await loadSubjectReport(deps, viewer, request.params.subjectId);
      const { subject } = data;
      reply.header('cache-control', 'no-store');
      return {
        subject: {
          id: subject.id,
          leaderName: subject.leader_name,
          cycleName: subject.cycle_name,
          cycleKind: subject.cycle_kind,
          programmeId: subject.programme_id,
          programmeName: subject.programme_name,
          releasedVersion: subject.released_version,
        },
        // Staff only: why there are no numbers yet, or why the version shown is not the latest.
        publication: publicationOf(data.publication),
        profile: data.profile
          ? {
              version: data.profile.version,
              computedAt: data.profile.computed_at,
              data: publicProfile(data.profile.data as Profile),
            }
          : null,
        change: data.change
          ? {
              baselineCycleName: data.change.baselineCycleName,
              report: {
                ...data.change.report,
                mixWarnings: publicMixWarnings(data.change.report.mixWarnings),
              },
            }
          : null,
      };
    });

    // The programme's leaders, one entry per leader and cycle: who they are, not what they scored.
    app.get<{ Params: { programmeId: string } }>(
      '/api/programmes/:programmeId/subjects',
      async (request, reply) => {
        const viewer = requireRole(request, 'hr', 'admin');
        const programme = await programmeOfViewer(deps.db, viewer.organisationId, request.params.programmeId);
        const subjects = await reportReadRepository.subjectsOfProgramme(deps.db, programme.id);
        reply.header('cache-control', 'no-store');
        return {
          programme: { id: programme.id, name: programme.name },
          subjects: subjects.map((s) => ({
            id: s.id,
            leaderName: s.leader_name,
            cycle: { id: s.cycle_id, name: s.cycle_name, kind: s.cycle_kind },
            releasedVersion: s.released_version,
          })),
        };
      },
    );

    // profiles.csv as JSON: the same records (programmeProfileRecords), text as is and null where empty.
    app.get<{ Params: { programmeId: string } }>(
      '/api/programmes/:programmeId/profiles',
      async (request, reply) => {
        const viewer = requireRole(request, 'hr', 'admin');
        const programme = await programmeOfViewer(deps.db, viewer.organisationId, request.params.programmeId);
        const profiles = await programmeProfileRecords(deps.db, programme.id, JSON_FORMAT);
        reply.header('cache-control', 'no-store');
        return {
          programme: { id: programme.id, name: programme.name },
          columns: PROFILES_CSV_COLUMNS,
          profiles,
        };
      },
    );
  };
}

function publicationOf(publication: ReportPublication | null) {
  if (!publication) return null;
  if (publication.state === 'withheld') {
    return { state: 'withheld' as const, closesAt: publication.closesAt };
  }
  if (publication.state !== 'shown') return { state: publication.state };
  return {
    state: 'shown' as const,
    updating: publication.updating,
    heldBack: publication.heldBack !== null && publication.heldBack.length > 0,
  };
}
