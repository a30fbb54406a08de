import { describe, expect, it } from 'vitest';
import type { Viewer } from '@panorama/db';
import { canRelease, isUuid, subjectAccess } from './access.ts';

const org = 'org-1';
const viewer = (roles: Viewer['roles'], personId = 'me', organisationId = org): Viewer => ({
  personId,
  organisationId,
  name: 'X',
  email: 'x@acme.test',
  roles,
});
const subject = {
  organisation_id: org,
  leader_id: 'leader',
  coach_id: 'coach',
  released_version: null as number | null,
};

describe('subjectAccess', () => {
  it('lets HR and admins of the organisation read the latest version', () => {
    expect(subjectAccess(viewer(['hr']), subject)).toBe('published');
    expect(subjectAccess(viewer(['admin']), subject)).toBe('published');
    expect(subjectAccess(viewer(['hr'], 'me', 'org-2'), subject)).toBeNull();
  });

  it('lets only the leader’s own coach in', () => {
    expect(subjectAccess(viewer(['coach'], 'coach'), subject)).toBe('published');
    expect(subjectAccess(viewer(['coach'], 'another-coach'), subject)).toBeNull();
  });

  it('lets the leader read their own report only once released, and only the released version', () => {
    expect(subjectAccess(viewer(['leader'], 'leader'), subject)).toBeNull();
    expect(subjectAccess(viewer(['leader'], 'leader'), { ...subject, released_version: 2 })).toBe('released');
    expect(subjectAccess(viewer(['leader'], 'other-leader'), { ...subject, released_version: 2 })).toBeNull();
  });

  it('lets HR and the coach release, not the leader', () => {
    expect(canRelease(viewer(['hr']), subject)).toBe(true);
    expect(canRelease(viewer(['coach'], 'coach'), subject)).toBe(true);
    expect(canRelease(viewer(['coach'], 'another-coach'), subject)).toBe(false);
    expect(canRelease(viewer(['leader'], 'leader'), { ...subject, released_version: 1 })).toBe(false);
  });
});

describe('isUuid', () => {
  it('accepts UUIDs only', () => {
    expect(isUuid('6f1c2b9e-3c4d-4e5f-8a9b-0c1d2e3f4a5b')).toBe(true);
    expect(isUuid('not-a-uuid')).toBe(false);
    expect(isUuid("1' or 1=1 --")).toBe(false);
  });
});
