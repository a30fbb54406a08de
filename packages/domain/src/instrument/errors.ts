import { ValidationError } from '../errors.ts';

/** One thing wrong with an instrument file. */
export interface InstrumentProblem {
  /** The file, named as it was given to the loader. */
  file: string;
  /** Where in the file: `competencies[3].items[1].id`, `(root)`, or `line 4, column 7` for syntax errors. */
  path: string;
  /** What is wrong, phrased for the instrument's author. */
  message: string;
  /** 1-based position in the file, when known (YAML files and syntax errors). */
  line?: number;
  column?: number;
}

/**
 * Thrown when instrument files cannot be parsed or validated. `message` has one line per problem,
 * `<file>: <path>: <what is wrong>`; `problems` holds the same information structured.
 */
export class InstrumentError extends ValidationError {
  declare readonly problems: InstrumentProblem[];

  constructor(problems: readonly InstrumentProblem[]) {
    super(problems.map((p) => `${p.file}: ${p.path}: ${p.message}`).join('\n'), [...problems]);
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const ROOT_PATH = '(root)';

// Renders a path the way an author navigates the file: `competencies[3].items[1].id`.
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return ROOT_PATH;
  return path
    .map((part, i) => {
      if (typeof part === 'number') return `[${part}]`;
      const key = String(part);
      if (!IDENTIFIER.test(key)) return `[${JSON.stringify(key)}]`;
      return i === 0 ? key : `.${key}`;
    })
    .join('');
}
