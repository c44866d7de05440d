import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../engine/common/rng';
import { argmaxWithProbability, drawFrom, samplingDistribution, validateSampling, WordModeCompletion } from '../../engine/inference/sample';

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

/** Feeds WordModeCompletion a scripted model: each token's text and probability, until it refuses one. */
function wordMode(prompt: string, tokens: [string, number][], minProbability = 0.35): { text: string; taken: number } {
  const words = new WordModeCompletion(prompt, minProbability);
  let text = '', taken = 0;
  for (const [t, p] of tokens) {
    text += t;
    if (!words.take(text, p)) break;
    taken += 1;
  }
  return { text: words.text, taken };
}

test('word mode finishes the word in progress whatever its probability, then goes on only while sure', () => {
  assert.deepEqual(wordMode('The ki', [['n', 0.1], ['g', 0.2], [' ', 0.9], ['o', 0.3], ['f', 0.9]]), { text: 'ng', taken: 3 },
    'unsure after "king ": the word is finished and nothing more');
  assert.equal(wordMode('The ki', [['n', 0.1], ['g', 0.2], [' ', 0.9], ['o', 0.8], ['f', 0.9], [' ', 0.6], ['E', 0.1]]).text, 'ng of',
    'sure of " of ": the whole word follows');
  assert.equal(wordMode('The ki', [['n', 0.5], ['g', 0.5], [' ', 0.9], ['o', 0.8], ['f', 0.9], ['f', 0.2]]).text, 'ng',
    'a word the model is not sure how to end ("of" or "off") is dropped');
  assert.equal(wordMode('The ki', [['ng', 0.2], [' of', 0.9], [' the', 0.1]]).text, 'ng of', 'multi-character tokens');
  assert.equal(wordMode('The ki', [['ng the', 0.1]]).text, 'ng', 'a token that ends the word and starts another gives the word');
});

test('word mode after a space needs confidence from the first token, and never shows whitespace alone', () => {
  assert.equal(wordMode('The ', [['k', 0.2]]).text, '', 'an unsure first token: nothing');
  assert.equal(wordMode('The ', [['k', 0.9], ['i', 0.9], ['n', 0.9], ['g', 0.9], [' ', 0.1]]).text, 'king');
  assert.equal(wordMode('Восени ', [[' ', 0.9], [' ', 0.9], [' ', 0.9], ['\n', 0.9]]).text, '', 'spaces alone are not a suggestion');
  assert.equal(wordMode('word', [[' ', 0.9], [' ', 0.9], ['x', 0.1]]).text, '', 'trailing whitespace is dropped');
  assert.equal(wordMode('ROMEO', [[':', 0.9], ['\n', 0.9], ['I', 0.9]]).text, ':', 'a newline ends it');
  assert.equal(wordMode('Восе', [['н', 0.1], ['и', 0.1], [' ', 0.1]]).text, 'ни', 'letters of any script are word characters');
});

test('word mode checks its threshold, and greedy picks the argmax with its probability under the model', () => {
  assert.throws(() => new WordModeCompletion('x', 1.5), /minProbability must be in \[0, 1\]/);
  const best = argmaxWithProbability(logits);
  assert.equal(best.id, ranked[0]);
  const full = samplingDistribution(logits, { temperature: 1, topK: 0, topP: 1 });
  assert.ok(Math.abs(best.probability - full[ranked[0]]) < 1e-12);
});
