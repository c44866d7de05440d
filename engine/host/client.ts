// Drives an engine process: typed requests, streamed training events, cancellation, and crash reporting.
import { fork, type ChildProcess } from 'node:child_process';
import { isEngineReply, type Method, type ParamsOf, type ResultOf } from '../protocol/engine';
import { type TrainEvent } from '../protocol';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onEvent?: (e: TrainEvent) => void;
}

export interface EngineClientOptions {
  /** Path of the engine process entry (dist/engine-worker.js, or out/engine/worker.js). */
  workerPath: string;
  /** Heap limit of the engine process in MB, so a runaway model fails there, not in the host. */
  maxMemoryMb?: number;
  /** Called once when the process dies unexpectedly, with a one-line reason. */
  onCrash?: (reason: string) => void;
  /** Run at the lowest priority (training), so that interactive requests to another engine get the cores first. */
  background?: boolean;
}

export class EngineCrashedError extends Error {
  override name = 'EngineCrashedError';
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
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (this.options.background) env.GPTLAB_BACKGROUND = '1';
    const child = fork(this.options.workerPath, [], { execArgv, env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    child.on('message', (m: unknown) => {
      if (!isEngineReply(m)) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.type === 'event') p.onEvent?.(m.params);
      else {
        this.pending.delete(m.id);
        if (m.type === 'result') p.resolve(m.params);
        else p.reject(new Error(m.params.message));
      }
    });
    child.on('exit', (code, signal) => {
      this.child = null;
      if (this.disposed) return;
      const oom = /heap out of memory|Allocation failed/i.test(stderr);
      const reason = oom ? 'the engine ran out of memory' : `the engine process stopped (${signal ?? `exit code ${String(code)}`})`;
      for (const p of this.pending.values()) p.reject(new EngineCrashedError(`${reason}; the editor is unaffected and the next request starts a new engine`));
      const hadWork = this.pending.size > 0;
      this.pending.clear();
      if (hadWork || code !== 0) this.options.onCrash?.(reason);
    });
    this.child = child;
    return child;
  }

  /** Sends one request; training events arrive through onEvent before the result. */
  request<M extends Method>(method: M, params: ParamsOf<M>, onEvent?: (e: TrainEvent) => void): { id: number; result: Promise<ResultOf<M>> } {
    if (this.disposed) throw new Error('the engine client is disposed');
    const child = this.start();
    const id = this.nextId++;
    const result = new Promise<ResultOf<M>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onEvent });
    });
    child.send({ type: method, id, params });
    return { id, result };
  }

  call<M extends Method>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    return this.request(method, params).result;
  }

  /** Asks a running training request to stop after its current step; its result then reports cancelled. */
  async cancel(requestId: number): Promise<void> {
    if (this.child) await this.call('cancel', { requestId });
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** The engine process's id while it runs (for logs, and for tests that kill it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  dispose(): void {
    this.disposed = true;
    this.child?.kill();
    this.child = null;
    for (const p of this.pending.values()) p.reject(new Error('the engine was shut down'));
    this.pending.clear();
  }
}
