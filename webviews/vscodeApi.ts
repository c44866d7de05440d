/** The API VS Code injects into webviews (declared here; there is no @types package for it). */
export interface VsCodeApi<State = unknown, Msg = unknown> {
  postMessage(message: Msg): void;
  getState(): State | undefined;
  setState<T extends State | undefined>(newState: T): T;
}

declare global {
  /** May be called only once per webview; call it via `vscodeApi()`. */
  function acquireVsCodeApi<State = unknown, Msg = unknown>(): VsCodeApi<State, Msg>;
}

let api: VsCodeApi<unknown, unknown> | undefined;

/** The webview's API object, acquired once and cached. */
export function vscodeApi<State, Msg>(): VsCodeApi<State, Msg> {
  api ??= acquireVsCodeApi<unknown, unknown>();
  return api as VsCodeApi<State, Msg>;
}
