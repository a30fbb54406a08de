import type { FastifyInstance } from 'fastify';
import { stringify } from 'csv-stringify/sync';
import { reportReadRepository, resultRepository, rosterRepository, type Db } from '@panorama/db';
import { DEFAULT_ANONYMITY, NotFoundError, type Profile } from '@panorama/domain';
import { requireRole } from '../auth/session.ts';
import { page } from '../render.ts';
import { isUuid } from '../view-models/access.ts';
import {
  changesCsvRecords,
  cohortCsvRecords,
  profilesCsvRecords,
  CHANGES_CSV_COLUMNS,
  COHORT_CSV_COLUMNS,
  CSV_FORMAT,
  PROFILES_CSV_COLUMNS,
  type RecordFormat,
} from '../view-models/exports.ts';
import {
  hrProgrammesView,
  hrProgrammeView,
  type StoredChange,
  type StoredCohort,
} from '../view-models/hr-programme.ts';
import { NOT_FOUND, type InstrumentReader } from './reports.ts';

export interface HrRouteDeps {
  db: Db;
  instruments: InstrumentReader;
}

/** The programme, only when it belongs to the viewer's organisation; a 404 for anything else. */
export async function programmeOfViewer(db: Db, organisationId: string, programmeId: string) {
  if (!isUuid(programmeId)) throw new NotFoundError(NOT_FOUND);
  const programme = await reportReadRepository.programmeInOrganisation(db, { programmeId, organisationId });
  if (!programme) throw new NotFoundError(NOT_FOUND);
  return programme;
}

/**
 * Every leader's profile staff may see (the publication rule) of a programme as export records: profiles.csv in {@link CSV_FORMAT}, the
 * JSON API's `/profiles` in JSON_FORMAT, from the same rows.
 */
export async function programmeProfileRecords(
  db: Db,
  programmeId: string,
  format: RecordFormat = CSV_FORMAT,
) {
  const rows = await resultRepository.publishedProfilesOfProgramme(db, programmeId);
  return rows.flatMap((row) =>
    profilesCsvRecords(
      {
        leaderName: row.leader_name,
        leaderEmail: row.leader_email,
        cycleName: row.cycle_name,
        cycleKind: row.cycle_kind,
        version: row.version,
        releasedVersion: row.released_version,
        profile: row.data as Profile,
      },
      format,
    ),
  );
}

