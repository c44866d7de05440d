// The few statistics a comparison over seeds needs: mean, sample standard deviation, and a paired t-test, exact for
// the whole-number degrees of freedom it has (no series cut off, no table looked up).

/** Arithmetic mean; NaN for no values. */
export function mean(xs: readonly number[]): number {
  let sum = 0;
  for (const x of xs) sum += x;
  return sum / xs.length;
}

/** Sample standard deviation (n - 1 in the denominator, as numpy's std(ddof=1)); null below two values. */
export function sampleStd(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (xs.length - 1));
}

/**
 * P(|T| >= |t|) for Student's t with `df` degrees of freedom (a whole number >= 1): the closed forms of Abramowitz and
 * Stegun 26.7.3 and 26.7.4, with θ = atan(|t|/√df):
 *   df odd:  P(|T| < t) = (2/π)·(θ + sinθ·(cosθ + (2/3)cos³θ + ... + (2·4···(df-3))/(1·3···(df-2))·cos^(df-2)θ))
 *   df even: P(|T| < t) = sinθ·(1 + (1/2)cos²θ + ... + (1·3···(df-3))/(2·4···(df-2))·cos^(df-2)θ)
 */
export function studentTwoSidedP(t: number, df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new Error(`degrees of freedom must be a whole number >= 1, got ${df}`);
  if (Number.isNaN(t)) return NaN;
  if (!Number.isFinite(t)) return 0;
  const theta = Math.atan(Math.abs(t) / Math.sqrt(df));
  const s = Math.sin(theta), c = Math.cos(theta), c2 = c * c;
  let inside: number;
  if (df % 2 === 1) {
    let term = c, sum = df > 1 ? c : 0; // term k: (2·4···2k)/(1·3···(2k+1))·cos^(2k+1)θ
    for (let k = 1; 2 * k + 1 <= df - 2; k++) {
      term *= ((2 * k) / (2 * k + 1)) * c2;
      sum += term;
    }
    inside = (2 / Math.PI) * (theta + s * sum);
  } else {
    let term = 1, sum = 1; // term k: (1·3···(2k-1))/(2·4···2k)·cos^(2k)θ
    for (let k = 1; 2 * k <= df - 2; k++) {
      term *= ((2 * k - 1) / (2 * k)) * c2;
      sum += term;
    }
    inside = s * sum;
  }
  return Math.min(1, Math.max(0, 1 - inside));
}

export interface PairedTest {
  /** Mean of the differences a_i - b_i. */
  difference: number;
  /** Sample standard deviation of the differences: how much the difference itself moves from seed to seed. */
  spread: number;
  /** t = difference / (spread / √n), with n - 1 degrees of freedom; ±Infinity when every difference is the same non-zero value. */
  t: number;
  /** Two-sided p-value: the chance of a difference at least this large if the two only differed by seed noise. */
  p: number;
}

/**
 * Student's paired t-test of a against b, where a[i] and b[i] come from the same seed (the same batches). Null below
 * two pairs: one pair says nothing about the noise.
 */
export function pairedTTest(a: readonly number[], b: readonly number[]): PairedTest | null {
  if (a.length !== b.length) throw new Error(`paired samples must have the same length, got ${a.length} and ${b.length}`);
  if (a.length < 2) return null;
  const d = a.map((x, i) => x - b[i]);
  const difference = mean(d), spread = sampleStd(d)!;
  if (spread === 0) return { difference, spread, t: difference === 0 ? 0 : Math.sign(difference) * Infinity, p: difference === 0 ? 1 : 0 };
  const t = difference / (spread / Math.sqrt(d.length));
  return { difference, spread, t, p: studentTwoSidedP(t, d.length - 1) };
}
