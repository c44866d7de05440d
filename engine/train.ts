// Training on a text: tokenize, compact the vocabulary, split 90/10, sample random (B, T+1) windows, AdamW steps,
// fixed validation batches every K steps, and a typed event stream that a UI or the CLI can follow.
import * as tf from '@tensorflow/tfjs-core';
import type { GPTConfig, ModelShape, TrainSettings } from './config';
import { GPT, tidyData } from './model';
import { AdamW, type StepResult } from './optim';
import { Rng } from './rng';
import { generate } from './sample';
import { InputError } from './text';
import { getTokenizer, type Tokenizer } from './tokenizers';
import { Vocabulary } from './vocab';
import { currentBackend } from './backend';
import { lastNativeLoadError, loadNative } from './kernels';
import { NativeTrainer } from './nativeTrainer';

export type TrainEvent =
  | { event: 'start'; backend: string; trainer: string; parameters: number; vocabSize: number; tokenizerVocab: number; trainTokens: number;
      valTokens: number; config: GPTConfig; settings: TrainSettings; tokenizer: string }
  | { event: 'step'; step: number; steps: number; loss: number; lr: number; gradNorm: number; tokensPerSec: number;
      elapsedMs: number; etaMs: number }
  | { event: 'eval'; step: number; trainLoss: number; valLoss: number | null }
  | { event: 'sample'; step: number; text: string }
  | { event: 'warning'; message: string }
  | { event: 'done'; step: number; steps: number; cancelled: boolean; error: string | null; loss: number | null;
      valLoss: number | null; elapsedMs: number };

export interface History {
  steps: { step: number; loss: number; lr: number }[];
  evals: { step: number; trainLoss: number; valLoss: number | null }[];
}

/** Which implementation trains: the native whole-step path (fast on CPUs), or tfjs ops (the reference, and GPUs). */
export type TrainingPath = 'native' | 'tfjs';

/**
 * The native path unless tfjs runs on a GPU, where TensorFlow's kernels are the fast ones, or the backend was chosen
 * without native code (selectBackend's native: false, GPTLAB_NATIVE=0, or no addon).
 */
function nativePreferred(): boolean {
  const b = currentBackend();
  if (!b) return true;
  if (b.name === 'tensorflow') return !/gpu/i.test(b.detail);
  return b.kernels?.native === true;
}

/** AdamW steps on [B, T] batches; the object the training loop and the benchmarks share. */
export class Trainer {
  private readonly optimizer: AdamW | null = null;
  private readonly native: NativeTrainer | null = null;

  constructor(readonly model: GPT, readonly settings: TrainSettings, path: TrainingPath | 'auto' = 'auto') {
    if (path === 'native' || (path === 'auto' && nativePreferred())) this.native = NativeTrainer.create(model, settings);
    if (path === 'native' && !this.native) {
      throw new Error(`native training is not available (${lastNativeLoadError() ?? 'the addon has no NativeGPT'})`);
    }
    if (!this.native) this.optimizer = new AdamW(model, settings);
  }

  get path(): TrainingPath {
    return this.native ? 'native' : 'tfjs';
  }

  /** For people: "native avx512f, 2 threads" or "tfjs wasm". */
  describe(): string {
    if (!this.native) return `tfjs ${tf.getBackend()}`;
    const info = loadNative()?.info();
    const threads = this.native.threads || info?.maxThreads || 1;
    return `native ${info?.isa ?? ''}, ${threads} thread${threads === 1 ? '' : 's'}`;
  }

  async step(inputs: Int32Array, targets: Int32Array): Promise<StepResult> {
    const B = this.settings.batchSize, T = inputs.length / B;
    if (!Number.isInteger(T) || T > this.model.config.contextLength || targets.length !== inputs.length) {
      throw new Error(`batch of ${inputs.length} tokens does not fit B=${B}, T<=${this.model.config.contextLength}`);
    }
    return this.native ? this.native.step(inputs, targets, B, T) : this.optimizer!.step(inputs, targets, B, T);
  }

  /** Mean loss over fixed [B, T] batches, without gradients or dropout. */
  loss(batches: { inputs: Int32Array; targets: Int32Array }[], B: number, T: number): number {
    return this.native ? this.native.loss(batches, B, T) : batchLoss(this.model, batches, B, T);
  }

  /** Brings the model's weights up to date (the native path trains a copy of them). */
  syncModel(): void {
    this.native?.syncModel();
  }

  dispose(): void {
    this.optimizer?.dispose();
    this.native?.dispose();
  }
}

/** Token stream split into train and validation parts, with window sampling. */
export class Dataset {
  readonly train: Int32Array;
  readonly val: Int32Array;

  constructor(readonly tokens: Int32Array, readonly context: number, valFraction = 0.1) {
    const minimum = context + 2;
    if (tokens.length < minimum) {
      throw new InputError(`the text has ${tokens.length} tokens but the context is ${context}, so it needs at least ${minimum}; use a longer text or a smaller context`);
    }
    const nVal = Math.floor(tokens.length * valFraction);
    // Validation needs at least one full window; short texts train on everything and skip validation.
    const split = nVal >= context + 1 && tokens.length - nVal >= context + 1 ? tokens.length - nVal : tokens.length;
    this.train = tokens.subarray(0, split);
    this.val = tokens.subarray(split);
  }

  get hasValidation(): boolean {
    return this.val.length >= this.context + 1;
  }

