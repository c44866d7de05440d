// The messages between the extension host and each webview, in the one envelope (envelope.ts). A webview says `ready`
// before the host posts anything. The one reply rule: a view's request carries an id, and the message that carries
// that id back answers it (its type is the request's reply type in REPLY_TYPES, or `error`). Everything else the host
// posts is a push: a command's `loading` note, then its data or an `error`. Webview bundles import this room (plain
// data and guards) and nothing else from the engine.
import type { CompareTable } from './compare';
import { isEnvelopeOf, type Envelope } from './envelope';
import type { TrainEvent } from './events';
import type { AblationMode, AblationProbe, AnalogyResult, AttentionHead, AttentionMap, AttentionProbe, AttentionRows, AttentionThumbnails, AttributionProbe,
  BpeReplay, HeadRef, HeadRolesProbe, LensProbe, NextTokenProbe, PatchingProbe, ProjectedToken, SamplingOptions, SnapshotInfo,
  TextNeighbours, Timeline, TokenizerComparison, TokenLoss } from './probes';

/** The model a panel's content came from: every panel names it. */
export interface ModelTag {
  label: string; // the document it was trained on, or the model file's name
  tokenizer: string; // e.g. "char", "o200k_base", "bpe:1024"
  parameters: number;
  /** A checkpoint of a run that did not finish. */
  partial: boolean;
}

/**
 * Where a panel's content sits in its model's run: the weight snapshots the run kept (empty: none), and the one the
 * content was computed at (null: the model itself, the weights the run kept as best).
 */
export interface TimelineTag {
  snapshots: SnapshotInfo[];
  at: number | null;
}

/** Replays a panel's probe at a snapshot of the run (null: the model itself); answered with the panel's data. */
export type AtSnapshotRequest = { snapshot: number | null }; // a type, not an interface: test harnesses read params as records

/** What every view accepts. */
interface CommonToView {
  /** A request failed, or the view's data cannot be produced; `id` echoes the request when there was one. */
  error: { message: string };
  /** The host started a command for this view: what it is doing. The view marks what it shows as stale until the data (or an error) comes. */
  loading: { what: string };
}
interface CommonToHost {
  /** The webview has loaded and listens; the host queues everything until this arrives. */
  ready: Record<string, never>;
}

/** One training run drawn on the loss chart. */
export interface LossRun {
  id: string; // unique across window reloads (the run's start time), stable for the run's life
  source: string; // the document's name; the chart numbers the runs of each document
  /** A run of "Compare on this file": the chart names it by its variant and colours a variant's seeds alike. */
  compare?: LossCompareTag;
}

/** Which comparison, variant and seed a run of the loss chart belongs to. */
export interface LossCompareTag {
  id: string; // the comparison's: its runs and its table share it
  variant: number; // the variant's row in the table
  label: string; // the variant as written ("norm=rmsnorm"), or "baseline (tiny)"
  seed: number;
  seeds: number; // seeds per variant
}

/** A comparison's table, shown under the chart. */
export interface LossCompareTable {
  id: string; // the comparison's id (LossCompareTag.id)
  source: string; // the document's name
  table: CompareTable;
}

/** The head-role timeline of the model a run kept, for the induction overlay (no points: the run kept no snapshots). */
export interface LossTimeline {
  runId: string;
  timeline: Timeline;
}

export interface TokensData {
  source: string; // the document's name
  /** What was tokenized: the selection, the line under the cursor (nothing was selected), or the whole file. */
  scope: 'selection' | 'line' | 'file';
  /** The line's number (1-based) when scope is 'line'. */
  line: number | null;
  text: string;
  comparison: TokenizerComparison;
  /** Under `model`: each of the text's model tokens with its loss in context. */
  surprise: TokenLoss[] | null;
  model: ModelTag | null;
}

/** A BPE learned from the panel's file, merge by merge, and the panel's text under every tokenizer with it among them. */
export interface BpeReplayData {
  replay: BpeReplay;
  comparison: TokenizerComparison;
}

