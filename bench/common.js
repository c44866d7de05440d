// What the latency benchmarks share: `--name value` flags and percentiles of a list of milliseconds.
'use strict';

/** The value after `--name` on the command line, or the default. */
function flag(name, dflt) {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i === -1 ? dflt : args[i + 1];
}

/** p50 and p95 (nearest rank) of a list of milliseconds, rounded to 0.01 ms. */
function percentiles(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q) => +s[Math.min(s.length - 1, Math.floor(q * s.length))].toFixed(2);
  return { p50: at(0.5), p95: at(0.95), n: s.length };
}

module.exports = { flag, percentiles };
