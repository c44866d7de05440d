// The model file: one self-contained .safetensors with nanoGPT names, PyTorch layouts and GPT Lab metadata.
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { CONFIG_KEYS, validateConfig, withConfigDefaults, type GPTConfig } from '../model/config';
import { readRegularFile, shown, writeFileAtomic } from './files';
import { estimateInference, memoryProblem, parameterCount } from '../model/memory';
import { formatBytes } from '../common/format';
import { GPT, tidyData, type MatMulMode } from '../model/gpt';
import { paramSpecs } from '../model/params';
import { decodeSafeTensors, encodeSafeTensors, type SafeTensor } from './safetensors';
import { InputError } from '../common/errors';
import { bpeVocabSize, getTokenizer, isTokenizerName, type Tokenizer } from '../text/tokenizers';
import { BpeTokenizer, decodeBpeMetadata, encodeBpeMetadata } from '../text/bpe';
import { Vocabulary } from '../text/vocab';

export const FORMAT_VERSION = '1';

export interface ModelFile {
  model: GPT;
  vocab: Vocabulary;
  tokenizer: Tokenizer;
  history: unknown;
}

/** How a loaded model computes: the compute plan's matmul mode (explicit transposes, right everywhere, by default). */
export interface LoadOptions {
  matmul?: MatMulMode;
}

export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

/** A model whose weights must not be written: some are NaN, infinite or far beyond any trained value. */
export class BadWeightsError extends Error {
  override name = 'BadWeightsError';
}

/** No weight of a working float32 GPT comes near this; larger values overflow its sums of squares and products. */
export const MAX_ABS_WEIGHT = 1e6;

/** Largest model file read: bounded by Node's buffers and by a share of this machine's memory. */
export function maxModelBytes(): number {
  return Math.min(4 * 1024 ** 3 - 1, Math.floor(os.totalmem() / 4));
}

/** Null when every weight is finite and within ±MAX_ABS_WEIGHT, else which tensor is not and how. */
export function weightProblem(tensors: Iterable<[string, { data: Float32Array }]>): string | null {
  for (const [name, t] of tensors) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (!(v <= MAX_ABS_WEIGHT && v >= -MAX_ABS_WEIGHT)) {
        return `tensor ${name} holds ${Number.isNaN(v) ? 'NaN' : !Number.isFinite(v) ? String(v) : v.toExponential(2)} at index ${i}` +
          (Number.isFinite(v) ? ` (weights beyond ±${MAX_ABS_WEIGHT.toExponential(0)} cannot be right)` : '');
      }
    }
  }
  return null;
}

/** Every entry of an id map must be an id the tokenizer has, or entry 0's unknown token. */
export function vocabularyProblem(vocab: Vocabulary, tok: Tokenizer): string | null {
  for (let i = 1; i < vocab.size; i++) {
    const id = vocab.toTokenizer[i] as number;
    if (!tok.hasToken(id)) return `vocabulary entry ${i} is ${id}, which is not a ${tok.name} token id`;
  }
  return null;
}

/** Limits on config values, before any arithmetic on them: far beyond any model this engine can build. */
function checkConfigRanges(c: GPTConfig): void {
  const caps: [keyof GPTConfig, number][] = [['vocabSize', 1 << 24], ['contextLength', 1 << 20], ['dim', 1 << 16], ['heads', 1 << 12],
    ['layers', 1 << 12], ['ffnMult', 64], ['headDim', 1 << 16]];
  for (const [key, cap] of caps) {
    if ((c[key] as number) > cap) throw new Error(`config ${key} is ${String(c[key])}, beyond this engine's limit of ${cap}`);
  }
}

/** A fixed tokenizer's name, or the tokenizer itself (a learned one must be: its merges go into the file). */
export type TokenizerRef = Tokenizer | string;

/** The tokenizer metadata of a model file: its name, and for a learned BPE its merges (`gptlab.bpe`). */
function tokenizerMetadata(ref: TokenizerRef): Record<string, string> {
  const name = typeof ref === 'string' ? ref : ref.name;
  if (ref instanceof BpeTokenizer) return { 'gptlab.tokenizer': name, 'gptlab.bpe': encodeBpeMetadata(ref) };
  if (!isTokenizerName(name)) throw new Error(`tokenizer ${name} cannot be saved by name: pass the tokenizer, which carries its merges`);
  return { 'gptlab.tokenizer': name };
}

