// Test-only: a small instrument that satisfies every rule, for tests to break one thing at a time.
import type { Instrument } from './schema.ts';

export function validInstrument(): Instrument {
  return {
    id: 'fixture-360',
    version: 1,
    title: 'Fixture 360',
    description: 'A minimal valid instrument used by the tests.',
    locale: 'en',
    scale: {
      min: 1,
      max: 5,
      points: [
        { value: 1, label: 'Almost never' },
        { value: 2, label: 'Rarely' },
        { value: 3, label: 'Sometimes' },
        { value: 4, label: 'Often' },
        { value: 5, label: 'Almost always' },
      ],
      not_applicable: "Can't say",
    },
    anonymity: { k: { peer: 3, direct_report: 3, other: 3, all_others: 4 } },
    competencies: Array.from({ length: 10 }, (_, c) => ({
      id: `competency_${c}`,
      title: `Competency ${c}`,
      description: `What competency ${c} is about.`,
      items: Array.from({ length: 3 }, (_, i) => ({
        id: `competency_${c}.item_${i}`,
        rater: `Does observable thing ${c}.${i}.`,
        self: `I do observable thing ${c}.${i}.`,
      })),
    })),
    questions: [
      {
        id: 'keep_doing',
        rater: 'What should this leader keep doing?',
        self: 'What should I keep doing?',
        max_length: 2000,
      },
      {
        id: 'start_doing',
        rater: 'What should this leader start doing?',
        self: 'What should I start doing?',
        max_length: 2000,
      },
    ],
  };
}

/** `xs[n]`, failing the test loudly instead of returning undefined. */
export function nth<T>(xs: readonly T[], n: number): T {
  const found = xs[n];
  if (found === undefined) throw new Error(`no element at index ${n}`);
  return found;
}

/** Sets a key without the type system's consent, to put wrong types or unknown keys into a fixture. */
export function poke(target: object, key: string, value: unknown): void {
  (target as Record<string, unknown>)[key] = value;
}
