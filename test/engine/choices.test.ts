// A run's choices are read in one place for the CLI's flags and the editor's settings: the same rules, the same
// one-line messages (only the name differs), and 0 or nothing is "the preset's" in both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChoiceError, readRunChoices } from '../../engine/training/choices';
import { DEFAULT_PRESET, PRESETS, resolveTrainSettings } from '../../engine/model/config';

test('flags and settings get the same rule and the same message, only the name differs', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ steps: '-5' }, 'steps must be at least 0 (0: sized to the text), got -5'],
    [{ steps: 'abc' }, 'steps must be a number, got "abc"'],
    [{ steps: '2.5' }, 'steps must be a whole number, got "2.5"'],
    [{ batchSize: '70000' }, 'batch must be at most 65536, got 70000'],
    [{ preset: 'huge' }, 'preset must be auto, tiny, small or classic, got "huge"'],
    [{ trainer: 'gpu' }, 'trainer must be auto, native, wasm, tfjs or webgpu, got "gpu"'],
    [{ backend: 'cuda' }, 'backend must be auto, tensorflow, wasm or cpu, got "cuda"'],
    [{ learningRate: '-1' }, "lr must be at least 0 (0: the preset's), got -1"],
  ];
  for (const [raw, message] of cases) {
    const flag = `--${message}`;
    assert.throws(() => readRunChoices(raw, 'flag'), (e: Error) => e instanceof ChoiceError && e.message === flag);
    // The same value as a setting: its name is the setting's (batch -> gptLab.batchSize, lr -> gptLab.learningRate).
    const named = message.replace(/^batch /, 'batchSize ').replace(/^lr /, 'learningRate ');
    assert.throws(() => readRunChoices(raw, 'setting'), (e: Error) => e instanceof ChoiceError && e.message === `gptLab.${named}`);
  }
  assert.throws(() => readRunChoices({ modelOverrides: 'kvHeads=0' }, 'flag'), /--arch: kvHeads must be a whole number >= 1, got "0"$/);
  assert.throws(() => readRunChoices({ modelOverrides: 'kvHeads=0' }, 'setting'), /gptLab\.modelSwitches: kvHeads must be a whole number >= 1, got "0"$/);
  assert.throws(() => readRunChoices({ steps: true }, 'setting'), /gptLab\.steps must be a number, got true$/);
  assert.throws(() => readRunChoices({ preset: 3 }, 'setting'), /gptLab\.preset must be text, got 3$/);
});

test('0 or nothing is the preset\'s in both, so `--lr 0` never trains at a learning rate of 0; one default preset', () => {
  for (const source of ['flag', 'setting'] as const) {
    const zero = readRunChoices({ learningRate: source === 'flag' ? '0' : 0, steps: 0, batchSize: 0, contextLength: 0 }, source);
    assert.deepEqual(zero, readRunChoices({}, source));
    const resolved = resolveTrainSettings(zero.choices, { bytes: 10_000, countTokens: () => 10_000 });
    assert.equal(resolved.settings.learningRate, PRESETS.tiny.train.learningRate);
    assert.equal(zero.choices.preset, DEFAULT_PRESET);
  }
  assert.equal(DEFAULT_PRESET, 'auto');
  // Direct callers of the resolver get the same meaning.
  assert.equal(resolveTrainSettings({ preset: 'tiny', learningRate: 0 }).settings.learningRate, PRESETS.tiny.train.learningRate);
  assert.equal(readRunChoices({ seed: '0' }, 'flag').choices.seed, 0, 'a seed of 0 is a seed');
  assert.equal(readRunChoices({ evalEvery: '0' }, 'flag').choices.evalEvery, 0, 'evaluating only at the end is a choice');
});

test('a setting of `bpe` learns a BPE of gptLab.bpeVocabSize tokens, as --tokenizer bpe:N does', () => {
  assert.equal(readRunChoices({ tokenizer: 'bpe', bpeVocabSize: 500 }, 'setting').choices.tokenizer, 'bpe:500');
  assert.equal(readRunChoices({ tokenizer: 'bpe:500' }, 'flag').choices.tokenizer, 'bpe:500');
  assert.throws(() => readRunChoices({ tokenizer: 'bpe', bpeVocabSize: 10 }, 'setting'), /gptLab\.bpeVocabSize must be at least 256, got 10$/);
  assert.equal(readRunChoices({ tokenizer: 'auto' }, 'setting').choices.tokenizer, undefined);
});
