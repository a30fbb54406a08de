import type { Kysely } from 'kysely';
import { ConflictError, NotFoundError } from '@panorama/domain';
import type { CycleKind, CycleStatus, Database } from '../schema.ts';

type Db = Kysely<Database>;

/** Which status changes are allowed, and from where. */
const TRANSITIONS: Record<CycleStatus, CycleStatus[]> = {
  draft: ['open'],
  open: ['closed'],
  closed: ['released'],
  released: [],
};

export const programmeRepository = {
  /**
   * Stores an instrument definition under (id, version) once. The same version with different content is
   * refused: past cycles keep the definition they were run with.
   */
  async pinInstrument(db: Db, input: { id: string; version: number; checksum: string; definition: unknown }) {
    const existing = await db
      .selectFrom('instruments')
      .select('checksum')
      .where('id', '=', input.id)
      .where('version', '=', input.version)
      .executeTakeFirst();
    if (existing && existing.checksum !== input.checksum) {
      throw new ConflictError(
        `instrument ${input.id} version ${input.version} has changed since cycles were created with it; ` +
          'bump its version to use the new wording (past cycles keep the old one)',
      );
    }
    if (!existing) {
      await db
        .insertInto('instruments')
        .values({ ...input, definition: JSON.stringify(input.definition) })
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
  },

  async instrumentDefinition(db: Db, id: string, version: number): Promise<unknown> {
    const row = await db
      .selectFrom('instruments')
      .select('definition')
      .where('id', '=', id)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!row) throw new NotFoundError(`instrument ${id} version ${version} is not stored`);
    return row.definition;
  },

  async create(db: Db, input: { organisationId: string; name: string; description?: string }) {
    return db
      .insertInto('programmes')
      .values({
        organisation_id: input.organisationId,
        name: input.name,
        description: input.description ?? '',
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  async findById(db: Db, id: string) {
    return db.selectFrom('programmes').selectAll().where('id', '=', id).executeTakeFirst();
  },

  async listForOrganisation(db: Db, organisationId: string) {
    return db
      .selectFrom('programmes')
      .selectAll()
      .where('organisation_id', '=', organisationId)
      .orderBy('created_at', 'desc')
      .execute();
  },

  async createCycle(
    db: Db,
    input: {
      programmeId: string;
      kind: CycleKind;
      name: string;
      instrumentId: string;
      instrumentVersion: number;
      closesAt: Date;
      settings?: Record<string, unknown>;
    },
  ) {
    return db
      .insertInto('cycles')
      .values({
        programme_id: input.programmeId,
        kind: input.kind,
        name: input.name,
        instrument_id: input.instrumentId,
        instrument_version: input.instrumentVersion,
        closes_at: input.closesAt,
        settings: JSON.stringify(input.settings ?? {}),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  async findCycle(db: Db, id: string) {
    return db.selectFrom('cycles').selectAll().where('id', '=', id).executeTakeFirst();
  },

  /** A cycle with its programme, only if it belongs to the organisation (otherwise undefined). */
  async findCycleInOrganisation(db: Db, cycleId: string, organisationId: string) {
    return db
      .selectFrom('cycles')
      .innerJoin('programmes', 'programmes.id', 'cycles.programme_id')
      .selectAll('cycles')
      .select(['programmes.name as programme_name'])
      .where('cycles.id', '=', cycleId)
      .where('programmes.organisation_id', '=', organisationId)
      .executeTakeFirst();
  },

  async cyclesOf(db: Db, programmeId: string) {
    return db
      .selectFrom('cycles')
      .selectAll()
      .where('programme_id', '=', programmeId)
      .orderBy('created_at', 'asc')
      .execute();
  },

  /** Moves a cycle along draft -> open -> closed -> released; anything else is a ConflictError. */
  async transitionCycle(db: Db, cycleId: string, to: CycleStatus, at: Date = new Date()) {
    const cycle = await db
      .selectFrom('cycles')
      .select(['status'])
      .where('id', '=', cycleId)
      .forUpdate()
      .executeTakeFirst();
    if (!cycle) throw new NotFoundError('cycle not found');
    if (!TRANSITIONS[cycle.status].includes(to)) {
      throw new ConflictError(`a ${cycle.status} cycle cannot become ${to}`);
    }
    const stamp =
      to === 'open'
        ? { opened_at: at }
        : to === 'closed'
          ? { closed_at: at }
          : to === 'released'
            ? { released_at: at }
            : {};
    return db
      .updateTable('cycles')
      .set({ status: to, ...stamp })
      .where('id', '=', cycleId)
      .returningAll()
      .executeTakeFirstOrThrow();
  },
};
