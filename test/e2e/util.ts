// Small helpers for the e2e runner: logging with elapsed time, timeouts, polling.

const startedAt = Date.now();

export function elapsed(): string {
  return `${((Date.now() - startedAt) / 1000).toFixed(1).padStart(6)}s`;
}

export function log(message: string): void {
  process.stdout.write(`[e2e ${elapsed()}] ${message}\n`);
}

/** Ends the runner once what it printed has left (a piped stdout is written asynchronously, and process.exit cuts it). */
export function exitAfterDrain(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with "timed out after N ms: <what>" unless `promise` settles first. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `probe` until it returns a truthy value; throws "timed out after N ms waiting for <what>". */
export async function poll<T>(
  probe: () => Promise<T> | T,
  ms: number,
  what: string,
  everyMs = 200,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message.split('\n')[0]})` : '';
      throw new Error(`timed out after ${ms} ms waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An env var as a positive number, else `fallback`. */
export function envNumber(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}
