import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/** A link or session token: 32 random bytes, base64url (43 characters). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** Purpose-separated keys, all derived from APP_SECRET: a MAC under one key never matches one under another. */
export interface SecretKeys {
  invitation: Buffer;
  spent: Buffer;
  draft: Buffer;
  session: Buffer;
  signIn: Buffer;
  outbox: Buffer;
}

export function deriveKeys(appSecret: string): SecretKeys {
  const key = (purpose: string) => Buffer.from(hkdfSync('sha256', appSecret, 'panorama', purpose, 32));
  return {
    invitation: key('invitation-token'),
    spent: key('spent-token'),
    draft: key('draft-id'),
    session: key('session-id'),
    signIn: key('sign-in-token'),
    outbox: key('outbox-payload'),
  };
}

/** What is stored in place of a token: HMAC-SHA256 under a purpose key. */
export function tokenMac(key: Buffer, token: string): Buffer {
  return createHmac('sha256', key).update(token).digest();
}

/** Constant-time comparison for secrets of possibly different lengths. */
export function safeEqual(a: Buffer | string, b: Buffer | string): boolean {
  const x = Buffer.isBuffer(a) ? a : Buffer.from(a);
  const y = Buffer.isBuffer(b) ? b : Buffer.from(b);
  const same = x.length === y.length;
  return timingSafeEqual(same ? x : y, y) && same;
}

/**
 * Whether an `Authorization` header carries `Bearer <token>`, compared in constant time. The one check every
 * process's `/metrics` uses (web apps and worker).
 */
export function bearerTokenMatches(authorization: string | undefined, token: string): boolean {
  const given = /^Bearer (.+)$/.exec(authorization ?? '')?.[1] ?? '';
  return safeEqual(given, token);
}

function seal(key: Buffer, plaintext: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

function open(key: Buffer, sealed: Buffer): string {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  decipher.setAuthTag(sealed.subarray(12, 28));
  return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8');
}

/**
 * Draft answers are sealed under a key derived from the rater's token (which the server never stores) and
 * the draft key: neither a database dump nor the server's secrets alone can read them.
 */
export function sealDraft(keys: SecretKeys, token: string, json: string): Buffer {
  return seal(Buffer.from(hkdfSync('sha256', token, keys.draft, 'draft-content', 32)), json);
}

export function openDraft(keys: SecretKeys, token: string, sealed: Buffer): string {
  return open(Buffer.from(hkdfSync('sha256', token, keys.draft, 'draft-content', 32)), sealed);
}

/** Outbox payloads may hold a link; they are sealed at rest and erased once sent. */
export function sealOutbox(keys: SecretKeys, json: string): Buffer {
  return seal(keys.outbox, json);
}

export function openOutbox(keys: SecretKeys, sealed: Buffer): string {
  return open(keys.outbox, sealed);
}
