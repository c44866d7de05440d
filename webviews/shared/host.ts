/**
 * A webview's side of its channel to the extension host: the guard on incoming messages, the one reply rule, typed
 * posts, and `ready` once the handlers are in place. `request()` returns a Promise: the message that comes back with
 * the request's id answers it (`error` rejects), and a request that gets no answer within REQUEST_DEADLINE_MS rejects.
 * Every other message is a push and goes to its handler. Persisted view state goes through VS Code's
 * getState/setState, so a panel survives a window reload.
 */
import { isViewMessage, REPLY_TYPES, REQUEST_DEADLINE_MS, TO_VIEW_TYPES, type ReplyOf, type RequestType, type ToHostType, type ToViewType,
  type ViewMessages, type ViewName } from '../../engine/protocol';

/** The API VS Code injects into webviews (there is no @types package for it). */
interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

type ReplyTypes<V extends ViewName> = ViewMessages[V]['replies'][keyof ViewMessages[V]['replies']] & ToViewType<V>;
type Handler<V extends ViewName, K extends ToViewType<V>> = (params: ViewMessages[V]['toView'][K]) => void;

/**
 * A handler for every message type the host pushes (a missing one is a compile error); a type that is a request's
 * reply may also be pushed (the next-token panel's data on a command), and then needs a handler too.
 */
export type ViewHandlers<V extends ViewName> =
  { [K in Exclude<ToViewType<V>, ReplyTypes<V>>]: Handler<V, K> } & { [K in ReplyTypes<V>]?: Handler<V, K> };

/** A request that was answered by an `error`, or by nothing before its deadline. */
export class RequestError extends Error {
  override name = 'RequestError';
}

export interface ViewChannel<V extends ViewName, S> {
  /** Posts a message that is not a request. */
  post<K extends Exclude<ToHostType<V>, RequestType<V>>>(type: K, params: ViewMessages[V]['toHost'][K]): void;
  /** Posts a request with a fresh id; resolves with the reply's params, rejects with a RequestError. */
  request<K extends RequestType<V>>(type: K, params: ViewMessages[V]['toHost'][K]): Promise<ReplyOf<V, K>>;
  state(): S | undefined;
  saveState(state: S): void;
}

let acquired: VsCodeApi | undefined;

export function connect<V extends ViewName, S>(view: V, handlers: ViewHandlers<V>): ViewChannel<V, S> {
  const api = (acquired ??= acquireVsCodeApi());
  const replies = REPLY_TYPES[view] as Record<string, string | undefined>;
  const pending = new Map<number, { type: string; resolve: (params: unknown) => void; reject: (e: Error) => void; timer: number }>();
  let nextId = 1;

  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    const msg = event.data;
    if (!isViewMessage<ViewMessages[V]['toView']>(msg, TO_VIEW_TYPES[view])) {
      console.warn(`gpt-lab ${view}: dropped a message that is not part of the protocol`);
      return;
    }
    if (msg.id !== undefined) {
      // The one reply rule: the message with a pending request's id answers it.
      const waiting = pending.get(msg.id);
      if (!waiting) {
        console.warn(`gpt-lab ${view}: dropped a reply to no pending request (id ${msg.id})`);
        return;
      }
      pending.delete(msg.id);
      window.clearTimeout(waiting.timer);
      if (msg.type === 'error') {
        const message = (msg.params as { message?: unknown }).message;
        waiting.reject(new RequestError(typeof message === 'string' && message ? message.slice(0, 400) : 'the request failed'));
      } else if (msg.type !== waiting.type) {
        waiting.reject(new RequestError(`the host answered with “${String(msg.type)}”, not “${waiting.type}”`));
      } else {
        waiting.resolve(msg.params);
      }
      return;
    }
    const handle = (handlers as Record<string, ((params: unknown) => void) | undefined>)[msg.type as string];
    if (handle) handle(msg.params);
    else console.warn(`gpt-lab ${view}: no handler for a pushed “${String(msg.type)}”`);
  });

  const channel: ViewChannel<V, S> = {
    post: (type, params) => api.postMessage({ type, params }),
    request: (type, params) => new Promise((resolve, reject) => {
      const id = nextId++;
      const reply = replies[type as string];
      if (!reply) {
        reject(new RequestError(`“${String(type)}” is not a request`));
        return;
      }
      const timer = window.setTimeout(() => {
        pending.delete(id);
        reject(new RequestError(`no answer from the extension in ${REQUEST_DEADLINE_MS / 1000} s`));
      }, REQUEST_DEADLINE_MS);
      pending.set(id, { type: reply, resolve: resolve as (params: unknown) => void, reject, timer });
      api.postMessage({ type, id, params });
    }),
    state: () => api.getState() as S | undefined,
    saveState: (state) => api.setState(state),
  };
  api.postMessage({ type: 'ready', params: {} });
  return channel;
}

/**
 * The newest of a series of requests wins: a request sent while another of the same series is under way makes the
 * older one's answer `superseded` (a slider dragged past several values shows only the last one's answer).
 */
export class Latest<T> {
  private generation = 0;

  /** Runs `ask`; resolves with its result, or with `undefined` when a newer call started meanwhile (errors likewise). */
  async run(ask: () => Promise<T>): Promise<{ value: T } | undefined> {
    const mine = ++this.generation;
    try {
      const value = await ask();
      return mine === this.generation ? { value } : undefined;
    } catch (e) {
      if (mine !== this.generation) return undefined;
      throw e;
    }
  }

  /** Makes the answer of a call under way `superseded`, with no new call (the user chose something already at hand). */
  supersede(): void {
    this.generation++;
  }
}
