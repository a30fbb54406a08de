import { createSeededRandom } from '@panorama/domain';

/** Seeded draws for the demo cohort, so it is the same on every machine. */
export function demoRandom(seed: string) {
  const next = createSeededRandom(seed);
  const normal = (mean = 0, sd = 1) => {
    const u = Math.max(next(), 1e-12);
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  return { next, normal, int, pick };
}
export type DemoRandom = ReturnType<typeof demoRandom>;
