// The engine's public surface for the extension and other hosts. Nothing here imports vscode.
export * from './model/config';
export type { BackendReport, BackendRequest } from './compute/tfjsBackend';
export { EngineClient, EngineCrashedError, type EngineClientOptions } from './host/client';
export type * from './protocol/engine';
export { envelope } from './protocol/engine';
export type { TrainEvent, History } from './training/train';
export type { SamplingOptions } from './inference/sample';
export type * from './probes/probes';
export { TOKENIZER_NAMES, type TokenizerName, type TokenChunk, type Tokenizer } from './text/tokenizers';
export { getTokenizer, tokenChunks } from './text/tokenizers';
export type { BpeReplay, BpeReplayStep } from './text/bpe';
export type { TrainerChoice } from './training/trainer';