export interface AttentionData {
  source: string;
  model: ModelTag | null;
  probe: AttentionProbe;
  /** Tokens of the whole selection; the probe holds the last `probe.tokens.length` of them (the model's context). */
  totalTokens: number;
  /** The run's snapshots and the one shown; absent: the model kept none. */
  timeline?: TimelineTag;
}

/** Activation patching against a person's edit of the text up to a selection: which heads restore the clean prediction. */
export interface PatchData {
  source: string; // the document's name
  model: ModelTag | null;
  selection: string; // the selected text as it was
  edit: string; // what the person made of it
  probe: PatchingProbe;
}

/** The attention a token gives, to be painted over the source: its row of one head, or of the mean of a layer's heads. */
export interface AttentionFocus {
  token: number | null; // query position in probe.tokens; null clears the painting
  layer: number;
  head: AttentionHead;
  /** Its weights on keys 0..token (the open map's row), for the host to paint; null with a null token. */
  weights: number[] | null;
}

export interface NextTokenData {
  prompt: string; // the selection plus whatever the panel sampled onto it
  sampledSoFar: string; // the part of the prompt the panel appended
  probe: NextTokenProbe;
  lens: LensProbe;
  model: ModelTag | null;
  timeline?: TimelineTag;
}

export interface ProjectionData {
  points: ProjectedToken[];
  explained: [number, number];
  model: ModelTag | null;
  timeline?: TimelineTag;
}

export interface NeighboursData extends TextNeighbours {
  text: string; // what was asked about
}

/** view name -> the messages each way, and the message type that answers each request. */
export interface ViewMessages {
  loss: {
    toView: CommonToView & {
      /** A run starts (or, after the panel reopens, is replayed); its events follow. */
      run: LossRun;
      /** Training events of a run, batched. */
      events: { runId: string; events: TrainEvent[] };
      /** A comparison ended (or was stopped): its table. */
      compareTable: LossCompareTable;
      /** A run ended and its model is the active model: its snapshots' head roles. */
      timeline: LossTimeline;
    };
    toHost: CommonToHost;
    replies: Record<never, never>;
  };
  tokens: {
    toView: CommonToView & { tokens: TokensData; bpeReplay: BpeReplayData };
    toHost: CommonToHost & { bpeReplay: { vocabSize: number } };
    replies: { bpeReplay: 'bpeReplay' };
  };
  attention: {
    toView: CommonToView & {
      attention: AttentionData;
      /** The thumbnails of the layers a first paint left out (its probe stopped after the open map's layer). */
      layers: AttentionThumbnails;
      map: AttentionMap;
      rows: AttentionRows;
      /** The painting over the source went away (the text changed, the editor closed): the focus goes too. */
      unfocus: { reason: string };
      /** Every head's role scores, on repeated random tokens and on the probed text (at the snapshot shown). */
      roles: HeadRolesProbe;
      /** The probed text with heads switched off, beside the intact model. */
      ablation: AblationProbe;
      /** A patching experiment the "Patch against an edit…" command ran. */
      patch: PatchData;
    };
    toHost: CommonToHost & {
      focus: AttentionFocus;
      map: { layer: number; head: AttentionHead };
      rows: { layer: number; query: number };
      atSnapshot: AtSnapshotRequest;
      roles: Record<string, never>;
      ablate: { heads: HeadRef[]; mode: AblationMode };
    };
    replies: { map: 'map'; rows: 'rows'; atSnapshot: 'attention'; roles: 'roles'; ablate: 'ablation' };
  };
  nextToken: {
    toView: CommonToView & { nextToken: NextTokenData; attribution: AttributionProbe };
    toHost: CommonToHost & {
      resample: SamplingOptions; // the same prompt under other sampling settings
      sampleOne: SamplingOptions; // draw one token with these settings and append it to the prompt
      reset: Record<string, never>; // back to the selection
      atSnapshot: AtSnapshotRequest & { sampling: SamplingOptions };
      /** Direct logit attribution of a token (null: the top one) after the prompt, at the snapshot shown. */
      attribution: { token: string | null };
    };
    replies: { resample: 'nextToken'; sampleOne: 'nextToken'; reset: 'nextToken'; atSnapshot: 'nextToken'; attribution: 'attribution' };
  };
  embeddings: {
    toView: CommonToView & { projection: ProjectionData; neighbours: NeighboursData; analogy: AnalogyResult };
    toHost: CommonToHost & { neighbours: { token: string; k: number }; analogy: { a: string; b: string; c: string; k: number };
      atSnapshot: AtSnapshotRequest };
    replies: { neighbours: 'neighbours'; analogy: 'analogy'; atSnapshot: 'projection' };
  };
}

