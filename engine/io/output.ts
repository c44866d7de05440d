// Safe output for the CLI: stdout and stderr that may be closed, full or broken never stop the process.
// `gpt-lab train … --json | head -1`, `2>&1 | head` and `> /dev/full` all keep training and saving: a stream that fails
// is marked dead, later writes to it are dropped, and the process ends only through exitAfterDrain, once what was
// written has left.

type Stream = NodeJS.WriteStream;

export class SafeStream {
  private dead = false;
  private waiting: (() => void)[] = [];

  constructor(private readonly stream: Stream) {
    const die = (): void => {
      this.dead = true;
      for (const w of this.waiting.splice(0)) w();
    };
    stream.on('error', die); // EPIPE, EBADF, ENOSPC (/dev/full), ERR_STREAM_DESTROYED: none of them ends the run
    stream.on('close', die);
    stream.on('drain', () => {
      for (const w of this.waiting.splice(0)) w();
    });
  }

  get isTTY(): boolean {
    return this.stream.isTTY === true && !this.dead;
  }

  /** True once a write has failed: the reader went away or the device is full. */
  get closed(): boolean {
    return this.dead;
  }

  /** Writes text; never throws. Returns false when the caller should wait (see `writeAsync`). */
  write(text: string): boolean {
    if (this.dead || text.length === 0) return true;
    try {
      return this.stream.write(text);
    } catch {
      this.dead = true; // a synchronous failure (a file descriptor that is gone)
      return true;
    }
  }

  /** Writes text and waits while the stream's buffer is full, so large outputs stream instead of piling up in memory. */
  async writeAsync(text: string): Promise<void> {
    if (this.write(text) || this.dead) return;
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
}

let stdoutStream: SafeStream | null = null;
let stderrStream: SafeStream | null = null;

export function safeStdout(): SafeStream {
  return (stdoutStream ??= new SafeStream(process.stdout));
}

export function safeStderr(): SafeStream {
  return (stderrStream ??= new SafeStream(process.stderr));
}

/**
 * Makes text from users safe to show on one line: newlines, tabs, other control characters (C0, DEL, C1) and
 * Unicode line/paragraph separators and bidirectional overrides become visible escapes.
 */
export function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    switch (c) {
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
      default: return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    }
  });
}

/** How long an exit waits for its last lines to leave: a reader that never reads does not keep the process alive. */
const DRAIN_DEADLINE_MS = 2000;

/**
 * Ends the process with `code` once stdout and stderr have handed over what was written (process.exit right after a
 * write can cut a piped line short).
 */
export async function exitAfterDrain(code: number): Promise<never> {
  const flushed = (s: NodeJS.WriteStream): Promise<void> => new Promise((resolve) => {
    if (s.destroyed || !s.writable) return resolve();
    try {
      s.write('', () => resolve());
    } catch {
      resolve();
    }
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all([flushed(process.stdout), flushed(process.stderr)]),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_DEADLINE_MS)))]);
  clearTimeout(timer);
  process.exit(code);
}
