import type { Instrument } from './schema.ts';

/** Who a form is worded for: the leader's raters (third person) or the leader (first person). */
export type FormPerspective = 'rater' | 'self';

/** One rated item, flattened out of its competency. */
export interface FlatItem {
  competencyId: string;
  id: string;
  rater: string;
  self: string;
}

/** Every item of the instrument in form order, each with the id of its competency. */
export function itemsOf(instrument: Instrument): FlatItem[] {
  return instrument.competencies.flatMap((competency) =>
    competency.items.map((item) => ({
      competencyId: competency.id,
      id: item.id,
      rater: item.rater,
      self: item.self,
    })),
  );
}

/** The text of a form for one perspective: exactly the wording a rater or the leader sees, in order. */
export interface FormText {
  instrumentId: string;
  version: number;
  perspective: FormPerspective;
  locale: string;
  title: string;
  description: string;
  scale: {
    min: number;
    max: number;
    /** Ascending by value. */
    points: { value: number; label: string }[];
    notApplicable: string;
  };
  competencies: {
    id: string;
    title: string;
    description: string;
    items: { id: string; text: string }[];
  }[];
  questions: { id: string; text: string; maxLength: number }[];
}

/** Picks the wording for `perspective` out of the instrument, ready for a form template. */
export function formText(instrument: Instrument, perspective: FormPerspective): FormText {
  return {
    instrumentId: instrument.id,
    version: instrument.version,
    perspective,
    locale: instrument.locale,
    title: instrument.title,
    description: instrument.description,
    scale: {
      min: instrument.scale.min,
      max: instrument.scale.max,
      points: [...instrument.scale.points]
        .sort((a, b) => a.value - b.value)
        .map(({ value, label }) => ({ value, label })),
      notApplicable: instrument.scale.not_applicable,
    },
    competencies: instrument.competencies.map((competency) => ({
      id: competency.id,
      title: competency.title,
      description: competency.description,
      items: competency.items.map((item) => ({ id: item.id, text: item[perspective] })),
    })),
    questions: instrument.questions.map((question) => ({
      id: question.id,
      text: question[perspective],
      maxLength: question.max_length,
    })),
  };
}
