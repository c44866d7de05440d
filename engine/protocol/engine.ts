// The engine's methods: what the extension (or a test) asks the engine process, and what each answers, in the
// envelope of envelope.ts. Payload types come from this room only, never from the code that computes them.
import type { BackendReport, BackendRequest, TrainerChoice } from './compute';
import type { GPTConfig, TrainChoices } from '../model/config';
import type { AblationMode, AblationProbe, AnalogyResult, AttentionHead, AttentionMap, AttentionProbe, AttentionRows, AttributionProbe,
  BpeReplay, CopiedSpan, EvalResult, HeadRef, HeadRolesProbe, LensProbe, NextTokenProbe, PatchingProbe, ProjectedToken, SamplingOptions,
  TextNeighbours, Timeline, TokenChunk, TokenizerComparison, TokenLoss } from './probes';
import type { TrainEvent } from './events';
import { isEnvelopeOf, type Envelope } from './envelope';

export interface ModelSummary {
  config: GPTConfig;
  tokenizer: string;
  parameters: number;
  file: string | null; // where it was loaded from or saved to
  /** The run that made it: the best validation loss and where it was, when known. */
  best: { step: number; valLoss: number } | null;
  /** Saved while training was still running (a checkpoint of a run that did not finish). */
  partial: boolean;
}

export interface EngineStatus {
  rssBytes: number;
  heapUsedBytes: number;
  tensors: number; // live tfjs tensors: the active model's weights, and nothing else when idle
  training: boolean;
}

export interface TrainParams {
  text: string;
  label: string; // the document's name, for messages
  choices: TrainChoices;
  trainer?: TrainerChoice;
  /** Where to save the model when the run ends; checkpoints of the best model so far go to `${out}.partial`. */
  out: string | null;
  /** Weight snapshots to keep for the timeline (2 to 64; saved beside `out` as .snapshots.safetensors); none when absent. */
  snapshots?: number;
}

/** A probe of the model as it was at snapshot `snapshot` of its run (Timeline.snapshots); absent: the model itself. */
export interface AtSnapshot {
  snapshot?: number;
}

export interface TrainOutcome {
  /** The trained model; null when the run made none (cancelled while the text was being read, or failed). */
  summary: ModelSummary | null;
  cancelled: boolean;
  error: string | null;
  steps: number;
}

