// How sizes and durations read in every message, log line and chart: one formatter each, for the engine, the CLI, the
// extension and (through the protocol room) the webviews.

/**
 * Bytes for people, in binary units (1 KB = 1024 bytes, as file managers count): "512 bytes", "49 KB", "64 MB",
 * "65.3 MB", "1.5 GB". A whole number of units prints without a decimal, anything else with one.
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return `${String(n)} bytes`;
  if (Math.abs(n) < 1024) return `${n} bytes`;
  if (Math.abs(n) < 1024 ** 2) return `${Math.round(n / 1024)} KB`;
  const [value, unit] = Math.abs(n) < 1024 ** 3 ? [n / 1024 ** 2, 'MB'] : [n / 1024 ** 3, 'GB'];
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
}

/** A duration for people: "42s", "3m 05s", "2h 07m"; "–" when it is unknown (not finite or negative). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  if (h > 0) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${m}m ${String(s % 60).padStart(2, '0')}s`;
}

/**
 * Time left for people: one duration when the estimate is steady, else the range it spans in whole units
 * ("40–55s", "2–3 min", "1–2 h"): a range that changes a little is calmer to watch than a number that jumps.
 */
export function formatEta(etaMs: number, rangeMs?: readonly [number, number]): string {
  if (!rangeMs || !Number.isFinite(etaMs) || etaMs < 0) return formatDuration(etaMs);
  const [lo, hi] = rangeMs;
  if (!(Number.isFinite(lo) && Number.isFinite(hi)) || hi <= lo * 1.25 || hi - lo < 5_000) return formatDuration(etaMs);
  const unit = hi < 60_000 ? { ms: 1000, name: 's', step: 5 } : hi < 3_600_000 ? { ms: 60_000, name: ' min', step: 1 } : { ms: 3_600_000, name: ' h', step: 1 };
  const from = Math.floor(lo / unit.ms / unit.step) * unit.step;
  const to = Math.max(from + unit.step, Math.ceil(hi / unit.ms / unit.step) * unit.step);
  return `${from}–${to}${unit.name}`;
}

/** What a run that stopped early says, in the CLI and the editor alike (the done event's `stoppedEarly`). */
export function formatEarlyStop(stopped: { step: number; bestStep: number }): string {
  return `stopped early at step ${stopped.step}: validation stopped improving (its best was at step ${stopped.bestStep})`;
}
