import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { limiterKey, linkLimiter, TooManyRequestsError } from './rate-limits.ts';

const TOKEN = 'A'.repeat(43);

function fakeReply() {
  const headers: Record<string, string> = {};
  return {
    headers,
    reply: { header: (k: string, v: string) => (headers[k] = v) } as unknown as FastifyReply,
  };
}

describe('limits per link', () => {
  it('lets max requests through per window, then answers 429 with retry-after', async () => {
    const limit = linkLimiter(undefined)(2, 60_000, 'read');
    const request = { params: { token: TOKEN } } as unknown as FastifyRequest;
    const { headers, reply } = fakeReply();
    await limit(request, reply);
    await limit(request, reply);
    await expect(limit(request, reply)).rejects.toBeInstanceOf(TooManyRequestsError);
    expect(Number(headers['retry-after'])).toBeGreaterThan(0);
    // Another link has its own count.
    await limit({ params: { token: 'B'.repeat(43) } } as unknown as FastifyRequest, reply);
  });

  it('counts in the process while Redis cannot be reached, instead of failing the request', async () => {
    const down = {
      multi: () => ({
        set() {
          return this;
        },
        incr() {
          return this;
        },
        pttl() {
          return this;
        },
        exec: () =>
          Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false")),
      }),
    } as unknown as Redis;
    const reported: unknown[] = [];
    const limit = linkLimiter(down, (error) => reported.push(error))(2, 60_000, 'write');
    const request = { params: { token: TOKEN } } as unknown as FastifyRequest;
    const { reply } = fakeReply();
    await limit(request, reply);
    await limit(request, reply);
    await expect(limit(request, reply)).rejects.toBeInstanceOf(TooManyRequestsError);
    expect(reported).toHaveLength(1);
  });

  it('keys are one-way: neither a link nor an IP is kept as it is', () => {
    const key = limiterKey('link', TOKEN);
    expect(key).toBe(limiterKey('link', TOKEN));
    expect(key).not.toContain(TOKEN.slice(0, 8));
    expect(limiterKey('ip', '10.0.0.1')).not.toBe(limiterKey('link', '10.0.0.1'));
    expect(limiterKey('ip', '10.0.0.1')).not.toContain('10.0');
  });
});
