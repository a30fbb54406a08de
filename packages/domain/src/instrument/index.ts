export { instrumentChecksum } from './checksum.ts';
export { InstrumentError } from './errors.ts';
export type { InstrumentProblem } from './errors.ts';
export { INSTRUMENT_FILE_NAMES, loadInstrument, loadInstrumentsDir, parseInstrument } from './load.ts';
export { InstrumentSchema } from './schema.ts';
export type { Competency, Instrument, InstrumentItem, OpenQuestion, RatingScale } from './schema.ts';
export { formText, itemsOf } from './views.ts';
export type { FlatItem, FormPerspective, FormText } from './views.ts';
