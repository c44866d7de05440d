// The engine processes, started on first use: one trains, one answers probes (hovers, ghost text, panels) from the
// active model, so neither waits for the other. Every request has a deadline; an engine that misses one and then does
// not answer "are you there" within LIVENESS_MS is killed and replaced (one notification), as is one that dies. An
// engine whose compute settings (gptLab.backend, gptLab.trainer) changed is replaced once it is idle.
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { EngineClient, EngineCrashedError, EngineStoppedError, EngineTimeoutError, type Method, type ParamsOf, type ResultOf,
  type TrainEvent } from '../engine';
import type { Log } from './log';
import { engineSettings } from './settings';

export type EngineRole = 'trainer' | 'prober';

/**
 * How long each request may take before the editor stops waiting (for a run: between two of its events). Generous:
 * they catch an engine that stopped answering, not a slow machine; what a person waits on has its own, shorter
 * deadline (a hover's surprise, HOVER_SURPRISE_MS).
 */
export const DEADLINES: Record<Method, number> = {
  init: 180_000, train: 600_000, cancel: 5_000, load: 120_000, modelBytes: 120_000, save: 120_000, status: 5_000,
  tokenLoss: 120_000, compareTokenizers: 300_000, bpeReplay: 300_000, sample: 30_000, nextToken: 60_000, attention: 60_000,
  attentionLayers: 60_000, attentionMap: 60_000, attentionRows: 60_000,
  lens: 60_000, neighbours: 60_000, analogy: 60_000, projection: 120_000, headRoles: 120_000, timeline: 30_000,
  attribution: 60_000, patch: 120_000, ablate: 60_000, copySource: 60_000, copies: 30_000, validationStart: 30_000, compare: 600_000,
};

/** How long an engine that missed a deadline has to answer "are you there" before it is replaced. */
export const LIVENESS_MS = 5_000;

export class EngineHost implements vscode.Disposable {
  private readonly clients = new Map<EngineRole, { client: EngineClient; ready: Promise<unknown>; stale: boolean }>();
  private readonly crashed = new vscode.EventEmitter<{ role: EngineRole; reason: string }>();
  private readonly restarted = new vscode.EventEmitter<EngineRole>();
  /** Fires when an engine process dies unexpectedly (after the one notification). */
  readonly onDidCrash = this.crashed.event;
  /** Fires when an engine process was ended on purpose (replaced, or stopped by force); the next request starts a new one. */
  readonly onDidStop = this.restarted.event;

  constructor(private readonly workerPath: string, private readonly log: Log) {}

  private client(role: EngineRole): { client: EngineClient; ready: Promise<unknown>; stale: boolean } {
    let entry = this.clients.get(role);
    if (entry) return entry;
    // Half the machine's memory at most, so a runaway model fails in the engine, never in the editor.
    const maxMemoryMb = Math.max(1024, Math.floor(os.totalmem() / 1048576 / 2));
    // The trainer runs at the lowest priority, so the prober's threads (every core) take the cores from it when a hover
    // or completion comes: decoding is bound by reading the weights, and two cores read them twice as fast as one.
    // Its working directory is the extension's own folder: never the workspace.
    const client = new EngineClient({ workerPath: this.workerPath, cwd: path.dirname(this.workerPath), maxMemoryMb,
      background: role === 'trainer', onCrash: (reason) => this.onCrash(role, reason), onIdle: () => this.replaceIfStale(role) });
    const started = Date.now();
    const ready = client.call('init', engineSettings(), { deadlineMs: DEADLINES.init }).then((report) => {
      this.log.info(`${role} engine (pid ${client.pid ?? '?'}): backend ${report.name} (${report.detail})` +
        `${report.kernels?.native ? `, native ${report.kernels.isa} kernels` : ''}, ready in ${Date.now() - started} ms`);
      return report;
    });
    ready.catch(() => undefined); // reported where a request awaits it
    entry = { client, ready, stale: false };
    this.clients.set(role, entry);
    return entry;
  }

