// "Compare on this file": the runs of a comparison, their determinism, their shared batches and budget, the table's
// statistics (p-values against SciPy's), one-line errors, cancellation, and the engine method that streams it all.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { ComputePlan } from '../../engine/compute/plan';
import { loadNative } from '../../engine/compute/addon';
import { InputError } from '../../engine/common/errors';
import { mean, pairedTTest, sampleStd, studentTwoSidedP } from '../../engine/common/stats';
import { compareOnText, parseVariant, type CompareRequest } from '../../engine/training/compare';
import { EngineClient } from '../../engine/host/client';
import { describeTrainingPath, type CompareEvent, type CompareTable, type TrainEvent } from '../../engine/protocol';
import { testPlan } from '../helpers/plan';

const ROOT = path.resolve(__dirname, '../../..');
const TEXT = fs.readFileSync(path.join(ROOT, 'media', 'tinyshakespeare-sample.txt'), 'utf8').slice(0, 12000);
/** A model small enough that a comparison of three runs takes seconds on two busy cores. */
const SMALL = { preset: 'tiny' as const, tokenizer: 'char', contextLength: 16, dim: 32, heads: 2, layers: 1, batchSize: 4, steps: 30, evalEvery: 10, seed: 7 };

let compute: ComputePlan;
before(async () => {
  compute = await testPlan();
});

/** Runs a comparison and keeps its events, each run's step losses by run index. */
async function compare(over: Partial<CompareRequest> = {}): Promise<{ table: CompareTable; events: CompareEvent[]; curves: number[][] }> {
  const events: CompareEvent[] = [];
  const table = await compareOnText({ text: TEXT, choices: SMALL, variants: ['norm=rmsnorm'], baseline: true, seeds: 1, compute,
    onEvent: (e) => events.push(e), ...over });
  const curves: number[][] = [];
  for (const e of events) if (e.event === 'step') (curves[e.run] ??= []).push(e.loss);
  return { table, events, curves };
}

test('p-values of Student\'s t are SciPy\'s, for odd and even degrees of freedom', () => {
  // 2 * scipy.stats.t.sf(|t|, df), SciPy 1.10.1 (Debian bookworm's python3-scipy)
  const scipy: [number, number, number][] = [
    [2.0, 1, 0.2951672353008664], [2.0, 2, 0.1835034190722739], [2.0, 3, 0.1393259685588431], [2.0, 10, 0.07338803477074039],
    [0.5, 7, 0.6324071356892842], [3.7, 4, 0.02083542949044991], [12.0, 5, 7.089492517161528e-05], [1.2345, 15, 0.23600731444253098],
    [-2.5, 6, 0.04652823228416728], [0.0, 3, 1.0],
  ];
  for (const [t, df, p] of scipy) {
    const got = studentTwoSidedP(t, df);
    assert.ok(Math.abs(got - p) <= 1e-13 * Math.max(1, p) + 1e-16, `t=${t} df=${df}: ${got} vs SciPy ${p}`);
  }
  assert.equal(studentTwoSidedP(Infinity, 3), 0);
  assert.throws(() => studentTwoSidedP(1, 0), /whole number >= 1/);
});

test('the paired t-test is SciPy\'s ttest_rel; the spread is the sample standard deviation', () => {
  // scipy.stats.ttest_rel([1.61, 1.63, 1.60, 1.62], [1.65, 1.64, 1.66, 1.655]): statistic -3.5254179083580217, pvalue 0.03876630706471276
  const r = pairedTTest([1.61, 1.63, 1.60, 1.62], [1.65, 1.64, 1.66, 1.655])!;
  assert.ok(Math.abs(r.t - -3.5254179083580217) < 1e-12, String(r.t));
  assert.ok(Math.abs(r.p - 0.03876630706471276) < 1e-13, String(r.p));
  assert.ok(Math.abs(r.difference - -0.03625) < 1e-15);
  assert.equal(mean([1, 2, 3, 4]), 2.5);
  assert.ok(Math.abs(sampleStd([1, 2, 3, 4])! - Math.sqrt(5 / 3)) < 1e-15); // numpy.std(ddof=1)
  assert.equal(sampleStd([1]), null);
  assert.equal(pairedTTest([1], [2]), null, 'one pair says nothing about the noise');
  assert.deepEqual(pairedTTest([1, 2], [1, 2]), { difference: 0, spread: 0, t: 0, p: 1 });
  assert.equal(pairedTTest([2, 3], [1, 2])!.p, 0, 'the same non-zero difference every time');
});

