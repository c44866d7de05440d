// The engine's public surface for the extension and other hosts. Nothing here imports vscode, and nothing here loads
// tfjs: the extension bundle takes the protocol, the config, the run choices, the client, file names and the tokenizers.
export * from './model/config';
export * from './protocol';
export { EngineClient, EngineCrashedError, EngineStoppedError, EngineTimeoutError, type EngineClientOptions } from './host/client';
export { MAX_SEEDS, MAX_VARIANTS, MIN_VARIANTS, parseVariant, type VariantSpec } from './training/variant';
export { CHOICE_RULES, ChoiceError, choiceName, readRunChoices, type ChoiceKey, type RawChoices } from './training/choices';
export { partialPath } from './io/files';
export { TOKENIZER_NAMES, type TokenizerName, type Tokenizer } from './text/tokenizers';
export { getTokenizer, tokenChunks } from './text/tokenizers';
