import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getTokenizer } from '../../engine/text/tokenizers';
import { UNKNOWN_ID, Vocabulary } from '../../engine/text/vocab';

test('compaction keeps the distinct ids of the text, sorted, behind the unknown token', () => {
  const tok = getTokenizer('o200k_base');
  const ids = tok.encode('to be or not to be, that is the question: to be');
  const vocab = Vocabulary.fromTokenIds(ids);
  assert.equal(vocab.size, new Set(ids).size + 1);
  assert.equal(vocab.toTokenizer[0], null);
  const rest = vocab.toTokenizer.slice(1) as number[];
  assert.deepEqual(rest, [...rest].sort((a, b) => a - b));
  const model = vocab.encode(ids);
  assert.ok(model.every((m) => m >= 1 && m < vocab.size));
  assert.deepEqual(vocab.decode(model), ids);
  assert.equal(tok.decode(vocab.decode(model)), 'to be or not to be, that is the question: to be');
});

test('text the model never saw maps to the explicit unknown token and displays as <unk>', () => {
  const tok = getTokenizer('char');
  const vocab = Vocabulary.fromTokenIds(tok.encode('abc'));
  const model = vocab.encode(tok.encode('abz'));
  assert.deepEqual(Array.from(model), [1, 2, UNKNOWN_ID]);
  assert.equal(vocab.display(tok, UNKNOWN_ID), '<unk>');
  assert.equal(vocab.display(tok, 2), 'b');
  assert.equal(vocab.has(0x7a), false);
  assert.deepEqual(vocab.decode([1, 0, 3]), [0x61, 0x63]);
});

test('a corrupt id map is refused', () => {
  assert.throws(() => new Vocabulary([5, 6]), /entry 0 must be the unknown token/);
  assert.throws(() => new Vocabulary([null, 5, 5]), /lists token 5 twice/);
  assert.throws(() => new Vocabulary([null, -1]), /entry 1 is not a token id/);
});
