// The engine's public surface for the extension and other hosts. Nothing here imports vscode, and nothing here loads
// tfjs: the extension bundle takes the protocol, the config, the client and the tokenizers.
export * from './model/config';
export * from './protocol';
export { EngineClient, EngineCrashedError, type EngineClientOptions } from './host/client';
export { TOKENIZER_NAMES, type TokenizerName, type Tokenizer } from './text/tokenizers';
export { getTokenizer, tokenChunks } from './text/tokenizers';
