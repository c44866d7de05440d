// The engine's methods: what the extension (or a test) asks the engine process, and what each answers, in the
// envelope of envelope.ts. Payload types come from this room only, never from the code that computes them.
import type { BackendReport } from './compute';
import type { GPTConfig } from '../model/config';
import type { AblationMode, AblationProbe, AnalogyResult, AttentionHead, AttentionMap, AttentionProbe, AttentionRows, AttentionThumbnails, AttributionProbe,
  BpeReplay, CopiedSpan, HeadRef, HeadRolesProbe, LensProbe, NextTokenProbe, PatchingProbe, ProjectedToken, SamplingOptions,
  TextNeighbours, Timeline, TokenizerComparison, TokenLoss } from './probes';
import type { TrainEvent } from './events';
import type { CompareEvent, CompareParams, CompareTable } from './compare';
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

/** The engine's health, and its answer to "are you there" (the host asks when a request misses its deadline). */
export interface EngineStatus {
  rssBytes: number;
  heapUsedBytes: number;
  tensors: number; // live tfjs tensors: the active model's weights, and nothing else when idle
  /** Requests being worked on now, by method. */
  busy: string[];
}

/** What the engine starts with: the compute choices, as the gptLab.backend and gptLab.trainer settings say (checked there). */
export interface InitParams {
  backend: unknown;
  trainer: unknown;
}

export interface TrainParams {
  text: string;
  label: string; // the document's name, for messages
  /** The run's choices as the gptLab.* settings give them, by choice (training/choices.ts checks them). */
  settings: Record<string, unknown>;
  /** The document's stored model: replaced only by a better model on the same validation text. */
  out: string;
  /** Where a model that does not replace `out` goes (cancelled, failed or worse runs). */
  beside: string;
  /** Where the best model so far goes while the run trains, or null. */
  checkpoint: string | null;
  /** Files the model must never be written over (the training text's own file). */
  inputs: string[];
  /** Weight snapshots to keep for the timeline (2 to 64; saved beside the kept model as .snapshots.safetensors); none when absent. */
  snapshots?: number;
}

/** A probe of the model as it was at snapshot `snapshot` of its run (Timeline.snapshots); absent: the model itself. */
export interface AtSnapshot {
  snapshot?: number;
}

/** A model's loss on a comparison text: nats per token under its own tokenizer, and bits per byte of the text. */
export interface Score {
  loss: number;
  bitsPerByte: number;
  tokenizer: string;
}

export interface TrainOutcome {
  /** The trained model, with where it was saved; null when the run made none (stopped before its first step). */
  summary: ModelSummary | null;
  cancelled: boolean;
  error: string | null;
  steps: number;
  /** Which model is the document's model now: the new one (at `out`, or at the fallback the save problem names), or the previous. */
  kept: 'new' | 'previous';
  /** Both models on the same validation text, when there was one at `out` to compare with. */
  comparison: { bytes: number; new: Score; previous: Score } | null;
  /** One sentence each: what was kept and why, where a model went. */
  notes: string[];
  /** Set when the model could not be saved where it was meant to go (a fallback, or nowhere). */
  saveProblem: string | null;
}

/** Most tokens one `sample` request draws: the answering engine is never held longer than that. */
export const MAX_SAMPLE_TOKENS = 512;

