// "Compare on this file": what the engine's `compare` method takes, the events it streams while its runs train, and
// the table it ends with. Plain data only.
import type { GPTConfig } from '../model/config';
import type { TrainEvent } from './events';

export interface CompareParams {
  text: string;
  label: string; // the document's name, for messages
  /**
   * The baseline, as a train run's choices arrive (TrainParams.settings: by choice, as the gptLab.* settings give
   * them); the engine reads them by training/choices.ts's rules, as it does a train run's.
   */
  settings: Record<string, unknown>;
  /**
   * One run each, as `gpt-lab compare --variant` takes them: `key=value,...` of GPTConfig switches on top of the
   * baseline, and optionally `tokenizer=NAME` (e.g. `tokenizer=bpe:512`).
   */
  variants: string[];
  /** Train the baseline itself as the first variant (default true). */
  baseline?: boolean;
  /** Seeds per variant, from choices.seed up (default 1). */
  seeds?: number;
}

/** Which run an event belongs to, so a chart can draw each run's curve. */
export interface CompareRunTag {
  variant: number; // index in the table's rows
  label: string; // the row's label: "baseline (tiny)" or the variant as written
  seed: number;
  run: number; // 0-based, over every variant and seed, in the order they train
  runs: number;
}

/** A training event of one of the runs (a TrainEvent, so anything that follows a run follows these too). */
export type CompareEvent = TrainEvent & CompareRunTag;

/** The metric variants are judged on: val loss per token, or bits per byte when their tokenizers differ. */
export type CompareMetric = 'valLoss' | 'bitsPerByte';

/** A quantity over seeds: its mean and sample standard deviation (null with one seed). */
export interface OverSeeds {
  mean: number;
  spread: number | null;
}

/** One run: one variant, one seed. Losses are nats per token from the final evaluation. */
export interface CompareRun {
  seed: number;
  steps: number; // steps trained
  trainLoss: number | null; // fixed batches of the training split
  valLoss: number | null; // fixed batches of the validation split; null when the text is too short for one
  bitsPerByte: number | null; // valLoss / ln 2 · (validation tokens / validation bytes)
  msPerStep: number | null; // mean training step, the first (warm-up) and those with an evaluation excluded
  tokensPerSec: number | null; // B·T / msPerStep
  trainer: string; // the path that trained, as the start event names it ("native-avx2, 2 threads")
  error: string | null; // the loss turned non-finite; the run's numbers then stop at its last good step
}

/** A variant against the reference row, paired by seed (the same seed sees the same batches). */
export interface CompareVersus {
  metric: CompareMetric;
  difference: number; // mean of (this run - the reference's run of the same seed); negative is better
  spread: number | null; // sample standard deviation of those differences; null with one seed
  p: number | null; // paired t-test, two-sided; null with one seed
  /** True when p < 0.05; false when the difference is within the seed noise ("not a finding"); null with one seed. */
  finding: boolean | null;
}

export interface CompareRow {
  label: string;
  baseline: boolean; // the preset itself, with no variant
  tokenizer: string;
  config: GPTConfig; // with the vocabulary of its tokenizer on this text
  parameters: number;
  steps: number; // steps per run: the same token budget for every row
  batchSize: number;
  tokensPerRun: number; // steps · B · T
  runs: CompareRun[]; // one per seed, those that finished
  trainLoss: OverSeeds | null;
  valLoss: OverSeeds | null;
  bitsPerByte: OverSeeds | null;
  msPerStep: OverSeeds | null;
  tokensPerSec: OverSeeds | null; // mean: B·T at the mean step time, so it agrees with msPerStep; spread: of the runs' rates
  /** Against the reference row; null for the reference itself, and for a row without complete runs. */
  versus: CompareVersus | null;
}

export interface CompareTable {
  preset: string;
  metric: CompareMetric;
  seeds: number[];
  baseline: boolean; // whether row 0 is the baseline (false: --no-baseline, row 0 is the first variant)
  reference: number; // the row every other is compared with: 0
  rows: CompareRow[];
  cancelled: boolean;
}
