import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../engine/common/rng';
import { drawFrom, samplingDistribution, validateSampling } from '../../engine/inference/sample';

const rng = new Rng(3);
const logits = Float32Array.from({ length: 40 }, () => rng.normal() * 2);
const ranked = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);

test('top-k never emits a token outside the k most likely', () => {
  const k = 5, allowed = new Set(ranked.slice(0, k));
  const probs = samplingDistribution(logits, { temperature: 1.5, topK: k, topP: 1 });
  const draw = new Rng(9);
  for (let i = 0; i < 5000; i++) assert.ok(allowed.has(drawFrom(probs, draw)));
  assert.equal(probs.filter((p) => p > 0).length, k);
});

test('temperature 0 is greedy, and a tiny temperature approaches it', () => {
  const greedy = samplingDistribution(logits, { temperature: 0, topK: 0, topP: 1 });
  assert.equal(greedy[ranked[0]], 1);
  const cold = samplingDistribution(logits, { temperature: 1e-3, topK: 0, topP: 1 });
  assert.ok(cold[ranked[0]] > 0.999999);
  const draw = new Rng(1);
  for (let i = 0; i < 100; i++) assert.equal(drawFrom(greedy, draw), ranked[0]);
});

test('top-p keeps the smallest set of most likely tokens whose mass reaches p', () => {
  const full = samplingDistribution(logits, { temperature: 1, topK: 0, topP: 1 });
  for (const p of [0.3, 0.6, 0.9, 0.99]) {
    const probs = samplingDistribution(logits, { temperature: 1, topK: 0, topP: p });
    const kept = ranked.filter((i) => probs[i] > 0);
    assert.deepEqual(kept, ranked.slice(0, kept.length), 'kept tokens are the most likely ones');
    const mass = kept.reduce((s, i) => s + full[i], 0);
    assert.ok(mass >= p - 1e-12, `kept mass ${mass} reaches ${p}`);
    assert.ok(mass - full[kept.at(-1)!] < p, 'dropping the last kept token would fall short');
    assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  }
});

test('sampling frequencies follow the distribution', () => {
  const probs = samplingDistribution(logits, { temperature: 1, topK: 3, topP: 1 });
  const counts = new Map<number, number>(), draw = new Rng(5), n = 20000;
  for (let i = 0; i < n; i++) { const t = drawFrom(probs, draw); counts.set(t, (counts.get(t) ?? 0) + 1); }
  for (const id of ranked.slice(0, 3)) assert.ok(Math.abs((counts.get(id) ?? 0) / n - probs[id]) < 0.015);
});

test('bad sampling settings are refused', () => {
  assert.throws(() => validateSampling({ temperature: -1, topK: 0, topP: 1 }), /temperature/);
  assert.throws(() => validateSampling({ temperature: 1, topK: 1.5, topP: 1 }), /top-k/);
  assert.throws(() => validateSampling({ temperature: 1, topK: 0, topP: 0 }), /top-p/);
});