test('a variant is model switches and optionally a tokenizer; bad ones are one line that names the entry', () => {
  assert.deepEqual(parseVariant(' norm=rmsnorm,kvHeads=1 '), { label: 'norm=rmsnorm,kvHeads=1', overrides: { norm: 'rmsnorm', kvHeads: 1 }, tokenizer: null });
  assert.deepEqual(parseVariant('tokenizer=bpe:512,positions=rope'), { label: 'tokenizer=bpe:512,positions=rope', overrides: { positions: 'rope' }, tokenizer: 'bpe:512' });
  assert.deepEqual(parseVariant('tokenizer=o200k_base'), { label: 'tokenizer=o200k_base', overrides: {}, tokenizer: 'o200k_base' });
  assert.throws(() => parseVariant('colour=blue'), /unknown model switch "colour"/);
  assert.throws(() => parseVariant('tokenizer=bpe:3'), /tokenizer must be one of/);
  assert.throws(() => parseVariant('tokenizer=char,tokenizer=char'), /tokenizer is set twice/);
  assert.throws(() => parseVariant('  '), /at least one switch/);
  assert.throws(() => parseVariant('kvHeads'), /not key=value/);
});

test('two variants with the same seed give the same curves twice, bit for bit; a variant equal to the baseline trains on the same batches', async () => {
  const variants = ['norm=layernorm', 'norm=rmsnorm']; // the first is the tiny preset's own norm: the baseline again
  const a = await compare({ variants });
  const b = await compare({ variants });
  assert.equal(a.curves.length, 3);
  for (const c of a.curves) assert.equal(c.length, SMALL.steps);
  assert.deepEqual(a.curves, b.curves, 'the same comparison twice: bit-identical curves');
  assert.deepEqual(a.table.rows.map((r) => r.runs[0].valLoss), b.table.rows.map((r) => r.runs[0].valLoss));
  // Same seed, same init, same windows: a variant that changes nothing retraces the baseline exactly...
  assert.deepEqual(a.curves[1], a.curves[0]);
  assert.equal(a.table.rows[1].runs[0].valLoss, a.table.rows[0].runs[0].valLoss);
  // ...and one that changes the model does not.
  assert.notDeepEqual(a.curves[2], a.curves[0]);
  const start = a.events.find((e) => e.event === 'start')!;
  assert.ok(start.event === 'start');
  assert.match(describeTrainingPath(start.training), loadNative() ? /^native/ : /^wasm/);
});

test('the wasm trainer is deterministic too', async () => {
  const wasm = await testPlan('wasm');
  const a = await compare({ compute: wasm, choices: { ...SMALL, steps: 12 } });
  const b = await compare({ compute: wasm, choices: { ...SMALL, steps: 12 } });
  assert.match(a.table.rows[0].runs[0].trainer, /^wasm/);
  assert.deepEqual(a.curves, b.curves);
});

