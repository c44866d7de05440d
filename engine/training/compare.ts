// "Compare on this file": the baseline (a preset) and up to five variants of it, each trained on the same text with
// the same seeds, the same batches and the same token budget, one run at a time with every core, then a table of
// final losses, bits per byte, size and speed, with the spread over seeds and a paired test against the baseline.
//
// Same batches: trainOnText draws its windows from Rng(seed + 1) over the training split, so runs with the same seed,
// tokenizer and context see the same windows in the same order. Same budget: every run trains on steps·B·T tokens,
// the baseline's; a variant with another context trains for steps·T/T' steps.
import type { GPTConfig, TrainChoices } from '../model/config';
import { presetForSize, resolveTrainSettings, type ResolvedTraining } from '../model/config';
import { estimateTraining, memoryProblem, parameterCount } from '../model/memory';
import { InputError } from '../common/errors';
import { mean, pairedTTest, sampleStd } from '../common/stats';
import { checkText } from '../text/checks';
import { encodeAsync, textSize, type Tokenizer } from '../text/tokenizers';
import { BpeTokenizer, learnedTokenizers } from '../text/bpe';
import type { ComputePlan } from '../compute/plan';
import { readRunChoices } from './choices';
import { trainOnText } from './train';
import { MAX_SEEDS, MAX_VARIANTS, MIN_VARIANTS, parseVariant, type VariantSpec } from './variant';
import { type CompareEvent, type CompareMetric, type CompareParams, type CompareRow, type CompareRun, type CompareTable,
  type CompareVersus, type OverSeeds, type TrainEvent, describeTrainingPath } from '../protocol';

export { MAX_SEEDS, MAX_VARIANTS, MIN_VARIANTS, parseVariant, type VariantSpec } from './variant';

/** p below this is a finding; above, the difference is within the seed noise. */
export const FINDING_P = 0.05;

export interface CompareRequest {
  text: string;
  /** The baseline; a variant changes only what it names. */
  choices: TrainChoices;
  variants: readonly string[];
  /** Whether the baseline itself is the first row. */
  baseline: boolean;
  /** Seeds per row: choices.seed (1337 when omitted), choices.seed + 1, ... */
  seeds: number;
  /** The engine's compute plan: every run trains on the path it picks for that run's model. */
  compute: ComputePlan;
  signal?: AbortSignal;
  onEvent?: (e: CompareEvent) => void;
}

/** A row ready to train: its label, its resolved model and settings, and its tokenizer's ids of the text. */
interface PlannedRow {
  label: string;
  baseline: boolean;
  plan: ResolvedTraining;
  config: GPTConfig; // the model as trainOnText builds it: the vocabulary is the tokenizer's on this text
  tokenizer: Tokenizer;
  ids: number[];
}