  private onCrash(role: EngineRole, reason: string): void {
    this.clients.delete(role);
    this.log.error(`the ${role} engine process stopped: ${reason}`);
    void vscode.window.showErrorMessage(`GPT Lab: ${reason}. Your editor and files are unaffected; the next command starts a new engine, ` +
      'and the last saved model is on disk.');
    this.crashed.fire({ role, reason });
  }

  /**
   * One request to an engine, with the method's deadline (or `deadlineMs`); training events stream through onEvent.
   * A missed deadline starts the liveness check.
   */
  request<M extends Method>(role: EngineRole, method: M, params: ParamsOf<M>,
    options: { onEvent?: (e: TrainEvent) => void; deadlineMs?: number } = {}): { id: Promise<number>; result: Promise<ResultOf<M>> } {
    const entry = this.client(role);
    let resolveId!: (id: number) => void;
    const id = new Promise<number>((resolve) => (resolveId = resolve));
    const result = entry.ready.then(() => {
      const r = entry.client.request(method, params, { onEvent: options.onEvent, deadlineMs: options.deadlineMs ?? DEADLINES[method] });
      resolveId(r.id);
      return r.result;
    }, (e: unknown) => {
      resolveId(-1); // never sent (the engine did not start): nothing to cancel, and a Stop must not wait forever
      throw e;
    });
    result.catch((e: unknown) => {
      if (e instanceof EngineTimeoutError) void this.checkAlive(role, entry.client);
    });
    return { id, result };
  }

  call<M extends Method>(role: EngineRole, method: M, params: ParamsOf<M>, deadlineMs?: number): Promise<ResultOf<M>> {
    return this.request(role, method, params, { deadlineMs }).result;
  }

  /** Asks a request to stop; resolves once the engine has heard it (or after the cancel's own deadline). */
  async cancel(role: EngineRole, requestId: number): Promise<void> {
    await this.clients.get(role)?.client.cancel(requestId, DEADLINES.cancel);
  }

  /** After a missed deadline: an engine that does not answer "are you there" either is replaced. */
  private async checkAlive(role: EngineRole, client: EngineClient): Promise<void> {
    if (this.clients.get(role)?.client !== client) return;
    try {
      await client.call('status', {}, { deadlineMs: LIVENESS_MS });
    } catch (e) {
      if (!(e instanceof EngineTimeoutError) || this.clients.get(role)?.client !== client) return;
      this.log.error(`the ${role} engine did not answer for ${LIVENESS_MS / 1000} s after a missed deadline; replacing it`);
      void vscode.window.showWarningMessage('GPT Lab: an engine stopped answering and was replaced; the next request starts a new one. ' +
        'Your models and files are unaffected.');
      this.stop(role, 'the engine stopped answering and was replaced');
    }
  }

  /** Ends an engine process on purpose (it may be hung or stopped); pending requests reject with an EngineStoppedError. */
  stop(role: EngineRole, why: string): void {
    const entry = this.clients.get(role);
    if (!entry) return;
    this.clients.delete(role);
    entry.client.dispose(why);
    this.restarted.fire(role);
  }

  /** The compute settings changed: each engine is replaced once it is idle (at once when it is). */
  settingsChanged(): void {
    for (const [role, entry] of this.clients) {
      entry.stale = true;
      if (!entry.client.busy) this.replaceIfStale(role);
    }
  }

  private replaceIfStale(role: EngineRole): void {
    const entry = this.clients.get(role);
    if (!entry?.stale || entry.client.busy) return;
    this.log.info(`restarting the ${role} engine with the new settings`);
    this.stop(role, 'restarted with new settings');
  }

  pid(role: EngineRole): number | undefined {
    return this.clients.get(role)?.client.pid;
  }

  dispose(): void {
    for (const { client } of this.clients.values()) client.dispose();
    this.clients.clear();
    this.crashed.dispose();
    this.restarted.dispose();
  }
}

export function isCrash(e: unknown): boolean {
  return e instanceof EngineCrashedError;
}

/** The engine was stopped on purpose (a forced Stop, a restart): not an error to report again. */
export function isStopped(e: unknown): boolean {
  return e instanceof EngineStoppedError;
}

/** The message of an engine error, as one line for a notification. */
export function errorLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0];
}
