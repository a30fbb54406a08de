import { describe, expect, it } from 'vitest';
import { ValidationError } from '@panorama/domain';
import { parseFormBody } from './create-web-app.ts';

describe('parseFormBody', () => {
  it('reads form data, repeated names as arrays, __proto__ as a plain name', () => {
    const fields = parseFormBody(Buffer.from('name=Zo%C3%AB+Lee&x=1&x=2&__proto__=p&email='));
    expect({ ...fields }).toEqual({ name: 'Zoë Lee', x: ['1', '2'], ['__proto__']: 'p', email: '' });
    expect(Object.getPrototypeOf(fields)).toBeNull();
    expect(({} as Record<string, unknown>)['p']).toBeUndefined();
  });

  it('refuses bytes that are not UTF-8 instead of reading them as U+FFFD', () => {
    for (const bytes of [[0x80], [0xc3], [0xff, 0xfe], [0xed, 0xa0, 0x80]]) {
      const body = Buffer.concat([Buffer.from('name='), Buffer.from(bytes), Buffer.from('&_csrf=x')]);
      expect(() => parseFormBody(body)).toThrow(ValidationError);
    }
    expect(parseFormBody(Buffer.from('name=Zoë')).name).toBe('Zoë');
  });
});
