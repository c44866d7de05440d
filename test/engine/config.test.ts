// The model switches by name (parseModelOverrides, applyModelOverrides), their validation, and the defaults older
// model files get.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyModelOverrides, parseModelOverrides, PRESETS, resolveTrainSettings, validateConfig, withConfigDefaults, type GPTConfig,
} from '../../engine/model/config';

test('parseModelOverrides reads every kind of switch', () => {
  assert.deepEqual(parseModelOverrides(''), {});
  assert.deepEqual(parseModelOverrides('kvHeads=1, norm=rmsnorm,positions=rope ,qkNorm=true,ffnMult=0,dropout=0.1,tieEmbeddings=false'), {
    kvHeads: 1, norm: 'rmsnorm', positions: 'rope', qkNorm: true, ffnMult: 0, dropout: 0.1, tieEmbeddings: false,
  });
  assert.deepEqual(parseModelOverrides('headDim=32,heads=8,activation=relu,positions=none'), { headDim: 32, heads: 8, activation: 'relu', positions: 'none' });
});

test('parseModelOverrides refuses anything else with one line naming the entry', () => {
  const cases: [string, RegExp][] = [
    ['kvHeads', /"kvHeads" is not key=value/],
    ['kvHeads=', /"kvHeads=" is not key=value/],
    ['kvHeads=1,,norm=rmsnorm', /"" is not key=value/],
    ['vocabSize=10', /unknown model switch "vocabSize"; the switches are contextLength, dim, heads/],
    ['kvheads=1', /unknown model switch "kvheads"/],
    ['kvHeads=1,kvHeads=2', /kvHeads is set twice/],
    ['kvHeads=0', /kvHeads must be a whole number >= 1, got "0"/],
    ['heads=2.5', /heads must be a whole number >= 1, got "2.5"/],
    ['ffnMult=-1', /ffnMult must be a whole number >= 0/],
    ['qkNorm=yes', /qkNorm must be true or false, got "yes"/],
    ['dropout=1', /dropout must be a number in \[0, 1\), got "1"/],
    ['dropout=NaN', /dropout must be a number in \[0, 1\)/],
    ['positions=alibi', /positions must be learned, sinusoidal, rope, none, got "alibi"/],
    ['__proto__=1', /unknown model switch "__proto__"/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => parseModelOverrides(text), (e: Error) => {
      assert.match(e.message, pattern, text);
      assert.ok(!e.message.includes('\n'), text);
      return true;
    });
  }
});

test('applyModelOverrides: a standard model stays standard when heads or dim change; explicit sizes win', () => {
  const tiny = PRESETS.tiny.model; // D 96, H 4, KV 4, hs 24
  assert.deepEqual(pick(applyModelOverrides(tiny, { heads: 8 })), [96, 8, 8, 12]);
  assert.deepEqual(pick(applyModelOverrides(tiny, { dim: 64 })), [64, 4, 4, 16]);
  assert.deepEqual(pick(applyModelOverrides(tiny, { kvHeads: 1 })), [96, 4, 1, 24], 'multi-query');
  assert.deepEqual(pick(applyModelOverrides(tiny, { heads: 8, headDim: 24 })), [96, 8, 8, 24], 'more heads than D/hs');
  assert.deepEqual(pick(applyModelOverrides(tiny, { heads: 8, kvHeads: 2 })), [96, 8, 2, 12]);
  // a base that is not standard keeps its choices
  const grouped = applyModelOverrides(tiny, { kvHeads: 2, headDim: 32 });
  assert.deepEqual(pick(applyModelOverrides(grouped, { heads: 8 })), [96, 8, 2, 32]);
  assert.throws(() => applyModelOverrides(tiny, { dim: 30 }), /dim 30 is not divisible by heads 4; set headDim/);
  assert.deepEqual(pick(applyModelOverrides(tiny, { dim: 30, headDim: 8 })), [30, 4, 4, 8]);
  assert.throws(() => applyModelOverrides(tiny, { kvHeads: 3 }), /heads 4 is not a multiple of kvHeads 3/);
  assert.throws(() => applyModelOverrides(tiny, { positions: 'rope', headDim: 5 }), /rotary positions need an even headDim, got 5/);
  assert.equal(applyModelOverrides(tiny, {}).headDim, 24);
});

function pick(c: { dim: number; heads: number; kvHeads: number; headDim: number }): number[] {
  return [c.dim, c.heads, c.kvHeads, c.headDim];
}

test('resolveTrainSettings applies --dim/--heads, then the switches by name', () => {
  const r = resolveTrainSettings({ preset: 'classic', dim: 128, modelOverrides: { kvHeads: 2, positions: 'rope', qkNorm: true } });
  assert.deepEqual(pick(r.model), [128, 8, 2, 16]);
  assert.equal(r.model.positions, 'rope');
  assert.equal(r.model.qkNorm, true);
  assert.equal(r.model.activation, 'relu', 'the rest is the preset');
  assert.throws(() => resolveTrainSettings({ preset: 'tiny', heads: 5 }), /dim 96 is not divisible by heads 5/);
});

test('validateConfig: kvHeads divides heads, ffnMult may be 0, positions and qkNorm are checked', () => {
  const base: GPTConfig = { ...PRESETS.tiny.model, vocabSize: 10 };
  assert.equal(validateConfig({ ...base, ffnMult: 0 }).ffnMult, 0);
  assert.throws(() => validateConfig({ ...base, kvHeads: 0 }), /kvHeads must be a positive integer, got 0/);
  assert.throws(() => validateConfig({ ...base, headDim: 1.5 }), /headDim must be a positive integer/);
  assert.throws(() => validateConfig({ ...base, positions: 'alibi' as GPTConfig['positions'] }), /positions must be learned, sinusoidal, rope, none/);
  assert.throws(() => validateConfig({ ...base, qkNorm: 1 as unknown as boolean }), /tieEmbeddings, bias, qkvBias and qkNorm must be booleans/);
  assert.throws(() => validateConfig({ ...base, ffnMult: -1 }), /ffnMult must be a whole number/);
});

test('withConfigDefaults: an older file meant one key/value head per query head, heads of D/H and no QK-norm', () => {
  const old = { vocabSize: 10, contextLength: 8, dim: 12, heads: 3, layers: 1, ffnMult: 4, norm: 'layernorm', activation: 'gelu',
    positions: 'learned', tieEmbeddings: true, bias: false } as Partial<GPTConfig>;
  assert.deepEqual(withConfigDefaults(old), { ...old, qkvBias: false, dropout: 0, kvHeads: 3, headDim: 4, qkNorm: false });
  // a newer file's own values stay
  assert.equal(withConfigDefaults({ ...old, kvHeads: 1, headDim: 6 }).headDim, 6);
  // a file whose dim and heads never made a standard model is refused by validation, not given a fractional head
  assert.throws(() => validateConfig(withConfigDefaults({ ...old, heads: 5 })), /headDim must be a positive integer, got undefined/);
});
