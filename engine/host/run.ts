// One run policy for every host: the CLI's `train` and the engine process's `train` request take the same path.
//   1. settings: the checked choices (training/choices.ts) resolved against the preset and the text (bpe:N learns here)
//   2. the training path from the compute plan, then the memory check, then the destination check, before any work
//   3. training, with the best model so far written to a checkpoint (a checkpoint that fails is a warning; the run
//      goes on)
//   4. the model never lost: a new model replaces the model already at the destination only when there is none, or
//      when it scores better on the same validation text (in bits per byte, so tokenizers need not match); otherwise
//      it goes beside it, and the outcome says which was kept with both scores. A run that failed never replaces one.
//   5. the save goes through the destination check again; when that or the write fails, a fallback file in the temp
//      folder, and one sentence saying where the model is.
import * as fs from 'node:fs';
import { InputError } from '../common/errors';
import { formatBytes } from '../common/format';
import type { ComputePlan } from '../compute/plan';
import { KVCacheSession } from '../inference/kvCache';
import { BadWeightsError, loadModel, saveModel } from '../io/checkpoint';
import { checkDestination, describeFsError, fallbackPath, shown } from '../io/files';
import { resolveTrainSettings, type ModelShape, type TrainChoices, type TrainSettings } from '../model/config';
import { estimateTraining, memoryProblem, parameterCount } from '../model/memory';
import { slidingLosses, type ProbeContext } from '../probes/probes';
import { SnapshotKeeper } from '../probes/snapshots';
import { saveSnapshots, snapshotsPath, type SnapshotSet } from '../io/snapshots';
import { learnedTokenizers } from '../text/bpe';
import { textSize, type Tokenizer } from '../text/tokenizers';
import { trainOnText, type TrainResult } from '../training/train';
import { type Score, type TrainEvent, type TrainingPath } from '../protocol';

export interface RunRequest {
  text: string;
  /** The checked choices (readRunChoices). */
  choices: TrainChoices;
  plan: ComputePlan;
  /** Where the model goes: the CLI's --out, the editor's stored model of the document. */
  out: string;
  /** Where a model that does not replace `out` goes (beside it, or the editor's candidate file). */
  beside: (why: 'failed' | 'cancelled' | 'new') => string;
  /** Files the model must never be written over: the training text. */
  inputs: string[];
  /** Where the best model so far is written while training (removed once the run's model is saved), or null. */
  checkpoint: string | null;
  /** Weight snapshots to keep for the timeline (2 to 64), saved beside the run's model; none when absent. */
  snapshots?: number;
  signal?: AbortSignal;
  onEvent?: (e: TrainEvent) => void;
}

export interface RunOutcome {
  /** The trained model, in memory; the caller disposes it (or keeps it as its active model). */
  result: TrainResult;
  settings: TrainSettings;
  preset: string;
  tokenizer: string;
  /** Where the new model was saved (out, beside, or a fallback), or null when it could not be saved anywhere. */
  saved: string | null;
  /**
   * Which model is the destination's model now: the new one (saved at `out`, or where the fallback put it when `out`
   * failed), or the one that was there before.
   */
  kept: 'new' | 'previous';
  /** Both scores on the same validation text, when there was a model at `out` to compare with. */
  comparison: { text: string; bytes: number; new: Score; previous: Score } | null;
  /** One sentence each, for people: what was kept and why, and where a model went when the save failed. */
  notes: string[];
  /** Set when the model could not be saved where it was meant to go (it went to a fallback, or nowhere): the sentence. */
  saveProblem: string | null;
  /** The run's weight snapshots, when it kept some (saved beside `saved` as .snapshots.safetensors). */
  snapshots: SnapshotSet | null;
}

/** The most validation text the two models are compared on: a few seconds of scoring at most, on any model. */
export const COMPARE_MAX_BYTES = 32 * 1024;

