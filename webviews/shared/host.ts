/**
 * A webview's side of its channel to the extension host: the guard on incoming messages, a handler for every
 * message type the view accepts (a missing one is a compile error), typed posts and requests, and `ready` once
 * the handlers are in place. Persisted view state goes through VS Code's getState/setState, so a panel survives a
 * window reload.
 */
import { isViewMessage, TO_VIEW_TYPES, type ToHostType, type ToViewType, type ViewMessages, type ViewName } from '../../engine/protocol';

/** The API VS Code injects into webviews (there is no @types package for it). */
interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

export type ViewHandlers<V extends ViewName> = {
  [K in ToViewType<V>]: (params: ViewMessages[V]['toView'][K], id: number | undefined) => void;
};

export interface ViewChannel<V extends ViewName, S> {
  post<K extends ToHostType<V>>(type: K, params: ViewMessages[V]['toHost'][K]): void;
  /** Posts a request with a fresh id and returns the id; the reply (or an `error`) echoes it. */
  request<K extends ToHostType<V>>(type: K, params: ViewMessages[V]['toHost'][K]): number;
  state(): S | undefined;
  saveState(state: S): void;
}

let acquired: VsCodeApi | undefined;

export function connect<V extends ViewName, S>(view: V, handlers: ViewHandlers<V>): ViewChannel<V, S> {
  const api = (acquired ??= acquireVsCodeApi());
  let nextId = 1;
  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    const msg = event.data;
    if (!isViewMessage<ViewMessages[V]['toView']>(msg, TO_VIEW_TYPES[view])) {
      console.warn(`gpt-lab ${view}: dropped a message that is not part of the protocol`);
      return;
    }
    const handle = handlers[msg.type] as (params: unknown, id: number | undefined) => void;
    handle(msg.params, msg.id);
  });
  const channel: ViewChannel<V, S> = {
    post: (type, params) => api.postMessage({ type, params }),
    request: (type, params) => {
      const id = nextId++;
      api.postMessage({ type, id, params });
      return id;
    },
    state: () => api.getState() as S | undefined,
    saveState: (state) => api.setState(state),
  };
  channel.post('ready', {} as ViewMessages[V]['toHost'][ToHostType<V>]);
  return channel;
}
