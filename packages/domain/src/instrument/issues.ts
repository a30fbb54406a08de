import { z } from 'zod';

import { formatPath } from './errors.ts';
import { InstrumentSchema } from './schema.ts';

// A validation finding before it is tied to a file.
export interface Finding {
  path: PropertyKey[];
  message: string;
}

const describeValue = (value: unknown): string => {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string')
    return value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}…` : JSON.stringify(value);
  return String(value);
};

const EXPECTED: Record<string, string> = {
  int: 'a whole number',
  number: 'a number',
  string: 'text',
  array: 'a list',
  object: 'a mapping (key: value pairs)',
};

// The schema node an issue's path leads to, so messages can say what is expected there.
function schemaAt(path: readonly PropertyKey[]): unknown {
  let schema: unknown = InstrumentSchema;
  for (const part of path) {
    while (schema instanceof z.ZodOptional) schema = schema.unwrap();
    if (schema instanceof z.ZodArray && typeof part === 'number') schema = schema.element;
    else if (schema instanceof z.ZodObject && typeof part === 'string') schema = schema.shape[part];
    else return undefined;
  }
  while (schema instanceof z.ZodOptional) schema = schema.unwrap();
  return schema;
}

// Listing the allowed keys turns most typos into a one-glance fix.
function allowedKeys(path: readonly PropertyKey[]): string[] {
  const schema = schemaAt(path);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function expectedAt(issue: z.core.$ZodIssueInvalidType): string {
  const schema = schemaAt(issue.path);
  // z.int() reports a non-number as "expected number"; the author needs to know it must be whole.
  if (schema instanceof z.ZodNumber && schema.isInt) return 'a whole number';
  return EXPECTED[issue.expected] ?? issue.expected;
}

const sizeOf = (input: unknown): string =>
  Array.isArray(input) || typeof input === 'string' ? String(input.length) : describeValue(input);

function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? 'is required'
        : `must be ${expectedAt(issue)}, got ${describeValue(issue.input)}`;
    case 'too_small':
      if (issue.origin === 'array')
        return `must have at least ${issue.minimum} entries, has ${sizeOf(issue.input)}`;
      if (issue.origin === 'number' || issue.origin === 'int')
        return issue.inclusive === false
          ? `must be greater than ${issue.minimum}, got ${describeValue(issue.input)}`
          : `must be at least ${issue.minimum}, got ${describeValue(issue.input)}`;
      return issue.message;
    case 'too_big':
      if (issue.origin === 'array')
        return `must have at most ${issue.maximum} entries, has ${sizeOf(issue.input)}`;
      if (issue.origin === 'number' || issue.origin === 'int')
        return issue.inclusive === false
          ? `must be less than ${issue.maximum}, got ${describeValue(issue.input)}`
          : `must be at most ${issue.maximum}, got ${describeValue(issue.input)}`;
      return issue.message;
    default:
      return issue.message;
  }
}

// Turns zod issues into author-facing findings: one per unknown key, plain-language messages.
export function findingsFromZod(issues: readonly z.core.$ZodIssue[]): Finding[] {
  return issues.flatMap((issue): Finding[] => {
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeys(issue.path);
      const hint = allowed.length > 0 ? ` (allowed here: ${allowed.join(', ')})` : '';
      return issue.keys.map((key) => ({
        path: [...issue.path, key],
        message: `is not a known field${hint}`,
      }));
    }
    return [{ path: issue.path, message: describe(issue) }];
  });
}

// Drops findings reported twice (the cross-field rules can run both inside and outside the schema).
export function uniqueFindings(findings: readonly Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((finding) => {
    const key = `${formatPath(finding.path)}\u0000${finding.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
