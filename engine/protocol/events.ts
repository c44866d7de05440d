// The training event stream and the history a model file keeps: what a UI or the CLI follows while a run goes on.
import type { GPTConfig, TrainSettings } from '../model/config';
import type { TrainingPathInfo } from './compute';

/**
 * What a model that only counts would score on the validation split (nats per token), so a chart can show when the
 * transformer beats counting: uniform is ln V; unigram and bigram are counted from the training split.
 */
export interface Baselines {
  uniform: number;
  unigram: number | null; // null when there is no validation split
  bigram: number | null;
}

export type TrainEvent =
  | { event: 'start'; backend: string; training: TrainingPathInfo; parameters: number; vocabSize: number; tokenizerVocab: number; trainTokens: number;
      valTokens: number; config: GPTConfig; settings: TrainSettings; tokenizer: string; baselines: Baselines; plan: string | null }
  | { event: 'step'; step: number; steps: number; loss: number; lr: number; gradNorm: number; tokensPerSec: number;
      /**
       * Time left: a smoothed estimate, and the range recent stretches of steps span (train.ts StepClock). The range is
       * absent in events a loss chart kept from an engine before it.
       */
      elapsedMs: number; etaMs: number; etaRangeMs?: [number, number] }
  | { event: 'eval'; step: number; trainLoss: number; valLoss: number | null }
  /** A new best validation loss: these weights are kept (and saved as a checkpoint by hosts that ask). */
  | { event: 'checkpoint'; step: number; valLoss: number }
  | { event: 'sample'; step: number; text: string }
  /** Something the run says and goes on: no validation split, memorising, a checkpoint that could not be written. */
  | { event: 'warning'; code: 'no-validation' | 'memorising' | 'checkpoint'; message: string }
  | { event: 'done'; step: number; steps: number; cancelled: boolean; error: string | null; loss: number | null;
      valLoss: number | null; elapsedMs: number; best: { step: number; valLoss: number } | null; restoredBest: boolean;
      /** Set when the run stopped before its last step because validation had stopped improving (settings.patience). */
      stoppedEarly?: { step: number; bestStep: number } | null };

export interface History {
  steps: { step: number; loss: number; lr: number }[];
  evals: { step: number; trainLoss: number; valLoss: number | null }[];
  best?: { step: number; valLoss: number } | null;
}
