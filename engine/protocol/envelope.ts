// The envelope every GPT Lab channel uses — the engine process, the CLI's tests, and every webview:
// { type, id?, params }. A request carries an id, and its reply (a result, an error, or an event of a run) echoes it.
// One envelope, one guard, one reply rule.

/**
 * A message of a channel whose `type`s map to parameter types: a switch on `msg.type` narrows `msg.params`.
 * Requests carry an `id`; a reply to a request echoes it.
 */
export type Envelope<P, K extends keyof P = keyof P> = K extends keyof P ? { type: K; id?: number; params: P[K] } : never;

/** Builds an envelope; `id` is the request id (or, in a reply, the id of the request answered). */
export function envelope<P, K extends keyof P>(type: K, params: P[K], id?: number): Envelope<P, K> {
  return (id === undefined ? { type, params } : { type, id, params }) as Envelope<P, K>;
}

/** Checks the shape of an envelope that arrived through IPC or postMessage (which are untyped). */
export function isEnvelopeOf<P>(x: unknown, types: readonly (keyof P)[]): x is Envelope<P> {
  if (typeof x !== 'object' || x === null) return false;
  const m = x as { type?: unknown; id?: unknown; params?: unknown };
  return (types as readonly unknown[]).includes(m.type) && 'params' in m && (m.id === undefined || Number.isSafeInteger(m.id));
}
