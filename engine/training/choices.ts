// Every choice a person makes for a run, read and checked in one place: the CLI's flags (`gpt-lab train --steps 500`)
// and the editor's settings (`gptLab.steps`) go through the same rules and get the same one-line messages; only the
// name differs ("--steps", "gptLab.steps"). A number of 0, or nothing, means "the preset's" (for steps: "sized to the
// text") wherever it is given. Values arrive as typed (a setting's JSON) or as text (a flag); either is checked.
import { InputError } from '../common/errors';
import { DEFAULT_PRESET, isPresetName, parseModelOverrides, type TrainChoices } from '../model/config';
import { BPE_MAX_VOCAB, BPE_MIN_VOCAB, isTokenizerChoice, TOKENIZER_CHOICES } from '../text/tokenizers';
import { BACKEND_NAMES, TRAINER_CHOICES, type BackendRequest, type TrainerChoice } from '../protocol';

/** A choice that cannot be used: one line naming the flag or setting, the rule and the value. */
export class ChoiceError extends InputError {
  override name = 'ChoiceError';
}

export type ChoiceSource = 'flag' | 'setting';

/** What a run needs to know before it starts: the training choices and the compute request. */
export interface RunChoices {
  choices: TrainChoices;
  backend: BackendRequest;
  trainer: TrainerChoice;
}

export interface NumberRule {
  whole: boolean;
  min: number;
  max: number;
  /** What 0 means, for the message; absent when 0 is an ordinary value (seed) or out of range. */
  zero?: string;
}

/** One choice: its flag (gpt-lab train --<flag>) and its setting (gptLab.<setting>), where it has them. */
export interface ChoiceRule {
  flag?: string;
  setting?: string;
  number?: NumberRule;
}

export type ChoiceKey = keyof TrainChoices | 'bpeVocabSize' | 'backend' | 'trainer';

/** The rules, by TrainChoices field (and backend, trainer, bpeVocabSize); package.json's schema states the same ranges. */
export const CHOICE_RULES: Readonly<Record<ChoiceKey, ChoiceRule>> = {
  preset: { flag: 'preset', setting: 'preset' },
  tokenizer: { flag: 'tokenizer', setting: 'tokenizer' },
  bpeVocabSize: { setting: 'bpeVocabSize', number: { whole: true, min: BPE_MIN_VOCAB, max: BPE_MAX_VOCAB } },
  steps: { flag: 'steps', setting: 'steps', number: { whole: true, min: 0, max: 10_000_000, zero: 'sized to the text' } },
  batchSize: { flag: 'batch', setting: 'batchSize', number: { whole: true, min: 0, max: 65_536, zero: "the preset's" } },
  contextLength: { flag: 'context', setting: 'contextLength', number: { whole: true, min: 0, max: 4096, zero: "the preset's" } },
  dim: { flag: 'dim', number: { whole: true, min: 0, max: 8192, zero: "the preset's" } },
  heads: { flag: 'heads', number: { whole: true, min: 0, max: 4096, zero: "the preset's" } },
  layers: { flag: 'layers', number: { whole: true, min: 0, max: 256, zero: "the preset's" } },
  learningRate: { flag: 'lr', setting: 'learningRate', number: { whole: false, min: 0, max: Number.MAX_VALUE, zero: "the preset's" } },
  evalEvery: { flag: 'eval-every', number: { whole: true, min: 0, max: 10_000_000 } },
  seed: { flag: 'seed', number: { whole: true, min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER } },
  modelOverrides: { flag: 'arch', setting: 'modelSwitches' },
  backend: { flag: 'backend', setting: 'backend' },
  trainer: { flag: 'trainer', setting: 'trainer' },
};

/** What a flag or setting said, by choice; undefined (or, for settings, null) is "not given". */
export type RawChoices = Partial<Record<ChoiceKey, unknown>>;

/** "--steps" or "gptLab.steps". */
export function choiceName(key: ChoiceKey, source: ChoiceSource): string {
  const rule = CHOICE_RULES[key];
  return source === 'flag' ? `--${rule.flag ?? key}` : `gptLab.${rule.setting ?? key}`;
}

