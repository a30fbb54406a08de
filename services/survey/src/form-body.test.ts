import { describe, expect, it } from 'vitest';
import { FormEncodingError, MAX_FORM_FIELDS, parseFormBody } from './form-body.ts';

const parse = (text: string | Buffer) =>
  parseFormBody(Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1'));

describe('parseFormBody', () => {
  it('decodes names and values, + as space, and UTF-8 escapes', () => {
    expect({ ...parse('r.a.b=4&c.q=Caf%C3%A9+au+lait&_csrf=x%2Fy&empty=&bare') }).toEqual({
      'r.a.b': '4',
      'c.q': 'Café au lait',
      _csrf: 'x/y',
      empty: '',
      bare: '',
    });
    expect({ ...parse('') }).toEqual({});
  });

  it('turns a repeated name into an array so it can be refused later', () => {
    expect(parse('r.a.b=1&r.a.b=2&r.a.b=3')['r.a.b']).toEqual(['1', '2', '3']);
  });

  it('keeps __proto__ and constructor as plain names, without touching any prototype', () => {
    const fields = parse('__proto__=x&constructor=y&toString=z');
    expect(Object.getPrototypeOf(fields)).toBeNull();
    expect(Object.keys(fields)).toEqual(['__proto__', 'constructor', 'toString']);
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });

  it.each([
    ['an escape that is not UTF-8', 'c.q=%FF%FE'],
    ['an encoded lone surrogate', 'c.q=%ED%A0%80'],
    ['a broken escape', 'c.q=%E2%82'],
    ['a bad name', '%C0=1'],
  ])('refuses %s', (_label, body) => {
    expect(() => parse(body)).toThrow(FormEncodingError);
  });

  it('refuses raw bytes that are not UTF-8, and absurd numbers of fields', () => {
    expect(() => parse(Buffer.from([0x63, 0x2e, 0x71, 0x3d, 0xff, 0xfe]))).toThrow(FormEncodingError);
    expect(() => parse(Array.from({ length: MAX_FORM_FIELDS + 1 }, (_, i) => `f${i}=1`).join('&'))).toThrow(
      FormEncodingError,
    );
  });
});
