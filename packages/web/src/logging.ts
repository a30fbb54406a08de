import type { FastifyServerOptions } from 'fastify';

// Long base64url runs in a path are link tokens; query strings may carry anything. Neither reaches a log.
const TOKEN_SEGMENT = /\/[A-Za-z0-9_-]{20,}(?=\/|$)/g;

/** The request URL as it may appear in a log line: tokens and query strings removed. */
export function redactUrl(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.replace(TOKEN_SEGMENT, '/[redacted]') + (url.includes('?') ? '?[redacted]' : '');
}

/** Pino options for every service: no IP addresses, headers, cookies or tokens in request logs. */
export function loggerOptions(level: string): FastifyServerOptions['logger'] {
  if (level === 'silent') return false;
  return {
    level,
    serializers: {
      req: (req: { method: string; url: string }) => ({ method: req.method, url: redactUrl(req.url) }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  };
}
