import fc from 'fast-check';

/**
 * Inputs an attacker (or a broken client) sends: right-to-left and zero-width text, bidi overrides,
 * control characters, lone surrogates, form metacharacters, prototype keys.
 */
const HOSTILE_PIECES = [
  '\u202E', // right-to-left override
  '\u202B',
  '\u2066',
  '\u2069',
  '\u200F', // right-to-left mark
  '\u200E',
  '\u200B', // zero-width space
  '\u200C',
  '\u200D',
  '\uFEFF',
  '\u061C',
  'مرحبا بالعالم',
  'שלום',
  '\u0000',
  '\u0007',
  '\u009B',
  '\r\n',
  '\uD800', // a lone surrogate
  '\uDFFF',
  '%',
  '%FF',
  '&',
  '=',
  '+',
  ';',
  '"',
  "'",
  '<script>alert(1)</script>',
  '{{constructor.constructor("return 1")()}}',
  '=cmd|" /C calc"!A0',
  '__proto__',
  'constructor',
  '../../etc/passwd',
  'é', // decomposed é
  '🏳️‍🌈',
];

export function hostileText(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: 50 }),
    fc.string({ unit: 'grapheme', maxLength: 50 }),
    fc.string({ unit: 'binary', maxLength: 50 }),
    fc.array(fc.constantFrom(...HOSTILE_PIECES), { minLength: 1, maxLength: 8 }).map((a) => a.join('')),
  );
}

const PROTO_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  '__proto__[polluted]',
  'constructor[prototype][polluted]',
  '__proto__.polluted',
  'r.__proto__',
  'c.__proto__',
  'r.constructor',
  'c.constructor',
  'r.hasOwnProperty',
  'c.toString',
];

