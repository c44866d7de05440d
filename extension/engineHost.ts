// The engine processes, started on first use: one trains, one answers probes (hovers, ghost text, panels) from the
// active model, so neither waits for the other. A process that dies is reported once, in one notification; the next
// request starts a new one.
import * as os from 'node:os';
import * as vscode from 'vscode';
import { EngineClient, EngineCrashedError, type Method, type ParamsOf, type ResultOf, type TrainEvent } from '../engine';
import type { Log } from './log';
import { readSettings } from './settings';

export type EngineRole = 'trainer' | 'prober';

export class EngineHost implements vscode.Disposable {
  private readonly clients = new Map<EngineRole, { client: EngineClient; ready: Promise<unknown> }>();
  private readonly crashed = new vscode.EventEmitter<{ role: EngineRole; reason: string }>();
  /** Fires when an engine process dies unexpectedly (after the one notification). */
  readonly onDidCrash = this.crashed.event;
  crashes = 0;

  constructor(private readonly workerPath: string, private readonly log: Log) {}

  private client(role: EngineRole): { client: EngineClient; ready: Promise<unknown> } {
    let entry = this.clients.get(role);
    if (entry) return entry;
    // Half the machine's memory at most, so a runaway model fails in the engine, never in the editor.
    const maxMemoryMb = Math.max(1024, Math.floor(os.totalmem() / 1048576 / 2));
    // The trainer runs at the lowest priority, so the prober's threads (every core) take the cores from it when a hover
    // or completion comes: decoding is bound by reading the weights, and two cores read them twice as fast as one.
    const client = new EngineClient({ workerPath: this.workerPath, maxMemoryMb, background: role === 'trainer',
      onCrash: (reason) => this.onCrash(role, reason) });
    const backend = readSettings().backend;
    const started = Date.now();
    const ready = client.call('init', { backend }).then((report) => {
      this.log.info(`${role} engine (pid ${client.pid ?? '?'}): backend ${report.name} (${report.detail})` +
        `${report.kernels?.native ? `, native ${report.kernels.isa} kernels` : ''}, ready in ${Date.now() - started} ms`);
      return report;
    });
    ready.catch(() => undefined); // reported where a request awaits it
    entry = { client, ready };
    this.clients.set(role, entry);
    return entry;
  }

  private onCrash(role: EngineRole, reason: string): void {
    this.clients.delete(role);
    this.crashes += 1;
    this.log.error(`the ${role} engine process stopped: ${reason}`);
    void vscode.window.showErrorMessage(`GPT Lab: ${reason}. Your editor and files are unaffected; the next command starts a new engine, ` +
      'and the last saved model is on disk.');
    this.crashed.fire({ role, reason });
  }

  /** One request to an engine; training events stream through onEvent. */
  request<M extends Method>(role: EngineRole, method: M, params: ParamsOf<M>, onEvent?: (e: TrainEvent) => void):
    { id: Promise<number>; result: Promise<ResultOf<M>> } {
    const entry = this.client(role);
    let resolveId!: (id: number) => void;
    const id = new Promise<number>((resolve) => (resolveId = resolve));
    const result = entry.ready.then(() => {
      const r = entry.client.request(method, params, onEvent);
      resolveId(r.id);
      return r.result;
    }, (e: unknown) => {
      resolveId(-1); // never sent (the engine did not start): nothing to cancel, and a Stop must not wait forever
      throw e;
    });
    return { id, result };
  }

  call<M extends Method>(role: EngineRole, method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    return this.request(role, method, params).result;
  }

  async cancel(role: EngineRole, requestId: number): Promise<void> {
    await this.clients.get(role)?.client.cancel(requestId);
  }

  pid(role: EngineRole): number | undefined {
    return this.clients.get(role)?.client.pid;
  }

  /** Ends an engine process on purpose (e.g. to restart it with other settings); no crash is reported. */
  stop(role: EngineRole): void {
    this.clients.get(role)?.client.dispose();
    this.clients.delete(role);
  }

  dispose(): void {
    for (const { client } of this.clients.values()) client.dispose();
    this.clients.clear();
    this.crashed.dispose();
  }
}

export function isCrash(e: unknown): boolean {
  return e instanceof EngineCrashedError;
}

/** The message of an engine error, as one line for a notification. */
export function errorLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0];
}
