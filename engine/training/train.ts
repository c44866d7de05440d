// Training on a text: tokenize, compact the vocabulary, split 90/10, sample random (B, T+1) windows, AdamW steps,
// fixed validation batches every K steps, and a typed event stream that a UI or the CLI can follow.
import type { GPTConfig, ModelShape, TrainSettings } from '../model/config';
import { GPT } from '../model/gpt';
import { Rng } from '../common/rng';
import { generate } from '../inference/sample';
import { KVCacheSession } from '../inference/kvCache';
import { InputError } from '../common/errors';
import { encodeAsync, type Tokenizer } from '../text/tokenizers';
import { BpeTokenizer, tokenizerForText } from '../text/bpe';
import { Vocabulary } from '../text/vocab';
import type { ComputePlan, TrainingChoice } from '../compute/plan';
import { Trainer } from './trainer';
import { type Baselines, type History, type TrainEvent } from '../protocol';

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

export interface TrainRequest {
  text: string;
  tokenizer: string;
  /** The tokenizer `tokenizer` names, when the caller has it (a bpe:N one already learned from this text). */
  learnedTokenizer?: Tokenizer;
  /** The text already encoded with that tokenizer, when the caller has it. */
  tokenIds?: number[];
  model: ModelShape;
  settings: TrainSettings;
  signal?: AbortSignal;
  /** The engine's compute plan: how the model multiplies, which decoder samples, and (unless given) the training path. */
  compute: ComputePlan;
  /** The training path when the caller has resolved it already (for its memory check); else the plan resolves it. */
  training?: TrainingChoice;
  onEvent?: (e: TrainEvent) => void;
  /**
   * Called at each new best validation loss with the model (its weights current), e.g. to save a checkpoint. A
   * checkpoint that fails (it throws) is a warning event; the run goes on.
   */
  onCheckpoint?: (trained: { model: GPT; vocab: Vocabulary; tokenizer: Tokenizer }, best: { step: number; valLoss: number }) => void;
  /** For people, carried in the start event: how the run was chosen ("auto: tiny for 48 KB; 880 steps ≈ 25 passes …"). */
  plan?: string;
  /** Keeps weight snapshots at steps it chooses (engine/probes/snapshots.ts). */
  snapshots?: SnapshotHook;
}

/** Asked after every step whether to snapshot the weights, then handed the model with the weights of that step. */
export interface SnapshotHook {
  observe(step: number, loss: number): boolean;
  take(step: number, model: GPT): void; // step 0: the initial weights
}

export interface TrainResult {
  model: GPT;
  vocab: Vocabulary;
  tokenizer: Tokenizer;
  history: History;
  cancelled: boolean;
  error: string | null; // set when training stopped on a non-finite loss; the model holds the last good weights
  /** The text of the validation split (the last tokens), on which another model can be compared; null without one. */
  validationText: string | null;
}

/** The most tokens of the validation split returned as text (a comparison reads its first 32 KB at most). */
const MAX_VALIDATION_TEXT_TOKENS = 1 << 16;

