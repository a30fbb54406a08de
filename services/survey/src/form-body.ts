import { ValidationError } from '@panorama/domain';
import type { FormFields } from './view-models/form-page.ts';

/** Refused before any answer is looked at: the body is not well-formed UTF-8 form data. */
export class FormEncodingError extends ValidationError {
  readonly statusCode = 400;
  constructor() {
    super('The form could not be read: it is not valid UTF-8 form data.');
  }
}

/** More fields than any step of any instrument has; anything beyond is not a browser's post. */
export const MAX_FORM_FIELDS = 500;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decode(part: string): string {
  try {
    return decodeURIComponent(part.replaceAll('+', ' '));
  } catch {
    // A malformed %-escape or bytes that are not UTF-8 (%FF, an encoded lone surrogate).
    throw new FormEncodingError();
  }
}

/**
 * Parses `application/x-www-form-urlencoded` strictly. Lenient parsers keep an undecodable `%FF` as the
 * literal text "%FF", which would be stored as a comment; here it is refused. A repeated name becomes an
 * array (so `parseAnswers` can reject it), and the result has no prototype, so `__proto__` is just a name.
 */
export function parseFormBody(body: Buffer): FormFields {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new FormEncodingError();
  }
  const fields: FormFields = Object.create(null);
  let count = 0;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    if (++count > MAX_FORM_FIELDS) throw new FormEncodingError();
    const eq = pair.indexOf('=');
    const key = decode(eq === -1 ? pair : pair.slice(0, eq));
    const value = decode(eq === -1 ? '' : pair.slice(eq + 1));
    const existing = fields[key];
    if (existing === undefined) fields[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else fields[key] = [existing, value];
  }
  return fields;
}
