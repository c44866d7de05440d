// The engine's methods: what the extension (or a test) asks the engine process, and what each answers, in the
// envelope of envelope.ts. Payload types come from this room only, never from the code that computes them.
import type { BackendReport, BackendRequest, TrainerChoice } from './compute';
import type { GPTConfig, TrainChoices } from '../model/config';
import type { AnalogyResult, AttentionProbe, BpeReplay, EvalResult, LensProbe, Neighbour, NextTokenProbe, ProjectedToken, SamplingOptions,
  TokenChunk, TokenizerComparison, TokenLoss } from './probes';
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
  tokenLoss: [{ text: string; from?: number }, TokenLoss[]];
  /** The selection under every tokenizer; with `bpeVocabSize`, also under a BPE of that size learned from `file`. */
  compareTokenizers: [{ selection: string; file: string; bpeVocabSize?: number }, TokenizerComparison];
  /** The merges of a BPE learned from a text, in order, with the text's token count after each (the merge replay). */
  bpeReplay: [{ text: string; vocabSize: number }, BpeReplay];
  sample: [{ prompt: string; tokens: number; sampling: SamplingOptions; seed: number; stopAtNewline?: boolean }, { text: string }];
  nextToken: [{ text: string; k: number; sampling?: SamplingOptions }, NextTokenProbe];
  attention: [{ text: string }, AttentionProbe];
  lens: [{ text: string; k: number }, LensProbe];
  neighbours: [{ token: string; k: number }, { id: number; nearest: Neighbour[] }];
  analogy: [{ a: string; b: string; c: string; k: number }, AnalogyResult];
  projection: [Record<string, never>, { points: ProjectedToken[]; explained: [number, number] }];
  evaluate: [{ text: string }, EvalResult];
  /** Trains the baseline and each variant on the text, one run at a time, streaming CompareEvents; cancellable like train. */
  compare: [CompareParams, CompareTable];
}

export type Method = keyof EngineMethods;
export type ParamsOf<M extends Method> = EngineMethods[M][0];
export type ResultOf<M extends Method> = EngineMethods[M][1];
export const METHODS: readonly Method[] = ['init', 'train', 'cancel', 'load', 'save', 'model', 'status', 'tokenize', 'tokenLoss',
  'compareTokenizers', 'bpeReplay', 'sample', 'nextToken', 'attention', 'lens', 'neighbours', 'analogy', 'projection', 'evaluate',
  'compare'];

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
