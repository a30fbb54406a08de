import type { Viewer } from '@panorama/db';

/** The facts about a subject that decide who may read its report. */
export interface SubjectFacts {
  organisation_id: string;
  leader_id: string;
  coach_id: string | null;
  released_version: number | null;
}

/**
 * What a viewer may read of a subject: what the publication rule shows staff (`resultRepository.
 * staffPublication`), only the released version, or nothing.
 */
export type SubjectAccess = 'published' | 'released' | null;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids in URLs are checked before they reach SQL, so a malformed one is a 404 rather than a 500. */
export const isUuid = (value: string): boolean => UUID.test(value);

/** HR and admins see everything of their organisation. */
export const isOrganisationStaff = (viewer: Viewer): boolean =>
  viewer.roles.includes('hr') || viewer.roles.includes('admin');

/**
 * HR and admins of the organisation, and the leader's coach, read the published profile (never a version the
 * publication rule holds back, so no two versions they see can be differenced); the leader reads only
 * the released version of their own; everyone else, nothing (their answer is a 404).
 */
export function subjectAccess(viewer: Viewer, subject: SubjectFacts): SubjectAccess {
  if (subject.organisation_id !== viewer.organisationId) return null;
  if (isOrganisationStaff(viewer)) return 'published';
  if (viewer.roles.includes('coach') && subject.coach_id === viewer.personId) return 'published';
  if (
    viewer.roles.includes('leader') &&
    subject.leader_id === viewer.personId &&
    subject.released_version !== null
  )
    return 'released';
  return null;
}

/** HR and admins of the organisation and the leader's coach may release a report. */
export function canRelease(viewer: Viewer, subject: SubjectFacts): boolean {
  if (subject.organisation_id !== viewer.organisationId) return false;
  return (
    isOrganisationStaff(viewer) || (viewer.roles.includes('coach') && subject.coach_id === viewer.personId)
  );
}
