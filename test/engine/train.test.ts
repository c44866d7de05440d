import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import { applyModelOverrides, EARLY_STOP_PATIENCE, MIN_SIZED_STEPS, PRESETS, resolveTrainSettings, type ModelShape, type TrainSettings } from '../../engine/model/config';
import { learningRateAt } from '../../engine/training/adamw';
import { countingBaselines, Dataset, Patience, StepClock, trainOnText } from '../../engine/training/train';
import { formatEarlyStop, formatEta } from '../../engine/common/format';
import { type TrainEvent } from '../../engine/protocol';
import { testPlan } from '../helpers/plan';

const shape: ModelShape = applyModelOverrides(PRESETS.tiny.model, { contextLength: 16, dim: 32, heads: 2, layers: 2 });
const settings = (over: Partial<TrainSettings> = {}): TrainSettings => ({
  ...PRESETS.tiny.train, steps: 60, batchSize: 8, learningRate: 3e-3, minLearningRate: 3e-4, warmupSteps: 5, evalEvery: 30,
  evalBatches: 2, sampleEvery: 0, seed: 42, ...over,
});
const REPETITIVE = 'the cat sat on the mat. '.repeat(200);

before(async () => {
  await selectBackend('wasm');
});

test('a short run drives the loss well below ln(V) on a repetitive text, with typed events in order', async () => {
  const events: TrainEvent[] = [];
  const r = await trainOnText({ compute: await testPlan(), text: REPETITIVE, tokenizer: 'char', model: shape, settings: settings(), onEvent: (e) => events.push(e) });
  const V = r.vocab.size;
  const first = r.history.steps[0].loss, last = r.history.steps.at(-1)!.loss;
  assert.ok(Math.abs(first - Math.log(V)) < 0.3, `first loss ${first} vs ln V ${Math.log(V)}`);
  assert.ok(last < 0.35 * Math.log(V), `final loss ${last} should be far below ln V = ${Math.log(V)}`);
  assert.equal(events[0].event, 'start');
  assert.equal(events.at(-1)!.event, 'done');
  assert.equal(events.filter((e) => e.event === 'step').length, 60);
  assert.deepEqual(events.filter((e) => e.event === 'eval').map((e) => (e as { step: number }).step), [30, 60]);
  const done = events.at(-1) as Extract<TrainEvent, { event: 'done' }>;
  assert.equal(done.cancelled, false);
  assert.equal(done.error, null);
  r.model.dispose();
});