/** Lets pending messages (cancel, progress output) through between steps. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function trainOnText(req: TrainRequest): Promise<TrainResult> {
  const emit = req.onEvent ?? (() => undefined);
  const s = req.settings;
  const tokenizer = req.learnedTokenizer ?? (await tokenizerForText(req.tokenizer, req.text, req.signal));
  // Ids already made for sizing the run are reused; otherwise encode, yielding so that a cancel gets through.
  const tokenizerIds = req.tokenIds ?? (await encodeAsync(tokenizer, req.text, req.signal));
  // A BPE learned from this text keeps its whole vocabulary; a fixed tokenizer's is compacted to the ids the text uses.
  const vocab = tokenizer instanceof BpeTokenizer ? Vocabulary.whole(tokenizer.vocabSize) : Vocabulary.fromTokenIds(tokenizerIds);
  const data = new Dataset(vocab.encode(tokenizerIds), req.model.contextLength);
  const config: GPTConfig = { ...req.model, vocabSize: vocab.size };
  const model = GPT.init(config, s.seed, req.compute.matmul);
  let trainer: Trainer;
  try {
    trainer = req.training ? new Trainer(model, s, req.training) : await Trainer.create(model, s, req.compute);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const rng = new Rng(s.seed + 1);
  const evalRng = new Rng(s.seed + 2);
  const B = s.batchSize, T = config.contextLength;
  const evalBatches = Array.from({ length: s.evalBatches }, () => data.batch(data.train, B, evalRng));
  const valBatches = data.hasValidation ? Array.from({ length: s.evalBatches }, () => data.batch(data.val, B, evalRng)) : [];
  const history: History = { steps: [], evals: [] };
  emit({ event: 'start', backend: req.compute.backend.name, training: trainer.info, parameters: model.parameterCount,
    vocabSize: vocab.size, tokenizerVocab: tokenizer.vocabSize, trainTokens: data.train.length, valTokens: data.val.length,
    config, settings: s, tokenizer: tokenizer.name, baselines: countingBaselines(data, vocab.size), plan: req.plan ?? null });
  if (!data.hasValidation) {
    emit({ event: 'warning', code: 'no-validation', message: 'the text is too short for a validation split; training on all of it' });
  }

  const started = Date.now();
  const clock = new StepClock();
  let lastLoss: number | null = null, lastVal: number | null = null, error: string | null = null;
  let step = 0;
  let best: { step: number; valLoss: number; weights: Map<string, Float32Array> } | null = null;
  const memorising = new MemorisingWatch();
  const patience = new Patience(s.patience ?? 0);
  let stoppedEarly: { step: number; bestStep: number } | null = null;
  const evaluate = async (): Promise<void> => {
    const trainLoss = await trainer.loss(evalBatches, B, T);
    lastVal = valBatches.length ? await trainer.loss(valBatches, B, T) : null;
    history.evals.push({ step, trainLoss, valLoss: lastVal });
    emit({ event: 'eval', step, trainLoss, valLoss: lastVal });
    if (lastVal === null || !Number.isFinite(lastVal)) return;
    if (!best || lastVal < best.valLoss) {
      await trainer.syncModel();
      best = { step, valLoss: lastVal, weights: copyWeights(model) };
      emit({ event: 'checkpoint', step, valLoss: lastVal });
      try {
        req.onCheckpoint?.({ model, vocab, tokenizer }, { step, valLoss: lastVal });
      } catch (e) {
        emit({ event: 'warning', code: 'checkpoint', message: `the checkpoint at step ${step} was not saved (${e instanceof Error ? e.message : String(e)}); ` +
          'training goes on, and the model is saved when it ends' });
      }
    }
    if (patience.observe(lastVal) && best) stoppedEarly = { step, bestStep: best.step };
    if (memorising.observe(trainLoss, lastVal)) {
      emit({ event: 'warning', code: 'memorising', message: `validation loss has risen since step ${best.step} while training loss ` +
        `keeps falling: the model has started memorising the text; the best model (step ${best.step}, val ${best.valLoss.toFixed(4)}) is kept` });
    }
  };
  try {
    req.snapshots?.take(0, model);
    while (step < s.steps && !req.signal?.aborted && !stoppedEarly) {
      clock.tick();
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
        tokensPerSec: (step * B * T) / Math.max(1e-3, elapsedMs / 1000), elapsedMs, ...clock.eta(s.steps - step) });
      if (req.snapshots?.observe(step, r.loss)) {
        await trainer.syncModel();
        req.snapshots.take(step, model);
      }
      if (s.evalEvery > 0 && step % s.evalEvery === 0) await evaluate();
      if (s.sampleEvery > 0 && step % s.sampleEvery === 0) {
        await trainer.syncModel();
        const prompt = data.train.subarray(0, 1);
        const decoder = new KVCacheSession(model, req.compute); // the weights changed since the last sample
        try {
          const ids = generate(decoder, prompt, Math.min(160, 4 * T), { temperature: 0.8, topK: 0, topP: 1 }, new Rng(s.seed + step));
          emit({ event: 'sample', step, text: tokenizer.decode(vocab.decode(ids)) });
        } finally {
          decoder.dispose();
        }
      }
      await yieldToEventLoop();
    }
    if (step > 0 && !stoppedEarly && (s.evalEvery <= 0 || step % s.evalEvery !== 0)) await evaluate();
  } catch (e) {
    trainer.dispose();
    model.dispose();
    throw e;
  }
  await trainer.syncModel();
  trainer.dispose();
  // Keep the best-validation weights when the run ended worse than its best (it went on memorising, or was stopped).
  const kept = best as { step: number; valLoss: number; weights: Map<string, Float32Array> } | null;
  const restoredBest = kept !== null && lastVal !== null && kept.valLoss < lastVal;
  if (restoredBest) model.setWeights(kept.weights);
  history.best = kept ? { step: kept.step, valLoss: kept.valLoss } : null;
  const cancelled = !!req.signal?.aborted && step < s.steps && error === null && !stoppedEarly;
  emit({ event: 'done', step, steps: s.steps, cancelled, error, loss: lastLoss, valLoss: lastVal, elapsedMs: Date.now() - started,
    best: history.best, restoredBest, stoppedEarly });
  const valStart = tokenizerIds.length - data.val.length;
  const validationText = data.hasValidation ? tokenizer.decode(tokenizerIds.slice(valStart, valStart + MAX_VALIDATION_TEXT_TOKENS)) : null;
  return { model, vocab, tokenizer, history, cancelled, error, validationText };
}

function copyWeights(model: GPT): Map<string, Float32Array> {
  return new Map([...model.toTensors()].map(([name, t]) => [name, Float32Array.from(t.data)]));
}

/**
 * ETA from measured step times (the first, warm-up step left out), steady under a changing load: the central estimate
 * is the median of the last 100 step times, so an evaluation or a hiccup does not move it (evaluations cost about 1% of
 * a run), and the range runs from the fastest to the slowest median of the last four stretches of up to 25 steps, so
 * a machine whose speed swings shows "2–3 min" rather than a number that jumps.
 */
