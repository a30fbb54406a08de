import type { Kysely } from 'kysely';
import { programmeRepository, type Database } from '@panorama/db';
import { instrumentChecksum, loadInstrument, ValidationError } from '@panorama/domain';

/** Stores an instrument file's definition under its id and version (refused if that version changed). */
export async function registerInstrument(db: Kysely<Database>, file: string) {
  const instrument = await loadInstrument(file);
  await programmeRepository.pinInstrument(db, {
    id: instrument.id,
    version: instrument.version,
    checksum: instrumentChecksum(instrument),
    definition: instrument,
  });
  return instrument;
}

/** Creates a programme with its baseline cycle and, optionally, its follow-up, in one transaction. */
export async function createProgrammeWithCycles(
  db: Kysely<Database>,
  input: {
    organisationId: string;
    name: string;
    description?: string;
    instrumentFile: string;
    baselineClosesAt: Date;
    followUpClosesAt?: Date | null;
  },
) {
  if (!input.name.trim())
    throw new ValidationError('Give the programme a name.', [{ path: 'name', message: 'is empty' }]);
  if (input.followUpClosesAt && input.followUpClosesAt <= input.baselineClosesAt) {
    throw new ValidationError('The follow-up must close after the baseline.', [
      { path: 'follow_up_closes', message: 'must be later than the baseline deadline' },
    ]);
  }
  const instrument = await registerInstrument(db, input.instrumentFile);
  return db.transaction().execute(async (trx) => {
    const programme = await programmeRepository.create(trx, {
      organisationId: input.organisationId,
      name: input.name.trim(),
      ...(input.description ? { description: input.description } : {}),
    });
    const common = {
      programmeId: programme.id,
      instrumentId: instrument.id,
      instrumentVersion: instrument.version,
    };
    const baseline = await programmeRepository.createCycle(trx, {
      ...common,
      kind: 'baseline',
      name: 'Baseline',
      closesAt: input.baselineClosesAt,
    });
    const followUp = input.followUpClosesAt
      ? await programmeRepository.createCycle(trx, {
          ...common,
          kind: 'follow_up',
          name: 'Follow-up',
          closesAt: input.followUpClosesAt,
        })
      : null;
    return { programme, baseline, followUp };
  });
}