/** method -> [params, result]. */
export interface EngineMethods {
  init: [InitParams, BackendReport];
  train: [TrainParams, TrainOutcome];
  /** Stops a request (a run after its current step, any other long request at its next check). */
  cancel: [{ requestId: number }, { cancelled: boolean }];
  /** Makes a model the active model: a file (a regular file only, read to its size), or a file's bytes; checked. */
  load: [{ file: string } | { bytes: Uint8Array }, ModelSummary];
  /** The active model as a model file's bytes: how a model that no save could write reaches the other engine. */
  modelBytes: [Record<string, never>, Uint8Array];
  /** Writes the active model to a file, checked as the CLI's --out: never one of `inputs`, never a non-regular file. */
  save: [{ file: string; inputs: string[] }, ModelSummary];
  /** The engine's health; the host's liveness check when a request misses its deadline. */
  status: [Record<string, never>, EngineStatus];
  /** Tokens of a text with the model's loss (surprise) of each: all, or those from UTF-16 offset `from` (after context). */
  tokenLoss: [{ text: string; from?: number } & AtSnapshot, TokenLoss[]];
  /** The selection under every tokenizer; with `bpeVocabSize`, also under a BPE of that size learned from `file`. */
  compareTokenizers: [{ selection: string; file: string; bpeVocabSize?: number }, TokenizerComparison];
  /** The merges of a BPE learned from a text, in order, with the text's token count after each (the merge replay). */
  bpeReplay: [{ text: string; vocabSize: number }, BpeReplay];
  /**
   * Up to `tokens` tokens after a prompt: drawn with `sampling` (free), or with `wordMode` greedy tokens that finish the
   * word in progress and then go on only while each has probability >= minProbability, ending at a whole word
   * (inference/sample.ts WordModeCompletion: never whitespace alone; `sampling` and `seed` are then unused).
   */
  sample: [{ prompt: string; tokens: number; sampling: SamplingOptions; seed: number; stopAtNewline?: boolean;
    wordMode?: { minProbability: number } }, { text: string }];
  nextToken: [{ text: string; k: number; sampling?: SamplingOptions } & AtSnapshot, NextTokenProbe];
  /**
   * Attention over a text: every map as a thumbnail of `thumbnail` pixels (64 when absent), and the `open` maps in full
   * (layer 0, head 0 when absent). The engine keeps the weights of the last text, so attentionMap and attentionRows
   * on the same text (and snapshot) cost no second forward pass. With `layers`, the forward pass stops after that many
   * layers (the open maps must lie in them) and only their thumbnails come: a panel's first paint of a deep model.
   */
  attention: [{ text: string; thumbnail?: number; open?: { layer: number; head: AttentionHead }[]; layers?: number } & AtSnapshot, AttentionProbe];
  /** The thumbnails of layers `from` .. N-1 of the same text, after an `attention` that stopped early. */
  attentionLayers: [{ text: string; from: number; thumbnail?: number } & AtSnapshot, AttentionThumbnails];
  attentionMap: [{ text: string; layer: number; head: AttentionHead } & AtSnapshot, AttentionMap];
  attentionRows: [{ text: string; layer: number; query: number } & AtSnapshot, AttentionRows];
  lens: [{ text: string; k: number } & AtSnapshot, LensProbe];
  /** Nearest tokens to a text's embedding: its token's, or the mean of its tokens' when it has several. */
  neighbours: [{ token: string; k: number }, TextNeighbours];
  analogy: [{ a: string; b: string; c: string; k: number }, AnalogyResult];
  projection: [AtSnapshot, { points: ProjectedToken[]; explained: [number, number] }];
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
  /** Trains the baseline and each variant on the text, one run at a time, streaming CompareEvents; cancellable like train. */
  compare: [CompareParams, CompareTable];
}

export type Method = keyof EngineMethods;
export type ParamsOf<M extends Method> = EngineMethods[M][0];
export type ResultOf<M extends Method> = EngineMethods[M][1];
export const METHODS: readonly Method[] = ['init', 'train', 'cancel', 'load', 'modelBytes', 'save', 'status', 'tokenLoss',
  'compareTokenizers', 'bpeReplay', 'sample', 'nextToken', 'attention', 'attentionLayers', 'attentionMap', 'attentionRows', 'lens', 'neighbours', 'analogy',
  'projection', 'headRoles', 'timeline', 'attribution', 'patch', 'ablate', 'copySource', 'copies', 'validationStart', 'compare'];

/** Requests to the engine: `type` is the method. */
export type EngineRequest = { [M in Method]: { type: M; id: number; params: ParamsOf<M> } }[Method];

/** What the engine sends back, each echoing the request's id. */
export interface EngineReplyParams {
  result: unknown;
  error: { message: string };
  event: TrainEvent | CompareEvent;
}
export type EngineReply = Envelope<EngineReplyParams> & { id: number };
const REPLY_TYPES: readonly (keyof EngineReplyParams)[] = ['result', 'error', 'event'];

export function isEngineReply(m: unknown): m is EngineReply {
  return isEnvelopeOf<EngineReplyParams>(m, REPLY_TYPES) && typeof m.id === 'number';
}

export function isEngineRequest(m: unknown): m is EngineRequest {
  return isEnvelopeOf<EngineMethods>(m, METHODS) && typeof m.id === 'number';
}