export type ViewName = keyof ViewMessages;
export const VIEW_NAMES: readonly ViewName[] = ['loss', 'tokens', 'attention', 'nextToken', 'embeddings'];

export type ToView<V extends ViewName> = Envelope<ViewMessages[V]['toView']>;
export type ToHost<V extends ViewName> = Envelope<ViewMessages[V]['toHost']>;
export type ToViewType<V extends ViewName> = keyof ViewMessages[V]['toView'];
export type ToHostType<V extends ViewName> = keyof ViewMessages[V]['toHost'];
/** The types a view sends as requests (each answered by one message with its id). */
export type RequestType<V extends ViewName> = keyof ViewMessages[V]['replies'] & ToHostType<V>;
/** The message type that answers a request. */
export type ReplyType<V extends ViewName, K extends RequestType<V>> = ViewMessages[V]['replies'][K] & ToViewType<V>;
/** The parameters of a request's reply. */
export type ReplyOf<V extends ViewName, K extends RequestType<V>> = ViewMessages[V]['toView'][ReplyType<V, K>];

/** The message types each view sends, for the host's guard (complete: a missing type is a compile error). */
export const TO_HOST_TYPES: { [V in ViewName]: readonly ToHostType<V>[] } = {
  loss: ['ready'],
  tokens: ['ready', 'bpeReplay'],
  attention: ['ready', 'focus', 'map', 'rows', 'atSnapshot', 'roles', 'ablate'],
  nextToken: ['ready', 'resample', 'sampleOne', 'reset', 'atSnapshot', 'attribution'],
  embeddings: ['ready', 'neighbours', 'analogy', 'atSnapshot'],
};

/** The message types each view accepts, for the webview's guard. */
export const TO_VIEW_TYPES: { [V in ViewName]: readonly ToViewType<V>[] } = {
  loss: ['error', 'loading', 'run', 'events', 'compareTable', 'timeline'],
  tokens: ['error', 'loading', 'tokens', 'bpeReplay'],
  attention: ['error', 'loading', 'attention', 'layers', 'map', 'rows', 'unfocus', 'roles', 'ablation', 'patch'],
  nextToken: ['error', 'loading', 'nextToken', 'attribution'],
  embeddings: ['error', 'loading', 'projection', 'neighbours', 'analogy'],
};

/** Each request and the type of the message that answers it: the one reply rule, for the host and the view alike. */
export const REPLY_TYPES: { [V in ViewName]: ViewMessages[V]['replies'] } = {
  loss: {},
  tokens: { bpeReplay: 'bpeReplay' },
  attention: { map: 'map', rows: 'rows', atSnapshot: 'attention', roles: 'roles', ablate: 'ablation' },
  nextToken: { resample: 'nextToken', sampleOne: 'nextToken', reset: 'nextToken', atSnapshot: 'nextToken', attribution: 'attribution' },
  embeddings: { neighbours: 'neighbours', analogy: 'analogy', atSnapshot: 'projection' },
};

/** The reply type of a message a view sent, or undefined when the message is not a request. */
export function replyTypeOf<V extends ViewName>(view: V, type: ToHostType<V>): ToViewType<V> | undefined {
  return (REPLY_TYPES[view] as Record<string, ToViewType<V> | undefined>)[type as string];
}