export async function runTraining(req: RunRequest): Promise<RunOutcome> {
  const { text, plan, out } = req;
  const size = textSize(text, await learnedTokenizers([req.choices.tokenizer], text, req.signal)); // bpe:N learns here
  let resolved: ReturnType<typeof resolveTrainSettings>;
  try {
    resolved = resolveTrainSettings(req.choices, size);
  } catch (e) {
    throw new InputError(`the model: ${e instanceof Error ? e.message : String(e)}`);
  }
  const { tokenizer, model: shape, settings } = resolved;
  const tok = size.tokenizerOf(tokenizer);
  const vocabSize = vocabularyBound(text, tok);
  const config = { ...shape, vocabSize };
  const training = await plan.training({ config, parameters: parameterCount(config), batchSize: settings.batchSize });
  const modelBytes = checkTrainingMemory(text, tok, shape, settings.batchSize, training.info.path, plan.backend.name === 'wasm');
  checkDestination(out, req.inputs, modelBytes); // before any work: a run is never lost to a destination that cannot be written

  const keeper = req.snapshots === undefined ? undefined : new SnapshotKeeper(req.snapshots, settings.steps);
  const meta = { preset: resolved.preset, tokenizer, settings };
  let checkpointWritten = false;
  const result = await trainOnText({
    text, tokenizer, learnedTokenizer: tok, tokenIds: size.idsOf(tokenizer), model: shape, settings, plan: resolved.sizing,
    compute: plan, training, signal: req.signal, onEvent: req.onEvent, snapshots: keeper,
    onCheckpoint: req.checkpoint === null ? undefined : (m, best) => {
      try {
        saveModel(req.checkpoint!, m.model, m.vocab, m.tokenizer, { steps: [], evals: [], best, ...meta, partial: true });
        checkpointWritten = true;
      } catch (e) {
        if (e instanceof BadWeightsError) return; // weights that cannot be right are not worth a checkpoint
        throw new Error(describeFsError(e, req.checkpoint!, 'write'));
      }
    },
  });
  const history = { ...result.history, ...meta, partial: false, finished: new Date().toISOString() };

  // Which model `out` should hold: compare with the one there, on the same validation text.
  const previous = modelAt(out, plan);
  let comparison: RunOutcome['comparison'] = null;
  // A failed run never replaces the model there, so it is not scored against it (its loss is NaN or worse).
  if (previous && result.validationText && result.error === null) {
    const sample = cutToBytes(result.validationText, COMPARE_MAX_BYTES);
    try {
      comparison = { text: sample, bytes: Buffer.byteLength(sample), new: score(result, sample, plan), previous: score(previous, sample, plan) };
    } finally {
      previous.model.dispose();
    }
  } else {
    previous?.model.dispose();
  }
  const failed = result.error !== null;
  const better = comparison !== null && comparison.new.bitsPerByte < comparison.previous.bitsPerByte;
  const replaces = !failed && (previous === null || better);
  const existed = fs.existsSync(out);
  const target = replaces || !existed ? out : req.beside(failed ? 'failed' : result.cancelled ? 'cancelled' : 'new');
  const saved = saveChecked(target, req.inputs, (f) => saveModel(f, result.model, result.vocab, result.tokenizer, history));
  const notes: string[] = [];
  if (saved.message) notes.push(saved.message);
  if (comparison && target === out && saved.path === out) notes.push(`the new model replaced ${shown(out)}: ${compared(comparison, 'new')}`);
  else if (existed && target !== out) {
    notes.push(`${shown(out)} was kept${comparison ? `: ${compared(comparison, 'previous')}` : failed ? ' (this run failed)' : ''}` +
      `${saved.path ? `; this run's model is in ${shown(saved.path)}` : ''}`);
  }
  const snapshots = keeper?.result() ?? null;
  if (snapshots && saved.path) {
    const file = snapshotsPath(saved.path);
    try {
      saveSnapshots(file, result.model.config, snapshots);
    } catch (e) {
      notes.push(`the snapshots could not be saved to ${shown(file)}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (req.checkpoint && checkpointWritten && saved.path !== null) fs.rmSync(req.checkpoint, { force: true });
  return { result: { ...result, history }, settings, preset: resolved.preset, tokenizer, saved: saved.path,
    kept: target === out ? 'new' : 'previous', comparison, notes, saveProblem: saved.message, snapshots };
}

/** The model file at `file`, when there is a readable GPT Lab model there (else null: nothing there to lose). */
function modelAt(file: string, plan: ComputePlan): ProbeContext | null {
  try {
    if (!fs.statSync(file).isFile()) return null;
  } catch {
    return null;
  }
  try {
    const m = loadModel(file, { matmul: plan.matmul });
    return { model: m.model, vocab: m.vocab, tokenizer: m.tokenizer };
  } catch {
    return null; // not a model (or a damaged one): the destination check decides whether it may be replaced
  }
}

/** Mean loss of a model over a text (each prediction sees up to a context of tokens before it), and bits per byte. */
function score(m: ProbeContext, text: string, plan: ComputePlan): Score {
  const ids = m.vocab.encode(m.tokenizer.encode(text));
  const decoder = new KVCacheSession(m.model, plan);
  try {
    const losses = ids.length < 2 ? new Float64Array(0)
      : slidingLosses(m.model, ids, (inputs, targets, B, T) => decoder.rowScores(inputs, targets, B, T));
    let sum = 0;
    for (const l of losses) sum += l;
    return { loss: sum / Math.max(1, losses.length), bitsPerByte: sum / Math.LN2 / Math.max(1, Buffer.byteLength(text)), tokenizer: m.tokenizer.name };
  } finally {
    decoder.dispose();
  }
}

/** "1.412 bits per byte against 1.530 on the same 12 KB of validation text" (with nats per token when tokenizers match). */
function compared(c: NonNullable<RunOutcome['comparison']>, kept: 'new' | 'previous'): string {
  const [a, b] = kept === 'new' ? [c.new, c.previous] : [c.previous, c.new];
  const same = a.tokenizer === b.tokenizer;
  const fmt = (s: Score): string => `${s.bitsPerByte.toFixed(3)} bits per byte${same ? ` (loss ${s.loss.toFixed(3)})` : ''}`;
  return `it scores ${fmt(a)}, the ${kept === 'new' ? 'previous' : 'new'} one ${fmt(b)}, on the same ${formatBytes(c.bytes)} of validation text`;
}

/** The start of a text, at most `max` UTF-8 bytes, cut at a character boundary. */
function cutToBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  const cut = Buffer.from(text).subarray(0, max).toString('utf8');
  return cut.endsWith('\uFFFD') ? cut.slice(0, -1) : cut;
}

/**
 * Saves a model to `target`, checked as before training. Weights that are not finite are never written. If the
 * destination fails now (the disk filled, the folder went away), the model goes to a fallback file in the temp
 * folder, and the message says where. The one save path for trained models; "Save model as" uses checkDestination too.
 */
export function saveChecked(target: string, inputs: string[], save: (file: string) => void): { path: string | null; message: string | null } {
  try {
    checkDestination(target, inputs);
    save(target);
    return { path: target, message: null };
  } catch (e) {
    if (e instanceof BadWeightsError) return { path: null, message: e.message };
    const why = e instanceof InputError ? e.message : describeFsError(e, target, 'write');
    const fallback = fallbackPath(target);
    try {
      save(fallback);
      return { path: fallback, message: `${why}; saved the model to ${shown(fallback)} instead` };
    } catch (e2) {
      return { path: null, message: `${why}; the model could not be saved anywhere (${describeFsError(e2, fallback, 'write')}), ` +
        'so it lives only in memory until it is saved' };
    }
  }
}

/** The vocabulary a model on this text can have, bounded cheaply: distinct characters, or at most one id per byte. */
function vocabularyBound(text: string, tok: Tokenizer): number {
  if (tok.name !== 'char') return Math.min(tok.vocabSize, Buffer.byteLength(text)) + 1;
  const seen = new Set<number>();
  for (const ch of text) seen.add(ch.codePointAt(0) ?? 0);
  return seen.size + 1;
}

/**
 * Refuses, before anything is allocated, a model and batch that cannot fit this machine or the backend's memory,
 * with the figure. A fixed tokenizer's vocabulary is counted exactly only when its bound does not fit. Returns the
 * model file's size in bytes.
 */
function checkTrainingMemory(text: string, tok: Tokenizer, shape: ModelShape, batchSize: number, trainPath: TrainingPath,
  wasmBackend: boolean): number {
  const estimate = (vocabSize: number): ReturnType<typeof estimateTraining> => estimateTraining({ ...shape, vocabSize }, batchSize, trainPath, wasmBackend);
  let vocabSize = vocabularyBound(text, tok);
  if (tok.name !== 'char' && memoryProblem(estimate(vocabSize), 'training this model')) vocabSize = new Set(tok.encode(text)).size + 1;
  const e = estimate(vocabSize);
  const problem = memoryProblem(e, `training this model (batch ${batchSize}, context ${shape.contextLength}, ${trainPath} path)`);
  if (problem) throw new InputError(`${problem}; use a smaller model, batch or context`);
  return 4 * e.parameters;
}
