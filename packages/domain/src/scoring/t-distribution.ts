import { gammaln } from 'simple-statistics';

// simple-statistics has no t CDF or quantile (METHODS §0), so the regularized incomplete beta is computed
// here with the Lentz continued fraction from Numerical Recipes (betacf), which converges quickly on the side
// of the symmetry point where it is used.
const EPSILON = 1e-15;
const TINY = 1e-300;
const MAX_ITERATIONS = 10_000;

function betaContinuedFraction(x: number, a: number, b: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= MAX_ITERATIONS; m += 1) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) return h;
  }
  throw new RangeError(`incomplete beta did not converge for x=${x}, a=${a}, b=${b}`);
}

/** Regularized incomplete beta function I_x(a, b), for 0 <= x <= 1 and a, b > 0. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new RangeError('a and b must be positive');
  if (!(x >= 0 && x <= 1)) throw new RangeError('x must be in [0, 1]');
  if (x === 0 || x === 1) return x;
  const front = Math.exp(gammaln(a + b) - gammaln(a) - gammaln(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaContinuedFraction(x, a, b)) / a
    : 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

function assertDf(df: number): void {
  if (!(Number.isFinite(df) && df > 0)) throw new RangeError('df must be a finite number > 0');
}

/** Two-sided p-value of Student's t with df degrees of freedom: P(|T| >= |t|). */
export function tTwoSidedP(t: number, df: number): number {
  assertDf(df);
  if (Number.isNaN(t)) throw new RangeError('t must be a number');
  if (!Number.isFinite(t)) return 0;
  return regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5);
}

/** Cumulative distribution function of Student's t: P(T <= t). */
export function tCdf(t: number, df: number): number {
  const tail = tTwoSidedP(t, df) / 2;
  return t >= 0 ? 1 - tail : tail;
}

/** Quantile of Student's t: the t with P(T <= t) = p, for 0 < p < 1; tCritical(.975, 7) = 2.364624. */
export function tCritical(p: number, df: number): number {
  assertDf(df);
  if (!(p > 0 && p < 1)) throw new RangeError('p must be in (0, 1)');
  if (p === 0.5) return 0;
  if (p < 0.5) return -tCritical(1 - p, df);
  // Bisection on the CDF: slower than Newton but cannot overshoot in the heavy tails of small df.
  const target = 2 * (1 - p);
  let lo = 0;
  let hi = 1;
  while (tTwoSidedP(hi, df) > target) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-13 * Math.max(1, hi); i += 1) {
    const mid = (lo + hi) / 2;
    if (tTwoSidedP(mid, df) > target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
