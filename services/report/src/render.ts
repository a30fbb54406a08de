import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import Handlebars from 'handlebars';
import type { Viewer } from '@panorama/db';

interface NavLink {
  href: string;
  label: string;
  current: boolean;
}

/** The navigation a viewer's roles give them. */
export function navFor(viewer: Viewer | null, path: string): NavLink[] {
  if (!viewer) return [];
  const links: { href: string; label: string; show: boolean }[] = [
    { href: '/hr', label: 'Programmes', show: viewer.roles.includes('hr') || viewer.roles.includes('admin') },
    { href: '/admin', label: 'Admin', show: viewer.roles.includes('hr') || viewer.roles.includes('admin') },
    { href: '/coach', label: 'My leaders', show: viewer.roles.includes('coach') },
    {
      href: '/nominations',
      label: 'Nominations',
      show: ['coach', 'hr', 'admin'].some((r) => viewer.roles.includes(r as Viewer['roles'][number])),
    },
    { href: '/me', label: 'My report', show: viewer.roles.includes('leader') },
  ];
  return links
    .filter((l) => l.show)
    .map((l) => ({
      href: l.href,
      label: l.label,
      current: path === l.href || path.startsWith(`${l.href}/`),
    }));
}

/** The per-request part of every page: the viewer, their navigation and a fresh CSRF token. */
function requestContext(request: FastifyRequest, reply: FastifyReply) {
  return {
    csrfToken: reply.generateCsrf(),
    viewer: request.viewer,
    nav: navFor(request.viewer, request.url.split('?')[0] ?? '/'),
  };
}

/** Renders a page inside the layout, with the viewer, their navigation and a fresh CSRF token. */
export async function page(
  request: FastifyRequest,
  reply: FastifyReply,
  template: string,
  data: Record<string, unknown>,
): Promise<string> {
  const context = requestContext(request, reply);
  reply.type('text/html; charset=utf-8');
  return reply.viewAsync(template, { ...data, ...context });
}

/** A page body rendered for no one (see `renderBody`), ready to be cached and served to anyone. */
export interface RenderedBody {
  /** The body as UTF-8, split at every place the viewer's CSRF token goes. */
  parts: readonly Buffer[];
  /** The page's <title>, which the layout prints. */
  pageTitle: string;
}

/** Prints a body rendered earlier; the layout goes around it. */
const BODY_TEMPLATE = 'rendered-body.hbs';
/**
 * Rendered where the CSRF token goes, and where a body goes in the layout alone; split out before anything
 * is stored or sent. 128 random bits per process, so no stored text (a name, a comment) can contain them.
 */
const nonce = randomBytes(16).toString('hex');
const CSRF_SLOT = `csrf-slot-${nonce}`;
const BODY_SLOT = `body-slot-${nonce}`;

/** The layout for this request, split where the body goes. */
async function layoutAround(reply: FastifyReply, data: Record<string, unknown>) {
  const frame = await reply.viewAsync(BODY_TEMPLATE, { ...data, renderedBody: BODY_SLOT });
  const around = frame.split(BODY_SLOT);
  if (around.length !== 2) throw new Error('the layout must print its body exactly once');
  return around as [string, string];
}

/**
 * Renders `template` as `page` would, but for no one: no viewer, no navigation, a placeholder for the CSRF
 * token. Returns the body (what the layout wraps), split where the token goes; null if the page does not
 * split that way (then it is not cached).
 */
export async function renderBody(
  reply: FastifyReply,
  template: string,
  data: Record<string, unknown> & { pageTitle: string },
): Promise<RenderedBody | null> {
  const context = { ...data, csrfToken: CSRF_SLOT, viewer: null, nav: [] };
  const [full, [before, after]] = await Promise.all([
    reply.viewAsync(template, context),
    layoutAround(reply, context),
  ]);
  if (full.length < before.length + after.length || !full.startsWith(before) || !full.endsWith(after))
    return null;
  const body = full.slice(before.length, full.length - after.length);
  return { parts: body.split(CSRF_SLOT).map((part) => Buffer.from(part)), pageTitle: data.pageTitle };
}

/**
 * A page around a body from `renderBody`: the layout, the viewer's name and navigation and a fresh CSRF
 * token (in the layout and in the body's forms) are this request's. The same bytes as `page` renders for
 * this viewer, sent as UTF-8 without re-encoding the body.
 */
export async function pageAround(
  request: FastifyRequest,
  reply: FastifyReply,
  body: RenderedBody,
): Promise<Buffer> {
  const context = requestContext(request, reply);
  const [before, after] = await layoutAround(reply, { pageTitle: body.pageTitle, ...context });
  const token = Buffer.from(Handlebars.escapeExpression(context.csrfToken));
  const chunks: Buffer[] = [Buffer.from(before)];
  body.parts.forEach((part, i) => {
    if (i > 0) chunks.push(token);
    chunks.push(part);
  });
  chunks.push(Buffer.from(after));
  reply.type('text/html; charset=utf-8');
  return Buffer.concat(chunks);
}
