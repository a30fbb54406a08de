import {
  buildProfile,
  RELATIONSHIPS,
  type AnonymityRules,
  type GroupCounts,
  type Instrument,
  type SelfOtherOptions,
} from '@panorama/domain';
import type { resultRepository } from '@panorama/db';
import { digestOf, SCORING_REVISION } from './digest.ts';

export type ProfileSources = Awaited<ReturnType<typeof resultRepository.sourcesOf>>[number];

/**
 * The digest stored with a profile: its responses' digest plus everything else the profile depends on
 * (instrument, rules, scoring revision). One definition for the single-subject and the cycle paths, so
 * each recognises the other's versions as up to date.
 */
export function profileSourceDigest(
  responsesDigest: string,
  instrument: { id: string; version: number },
  rules: AnonymityRules,
): string {
  return digestOf({
    responses: responsesDigest,
    instrument: `${instrument.id}@${instrument.version}`,
    rules,
    revision: SCORING_REVISION,
  });
}

/** The instrument's blind-spot settings (METHODS §3), in the form scoring takes; defaults where unset. */
export function selfOtherOptionsOf(instrument: Pick<Instrument, 'self_other'>): SelfOtherOptions {
  const options: SelfOtherOptions = {};
  if (instrument.self_other?.fraction !== undefined) options.fraction = instrument.self_other.fraction;
  if (instrument.self_other?.gap_threshold !== undefined) {
    options.gapThreshold = instrument.self_other.gap_threshold;
  }
  return options;
}

/**
 * A subject's profile from its sources, serialised once, with the group counts the release rules compare.
 * The comment shuffle is seeded by the subject id. The instrument's `self_other` settings are part of its
 * pinned version, so the profile digest (which names the version) moves with them.
 */
export function computeProfile(sources: ProfileSources, instrument: Instrument, rules: AnonymityRules) {
  const profile = buildProfile({
    instrument,
    responses: sources.responses,
    rules,
    seed: sources.subjectId,
    selfOtherOptions: selfOtherOptionsOf(instrument),
  });
  const groupCounts: GroupCounts = {};
  for (const relationship of RELATIONSHIPS) {
    groupCounts[relationship] = profile.participation[relationship].responses;
  }
  return { data: JSON.stringify(profile), groupCounts };
}
