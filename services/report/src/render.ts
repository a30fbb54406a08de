import type { FastifyReply, FastifyRequest } from 'fastify';
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

/** Renders a page inside the layout, with the viewer, their navigation and a fresh CSRF token. */
export async function page(
  request: FastifyRequest,
  reply: FastifyReply,
  template: string,
  data: Record<string, unknown>,
): Promise<string> {
  const csrfToken = reply.generateCsrf();
  reply.type('text/html; charset=utf-8');
  return reply.viewAsync(template, {
    ...data,
    csrfToken,
    viewer: request.viewer,
    nav: navFor(request.viewer, request.url.split('?')[0] ?? '/'),
  });
}
