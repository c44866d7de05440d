// The model file: one self-contained .safetensors with nanoGPT names, PyTorch layouts and GPT Lab metadata.
import * as fs from 'node:fs';
import { validateConfig, type GPTConfig } from './config';
import { GPT } from './model';
import { paramSpecs } from './params';
import { decodeSafeTensors, encodeSafeTensors, writeFileAtomic, type SafeTensor } from './safetensors';
import { getTokenizer, isTokenizerName, type Tokenizer } from './tokenizers';
import { Vocabulary } from './vocab';

export const FORMAT_VERSION = '1';

export interface ModelFile {
  model: GPT;
  vocab: Vocabulary;
  tokenizer: Tokenizer;
  history: unknown;
}

export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

export function encodeModel(model: GPT, vocab: Vocabulary, tokenizerName: string, history: unknown): Buffer {
  if (vocab.size !== model.config.vocabSize) throw new Error(`vocabulary has ${vocab.size} entries but the model ${model.config.vocabSize}`);
  const c = model.config;
  const config = { vocabSize: c.vocabSize, contextLength: c.contextLength, dim: c.dim, heads: c.heads, layers: c.layers,
    ffnMult: c.ffnMult, norm: c.norm, activation: c.activation, positions: c.positions, tieEmbeddings: c.tieEmbeddings,
    bias: c.bias, qkvBias: c.qkvBias, dropout: c.dropout };
  return encodeSafeTensors(model.toTensors(), {
    'gptlab.format': FORMAT_VERSION,
    'gptlab.config': JSON.stringify(config),
    'gptlab.tokenizer': tokenizerName,
    'gptlab.vocab': JSON.stringify(vocab.toTokenizer),
    'gptlab.history': JSON.stringify(history ?? null),
  });
}

export function saveModel(file: string, model: GPT, vocab: Vocabulary, tokenizerName: string, history: unknown): void {
  writeFileAtomic(file, encodeModel(model, vocab, tokenizerName, history));
}

/** Parses and validates a model file's bytes: version, config, vocabulary, tensor names and shapes. */
export function decodeModel(bytes: Uint8Array): ModelFile {
  const { tensors, metadata } = decodeSafeTensors(bytes);
  const version = metadata['gptlab.format'];
  if (version === undefined) throw new Error('not a GPT Lab model (no gptlab.format metadata)');
  if (version !== FORMAT_VERSION) throw new Error(`model format ${version} is not supported (this version reads ${FORMAT_VERSION})`);
  const parse = (key: string): unknown => {
    const raw = metadata[key];
    if (raw === undefined) throw new Error(`metadata ${key} is missing`);
    try {
      return JSON.parse(raw);
    } catch {
      throw new Error(`metadata ${key} is not valid JSON`);
    }
  };
  const raw = parse('gptlab.config') as Partial<GPTConfig>;
  const config = validateConfig({ qkvBias: raw.bias ?? true, dropout: 0, ...raw } as GPTConfig);
  const tokenizerName = metadata['gptlab.tokenizer'] ?? '';
  if (!isTokenizerName(tokenizerName)) throw new Error(`unknown tokenizer "${tokenizerName}"`);
  const vocabList = parse('gptlab.vocab');
  if (!Array.isArray(vocabList)) throw new Error('metadata gptlab.vocab is not an array');
  const vocab = new Vocabulary(vocabList as (number | null)[]);
  if (vocab.size !== config.vocabSize) throw new Error(`vocabulary has ${vocab.size} entries but the config says ${config.vocabSize}`);
  const specs = paramSpecs(config);
  const expected = new Set(specs.map((s) => s.name));
  for (const name of tensors.keys()) if (!expected.has(name)) throw new Error(`unexpected tensor ${name} for this config`);
  const data = new Map<string, Float32Array>();
  for (const spec of specs) {
    const t: SafeTensor | undefined = tensors.get(spec.name);
    if (!t) throw new Error(`tensor ${spec.name} is missing`);
    if (JSON.stringify(t.shape) !== JSON.stringify(spec.shape)) {
      throw new Error(`tensor ${spec.name} has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(spec.shape)}`);
    }
    data.set(spec.name, t.data);
  }
  return { model: GPT.fromTensors(config, data), vocab, tokenizer: getTokenizer(tokenizerName), history: parse('gptlab.history') };
}

/** Loads a model file; any problem becomes one ModelFileError line naming the file. */
export function loadModel(file: string): ModelFile {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new ModelFileError(`cannot read model ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    return decodeModel(bytes);
  } catch (e) {
    throw new ModelFileError(`${file} is not a valid GPT Lab model: ${e instanceof Error ? e.message : String(e)}`);
  }
}