/** HR's programme list and dashboard, and the CSV exports (aggregates only, never rater-level data). */
export function hrRoutes(deps: HrRouteDeps) {
  const { db } = deps;
  return async (app: FastifyInstance) => {
    app.get('/hr', async (request, reply) => {
      const viewer = requireRole(request, 'hr', 'admin');
      const programmes = await reportReadRepository.programmesOfOrganisation(db, viewer.organisationId);
      return page(request, reply, 'hr.hbs', hrProgrammesView(programmes));
    });

    app.get<{ Params: { programmeId: string } }>('/hr/programmes/:programmeId', async (request, reply) => {
      const viewer = requireRole(request, 'hr', 'admin');
      const programme = await programmeOfViewer(db, viewer.organisationId, request.params.programmeId);
      // Cohort and change numbers follow the publication rule (nothing from a cycle still open, a leader's
      // change only between the versions staff may see); participation counts stay live (counts only).
      const [cycles, { cohort, withheld }, changes, subjects, releases] = await Promise.all([
        reportReadRepository.cyclesOfProgramme(db, programme.id),
        resultRepository.publishedCohort(db, programme.id),
        resultRepository.publishedChangesOfProgramme(db, programme.id),
        reportReadRepository.subjectsOfProgramme(db, programme.id),
        reportReadRepository.releaseHistory(db, programme.id),
      ]);
      const participation: Record<string, { relationship: string; invited: number; completed: number }[]> =
        {};
      await Promise.all(
        cycles.map(async (c) => {
          participation[c.id] = await rosterRepository.participation(db, { cycleId: c.id });
        }),
      );
      const first = cycles[0];
      const instrument = first ? await deps.instruments(first.instrument_id, first.instrument_version) : null;
      const view = hrProgrammeView({
        programme: { id: programme.id, name: programme.name, description: programme.description },
        cycles,
        participation,
        cohort: cohort
          ? { version: cohort.version, computedAt: cohort.computed_at, data: cohort.data as StoredCohort }
          : null,
        cohortWithheldUntil: withheld?.closesAt ?? null,
        competencies: instrument?.competencies.map((c) => ({ id: c.id, title: c.title })) ?? [],
        changes: changes.map((c) => ({
          subject_id: c.subject_id,
          leader_name: c.leader_name,
          data: c.data as StoredChange,
        })),
        subjects,
        releases,
        kAllOthers: instrument?.anonymity?.k.all_others ?? DEFAULT_ANONYMITY.k.all_others,
      });
      return page(request, reply, 'hr-programme.hbs', view);
    });

    app.get<{ Params: { programmeId: string } }>(
      '/hr/programmes/:programmeId/export/cohort.csv',
      async (request, reply) => {
        const viewer = requireRole(request, 'hr', 'admin');
        const programme = await programmeOfViewer(db, viewer.organisationId, request.params.programmeId);
        const { cohort, withheld } = await resultRepository.publishedCohort(db, programme.id);
        if (withheld)
          throw new NotFoundError(
            'There are no cohort results to export while a cycle is still open; they are published when it closes.',
          );
        if (!cohort) throw new NotFoundError('There are no cohort results for this programme yet.');
        const cycles = await reportReadRepository.cyclesOfProgramme(db, programme.id);
        const first = cycles[0];
        const instrument = first
          ? await deps.instruments(first.instrument_id, first.instrument_version)
          : null;
        const records = cohortCsvRecords(
          (cohort.data as StoredCohort).report,
          instrument?.competencies ?? [],
        );
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="cohort-${programme.id}.csv"`)
          .send(stringify(records, { header: true, columns: [...COHORT_CSV_COLUMNS] }));
      },
    );

    app.get<{ Params: { programmeId: string } }>(
      '/hr/programmes/:programmeId/export/profiles.csv',
      async (request, reply) => {
        const viewer = requireRole(request, 'hr', 'admin');
        const programme = await programmeOfViewer(db, viewer.organisationId, request.params.programmeId);
        const records = await programmeProfileRecords(db, programme.id);
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="profiles-${programme.id}.csv"`)
          .send(stringify(records, { header: true, columns: [...PROFILES_CSV_COLUMNS] }));
      },
    );

    app.get<{ Params: { programmeId: string } }>(
      '/hr/programmes/:programmeId/export/changes.csv',
      async (request, reply) => {
        const viewer = requireRole(request, 'hr', 'admin');
        const programme = await programmeOfViewer(db, viewer.organisationId, request.params.programmeId);
        const [changes, cycles] = await Promise.all([
          resultRepository.publishedChangesOfProgramme(db, programme.id),
          reportReadRepository.cyclesOfProgramme(db, programme.id),
        ]);
        const first = cycles[0];
        const instrument = first
          ? await deps.instruments(first.instrument_id, first.instrument_version)
          : null;
        const records = changesCsvRecords({
          changes: changes.map((c) => ({
            leaderName: c.leader_name,
            leaderEmail: c.leader_email,
            cycleName: c.cycle_name,
            version: c.version,
            report: (c.data as StoredChange).report,
          })),
          competencies: instrument?.competencies.map((c) => ({ id: c.id, title: c.title })) ?? [],
          kAllOthers: instrument?.anonymity?.k.all_others ?? DEFAULT_ANONYMITY.k.all_others,
        });
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="changes-${programme.id}.csv"`)
          .send(stringify(records, { header: true, columns: [...CHANGES_CSV_COLUMNS] }));
      },
    );
  };
}