/** Checks a request's shape before any work: counts, seeds, and each variant's switches. */
function parseRequest(req: CompareRequest): VariantSpec[] {
  const specs = req.variants.map((v) => {
    try {
      return parseVariant(v);
    } catch (e) {
      throw new InputError(`variant "${v.trim()}": ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  const rows = specs.length + (req.baseline ? 1 : 0);
  if (rows < MIN_VARIANTS || rows > MAX_VARIANTS) {
    throw new InputError(`compare trains ${MIN_VARIANTS} to ${MAX_VARIANTS} variants, the baseline counting as one; got ${rows} ` +
      `(${specs.length} --variant${req.baseline ? ' and the baseline' : ', no baseline'})`);
  }
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.label)) throw new InputError(`variant "${s.label}" is given twice`);
    seen.add(s.label);
  }
  if (!Number.isInteger(req.seeds) || req.seeds < 1 || req.seeds > MAX_SEEDS) {
    throw new InputError(`seeds must be a whole number from 1 to ${MAX_SEEDS}, got ${req.seeds}`);
  }
  return specs;
}

/**
 * Resolves every row against the text (tokenizers learned, the budget fixed by the baseline) and refuses, before any
 * run, a variant that is not a valid model or that cannot fit this machine.
 */
async function planRows(req: CompareRequest, specs: VariantSpec[]): Promise<PlannedRow[]> {
  // auto picks the preset from the text's size once, for every row
  const auto = req.choices.preset === undefined || req.choices.preset === 'auto';
  const common: TrainChoices = { ...req.choices, preset: auto ? presetForSize(Buffer.byteLength(req.text)) : req.choices.preset };
  const baseTokenizer = resolveTrainSettings(common, null).tokenizer;
  const names = [baseTokenizer, ...specs.map((s) => s.tokenizer ?? baseTokenizer)];
  const size = textSize(req.text, await learnedTokenizers(names, req.text, req.signal));
  const baseline = resolveTrainSettings(common, size);
  const budget = baseline.settings.steps * baseline.settings.batchSize * baseline.model.contextLength;
  const resolve = (spec: VariantSpec): ResolvedTraining => {
    try {
      const perStep = (T: number): number => baseline.settings.batchSize * T;
      const choices: TrainChoices = { ...common, tokenizer: spec.tokenizer ?? baseline.tokenizer,
        modelOverrides: { ...req.choices.modelOverrides, ...spec.overrides } };
      const T = resolveTrainSettings(choices, null).model.contextLength;
      return resolveTrainSettings({ ...choices, steps: Math.max(1, Math.round(budget / perStep(T))) }, size);
    } catch (e) {
      throw new InputError(`variant "${spec.label}": ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const plans = [...(req.baseline ? [{ label: `baseline (${baseline.preset})`, baseline: true, plan: baseline }] : []),
    ...specs.map((s) => ({ label: s.label, baseline: false, plan: resolve(s) }))];
  const idsByName = new Map<string, number[]>();
  const rows: PlannedRow[] = [];
  for (const { label, baseline: isBaseline, plan } of plans) {
    const tokenizer = size.tokenizerOf(plan.tokenizer);
    let ids = idsByName.get(plan.tokenizer) ?? size.idsOf(plan.tokenizer);
    if (!ids) ids = await encodeAsync(tokenizer, req.text, req.signal);
    idsByName.set(plan.tokenizer, ids);
    // The model's vocabulary as trainOnText builds it: a learned BPE's whole, else the ids the text uses, and <unk>.
    const config: GPTConfig = { ...plan.model, vocabSize: tokenizer instanceof BpeTokenizer ? tokenizer.vocabSize + 1 : new Set(ids).size + 1 };
    await checkMemory(label, config, plan.settings.batchSize, req.compute);
    rows.push({ label, baseline: isBaseline, plan: { ...plan, settings: { ...plan.settings, sampleEvery: 0 } }, config, tokenizer, ids });
  }
  return rows;
}

async function checkMemory(label: string, config: GPTConfig, batchSize: number, compute: ComputePlan): Promise<void> {
  const path = (await compute.training({ config, parameters: parameterCount(config), batchSize })).info.path;
  const problem = memoryProblem(estimateTraining(config, batchSize, path, compute.backend.name === 'wasm'),
    `training variant "${label}" (batch ${batchSize}, context ${config.contextLength}, ${path} path)`);
  if (problem) throw new InputError(`${problem}; make that variant smaller`);
}

/** UTF-8 bytes the last `count` tokens of a text stand for: what bits per byte divide by. */
function bytesOfLast(tokenizer: Tokenizer, ids: number[], count: number): number {
  let bytes = 0;
  for (let i = ids.length - count; i < ids.length; i++) bytes += tokenizer.tokenBytes(ids[i]).length;
  return bytes;
}

/**
 * Step time measured from the event stream: the gaps between consecutive steps whose first had no evaluation after
 * it. The first step (warm-up, allocation) is never one of them.
 */
class StepTimer {
  private last: number | null = null;
  private evaluated = false;
  private readonly gaps: number[] = [];
  observe(e: TrainEvent): void {
    if (e.event === 'step') {
      const now = performance.now();
      if (this.last !== null && !this.evaluated) this.gaps.push(now - this.last);
      this.last = now;
      this.evaluated = false;
    } else if (e.event === 'eval' || e.event === 'sample') {
      this.evaluated = true;
    }
  }
  /** Mean gap; for a run too short to have one, its whole time over its steps. */
  msPerStep(elapsedMs: number, steps: number): number | null {
    if (this.gaps.length) return mean(this.gaps);
    return steps > 0 ? elapsedMs / steps : null;
  }
}

/** Trains every row for every seed, one run at a time, and returns the table. */
export async function compareOnText(req: CompareRequest): Promise<CompareTable> {
  const specs = parseRequest(req);
  const firstSeed = req.choices.seed ?? 1337;
  const seeds = Array.from({ length: req.seeds }, (_, i) => firstSeed + i);
  let planned: PlannedRow[];
  try {
    planned = await planRows(req, specs);
  } catch (e) {
    if (req.signal?.aborted) return { preset: req.choices.preset ?? 'tiny', metric: 'valLoss', seeds, baseline: req.baseline, reference: 0, rows: [], cancelled: true };
    throw e;
  }
  const metric: CompareMetric = new Set(planned.map((r) => r.plan.tokenizer)).size > 1 ? 'bitsPerByte' : 'valLoss';
  const runs = planned.length * seeds.length;
  const rows: CompareRow[] = [];
  let cancelled = false;
  for (let v = 0; v < planned.length && !cancelled; v++) {
    const { label, plan, config, tokenizer, ids } = planned[v];
    const row: CompareRow = { label, baseline: planned[v].baseline, tokenizer: plan.tokenizer, config, parameters: parameterCount(config),
      steps: plan.settings.steps, batchSize: plan.settings.batchSize,
      tokensPerRun: plan.settings.steps * plan.settings.batchSize * plan.model.contextLength, runs: [],
      trainLoss: null, valLoss: null, bitsPerByte: null, msPerStep: null, tokensPerSec: null, versus: null };
    rows.push(row);
    for (let k = 0; k < seeds.length; k++) {
      const tag = { variant: v, label, seed: seeds[k], run: v * seeds.length + k, runs };
      const timer = new StepTimer();
      let start: Extract<TrainEvent, { event: 'start' }> | null = null;
      let done: Extract<TrainEvent, { event: 'done' }> | null = null;
      const result = await trainOnText({
        text: req.text, tokenizer: plan.tokenizer, learnedTokenizer: tokenizer, tokenIds: ids, model: plan.model,
        settings: { ...plan.settings, seed: seeds[k] }, signal: req.signal, compute: req.compute, plan: plan.sizing,
        onEvent: (e) => {
          timer.observe(e);
          if (e.event === 'start') start = e;
          if (e.event === 'done') done = e;
          req.onEvent?.({ ...e, ...tag });
        },
      });
      result.model.dispose();
      if (result.cancelled) {
        cancelled = true;
        break;
      }
      const begun = start as Extract<TrainEvent, { event: 'start' }> | null, ended = done as Extract<TrainEvent, { event: 'done' }> | null;
      if (!begun || !ended) throw new Error('a run ended without its start and done events');
      const last = result.history.evals.at(-1);
      const valLoss = last?.valLoss ?? null;
      const msPerStep = timer.msPerStep(ended.elapsedMs, ended.step);
      row.runs.push({
        seed: seeds[k], steps: ended.step, trainLoss: last?.trainLoss ?? null, valLoss,
        bitsPerByte: valLoss === null || begun.valTokens === 0 ? null
          : (valLoss / Math.LN2) * (begun.valTokens / bytesOfLast(tokenizer, ids, begun.valTokens)),
        msPerStep, tokensPerSec: msPerStep ? (plan.settings.batchSize * plan.model.contextLength * 1000) / msPerStep : null,
        trainer: describeTrainingPath(begun.training), error: result.error,
      });
    }
    summarise(row);
  }
  for (let v = 1; v < rows.length; v++) rows[v].versus = versus(rows[v], rows[0], metric, seeds.length);
  return { preset: planned[0].plan.preset, metric, seeds, baseline: req.baseline, reference: 0, rows, cancelled };
}

/** Means and spreads over the runs that ended well. */
function summarise(row: CompareRow): void {
  const good = row.runs.filter((r) => r.error === null);
  const over = (pick: (r: CompareRun) => number | null): OverSeeds | null => {
    const xs = good.map(pick);
    if (xs.length === 0 || xs.some((x) => x === null)) return null;
    return { mean: mean(xs as number[]), spread: sampleStd(xs as number[]) };
  };
  row.trainLoss = over((r) => r.trainLoss);
  row.valLoss = over((r) => r.valLoss);
  row.bitsPerByte = over((r) => r.bitsPerByte);
  row.msPerStep = over((r) => r.msPerStep);
  // The rate at the mean step time (not the mean of the rates), so that the two columns agree
  const rates = over((r) => r.tokensPerSec);
  row.tokensPerSec = row.msPerStep && rates ? { mean: (row.batchSize * row.config.contextLength * 1000) / row.msPerStep.mean, spread: rates.spread } : null;
}

/** A row against the reference, seed by seed; null unless both have every seed, finished and measured. */
function versus(row: CompareRow, reference: CompareRow, metric: CompareMetric, seeds: number): CompareVersus | null {
  const values = (r: CompareRow): number[] | null => {
    if (r.runs.length !== seeds || r.runs.some((run) => run.error !== null || run[metric] === null)) return null;
    return r.runs.map((run) => run[metric]!);
  };
  const a = values(row), b = values(reference);
  if (!a || !b) return null;
  const test = pairedTTest(a, b);
  if (!test) return { metric, difference: a[0] - b[0], spread: null, p: null, finding: null };
  return { metric, difference: test.difference, spread: test.spread, p: test.p, finding: test.p < FINDING_P };
}

/** The engine's `compare` method: the request of the protocol, checked as a train request is. */
export function compareForEngine(p: CompareParams, compute: ComputePlan, signal: AbortSignal | undefined,
  onEvent: (e: CompareEvent) => void): Promise<CompareTable> {
  const { choices } = readRunChoices(p.settings, 'setting');
  return compareOnText({ text: checkText(p.text, p.label), choices, variants: p.variants, baseline: p.baseline ?? true,
    seeds: p.seeds ?? 1, compute, signal, onEvent });
}
