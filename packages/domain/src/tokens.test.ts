import { describe, expect, it } from 'vitest';
import {
  deriveKeys,
  newToken,
  openDraft,
  openOutbox,
  safeEqual,
  bearerTokenMatches,
  sealDraft,
  sealOutbox,
  TOKEN_PATTERN,
  tokenMac,
} from './tokens.ts';

const keys = deriveKeys('s'.repeat(48));

describe('tokens', () => {
  it('are 32 random bytes in base64url, never repeating', () => {
    const tokens = new Set(Array.from({ length: 1000 }, newToken));
    expect(tokens.size).toBe(1000);
    for (const t of tokens) {
      expect(t).toMatch(TOKEN_PATTERN);
      expect(Buffer.from(t, 'base64url')).toHaveLength(32);
    }
  });

  it('MACs under different purposes never match, so a spent-token row cannot be joined to its invitation', () => {
    const t = newToken();
    expect(tokenMac(keys.invitation, t).equals(tokenMac(keys.spent, t))).toBe(false);
    expect(tokenMac(keys.invitation, t).equals(tokenMac(keys.invitation, t))).toBe(true);
    expect(tokenMac(deriveKeys('t'.repeat(48)).invitation, t).equals(tokenMac(keys.invitation, t))).toBe(
      false,
    );
  });

  it('drafts open only with the same token', () => {
    const t = newToken();
    const sealed = sealDraft(keys, t, '{"a":1}');
    expect(sealed.toString('utf8')).not.toContain('"a"');
    expect(openDraft(keys, t, sealed)).toBe('{"a":1}');
    expect(() => openDraft(keys, newToken(), sealed)).toThrow();
  });

  it('outbox payloads round-trip and are tamper-evident', () => {
    const sealed = sealOutbox(keys, 'hello');
    expect(openOutbox(keys, sealed)).toBe('hello');
    sealed[sealed.length - 1]! ^= 1;
    expect(() => openOutbox(keys, sealed)).toThrow();
  });

  it('bearerTokenMatches accepts exactly "Bearer <token>"', () => {
    const token = 'scraper-token-0123456789';
    expect(bearerTokenMatches(`Bearer ${token}`, token)).toBe(true);
    for (const header of [
      undefined,
      '',
      'Bearer ',
      token,
      `Basic ${token}`,
      `bearer ${token}`,
      `Bearer ${token}x`,
    ])
      expect(bearerTokenMatches(header, token), String(header)).toBe(false);
  });

  it('safeEqual compares by value, including different lengths', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
});
