// What the benchmarks share: `--name value` flags, percentiles of a list of milliseconds, and a clean exit.
'use strict';
const fs = require('fs');

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

/**
 * Ends the process with `code` after writing `text` (to stdout for 0, else stderr) synchronously: a write to a pipe is
 * asynchronous, and process.exit right after one can cut the line short.
 */
function exitWith(code, text = '') {
  if (text) {
    try {
      fs.writeSync(code === 0 ? 1 : 2, text.endsWith('\n') ? text : `${text}\n`);
    } catch {
      // the reader has gone: nothing left to tell
    }
  }
  process.exit(code);
}

module.exports = { exitWith, flag, percentiles };
