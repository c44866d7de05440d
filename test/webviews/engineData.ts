/**
 * Real engine output for the webview tests: ONE small GPT trained in-process (char tokenizer, tiny shape, ~150 steps on a
 * slice of the bundled Shakespeare, a few seconds), once per test process, plus helpers that turn it into the exact
 * protocol payloads each panel receives. Hand-written numbers are not enough: every figure a panel test feeds a view
 * comes from here.
 *
 *   const data = await engineData();          // memoised: the first call trains, later calls return the same object
 *   data.events                               // every TrainEvent of the run, in order (start ... done)
 *   data.ctx                                  // the trained model, for any probe in engine/probes.ts
 *   tokensData(data, selection)               // -> TokensData            (tokens view)
 *   attentionData(data, selection)            // -> AttentionData         (attention view), with mapOf / rowsOf for its requests
 *   nextTokenData(data, prompt, k, sampling)  // -> NextTokenData         (nextToken view)
 *   projectionData(data), neighboursData(data, token, k), analogyData(data, a, b, c, k)   (embeddings view)
 *
 *   snapshotRun()                             // a second small run that kept weight snapshots: the panels' timeline
 *
 * The model is never disposed: it lives as long as the test process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import { applyModelOverrides, PRESETS, type ModelShape, type TrainSettings } from '../../engine/model/config';
import { analogy, compareTokenizers, embeddingPca, logitLens, nextToken, perTokenLoss, textNeighbours, type ProbeContext } from '../../engine/probes/probes';
import { attentionMap, attentionProbe, attentionRows, textAttention, type TextAttention } from '../../engine/probes/attention';
import { describeSnapshots, snapshotContext, SnapshotKeeper } from '../../engine/probes/snapshots';
import type { SnapshotSet } from '../../engine/io/snapshots';
import { trainOnText } from '../../engine/training/train';
import type { AttentionData, AttentionHead, AttentionMap, AttentionRows, ModelTag, NeighboursData, NextTokenData, ProjectionData,
  TokensData } from '../../engine/protocol';
import { type AnalogyResult, type SamplingOptions, type Timeline, type TimelineTag, type TrainEvent } from '../../engine/protocol';
import { testPlan } from '../helpers/plan';

/** The repository root (this file runs from out/test/webviews/). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

export interface EngineData {
  /** The training text: the first TEXT_CHARS characters of media/tinyshakespeare-sample.txt. */
  text: string;
  /** Every event of the run, in order: start, step…, eval, checkpoint, sample, (warning), done. */
  events: TrainEvent[];
  /** The trained model with its vocabulary and tokenizer, for any probe. */
  ctx: ProbeContext;
  shape: ModelShape;
  settings: TrainSettings;
  /** Wall time of the training run, ms. */
  trainMs: number;
}

export const TEXT_CHARS = 12_000;
export const SHAPE: ModelShape = applyModelOverrides(PRESETS.tiny.model, { contextLength: 48, dim: 48, heads: 4, layers: 2 });
export const SETTINGS: TrainSettings = {
  ...PRESETS.tiny.train, steps: 150, batchSize: 8, learningRate: 3e-3, minLearningRate: 3e-4, warmupSteps: 10,
  evalEvery: 25, evalBatches: 2, sampleEvery: 50, seed: 7,
};

let cached: Promise<EngineData> | undefined;

/** Trains the model on first call (a few seconds); every later call in the same process returns the same data. */
export function engineData(): Promise<EngineData> {
  cached ??= train();
  return cached;
}

async function train(): Promise<EngineData> {
  await selectBackend('wasm');
  const text = fs.readFileSync(path.join(REPO_ROOT, 'media', 'tinyshakespeare-sample.txt'), 'utf8').slice(0, TEXT_CHARS);
  const events: TrainEvent[] = [];
  const t0 = performance.now();
  const r = await trainOnText({ text, tokenizer: 'char', model: SHAPE, settings: SETTINGS, compute: await testPlan(), onEvent: (e) => events.push(e) });
  const trainMs = performance.now() - t0;
  if (r.error) throw new Error(`engineData: training failed: ${r.error}`);
  return { text, events, ctx: { model: r.model, vocab: r.vocab, tokenizer: r.tokenizer }, shape: SHAPE, settings: SETTINGS, trainMs };
}

/** A second, independent run on the same text with other switches (e.g. RMSNorm), for overlays. Not cached. */
export async function extraRun(over: { shape?: Partial<ModelShape>; settings?: Partial<TrainSettings>; text?: string }): Promise<TrainEvent[]> {
  const data = await engineData();
  const events: TrainEvent[] = [];
  const r = await trainOnText({ text: over.text ?? data.text, tokenizer: 'char', model: applyModelOverrides(SHAPE, over.shape ?? {}),
    settings: { ...SETTINGS, ...over.settings }, compute: await testPlan(), onEvent: (e) => events.push(e) });
  r.model.dispose();
  return events;
}

/** The first `chars` characters of the training text after `from`: a realistic editor selection. */
export function selectionOf(data: EngineData, chars = 200, from = 0): string {
  return data.text.slice(from, from + chars);
}