test('the table: rows, tags, the same token budget at another context, parameters as built, and bits per byte', async () => {
  const { table, events } = await compare({ variants: ['contextLength=32', 'kvHeads=1,headDim=32'], seeds: 1 });
  assert.deepEqual(table.rows.map((r) => r.label), ['baseline (tiny)', 'contextLength=32', 'kvHeads=1,headDim=32']);
  assert.deepEqual(table.rows.map((r) => r.baseline), [true, false, false]);
  assert.equal(table.metric, 'valLoss');
  assert.deepEqual(table.seeds, [7]);
  // Twice the context: half the steps, the same tokens.
  assert.deepEqual(table.rows.map((r) => r.steps), [30, 15, 30]);
  assert.deepEqual(table.rows.map((r) => r.tokensPerRun), [1920, 1920, 1920]);
  assert.equal(events.filter((e) => e.event === 'step' && e.variant === 1).length, 15);
  // Every event carries its run; the start event's parameter count is the table's.
  assert.ok(events.every((e) => e.runs === 3 && e.label === table.rows[e.variant].label && e.seed === 7 && e.run === e.variant));
  for (const e of events) if (e.event === 'start') assert.equal(e.parameters, table.rows[e.variant].parameters);
  assert.equal(table.rows[2].config.kvHeads, 1);
  for (const r of table.rows) {
    const run = r.runs[0];
    assert.ok(run.trainLoss! > 0 && run.valLoss! > 0 && run.msPerStep! > 0);
    assert.ok(Math.abs(run.tokensPerSec! - (r.batchSize * r.config.contextLength * 1000) / run.msPerStep!) < 1e-6);
    // Characters of ASCII text: one byte per token, so bits per byte is val loss in bits.
    assert.ok(Math.abs(run.bitsPerByte! - run.valLoss! / Math.LN2) < 1e-12);
    assert.equal(r.valLoss!.spread, null, 'one seed has no spread');
  }
  assert.equal(table.rows[0].versus, null);
  const v = table.rows[1].versus!;
  assert.equal(v.difference, table.rows[1].runs[0].valLoss! - table.rows[0].runs[0].valLoss!);
  assert.deepEqual([v.spread, v.p, v.finding], [null, null, null], 'one seed: no verdict');
});

test('with several seeds: every row runs each seed, means and spreads, and a paired verdict against the baseline', async () => {
  const { table, curves } = await compare({ variants: ['norm=layernorm', 'dim=48'], seeds: 3, choices: { ...SMALL, steps: 20 } });
  assert.deepEqual(table.seeds, [7, 8, 9]);
  assert.equal(curves.length, 9);
  assert.notDeepEqual(curves[0], curves[1], 'another seed, another run');
  for (const r of table.rows) {
    assert.deepEqual(r.runs.map((run) => run.seed), [7, 8, 9]);
    const vals = r.runs.map((run) => run.valLoss!);
    assert.equal(r.valLoss!.mean, mean(vals));
    assert.equal(r.valLoss!.spread, sampleStd(vals));
    assert.ok(Math.abs(r.tokensPerSec!.mean * r.msPerStep!.mean - r.batchSize * r.config.contextLength * 1000) < 1e-6, 'the speed columns agree');
  }
  // The variant that is the baseline again: no difference at all, so no finding.
  assert.deepEqual(table.rows[1].versus, { metric: 'valLoss', difference: 0, spread: 0, p: 1, finding: false });
  const wider = table.rows[2].versus!;
  const test = pairedTTest(table.rows[2].runs.map((r) => r.valLoss!), table.rows[0].runs.map((r) => r.valLoss!))!;
  assert.deepEqual(wider, { metric: 'valLoss', difference: test.difference, spread: test.spread, p: test.p, finding: test.p < 0.05 });
});

test('a variant with another tokenizer is compared in bits per byte', async () => {
  const { table } = await compare({ variants: ['tokenizer=bpe:300'], choices: { ...SMALL, steps: 10 } });
  assert.equal(table.metric, 'bitsPerByte');
  assert.deepEqual(table.rows.map((r) => r.tokenizer), ['char', 'bpe:300']);
  assert.equal(table.rows[1].config.vocabSize, 301, 'a learned BPE keeps its whole vocabulary, and <unk>');
  assert.equal(table.rows[1].versus!.metric, 'bitsPerByte');
  const bpe = table.rows[1].runs[0];
  assert.ok(bpe.bitsPerByte! < bpe.valLoss! / Math.LN2, 'a BPE token holds more than a byte');
});

