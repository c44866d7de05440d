// The engine's public surface for the extension and other hosts. Nothing here imports vscode.
export * from './config';
export type { BackendReport, BackendRequest } from './backend';
export { EngineClient, EngineCrashedError, type EngineClientOptions } from './client';
export type * from './protocol';
export { envelope } from './protocol';
export type { TrainEvent, History } from './train';
export type { SamplingOptions } from './sample';
export type * from './probes';
export { TOKENIZER_NAMES, type TokenizerName, type TokenChunk, type Tokenizer } from './tokenizers';
export { getTokenizer, tokenChunks } from './tokenizers';
export type { TrainerChoice } from './trainer';