/** Field names: the form's own (valid), unknown, prototype keys, control fields and noise. */
export function fieldKeys(itemIds: readonly string[], questionIds: readonly string[]): fc.Arbitrary<string> {
  const own = [...itemIds.map((id) => `r.${id}`), ...questionIds.map((id) => `c.${id}`)];
  return fc.oneof(
    { weight: 4, arbitrary: own.length > 0 ? fc.constantFrom(...own) : fc.constant('r.unknown') },
    { weight: 2, arbitrary: fc.constantFrom(...PROTO_KEYS) },
    { weight: 1, arbitrary: fc.constantFrom('action', 'page', 'email', 'name', 'invitation', '_csrf') },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map((s) => `r.${s}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map((s) => `c.${s}`) },
    { weight: 1, arbitrary: hostileText() },
  );
}

const fieldValues = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('1', '2', '3', '4', '5', 'na', '') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('0', '6', '4.0', '-1', ' 4', '1e0', '0x3', 'NA', 'null', 'true', '[]', '{}'),
  },
  { weight: 1, arbitrary: fc.integer().map(String) },
  { weight: 3, arbitrary: hostileText() },
  {
    weight: 2,
    arbitrary: fc.constantFrom('save', 'next', 'back', 'submit', 'goto-3', 'goto-999', 'approve', 'withdraw'),
  },
);

export type FuzzBody =
  | { kind: 'form'; pairs: [string, string][] }
  | { kind: 'raw-bytes'; bytes: Uint8Array; pairs: [string, string][] }
  | { kind: 'json'; json: string }
  | { kind: 'multipart'; pairs: [string, string][] }
  | { kind: 'other-type'; contentType: string; text: string }
  | { kind: 'oversized'; pairs: [string, string][]; size: number }
  | { kind: 'empty' };

const pairs = (keys: fc.Arbitrary<string>) =>
  fc.array(fc.tuple(keys, fieldValues), { maxLength: 12 }).chain((list) =>
    // Sometimes repeat a field: duplicate items are a classic way to confuse a parser.
    fc.boolean().map((dup): [string, string][] => (dup && list[0] ? [...list, list[0]] : list)),
  );

/** Whole request bodies: forms (with duplicates), raw invalid UTF-8, JSON with prototype keys, wrong types. */
export function bodyKinds(keys: fc.Arbitrary<string>, oversizedBytes = 1024 * 1024): fc.Arbitrary<FuzzBody> {
  const jsonValue = fc.oneof(
    fieldValues,
    fc.integer(),
    fc.constant(null),
    fc.array(fc.integer(), { maxLength: 3 }),
  );
  return fc.oneof(
    { weight: 6, arbitrary: pairs(keys).map((p): FuzzBody => ({ kind: 'form', pairs: p })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.uint8Array({ maxLength: 300 }), pairs(keys))
        .map(([bytes, p]): FuzzBody => ({ kind: 'raw-bytes', bytes, pairs: p })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.array(fc.tuple(keys, jsonValue), { maxLength: 6 }), fc.boolean())
        .map(([entries, proto]): FuzzBody => {
          // JSON.stringify drops a __proto__ key set by assignment, so write it by hand.
          const body = entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
          if (proto)
            body.push('"__proto__":{"polluted":"yes"}', '"constructor":{"prototype":{"polluted":1}}');
          return { kind: 'json', json: `{${body.join(',')}}` };
        }),
    },
    { weight: 1, arbitrary: pairs(keys).map((p): FuzzBody => ({ kind: 'multipart', pairs: p })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(
            'text/plain',
            'application/xml',
            'application/octet-stream',
            'text/csv',
            'x/y; q=1',
          ),
          hostileText(),
        )
        .map(([contentType, text]): FuzzBody => ({ kind: 'other-type', contentType, text })),
    },
    {
      weight: 1,
      arbitrary: pairs(keys).map((p): FuzzBody => ({ kind: 'oversized', pairs: p, size: oversizedBytes })),
    },
    { weight: 1, arbitrary: fc.constant<FuzzBody>({ kind: 'empty' }) },
  );
}

const form = (pairs: [string, string][]) => new URLSearchParams(pairs).toString();

/** The request payload and headers for a body, with the CSRF token added unless `csrf` is null. */
export function encodeBody(
  body: FuzzBody,
  csrf: string | null,
): { payload: string | Buffer | undefined; headers: Record<string, string> } {
  const withCsrf = (pairs: [string, string][]): [string, string][] =>
    csrf === null ? pairs : [...pairs, ['_csrf', csrf]];
  const formType = { 'content-type': 'application/x-www-form-urlencoded' };
  switch (body.kind) {
    case 'form':
      return { payload: form(withCsrf(body.pairs)), headers: formType };
    case 'raw-bytes':
      return {
        payload: Buffer.concat([
          Buffer.from('c.keep_doing='),
          Buffer.from(body.bytes),
          Buffer.from(`&${form(withCsrf(body.pairs))}`),
        ]),
        headers: formType,
      };
    case 'json': {
      const json =
        csrf === null
          ? body.json
          : body.json.replace(/^\{/, `{"_csrf":${JSON.stringify(csrf)}${body.json === '{}' ? '' : ','}`);
      return { payload: json, headers: { 'content-type': 'application/json' } };
    }
    case 'multipart': {
      const boundary = '----fuzz' + Math.random().toString(16).slice(2);
      const parts = withCsrf(body.pairs).map(
        ([k, v]) =>
          `--${boundary}\r\nContent-Disposition: form-data; name="${k.replace(/["\r\n]/g, '_')}"\r\n\r\n${v}\r\n`,
      );
      return {
        payload: parts.join('') + `--${boundary}--\r\n`,
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      };
    }
    case 'other-type':
      return { payload: body.text, headers: { 'content-type': body.contentType } };
    case 'oversized':
      return {
        payload: form(withCsrf([...body.pairs, ['c.keep_doing', 'x'.repeat(body.size)]])),
        headers: formType,
      };
    case 'empty':
      return { payload: undefined, headers: {} };
  }
}
