// Drives an engine process: typed requests, each with a deadline, streamed training events, cancellation, a kill
// for an engine that stopped answering, and crash reporting.
import { fork, type ChildProcess } from 'node:child_process';
import { isEngineReply, type Method, type ParamsOf, type ResultOf } from '../protocol/engine';
import { formatDuration } from '../common/format';
import { type TrainEvent } from '../protocol';

interface Pending {
  method: Method;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onEvent?: (e: TrainEvent) => void;
  /** Restarts the deadline (a training run's deadline counts from its last event). */
  touch?: () => void;
  timer?: NodeJS.Timeout;
}

export interface EngineClientOptions {
  /** Path of the engine process entry (dist/engine-worker.js, or out/engine/host/worker.js). */
  workerPath: string;
  /** The engine's working directory: never a workspace (nothing there is looked for, and nothing written). */
  cwd?: string;
  /** Heap limit of the engine process in MB, so a runaway model fails there, not in the host. */
  maxMemoryMb?: number;
  /** Called once when the process dies unexpectedly, with a one-line reason. */
  onCrash?: (reason: string) => void;
  /** Called when the last pending request is answered (the host restarts an engine whose settings changed then). */
  onIdle?: () => void;
  /** Run at the lowest priority (training), so that interactive requests to another engine get the cores first. */
  background?: boolean;
  /** Extra environment for the engine process. */
  env?: NodeJS.ProcessEnv;
}

export interface RequestOptions {
  /** Training events, before the result. */
  onEvent?: (e: TrainEvent) => void;
  /**
   * Milliseconds the engine has to answer (for a run: between two of its events); then the request rejects with an
   * EngineTimeoutError and the engine is asked to drop it. Omitted: no deadline.
   */
  deadlineMs?: number;
}

export class EngineCrashedError extends Error {
  override name = 'EngineCrashedError';
}

/** A request the engine did not answer within its deadline. */
export class EngineTimeoutError extends Error {
  override name = 'EngineTimeoutError';
}

/** A request that was pending when the engine was ended on purpose (a forced stop, a replacement, the window closing). */
export class EngineStoppedError extends Error {
  override name = 'EngineStoppedError';
}

export class EngineClient {
  private child: ChildProcess | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private disposed = false;

  constructor(private readonly options: EngineClientOptions) {}

  private start(): ChildProcess {
    if (this.child) return this.child;
    const execArgv = this.options.maxMemoryMb ? [`--max-old-space-size=${this.options.maxMemoryMb}`] : [];
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.options.env };
    if (this.options.background) env.GPTLAB_BACKGROUND = '1';
    const child = fork(this.options.workerPath, [], { execArgv, env, cwd: this.options.cwd, stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced' });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    child.on('message', (m: unknown) => {
      if (!isEngineReply(m)) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.type === 'event') {
        p.touch?.();
        p.onEvent?.(m.params);
      } else {
        this.settle(m.id, p);
        if (m.type === 'result') p.resolve(m.params);
        else p.reject(new Error(m.params.message));
      }
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      if (this.disposed) return;
      const oom = /heap out of memory|Allocation failed/i.test(stderr);
      const reason = oom ? 'the engine ran out of memory' : `the engine process stopped (${signal ?? `exit code ${String(code)}`})`;
      const hadWork = this.pending.size > 0;
      for (const [id, p] of [...this.pending]) {
        this.settle(id, p);
        p.reject(new EngineCrashedError(`${reason}; the editor is unaffected and the next request starts a new engine`));
      }
      if (hadWork || code !== 0) this.options.onCrash?.(reason);
    });
    this.child = child;
    return child;
  }

  private settle(id: number, p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(id);
    if (this.pending.size === 0) queueMicrotask(() => this.pending.size === 0 && this.options.onIdle?.());
  }

  /** Sends one request; training events arrive through onEvent before the result. */
  request<M extends Method>(method: M, params: ParamsOf<M>, options: RequestOptions = {}): { id: number; result: Promise<ResultOf<M>> } {
    if (this.disposed) throw new Error('the engine client is disposed');
    const child = this.start();
    const id = this.nextId++;
    const result = new Promise<ResultOf<M>>((resolve, reject) => {
      const p: Pending = { method, resolve: resolve as (v: unknown) => void, reject, onEvent: options.onEvent };
      const { deadlineMs } = options;
      if (deadlineMs !== undefined) {
        const expire = (): void => {
          if (this.pending.get(id) !== p) return;
          this.settle(id, p);
          if (this.child) this.child.send({ type: 'cancel', id: this.nextId++, params: { requestId: id } }); // drop it there too
          p.reject(new EngineTimeoutError(`the engine did not answer ${method} within ${deadlineMs < 1000 ? `${deadlineMs} ms` : formatDuration(deadlineMs)}`));
        };
        p.touch = (): void => {
          clearTimeout(p.timer);
          p.timer = setTimeout(expire, deadlineMs);
        };
        p.touch();
      }
      this.pending.set(id, p);
    });
    child.send({ type: method, id, params });
    return { id, result };
  }

  call<M extends Method>(method: M, params: ParamsOf<M>, options: RequestOptions = {}): Promise<ResultOf<M>> {
    return this.request(method, params, options).result;
  }

  /** Asks a request to stop (a run after its current step; its result then reports cancelled). */
  async cancel(requestId: number, deadlineMs?: number): Promise<void> {
    if (this.child) await this.call('cancel', { requestId }, { deadlineMs });
  }

  /** Requests sent and not yet answered. */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** The engine process's id while it runs (for logs). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Ends the process now (SIGKILL: it may be stopped or hung) for good: pending requests reject with an
   * EngineStoppedError carrying `why`, and no crash is reported.
   */
  dispose(why = 'the engine was shut down'): void {
    this.disposed = true;
    this.child?.kill('SIGKILL');
    this.child = null;
    for (const [id, p] of [...this.pending]) {
      this.settle(id, p);
      p.reject(new EngineStoppedError(why));
    }
  }
}
