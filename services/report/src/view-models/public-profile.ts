import { RELATIONSHIPS, type Profile, type SuppressedGroup } from '@panorama/domain';

/**
 * A stored profile as the API publishes it: a group's participation count only when the group is shown;
 * a hidden one is `{ suppressed: true, reason, k }` like every other suppressed number (docs/api.md).
 */
export function publicProfile(profile: Profile): PublicProfile {
  const participation: Record<string, { responses: number; k: number; shown: true } | SuppressedGroup> = {};
  for (const group of RELATIONSHIPS) {
    const p = profile.participation[group];
    participation[group] = p.shown
      ? { responses: p.responses, k: p.k, shown: true }
      : { suppressed: true, reason: 'fewer_than_k', k: p.k };
  }
  return { ...profile, participation };
}

/** A profile as published outside the report pages (API, exports). */
export type PublicProfile = Omit<Profile, 'participation'> & {
  participation: Record<string, { responses: number; k: number; shown: true } | SuppressedGroup>;
};