/** The model file's bytes; `tensors` are the model's weights when the caller has already read them out. */
export function encodeModel(model: GPT, vocab: Vocabulary, tokenizer: TokenizerRef, history: unknown,
  tensors = model.toTensors()): Buffer {
  if (vocab.size !== model.config.vocabSize) throw new Error(`vocabulary has ${vocab.size} entries but the model ${model.config.vocabSize}`);
  const config = Object.fromEntries(CONFIG_KEYS.map((k) => [k, model.config[k]]));
  return encodeSafeTensors(tensors, {
    'gptlab.format': FORMAT_VERSION,
    'gptlab.config': JSON.stringify(config),
    ...tokenizerMetadata(tokenizer),
    'gptlab.vocab': JSON.stringify(vocab.toTokenizer),
    'gptlab.history': JSON.stringify(history ?? null),
  });
}

/** Saves a model atomically; refuses (BadWeightsError) weights that are not finite or absurdly large. */
export function saveModel(file: string, model: GPT, vocab: Vocabulary, tokenizer: TokenizerRef, history: unknown): void {
  const tensors = model.toTensors(); // read out of the model once: checked, then written
  const problem = weightProblem(tensors);
  if (problem) throw new BadWeightsError(`the model was not saved: its weights are broken (${problem})`);
  writeFileAtomic(file, encodeModel(model, vocab, tokenizer, history, tensors));
}

/** Parses and validates a model file's bytes: version, config, vocabulary, tensor names and shapes. */
export function decodeModel(bytes: Uint8Array, options: LoadOptions = {}): ModelFile {
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
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('metadata gptlab.config is not a JSON object');
  const config = validateConfig(withConfigDefaults(raw));
  checkConfigRanges(config);
  // What the config implies, checked against the file and the machine before anything is allocated for it.
  let stored = 0;
  for (const t of tensors.values()) stored += t.data.length;
  const implied = parameterCount(config);
  if (implied !== stored) {
    throw new Error(`the config implies ${implied.toLocaleString('en-US')} weights (${formatBytes(4 * implied)}) but the file holds ` +
      `${stored.toLocaleString('en-US')} (${formatBytes(4 * stored)})`);
  }
  const memory = memoryProblem(estimateInference(config), 'running this model');
  if (memory) throw new InputError(memory);
  const tokenizerName = metadata['gptlab.tokenizer'] ?? '';
  const learned = bpeVocabSize(tokenizerName) !== null;
  if (!learned && !isTokenizerName(tokenizerName)) throw new Error(`unknown tokenizer "${tokenizerName.slice(0, 40)}"`);
  const vocabList = parse('gptlab.vocab');
  if (!Array.isArray(vocabList)) throw new Error('metadata gptlab.vocab is not an array');
  const vocab = new Vocabulary(vocabList as (number | null)[]);
  if (vocab.size !== config.vocabSize) throw new Error(`vocabulary has ${vocab.size} entries but the config says ${config.vocabSize}`);
  const tokenizer = learned ? decodeBpeMetadata(metadata['gptlab.bpe'], tokenizerName) : getTokenizer(tokenizerName);
  const badId = vocabularyProblem(vocab, tokenizer);
  if (badId) throw new Error(badId);
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
  const weights = weightProblem(tensors);
  if (weights) throw new Error(`its weights are damaged: ${weights}`);
  const history = parse('gptlab.history');
  const model = GPT.fromTensors(config, data, options.matmul);
  // A file can pass every check and still compute garbage (weights that overflow together): run one short input.
  const T = Math.min(4, config.contextLength);
  const logits = tidyData(() => [model.forward(tf.tensor2d(Int32Array.from({ length: T }, (_, i) => i % config.vocabSize), [1, T], 'int32')).logits])[0];
  if (!logits.every(Number.isFinite)) {
    model.dispose();
    throw new Error('its weights are damaged: the model computes non-finite outputs');
  }
  return { model, vocab, tokenizer, history };
}

/**
 * Loads a model file (a regular file only, read to its size); any problem becomes one ModelFileError line naming
 * the file.
 */
export function loadModel(file: string, options: LoadOptions = {}): ModelFile {
  let bytes: Buffer;
  try {
    bytes = readRegularFile(file, maxModelBytes(), 'the limit for a model file');
  } catch (e) {
    throw new ModelFileError(`model ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return decodeModel(bytes, options);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof InputError) throw new ModelFileError(`${shown(file)} cannot be loaded: ${message}`);
    if (e instanceof RangeError) throw new ModelFileError(`${shown(file)} cannot be loaded: not enough memory for it (${message})`);
    throw new ModelFileError(`${shown(file)} is not a valid GPT Lab model: ${message}`);
  }
}