  /** B random windows of T+1 tokens: inputs x[s:s+T], targets x[s+1:s+T+1]. */
  batch(source: Int32Array, B: number, rng: Rng): { inputs: Int32Array; targets: Int32Array } {
    const T = this.context;
    const inputs = new Int32Array(B * T), targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const s = rng.int(source.length - T);
      inputs.set(source.subarray(s, s + T), b * T);
      targets.set(source.subarray(s + 1, s + T + 1), b * T);
    }
    return { inputs, targets };
  }
}

/** Mean loss over a fixed list of batches, without gradients. */
export function batchLoss(model: GPT, batches: { inputs: Int32Array; targets: Int32Array }[], B: number, T: number): number {
  let sum = 0;
  for (const { inputs, targets } of batches) {
    sum += tidyData(() => [model.loss(tf.tensor2d(inputs, [B, T], 'int32'), tf.tensor2d(targets, [B, T], 'int32'))])[0][0];
  }
  return sum / batches.length;
}

export interface TrainRequest {
  text: string;
  tokenizer: string;
  model: ModelShape;
  settings: TrainSettings;
  signal?: AbortSignal;
  onEvent?: (e: TrainEvent) => void;
}

export interface TrainResult {
  model: GPT;
  vocab: Vocabulary;
  tokenizer: Tokenizer;
  history: History;
  cancelled: boolean;
  error: string | null; // set when training stopped on a non-finite loss; the model holds the last good weights
}

/** Lets pending messages (cancel, progress output) through between steps. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function trainOnText(req: TrainRequest): Promise<TrainResult> {
  const emit = req.onEvent ?? (() => undefined);
  const s = req.settings;
  const tokenizer = getTokenizer(req.tokenizer);
  const tokenizerIds = tokenizer.encode(req.text);
  const vocab = Vocabulary.fromTokenIds(tokenizerIds);
  const data = new Dataset(vocab.encode(tokenizerIds), req.model.contextLength);
  const config: GPTConfig = { ...req.model, vocabSize: vocab.size };
  const model = GPT.init(config, s.seed);
  const trainer = new Trainer(model, s);
  const rng = new Rng(s.seed + 1);
  const evalRng = new Rng(s.seed + 2);
  const B = s.batchSize, T = config.contextLength;
  const evalBatches = Array.from({ length: s.evalBatches }, () => data.batch(data.train, B, evalRng));
  const valBatches = data.hasValidation ? Array.from({ length: s.evalBatches }, () => data.batch(data.val, B, evalRng)) : [];
  const history: History = { steps: [], evals: [] };
  emit({ event: 'start', backend: currentBackend()?.name ?? tf.getBackend(), trainer: trainer.describe(), parameters: model.parameterCount,
    vocabSize: vocab.size, tokenizerVocab: tokenizer.vocabSize, trainTokens: data.train.length, valTokens: data.val.length,
    config, settings: s, tokenizer: tokenizer.name });
  if (!data.hasValidation) emit({ event: 'warning', message: 'the text is too short for a validation split; training on all of it' });

  const started = Date.now();
  let lastLoss: number | null = null, lastVal: number | null = null, error: string | null = null;
  let step = 0;
  const evaluate = (): void => {
    const trainLoss = trainer.loss(evalBatches, B, T);
    lastVal = valBatches.length ? trainer.loss(valBatches, B, T) : null;
    history.evals.push({ step, trainLoss, valLoss: lastVal });
    emit({ event: 'eval', step, trainLoss, valLoss: lastVal });
  };
  try {
    while (step < s.steps && !req.signal?.aborted) {
      const { inputs, targets } = data.batch(data.train, B, rng);
      const r = await trainer.step(inputs, targets);
      if (!r.applied) {
        error = `the loss became ${String(r.loss)} at step ${step + 1} (gradient norm ${String(r.gradNorm)}); the learning rate ${s.learningRate} is probably too high. The model keeps the weights of step ${step}.`;
        break;
      }
      step += 1;
      lastLoss = r.loss;
      history.steps.push({ step, loss: r.loss, lr: r.lr });
      const elapsedMs = Date.now() - started;
      emit({ event: 'step', step, steps: s.steps, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm,
        tokensPerSec: (step * B * T) / Math.max(1e-3, elapsedMs / 1000), elapsedMs,
        etaMs: (elapsedMs / step) * (s.steps - step) });
      if (s.evalEvery > 0 && step % s.evalEvery === 0) evaluate();
      if (s.sampleEvery > 0 && step % s.sampleEvery === 0) {
        trainer.syncModel();
        const prompt = data.train.subarray(0, 1);
        const ids = generate(model, prompt, Math.min(160, 4 * T), { temperature: 0.8, topK: 0, topP: 1 }, new Rng(s.seed + step));
        emit({ event: 'sample', step, text: tokenizer.decode(vocab.decode(ids)) });
      }
      await yieldToEventLoop();
    }
    if (step > 0 && (s.evalEvery <= 0 || step % s.evalEvery !== 0)) evaluate();
  } catch (e) {
    trainer.dispose();
    model.dispose();
    throw e;
  }
  trainer.syncModel();
  trainer.dispose();
  const cancelled = !!req.signal?.aborted && step < s.steps && error === null;
  emit({ event: 'done', step, steps: s.steps, cancelled, error, loss: lastLoss, valLoss: lastVal, elapsedMs: Date.now() - started });
  return { model, vocab, tokenizer, history, cancelled, error };
}