/** The model the panels name: the one engineData trained. */
export function modelTag(data: EngineData, partial = false): ModelTag {
  return { label: 'tinyshakespeare-sample.txt', tokenizer: data.ctx.tokenizer.name, parameters: data.ctx.model.parameterCount, partial };
}

/** The tokens view's payload: a text under every encoding, the file's chars/token, and the model's surprise. */
export function tokensData(data: EngineData, selection: string, file: string = data.text, withSurprise = true,
  scope: TokensData['scope'] = 'selection', line: number | null = null): TokensData {
  return {
    source: 'tinyshakespeare-sample.txt',
    scope,
    line,
    text: selection,
    comparison: compareTokenizers(data.ctx, selection, file),
    surprise: withSurprise && selection.length > 0 ? perTokenLoss(data.ctx, selection) : null,
    model: modelTag(data),
  };
}

/** The engine's attention of a selection (as the engine keeps it for a panel's later requests). */
export function attentionOf(data: EngineData, selection: string): TextAttention {
  return textAttention(data.ctx, selection);
}

/** The attention view's payload, as the engine sends it: thumbnails of every map and the open one in full. */
export function attentionData(data: EngineData, selection: string, open: { layer: number; head: AttentionHead } = { layer: 0, head: 0 }): AttentionData {
  const probe = attentionProbe(attentionOf(data, selection), 64, [open]);
  return { source: 'tinyshakespeare-sample.txt', model: modelTag(data), probe, totalTokens: probe.tokens.length + probe.cropped };
}

/** The answer to the attention view's `map` request. */
export function mapOf(data: EngineData, selection: string, layer: number, head: AttentionHead): AttentionMap {
  return attentionMap(attentionOf(data, selection), layer, head);
}

/** The answer to the attention view's `rows` request. */
export function rowsOf(data: EngineData, selection: string, layer: number, query: number): AttentionRows {
  return attentionRows(attentionOf(data, selection), layer, query);
}

/** The next-token view's payload: top-k under `sampling` and the logit lens (k entries per layer and position). */
export function nextTokenData(data: EngineData, prompt: string, k = 10,
  sampling: SamplingOptions = { temperature: 1, topK: 0, topP: 1 }, sampledSoFar = ''): NextTokenData {
  return { prompt, sampledSoFar, probe: nextToken(data.ctx, prompt, k, sampling), lens: logitLens(data.ctx, prompt, k), model: modelTag(data) };
}

export function projectionData(data: EngineData): ProjectionData {
  return { ...embeddingPca(data.ctx), model: modelTag(data) };
}

/** Nearest neighbours of a text: its token's, or the mean of its tokens' (throws when the model knows none of them). */
export function neighboursData(data: EngineData, text: string, k = 10): NeighboursData {
  return { text, ...textNeighbours(data.ctx, text, k) };
}

export function analogyData(data: EngineData, a: string, b: string, c: string, k = 5): AnalogyResult {
  return analogy(data.ctx, a, b, c, k);
}

/** The events of one kind, typed. */
export function eventsOf<K extends TrainEvent['event']>(events: TrainEvent[], kind: K): Extract<TrainEvent, { event: K }>[] {
  return events.filter((e): e is Extract<TrainEvent, { event: K }> => e.event === kind);
}

/** A run that kept weight snapshots (as an editor run with gptLab.snapshots does), for the timeline slider. */
export interface SnapshotRun {
  text: string;
  ctx: ProbeContext; // the model at the end of the run
  set: SnapshotSet;
  timeline: Timeline; // what the engine's `timeline` method answers
  /** The model as it was at a snapshot (built once per index). */
  at(index: number): ProbeContext;
  /** The timeline tag a panel's data carries when it shows snapshot `at` (null: the model itself). */
  tag(at: number | null): TimelineTag;
}

let snapshotCache: Promise<SnapshotRun> | undefined;

/** Trains a second small model that keeps 5 snapshots (memoised, like engineData). */
export function snapshotRun(): Promise<SnapshotRun> {
  snapshotCache ??= (async () => {
    const data = await engineData();
    const steps = 120;
    const keeper = new SnapshotKeeper(5, steps);
    const r = await trainOnText({ text: data.text, tokenizer: 'char', model: SHAPE, settings: { ...SETTINGS, steps, evalEvery: 0, sampleEvery: 0 },
      compute: await testPlan(), snapshots: keeper });
    if (r.error) throw new Error(`snapshotRun: training failed: ${r.error}`);
    const ctx: ProbeContext = { model: r.model, vocab: r.vocab, tokenizer: r.tokenizer };
    const set = keeper.result();
    const timeline = describeSnapshots(set);
    const built = new Map<number, ProbeContext>();
    return {
      text: data.text, ctx, set, timeline,
      at: (index) => {
        if (!built.has(index)) built.set(index, snapshotContext(ctx, set, index));
        return built.get(index)!;
      },
      tag: (at) => ({ snapshots: timeline.snapshots, at }),
    };
  })();
  return snapshotCache;
}
