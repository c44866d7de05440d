// What one row of logits says, in float64: its log-sum-exp (log Z), from which a token's log-probability is
// logit - log Z and a cross-entropy log Z - logit[target].

/** log(sum(exp(row))), shifted by the row's maximum so no exp overflows. */
export function logSumExp(row: ArrayLike<number>): number {
  let max = -Infinity, sum = 0;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return max + Math.log(sum);
}