test('the same seed gives the same losses; another seed does not', async () => {
  const run = async (seed: number): Promise<number[]> => {
    const r = await trainOnText({ compute: await testPlan(), text: REPETITIVE, tokenizer: 'char', model: shape, settings: settings({ steps: 8, seed }) });
    r.model.dispose();
    return r.history.steps.map((s) => s.loss);
  };
  const a = await run(7), b = await run(7), c = await run(8);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('cancelling stops between steps, reports cancelled and leaks nothing', async () => {
  const before = tf.memory().numTensors;
  const controller = new AbortController();
  const r = await trainOnText({ compute: await testPlan(), text: REPETITIVE, tokenizer: 'char', model: shape, settings: settings({ steps: 1000 }), signal: controller.signal,
    onEvent: (e) => { if (e.event === 'step' && e.step === 3) controller.abort(); } });
  assert.equal(r.cancelled, true);
  assert.equal(r.history.steps.length, 3);
  r.model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('a learning rate that makes the loss NaN stops with a clear message and keeps the last good weights', async () => {
  const r = await trainOnText({ compute: await testPlan(), text: REPETITIVE, tokenizer: 'char', model: shape, settings: settings({ learningRate: 1e30, minLearningRate: 1e30, warmupSteps: 0, gradClip: 0, steps: 50 }) });
  assert.match(r.error ?? '', /the loss became (NaN|Infinity|-Infinity) at step \d+ .*learning rate 1e\+30 is probably too high/);
  const weights = r.model.toTensors();
  for (const [name, t] of weights) assert.ok(t.data.every(Number.isFinite), `${name} holds non-finite values`);
  r.model.dispose();
});

test('text shorter than the context is refused with one actionable line', () => {
  assert.throws(() => new Dataset(Int32Array.from([1, 2, 3]), 16), /the text has 3 tokens but the context is 16, so it needs at least 18; use a longer text or a smaller context/);
});

test('a short text trains on all of it and says validation is skipped', async () => {
  const events: TrainEvent[] = [];
  const r = await trainOnText({ compute: await testPlan(), text: 'abcdefghijklmnopqrstuvwxyz0123456789', tokenizer: 'char', model: shape, settings: settings({ steps: 2 }), onEvent: (e) => events.push(e) });
  assert.ok(events.some((e) => e.event === 'warning' && /too short for a validation split/.test(e.message)));
  r.model.dispose();
});

test('learning rate: linear warm-up, then cosine to the floor', () => {
  const s = { steps: 100, learningRate: 1e-3, minLearningRate: 1e-4, warmupSteps: 10, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, gradClip: 1 };
  assert.equal(learningRateAt(s, 0), 1e-4);
  assert.equal(learningRateAt(s, 9), 1e-3);
  assert.equal(learningRateAt(s, 10), 1e-3);
  assert.ok(Math.abs(learningRateAt(s, 55) - 5.5e-4) < 1e-12);
  assert.ok(Math.abs(learningRateAt(s, 100) - 1e-4) < 1e-12);
});

test('counting baselines: uniform is ln V; the bigram beats the unigram on text with structure, as counted by hand', () => {
  const data = new Dataset(Int32Array.from('abababababababababab'.repeat(4), (c) => c.charCodeAt(0) - 96), 4);
  const b = countingBaselines(data, 3);
  assert.equal(b.uniform, Math.log(3));
  // Training split: a and b alternate, so the unigram is add-one (n+1)/(N+3) for each; the bigram almost always knows.
  const nA = [...data.train].filter((x) => x === 1).length, N = data.train.length;
  const pa = (nA + 1) / (N + 3), pb = (N - nA + 1) / (N + 3);
  let expected = 0;
  for (let i = 1; i < data.val.length; i++) expected -= Math.log(data.val[i] === 1 ? pa : pb);
  assert.ok(Math.abs(b.unigram! - expected / (data.val.length - 1)) < 1e-12);
  assert.ok(b.bigram! < 0.1 && b.bigram! < b.unigram!, `bigram ${b.bigram} on an alternating text`);
});

test('the run keeps its best-validation weights, says so, and reports checkpoints as validation improves', async () => {
  const events: TrainEvent[] = [];
  const checkpoints: number[] = [];
  // A tiny text and a high learning rate: the model memorises the training split and validation gets worse.
  const text = 'It is a truth universally acknowledged, that a single man in possession of a good fortune. '.repeat(4);
  const r = await trainOnText({ compute: await testPlan(), text, tokenizer: 'char', model: shape, onEvent: (e) => events.push(e),
    settings: settings({ steps: 300, evalEvery: 10, learningRate: 1e-2, minLearningRate: 1e-2 }),
    onCheckpoint: (_m, best) => checkpoints.push(best.step) });
  const evals = events.filter((e): e is Extract<TrainEvent, { event: 'eval' }> => e.event === 'eval');
  const bestEval = evals.reduce((a, e) => (e.valLoss! < a.valLoss! ? e : a));
  const done = events.at(-1) as Extract<TrainEvent, { event: 'done' }>;
  assert.deepEqual(done.best, { step: bestEval.step, valLoss: bestEval.valLoss });
  assert.equal(checkpoints.at(-1), bestEval.step);
  assert.deepEqual(events.filter((e) => e.event === 'checkpoint').map((e) => e.step), checkpoints);
  assert.ok(done.restoredBest, 'this run overfits, so the best weights are restored');
  assert.ok(evals.at(-1)!.valLoss! > bestEval.valLoss!);
  assert.ok(events.some((e) => e.event === 'warning' && e.code === 'memorising'), 'memorising is reported');
  assert.equal(r.history.best?.step, bestEval.step);
  r.model.dispose();
});

test('resolveTrainSettings: presets by size, steps sized to the tokens, overrides and derived rates', () => {
  const small = resolveTrainSettings({ preset: 'auto' }, { bytes: 50_000, countTokens: () => 50_000 });
  assert.equal(small.preset, 'tiny');
  // 25 passes over 45,000 training tokens at 16 x 64 tokens a step
  assert.equal(small.settings.steps, Math.round((25 * 45_000) / 1024));
  assert.match(small.sizing, /^auto: tiny for 49 KB; 1099 steps ≈ 25 passes over 45,000 training tokens, fewer if validation stops improving$/);
  assert.equal(small.settings.patience, EARLY_STOP_PATIENCE, 'a sized run stops early');
  assert.equal(resolveTrainSettings({ preset: 'auto' }, { bytes: 2 << 20, countTokens: () => 500_000 }).preset, 'classic');
  // A 2 KB note: 25 passes over its 1,800 training tokens are 44 steps; the minimum keeps a warm-up and a few evaluations.
  const note = resolveTrainSettings({ preset: 'tiny' }, { bytes: 2000, countTokens: () => 2000 });
  assert.equal(note.settings.steps, MIN_SIZED_STEPS);
  assert.ok((note.settings.steps * 16 * 64) / 1800 < 30, 'at most about 30 passes over a 2 KB note, not 125');
  assert.ok(note.settings.steps / note.settings.evalEvery >= 4, 'enough evaluations for patience to act');
  const mid = resolveTrainSettings({ preset: 'tiny' }, { bytes: 20_000, countTokens: () => 20_000 });
  assert.equal(mid.settings.steps, Math.round((25 * 18_000) / 1024), 'sized by passes between the minimum and the preset');
  assert.equal(resolveTrainSettings({ preset: 'tiny' }, { bytes: 1e6, countTokens: () => 1e6 }).settings.steps, PRESETS.tiny.train.steps);
  const over = resolveTrainSettings({ preset: 'classic', steps: 50, learningRate: 2e-3, tokenizer: 'char' });
  assert.equal(over.settings.steps, 50);
  assert.equal(over.settings.patience, 0, 'steps a person chose run to the end');
  assert.equal(over.tokenizer, 'char');
  assert.ok(Math.abs(over.settings.minLearningRate - 2e-4) < 1e-15);
  assert.equal(over.settings.warmupSteps, 5);
});

test('a run whose validation stops improving stops early after `patience` evaluations, keeps its best and says so', async () => {
  const events: TrainEvent[] = [];
  // The memorising run above, with patience: it stops soon after its best instead of running 300 steps.
  const text = 'It is a truth universally acknowledged, that a single man in possession of a good fortune. '.repeat(4);
  const r = await trainOnText({ compute: await testPlan(), text, tokenizer: 'char', model: shape, onEvent: (e) => events.push(e),
    settings: settings({ steps: 300, evalEvery: 10, learningRate: 1e-2, minLearningRate: 1e-2, patience: 3 }) });
  const evals = events.filter((e): e is Extract<TrainEvent, { event: 'eval' }> => e.event === 'eval');
  const done = events.at(-1) as Extract<TrainEvent, { event: 'done' }>;
  assert.ok(done.stoppedEarly, 'the run stopped early');
  assert.ok(done.step < 300 && done.step === done.stoppedEarly.step, `stopped at step ${done.step}`);
  assert.equal(done.cancelled, false, 'stopping early is not a cancel');
  const bestEval = evals.reduce((a, e) => (e.valLoss! < a.valLoss! ? e : a));
  assert.equal(done.stoppedEarly.bestStep, bestEval.step);
  assert.equal(done.step, bestEval.step + 3 * 10, 'three evaluations without a new best, then stop');
  assert.ok(evals.slice(-3).every((e) => e.valLoss! >= bestEval.valLoss!));
  assert.ok(done.restoredBest, 'the best weights are kept');
  assert.equal(events.filter((e) => e.event === 'step').length, done.step);
  assert.equal(formatEarlyStop(done.stoppedEarly), `stopped early at step ${done.step}: validation stopped improving (its best was at step ${bestEval.step})`);
  r.model.dispose();

  // Without patience the same run goes to its last step.
  const full: TrainEvent[] = [];
  const all = await trainOnText({ compute: await testPlan(), text, tokenizer: 'char', model: shape, onEvent: (e) => full.push(e),
    settings: settings({ steps: 100, evalEvery: 10, learningRate: 1e-2, minLearningRate: 1e-2 }) });
  assert.equal((full.at(-1) as Extract<TrainEvent, { event: 'done' }>).stoppedEarly, null);
  assert.equal((full.at(-1) as Extract<TrainEvent, { event: 'done' }>).step, 100);
  all.model.dispose();
});

test('Patience counts evaluations without a new best, resets on one, and never fires at 0', () => {
  const p = new Patience(2);
  assert.deepEqual([3, 2.5, 2.6, 2.4, 2.5, 2.45].map((v) => p.observe(v)), [false, false, false, false, false, true]);
  assert.equal(new Patience(2).observe(null), false, 'no validation split: never');
  const never = new Patience(0);
  assert.ok([1, 2, 3, 4, 5].every((v) => !never.observe(v)));
});

test('the ETA is smoothed against a single slow step, and becomes a range when the speed swings', () => {
  const steady = new StepClock();
  for (let i = 0; i < 100; i++) steady.add(100);
  const calm = steady.eta(600);
  assert.equal(calm.etaMs, 60_000);
  assert.deepEqual(calm.etaRangeMs, [60_000, 60_000]);
  assert.equal(formatEta(calm.etaMs, calm.etaRangeMs), '1m 00s', 'a steady speed gives one time');
  steady.add(2_000); // one evaluation or a hiccup
  assert.equal(steady.eta(600).etaMs, 60_000, 'one slow step does not move the estimate');

  const swinging = new StepClock();
  for (let i = 0; i < 100; i++) swinging.add(i < 50 ? 100 : 250); // the machine got busy halfway
  const { etaMs, etaRangeMs } = swinging.eta(600);
  assert.ok(etaRangeMs[0] <= etaMs && etaMs <= etaRangeMs[1]);
  assert.deepEqual(etaRangeMs, [60_000, 150_000]);
  assert.equal(formatEta(etaMs, etaRangeMs), '1–3 min');
  assert.equal(formatEta(40_000, [33_000, 52_000]), '30–55s');
  assert.equal(formatEta(40_000, [39_000, 41_000]), '40s', 'a narrow range is one time');
  assert.equal(formatEta(Number.NaN, [1, 2]), '–');
});