export class StepClock {
  private static readonly STRETCH = 25;
  private static readonly STRETCHES = 4;
  private readonly recent: number[] = []; // the last STRETCH * STRETCHES step times
  private last = 0;
  private started = 0;

  tick(): void {
    const now = performance.now();
    if (this.last > 0 && this.started > 1) this.add(now - this.last); // skips the first, warm-up step
    this.last = now;
    this.started += 1;
  }

  /** One measured step time (tick measures them; tests give them directly). */
  add(ms: number): void {
    this.recent.push(ms);
    if (this.recent.length > StepClock.STRETCH * StepClock.STRETCHES) this.recent.shift();
  }

  /**
   * The time left for `stepsLeft` steps, and its range (etaRangeMs[0] <= etaMs <= etaRangeMs[1]). Before a step is
   * measured, the time the current step has taken so far is the best guess.
   */
  eta(stepsLeft: number): { etaMs: number; etaRangeMs: [number, number] } {
    if (this.recent.length === 0) {
      const guess = this.last > 0 ? (performance.now() - this.last) * stepsLeft : 0;
      return { etaMs: guess, etaRangeMs: [guess, guess] };
    }
    const size = Math.ceil(this.recent.length / StepClock.STRETCHES);
    let fastest = Infinity, slowest = 0;
    for (let i = 0; i < this.recent.length; i += size) {
      const m = median(this.recent.slice(i, i + size));
      fastest = Math.min(fastest, m);
      slowest = Math.max(slowest, m);
    }
    const etaMs = median(this.recent) * stepsLeft;
    return { etaMs, etaRangeMs: [Math.min(etaMs, fastest * stepsLeft), Math.max(etaMs, slowest * stepsLeft)] };
  }
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** True once validation has gone `patience` evaluations in a row without a new best (never when patience is 0). */
export class Patience {
  private best = Infinity;
  private without = 0;
  constructor(private readonly patience: number) {}
  observe(valLoss: number | null): boolean {
    if (valLoss === null || !Number.isFinite(valLoss) || this.patience <= 0) return false;
    if (valLoss < this.best) {
      this.best = valLoss;
      this.without = 0;
      return false;
    }
    this.without += 1;
    return this.without >= this.patience;
  }
}

/** True once, at the second evaluation in a row where validation loss rose while training loss fell. */
class MemorisingWatch {
  private previous: { train: number; val: number } | null = null;
  private risingInARow = 0;
  private told = false;
  observe(train: number, val: number): boolean {
    const p = this.previous;
    this.previous = { train, val };
    if (!p) return false;
    this.risingInARow = val > p.val && train < p.train ? this.risingInARow + 1 : 0;
    if (this.told || this.risingInARow < 2) return false;
    this.told = true;
    return true;
  }
}

/**
 * Validation loss of models that only count tokens in the training split: add-one unigram, and a Witten-Bell bigram
 * (each row backs off to the unigram in proportion to how many different tokens followed that token).
 */
export function countingBaselines(data: Dataset, V: number): Baselines {
  const uniform = Math.log(V);
  if (!data.hasValidation) return { uniform, unigram: null, bigram: null };
  const unigramCounts = new Float64Array(V);
  for (const id of data.train) unigramCounts[id] += 1;
  const unigram = (id: number): number => (unigramCounts[id] + 1) / (data.train.length + V);
  const pairs = new Map<number, number>(); // a * V + b -> count
  const followers = new Float64Array(V), distinct = new Float64Array(V);
  for (let i = 0; i + 1 < data.train.length; i++) {
    const key = data.train[i] * V + data.train[i + 1];
    const n = pairs.get(key) ?? 0;
    if (n === 0) distinct[data.train[i]] += 1;
    pairs.set(key, n + 1);
    followers[data.train[i]] += 1;
  }
  let uni = 0, bi = 0;
  const val = data.val;
  for (let i = 1; i < val.length; i++) {
    const a = val[i - 1], b = val[i];
    const pu = unigram(b);
    uni -= Math.log(pu);
    const n = followers[a], d = distinct[a];
    bi -= Math.log(n > 0 ? ((pairs.get(a * V + b) ?? 0) + d * pu) / (n + d) : pu);
  }
  return { uniform, unigram: uni / (val.length - 1), bigram: bi / (val.length - 1) };
}
