/**
 * The one message protocol shared by the extension host and every webview.
 *
 * Each message is `{ type, id?, params }`: `type` selects the parameter type
 * through the maps below, so a switch on `msg.type` narrows `msg.params`.
 * Requests carry an `id`; a reply to a request echoes that `id`.
 */

/** Messages the webview sends to the extension. */
export interface WebviewToHostParams {
  /** The webview has loaded and is listening. */
  ready: Record<string, never>;
}

/** Messages the extension sends to a webview. */
export interface HostToWebviewParams {
  /** One point of the loss curve. */
  lossPoint: { step: number; loss: number; valLoss?: number };
  /** Training finished. */
  trainDone: Record<string, never>;
  /** Something went wrong; show it. */
  error: { message: string };
}

export type Message<P, K extends keyof P = keyof P> = K extends keyof P
  ? { type: K; id?: number; params: P[K] }
  : never;

export type WebviewToHost = Message<WebviewToHostParams>;
export type HostToWebview = Message<HostToWebviewParams>;

export type WebviewToHostType = keyof WebviewToHostParams;
export type HostToWebviewType = keyof HostToWebviewParams;

/** Build a message; `id` is the request id (or, in a reply, the id of the request answered). */
export function message<P, K extends keyof P>(type: K, params: P[K], id?: number): Message<P, K> {
  return (id === undefined ? { type, params } : { type, id, params }) as Message<P, K>;
}

/** A message from the webview to the extension. */
export function toHost<K extends WebviewToHostType>(type: K, params: WebviewToHostParams[K], id?: number) {
  return message<WebviewToHostParams, K>(type, params, id);
}

/** A message from the extension to a webview. */
export function toWebview<K extends HostToWebviewType>(type: K, params: HostToWebviewParams[K], id?: number) {
  return message<HostToWebviewParams, K>(type, params, id);
}

const HOST_TO_WEBVIEW_TYPES: readonly HostToWebviewType[] = ['lossPoint', 'trainDone', 'error'];
const WEBVIEW_TO_HOST_TYPES: readonly WebviewToHostType[] = ['ready'];

function hasType(x: unknown): x is { type: unknown; params: unknown } {
  return typeof x === 'object' && x !== null && 'type' in x && 'params' in x;
}

/** Runtime guard for data arriving from `postMessage` (which is untyped). */
export function isHostToWebview(x: unknown): x is HostToWebview {
  return hasType(x) && (HOST_TO_WEBVIEW_TYPES as readonly unknown[]).includes(x.type);
}

/** Runtime guard for data arriving from `webview.onDidReceiveMessage`. */
export function isWebviewToHost(x: unknown): x is WebviewToHost {
  return hasType(x) && (WEBVIEW_TO_HOST_TYPES as readonly unknown[]).includes(x.type);
}