/** method -> [params, result]. */
export interface EngineMethods {
  init: [{ backend: BackendRequest; native?: boolean }, BackendReport];
  train: [TrainParams, TrainOutcome];
  cancel: [{ requestId: number }, { cancelled: boolean }];
  load: [{ file: string }, ModelSummary];
  save: [{ file: string }, ModelSummary];
  /** The active model, or null. */
  model: [Record<string, never>, ModelSummary | null];
  /** The engine's own health: memory, live tensors, and whether a run is under way (for soak tests and logs). */
  status: [Record<string, never>, EngineStatus];
  tokenize: [{ encoding: string; text: string }, { count: number; tokens: TokenChunk[] }];
  /** Tokens of a text with the model's loss (surprise) of each: all, or those from UTF-16 offset `from` (after context). */
  tokenLoss: [{ text: string; from?: number } & AtSnapshot, TokenLoss[]];
  /** The selection under every tokenizer; with `bpeVocabSize`, also under a BPE of that size learned from `file`. */
  compareTokenizers: [{ selection: string; file: string; bpeVocabSize?: number }, TokenizerComparison];
  /** The merges of a BPE learned from a text, in order, with the text's token count after each (the merge replay). */
  bpeReplay: [{ text: string; vocabSize: number }, BpeReplay];
  sample: [{ prompt: string; tokens: number; sampling: SamplingOptions; seed: number; stopAtNewline?: boolean }, { text: string }];
  nextToken: [{ text: string; k: number; sampling?: SamplingOptions } & AtSnapshot, NextTokenProbe];
  /**
   * Attention over a text: every map as a thumbnail of `thumbnail` pixels (64 when absent), and the `open` maps in full
   * (layer 0, head 0 when absent). The engine keeps the weights of the last text, so attentionMap and attentionRows
   * on the same text (and snapshot) cost no second forward pass.
   */
  attention: [{ text: string; thumbnail?: number; open?: { layer: number; head: AttentionHead }[] } & AtSnapshot, AttentionProbe];
  attentionMap: [{ text: string; layer: number; head: AttentionHead } & AtSnapshot, AttentionMap];
  attentionRows: [{ text: string; layer: number; query: number } & AtSnapshot, AttentionRows];
  lens: [{ text: string; k: number } & AtSnapshot, LensProbe];
  /** Nearest tokens to a text's embedding: its token's, or the mean of its tokens' when it has several. */
  neighbours: [{ token: string; k: number }, TextNeighbours];
  analogy: [{ a: string; b: string; c: string; k: number }, AnalogyResult];
  projection: [AtSnapshot, { points: ProjectedToken[]; explained: [number, number] }];
  evaluate: [{ text: string }, EvalResult];
  /** Every head's role scores: on repeated random sequences, and on the text when given. */
  headRoles: [{ text?: string } & AtSnapshot, HeadRolesProbe];
  /** The run's snapshots and its head-role timeline (the induction overlay on the loss chart); empty without snapshots. */
  timeline: [Record<string, never>, Timeline];
  /** Direct logit attribution of one token (default the top one) at one position (default the last) of a text. */
  attribution: [{ text: string; position?: number; token?: string } & AtSnapshot, AttributionProbe];
  /** Activation patching from the clean text into an edited copy: every head, every layer's residual (per position if asked). */
  patch: [{ clean: string; edited: string; positions?: boolean } & AtSnapshot, PatchingProbe];
  /** A text's loss and next-token distribution with heads ablated (zero or mean), beside the intact model's. */
  ablate: [{ text: string; heads: HeadRef[]; mode: AblationMode; k: number } & AtSnapshot, AblationProbe];
  /** The training text that generated text is checked against for verbatim copies (set by a run, or here for a loaded model). */
  copySource: [{ text: string }, { characters: number }];
  /** Verbatim copies of the training text in generated text (ghost text, samples), minChars (default 20) or longer. */
  copies: [{ generated: string; minChars?: number }, { spans: CopiedSpan[]; checked: boolean }];
  /** Where the validation split begins in the training text (UTF-16 offset), or null without one. */
  validationStart: [{ text: string }, { offset: number | null }];
}

export type Method = keyof EngineMethods;
export type ParamsOf<M extends Method> = EngineMethods[M][0];
export type ResultOf<M extends Method> = EngineMethods[M][1];
export const METHODS: readonly Method[] = ['init', 'train', 'cancel', 'load', 'save', 'model', 'status', 'tokenize', 'tokenLoss',
  'compareTokenizers', 'bpeReplay', 'sample', 'nextToken', 'attention', 'attentionMap', 'attentionRows', 'lens', 'neighbours', 'analogy',
  'projection', 'evaluate', 'headRoles', 'timeline', 'attribution', 'patch', 'ablate', 'copySource', 'copies', 'validationStart'];

/** Requests to the engine: `type` is the method. */
export type EngineRequest = { [M in Method]: { type: M; id: number; params: ParamsOf<M> } }[Method];

/** What the engine sends back, each echoing the request's id. */
export interface EngineReplyParams {
  result: unknown;
  error: { message: string };
  event: TrainEvent;
}
export type EngineReply = Envelope<EngineReplyParams> & { id: number };
const REPLY_TYPES: readonly (keyof EngineReplyParams)[] = ['result', 'error', 'event'];

export function isEngineReply(m: unknown): m is EngineReply {
  return isEnvelopeOf<EngineReplyParams>(m, REPLY_TYPES) && typeof m.id === 'number';
}

export function isEngineRequest(m: unknown): m is EngineRequest {
  return isEnvelopeOf<EngineMethods>(m, METHODS) && typeof m.id === 'number';
}
