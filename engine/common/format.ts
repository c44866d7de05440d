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