/**
 * Reads and checks a run's choices. Throws a ChoiceError whose message is one line ("--steps must be a whole number,
 * got 2.5", "gptLab.steps must be at least 0, got -5"); nothing is half-read.
 */
export function readRunChoices(raw: RawChoices, source: ChoiceSource): RunChoices {
  const name = (key: ChoiceKey): string => choiceName(key, source);
  const given = (key: ChoiceKey): boolean => raw[key] !== undefined && raw[key] !== null;
  const num = (key: ChoiceKey): number | undefined => {
    const rule = CHOICE_RULES[key];
    if (!given(key) || !rule.number) return undefined;
    const v = readNumber(raw[key], name(key), rule.number);
    return v === 0 && rule.number.zero ? undefined : v;
  };
  const text = (key: ChoiceKey): string | undefined => {
    if (!given(key)) return undefined;
    const v = raw[key];
    if (typeof v !== 'string') throw new ChoiceError(`${name(key)} must be text, got ${shownValue(v)}`);
    return v;
  };

  const preset = text('preset') ?? DEFAULT_PRESET;
  if (preset !== 'auto' && !isPresetName(preset)) throw new ChoiceError(`${name('preset')} must be auto, tiny, small or classic, got "${preset}"`);
  const backend = text('backend') ?? 'auto';
  if (!(BACKEND_NAMES as readonly string[]).includes(backend)) {
    throw new ChoiceError(`${name('backend')} must be ${orList(BACKEND_NAMES)}, got "${backend}"`);
  }
  const trainer = text('trainer') ?? 'auto';
  if (!(TRAINER_CHOICES as readonly string[]).includes(trainer)) {
    throw new ChoiceError(`${name('trainer')} must be ${orList(TRAINER_CHOICES)}, got "${trainer}"`);
  }
  let tokenizer = text('tokenizer');
  // The editor names a learned BPE `bpe` and gives its size apart (gptLab.bpeVocabSize); the CLI says bpe:N.
  if (tokenizer === 'bpe' && source === 'setting') tokenizer = `bpe:${num('bpeVocabSize') ?? DEFAULT_BPE_VOCAB}`;
  if (tokenizer !== undefined && tokenizer !== 'auto' && !isTokenizerChoice(tokenizer)) {
    throw new ChoiceError(`${name('tokenizer')} must be one of ${TOKENIZER_CHOICES}, got "${tokenizer}"`);
  }
  let modelOverrides: TrainChoices['modelOverrides'];
  try {
    modelOverrides = parseModelOverrides(text('modelOverrides') ?? '');
  } catch (e) {
    if (e instanceof ChoiceError) throw e;
    throw new ChoiceError(`${name('modelOverrides')}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const choices: TrainChoices = {
    preset, tokenizer: tokenizer === 'auto' ? undefined : tokenizer, steps: num('steps'), batchSize: num('batchSize'),
    contextLength: num('contextLength'), dim: num('dim'), heads: num('heads'), layers: num('layers'),
    learningRate: num('learningRate'), evalEvery: num('evalEvery'), seed: num('seed'), modelOverrides,
  };
  return { choices, backend: backend as BackendRequest, trainer: trainer as TrainerChoice };
}

/** The BPE size a bare `bpe` setting learns when gptLab.bpeVocabSize is not set (package.json's default too). */
export const DEFAULT_BPE_VOCAB = 1024;

function readNumber(raw: unknown, name: string, rule: NumberRule): number {
  const v = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  const shown = typeof raw === 'string' ? `"${raw}"` : shownValue(raw);
  if (!Number.isFinite(v)) throw new ChoiceError(`${name} must be a number, got ${shown}`);
  if (rule.whole && !Number.isInteger(v)) throw new ChoiceError(`${name} must be a whole number, got ${shown}`);
  const zero = rule.zero ? ` (0: ${rule.zero})` : '';
  if (v < rule.min) throw new ChoiceError(`${name} must be at least ${rule.min}${zero}, got ${String(raw)}`);
  if (v > rule.max) throw new ChoiceError(`${name} must be at most ${rule.max}, got ${String(raw)}`);
  return v;
}

function shownValue(v: unknown): string {
  const s = typeof v === 'string' ? `"${v}"` : JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** "a, b or c". */
function orList(xs: readonly string[]): string {
  return `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`;
}