/** How long a view waits for the answer to a request before it gives up (a probe of a big model can take seconds). */
export const REQUEST_DEADLINE_MS = 60_000;

/** A message of a view's channel: a sound envelope of a known type whose params are an object (every view message's are). */
export function isViewMessage<P>(x: unknown, types: readonly (keyof P)[]): x is Envelope<P> {
  return isEnvelopeOf<P>(x, types) && typeof x.params === 'object' && x.params !== null;
}

const isInt = (x: unknown, min: number, max: number): x is number => Number.isInteger(x) && (x as number) >= min && (x as number) <= max;
const isText = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= 1000;
const isHead = (x: unknown): boolean => x === 'mean' || isInt(x, 0, 4096);
const isSampling = (p: Record<string, unknown>): boolean =>
  typeof p.temperature === 'number' && p.temperature >= 0 && p.temperature <= 100 && isInt(p.topK, 0, 1_000_000) &&
  typeof p.topP === 'number' && p.topP > 0 && p.topP <= 1;
/** A focus names a token with its row of weights (keys 0..token, each in [0, 1]), or clears with nulls. */
const isFocus = (p: Record<string, unknown>): boolean => isInt(p.layer, 0, 4096) && isHead(p.head) && (p.token === null
  ? p.weights === null
  : isInt(p.token, 0, 4095) && Array.isArray(p.weights) && p.weights.length === p.token + 1 &&
    (p.weights as unknown[]).every((w) => typeof w === 'number' && w >= 0 && w <= 1));

/** A snapshot index, or null for the model itself. */
const isSnapshot = (p: Record<string, unknown>): boolean => p.snapshot === null || isInt(p.snapshot, 0, 64);
/** Heads to ablate: 1 to 4096 of them, each a layer and head index; zero or mean. */
const isAblation = (p: Record<string, unknown>): boolean => (p.mode === 'zero' || p.mode === 'mean') && Array.isArray(p.heads) &&
  p.heads.length >= 1 && p.heads.length <= 4096 &&
  (p.heads as unknown[]).every((h) => typeof h === 'object' && h !== null && isInt((h as HeadRef).layer, 0, 4096) && isInt((h as HeadRef).head, 0, 4096));

/** What each request of a view must hold, beyond its envelope; types not listed carry nothing the host reads. */
const PARAM_CHECKS: { [V in ViewName]?: { [K in ToHostType<V>]?: (p: Record<string, unknown>) => boolean } } = {
  tokens: { bpeReplay: (p) => isInt(p.vocabSize, 256, 65_536) },
  attention: {
    focus: isFocus,
    map: (p) => isInt(p.layer, 0, 4096) && isHead(p.head),
    rows: (p) => isInt(p.layer, 0, 4096) && isInt(p.query, 0, 4095),
    atSnapshot: isSnapshot,
    ablate: isAblation,
  },
  nextToken: {
    resample: isSampling,
    sampleOne: isSampling,
    atSnapshot: (p) => isSnapshot(p) && typeof p.sampling === 'object' && p.sampling !== null && isSampling(p.sampling as Record<string, unknown>),
    attribution: (p) => p.token === null || isText(p.token),
  },
  embeddings: {
    neighbours: (p) => isText(p.token) && isInt(p.k, 1, 1000),
    analogy: (p) => isText(p.a) && isText(p.b) && isText(p.c) && isInt(p.k, 1, 1000),
    atSnapshot: isSnapshot,
  },
};

/** The host's guard for a message from a view: a known type, a sound envelope, and parameters of the right shape. */
export function isValidToHost<V extends ViewName>(view: V, x: unknown): x is ToHost<V> {
  if (!isViewMessage<ViewMessages[V]['toHost']>(x, TO_HOST_TYPES[view])) return false;
  const checks = PARAM_CHECKS[view] as Record<string, ((p: Record<string, unknown>) => boolean) | undefined> | undefined;
  const check = checks?.[x.type as string];
  return !check || check(x.params as Record<string, unknown>);
}