test('bad comparisons are refused before any run, with one line', async () => {
  const refused = async (over: Partial<CompareRequest>, pattern: RegExp): Promise<void> => {
    let runs = 0;
    await assert.rejects(compareOnText({ text: TEXT, choices: SMALL, variants: ['norm=rmsnorm'], baseline: true, seeds: 1, compute, onEvent: () => runs++, ...over }),
      (e: unknown) => e instanceof InputError && pattern.test(e.message) && !e.message.includes('\n'));
    assert.equal(runs, 0);
  };
  await refused({ baseline: false }, /2 to 6 variants.*got 1/);
  await refused({ variants: ['dim=40', 'dim=48', 'dim=56', 'dim=64', 'dim=72', 'dim=80'] }, /2 to 6 variants.*got 7/);
  await refused({ variants: ['norm=rmsnorm', 'norm=rmsnorm'] }, /variant "norm=rmsnorm" is given twice/);
  await refused({ variants: ['heads=3'] }, /variant "heads=3": dim 32 is not divisible by heads 3/);
  await refused({ variants: ['kvHeads=3'] }, /variant "kvHeads=3": heads 2 is not a multiple of kvHeads 3/);
  await refused({ variants: ['wings=2'] }, /variant "wings=2": unknown model switch/);
  await refused({ variants: ['dim=65536,layers=64'] }, /training variant "dim=65536,layers=64" .* needs about .* make that variant smaller/);
  await refused({ seeds: 0 }, /seeds must be a whole number from 1 to 16/);
});

test('cancelling stops the run under way: the table keeps the runs that finished, and nothing leaks', async () => {
  const tensors = tf.memory().numTensors;
  const controller = new AbortController();
  const { table } = await compare({ signal: controller.signal, choices: { ...SMALL, steps: 100000 }, onEvent: (e) => {
    if (e.event === 'step' && e.step === 3) controller.abort();
  } });
  assert.equal(table.cancelled, true);
  assert.equal(table.rows.length, 1);
  assert.equal(table.rows[0].runs.length, 0, 'the stopped run is not a result');
  assert.equal(table.rows[0].valLoss, null);
  assert.equal(tf.memory().numTensors, tensors);
});

test('the engine method streams tagged training events and answers the table; cancel stops it', async () => {
  const client = new EngineClient({ workerPath: path.resolve(__dirname, '../../engine/host/worker.js'), maxMemoryMb: 2048 });
  after(() => client.dispose());
  await client.call('init', { backend: 'wasm', trainer: 'auto' });
  const params = { text: TEXT, label: 'sample.txt', settings: { ...SMALL, steps: 8 }, variants: ['norm=rmsnorm'], seeds: 1 };
  const events: TrainEvent[] = [];
  const table = await client.request('compare', params, { onEvent: (e) => events.push(e) }).result;
  assert.deepEqual(table.rows.map((r) => r.label), ['baseline (tiny)', 'norm=rmsnorm']);
  const tagged = events as CompareEvent[];
  assert.deepEqual(tagged.filter((e) => e.event === 'start').map((e) => [e.variant, e.label, e.seed, e.run, e.runs]),
    [[0, 'baseline (tiny)', 7, 0, 2], [1, 'norm=rmsnorm', 7, 1, 2]]);
  assert.equal(tagged.filter((e) => e.event === 'step').length, 16);
  // The same comparison in this process gives the same curves: the engine process is the same engine.
  const here = await compare({ choices: { ...SMALL, steps: 8 } });
  assert.deepEqual(tagged.filter((e) => e.event === 'step').map((e) => e.loss), here.curves.flat());

  await assert.rejects(client.call('compare', { ...params, variants: ['norm=rmsnorm', 'norm=rmsnorm'] }), /given twice/);
  let cancelled = false;
  // Its settings are read by the rules a train run's are: a bad one is the same one line.
  await assert.rejects(client.call('compare', { ...params, settings: { ...SMALL, steps: -5 } }), /gptLab\.steps must be at least 0 \(0: sized to the text\), got -5/);
  await assert.rejects(client.call('compare', { ...params, settings: { ...SMALL, preset: 'huge' } }), /gptLab\.preset must be auto, tiny, small or classic, got "huge"/);
  const long = client.request('compare', { ...params, settings: { ...SMALL, steps: 100000 } }, { onEvent: (e) => {
    if (e.event === 'step' && e.step === 2 && !cancelled) {
      cancelled = true;
      void client.cancel(long.id);
    }
  } });
  const stopped = await long.result;
  assert.equal(stopped.cancelled, true);
});
