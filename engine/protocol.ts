// The one typed message protocol between the engine process and whoever drives it (the extension, tests).
// Requests carry an id; every reply and event echoes it.
import type { BackendReport, BackendRequest } from './backend';
import type { GPTConfig, ModelShape, TrainSettings } from './config';
import type { AttentionProbe, EvalResult, LensProbe, Neighbour, NextTokenProbe, ProjectedToken, TokenLoss } from './probes';
import type { SamplingOptions } from './sample';
import type { TokenChunk } from './tokenizers';
import type { TrainEvent } from './train';

export interface ModelSummary {
  config: GPTConfig;
  tokenizer: string;
  parameters: number;
  file: string | null; // where it was loaded from or saved to
}

/** method -> [params, result]. */
export interface EngineMethods {
  init: [{ backend: BackendRequest; native?: boolean }, BackendReport];
  train: [{ text: string; label: string; tokenizer: string; model: ModelShape; settings: TrainSettings; out: string | null },
    { summary: ModelSummary; cancelled: boolean; error: string | null; steps: number }];
  cancel: [{ requestId: number }, { cancelled: boolean }];
  load: [{ file: string }, ModelSummary];
  save: [{ file: string }, ModelSummary];
  tokenize: [{ encoding: string; text: string }, { count: number; tokens: TokenChunk[] }];
  sample: [{ prompt: string; tokens: number; sampling: SamplingOptions; seed: number }, { text: string }];
  nextToken: [{ text: string; k: number; sampling?: SamplingOptions }, NextTokenProbe];
  attention: [{ text: string }, AttentionProbe];
  lens: [{ text: string; k: number }, LensProbe];
  neighbours: [{ token: string; k: number }, { id: number; nearest: Neighbour[] }];
  projection: [Record<string, never>, { points: ProjectedToken[]; explained: [number, number] }];
  tokenLoss: [{ text: string }, TokenLoss[]];
  evaluate: [{ text: string }, EvalResult];
  /** Test hook: makes the engine process die the way a native crash or out-of-memory would. */
  crash: [Record<string, never>, never];
}

export type Method = keyof EngineMethods;
export type ParamsOf<M extends Method> = EngineMethods[M][0];
export type ResultOf<M extends Method> = EngineMethods[M][1];

export type EngineRequest = { [M in Method]: { kind: 'request'; id: number; method: M; params: ParamsOf<M> } }[Method];

export type EngineReply =
  | { kind: 'result'; id: number; result: unknown }
  | { kind: 'error'; id: number; message: string }
  | { kind: 'event'; id: number; event: TrainEvent };

export function isEngineReply(m: unknown): m is EngineReply {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as { kind?: unknown; id?: unknown };
  return (r.kind === 'result' || r.kind === 'error' || r.kind === 'event') && typeof r.id === 'number';
}
