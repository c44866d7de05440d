// The messages between the extension host and each webview, in the one envelope (envelope.ts): a request carries an
// id and its reply (or `error`) echoes it; a webview says `ready` before the host posts anything. Webview bundles
// import this room (plain data and guards) and nothing else from the engine.
import { isEnvelopeOf, type Envelope } from './envelope';
import type { TrainEvent } from './events';
import type { AnalogyResult, AttentionProbe, LensProbe, Neighbour, NextTokenProbe, ProjectedToken, SamplingOptions,
  TokenizerComparison, TokenLoss } from './probes';

/** What every view accepts and sends. */
interface CommonToView {
  /** A request failed, or the view's data cannot be produced; `id` echoes the request when there was one. */
  error: { message: string };
}
interface CommonToHost {
  /** The webview has loaded and listens; the host queues everything until this arrives. */
  ready: Record<string, never>;
}

/** One training run drawn on the loss chart. */
export interface LossRun {
  id: string;
  label: string; // e.g. "poems.txt · run 2" (the document, then the run's number in this window)
}

export interface TokensData {
  source: string; // the document's name
  selection: string;
  comparison: TokenizerComparison;
  /** Under the active model, when there is one: each of the selection's model tokens with its loss in context. */
  surprise: TokenLoss[] | null;
}

export interface AttentionData {
  source: string;
  probe: AttentionProbe;
  /** Tokens of the whole selection; the probe holds the last `probe.tokens.length` of them (the model's context). */
  totalTokens: number;
}

/** The attention a token gives, to be painted over the source: its row of one head, or the mean of a layer's heads. */
export interface AttentionFocus {
  token: number | null; // query position in probe.tokens; null clears the painting
  layer: number;
  head: number | 'mean';
}

export interface NextTokenData {
  prompt: string; // the selection plus whatever the panel sampled onto it
  sampledSoFar: string; // the part of the prompt the panel appended
  probe: NextTokenProbe;
  lens: LensProbe;
}

export interface ProjectionData {
  points: ProjectedToken[];
  explained: [number, number];
}

export interface NeighboursData {
  query: string;
  id: number;
  nearest: Neighbour[];
}

/** view name -> the messages each way. */
export interface ViewMessages {
  loss: {
    toView: CommonToView & {
      /** A run starts (or, after a reload, is replayed); its events follow. */
      run: LossRun;
      /** Training events of a run, batched. */
      events: { runId: string; events: TrainEvent[] };
    };
    toHost: CommonToHost;
  };
  tokens: {
    toView: CommonToView & { tokens: TokensData };
    toHost: CommonToHost;
  };
  attention: {
    toView: CommonToView & { attention: AttentionData };
    toHost: CommonToHost & { focus: AttentionFocus };
  };
  nextToken: {
    toView: CommonToView & { nextToken: NextTokenData };
    /** Requests; each is answered by a `nextToken` (or `error`) with the same id. */
    toHost: CommonToHost & {
      resample: SamplingOptions; // the same prompt under other sampling settings
      sampleOne: SamplingOptions; // draw one token with these settings and append it to the prompt
      reset: Record<string, never>; // back to the selection
    };
  };
  embeddings: {
    toView: CommonToView & { projection: ProjectionData; neighbours: NeighboursData; analogy: AnalogyResult };
    /** Requests; answered by the message of the same name (or `error`) with the same id. */
    toHost: CommonToHost & { neighbours: { token: string; k: number }; analogy: { a: string; b: string; c: string; k: number } };
  };
}

export type ViewName = keyof ViewMessages;
export const VIEW_NAMES: readonly ViewName[] = ['loss', 'tokens', 'attention', 'nextToken', 'embeddings'];

export type ToView<V extends ViewName> = Envelope<ViewMessages[V]['toView']>;
export type ToHost<V extends ViewName> = Envelope<ViewMessages[V]['toHost']>;
export type ToViewType<V extends ViewName> = keyof ViewMessages[V]['toView'];
export type ToHostType<V extends ViewName> = keyof ViewMessages[V]['toHost'];

/** The message types each view sends, for the host's guard (complete: a missing type is a compile error). */
export const TO_HOST_TYPES: { [V in ViewName]: readonly ToHostType<V>[] } = {
  loss: ['ready'],
  tokens: ['ready'],
  attention: ['ready', 'focus'],
  nextToken: ['ready', 'resample', 'sampleOne', 'reset'],
  embeddings: ['ready', 'neighbours', 'analogy'],
};

/** The message types each view accepts, for the webview's guard. */
export const TO_VIEW_TYPES: { [V in ViewName]: readonly ToViewType<V>[] } = {
  loss: ['error', 'run', 'events'],
  tokens: ['error', 'tokens'],
  attention: ['error', 'attention'],
  nextToken: ['error', 'nextToken'],
  embeddings: ['error', 'projection', 'neighbours', 'analogy'],
};

/** A message of a view's channel: a sound envelope of a known type whose params are an object (every view message's are). */
export function isViewMessage<P>(x: unknown, types: readonly (keyof P)[]): x is Envelope<P> {
  return isEnvelopeOf<P>(x, types) && typeof x.params === 'object' && x.params !== null;
}

const isInt = (x: unknown, min: number, max: number): x is number => Number.isInteger(x) && (x as number) >= min && (x as number) <= max;
const isText = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= 1000;
const isSampling = (p: Record<string, unknown>): boolean =>
  typeof p.temperature === 'number' && p.temperature >= 0 && p.temperature <= 100 && isInt(p.topK, 0, 1_000_000) &&
  typeof p.topP === 'number' && p.topP > 0 && p.topP <= 1;

/** What each request of a view must hold, beyond its envelope; types not listed carry nothing the host reads. */
const PARAM_CHECKS: { [V in ViewName]?: { [K in ToHostType<V>]?: (p: Record<string, unknown>) => boolean } } = {
  attention: {
    focus: (p) => (p.token === null || isInt(p.token, 0, 1 << 20)) && isInt(p.layer, 0, 4096) && (p.head === 'mean' || isInt(p.head, 0, 4096)),
  },
  nextToken: { resample: isSampling, sampleOne: isSampling },
  embeddings: {
    neighbours: (p) => isText(p.token) && isInt(p.k, 1, 1000),
    analogy: (p) => isText(p.a) && isText(p.b) && isText(p.c) && isInt(p.k, 1, 1000),
  },
};

/** The host's guard for a message from a view: a known type, a sound envelope, and parameters of the right shape. */
export function isValidToHost<V extends ViewName>(view: V, x: unknown): x is ToHost<V> {
  if (!isViewMessage<ViewMessages[V]['toHost']>(x, TO_HOST_TYPES[view])) return false;
  const checks = PARAM_CHECKS[view] as Record<string, ((p: Record<string, unknown>) => boolean) | undefined> | undefined;
  const check = checks?.[x.type as string];
  return !check || check(x.params as Record<string, unknown>);
}
