// The model's hyper-parameters, the run's settings, and the presets a user picks from.
import { formatBytes } from '../common/format';
// Legend used in shape comments across the engine:
//   B = batch, T = context length, D = model width, H = query heads, KV = key/value heads, hs = head size,
//   A = H*hs (the attention's width), C = (H + 2*KV)*hs (q, k and v together), F = ffnMult*D, V = model vocabulary,
//   N = layers

export type NormKind = 'layernorm' | 'rmsnorm';
export type ActivationKind = 'relu' | 'gelu';
export type PositionKind = 'learned' | 'sinusoidal' | 'rope' | 'none';

export interface GPTConfig {
  vocabSize: number; // V: compacted vocabulary (distinct ids of the training text + 1 unknown token)
  contextLength: number; // T: the longest sequence the model sees
  dim: number; // D: residual stream width
  heads: number; // H: query heads
  layers: number; // N: transformer blocks
  ffnMult: number; // the feed-forward layer is D -> ffnMult*D -> D; 0 makes attention-only blocks (no MLP, no ln_2)
  norm: NormKind; // pre-norm flavour; eps 1e-5 for both
  activation: ActivationKind; // gelu is the exact erf form, as PyTorch's default
  // learned: a wpe table added to the embeddings; sinusoidal: fixed sin/cos added; rope: q and k rotated by position
  // (rotate-half form, base 10000, as LLaMA and nanochat); none: no position signal but the causal mask (NoPE)
  positions: PositionKind;
  tieEmbeddings: boolean; // lm_head reuses wte (no lm_head.weight tensor)
  bias: boolean; // biases in c_proj, the MLP, LayerNorm and lm_head
  qkvBias: boolean; // bias on c_attn (GPT-2 has one; the classic notebook's per-head q/k/v do not)
  dropout: number; // applied to the embeddings, attention probabilities and residual branches while training
  kvHeads: number; // KV: key/value heads, each shared by H/KV query heads: H is multi-head, 1 multi-query, between grouped
  headDim: number; // hs: one head's width; D/H in GPT-2, free here (q: D -> H*hs, k and v: D -> KV*hs, c_proj: H*hs -> D)
  qkNorm: boolean; // RMSNorm without weights (eps 1e-5) on each head's q and k before the scores, as nanochat
}

/** The config's keys in the model file's order (gptlab.config); the last three came later and have defaults. */
export const CONFIG_KEYS: readonly (keyof GPTConfig)[] = ['vocabSize', 'contextLength', 'dim', 'heads', 'layers', 'ffnMult',
  'norm', 'activation', 'positions', 'tieEmbeddings', 'bias', 'qkvBias', 'dropout', 'kvHeads', 'headDim', 'qkNorm'];

/** The parts of a config that a preset or the user chooses; vocabSize comes from the text. */
export type ModelShape = Omit<GPTConfig, 'vocabSize'>;

/**
 * A run's settings: one record from the preset and the person's choices (training/choices.ts) down to the trainers;
 * its AdamW fields reach every compiled trainer as the step record (training/adamw.ts adamwStep, compute/addon.ts
 * AdamWStep) and C++'s AdamWSettings.
 */
export interface TrainSettings {
  steps: number;
  batchSize: number;
  learningRate: number;
  minLearningRate: number; // cosine decay floor
  warmupSteps: number;
  weightDecay: number; // AdamW, decoupled; applied to every parameter like torch.optim.AdamW(model.parameters())
  beta1: number;
  beta2: number;
  eps: number;
  gradClip: number; // max global L2 norm; 0 disables
  evalEvery: number; // steps between validation losses
  evalBatches: number; // fixed validation batches averaged for one val loss
  sampleEvery: number; // steps between sample texts in the event stream; 0 disables
  seed: number;
  /** Evaluations in a row without a new best validation loss before the run stops early (keeping its best); 0 or absent: never. */
  patience?: number;
}

export interface Preset {
  description: string;
  tokenizer: string;
  model: ModelShape;
  train: Omit<TrainSettings, 'seed'>;
}

/** GPT-2's block, the presets' common ground: 4D feed-forward, pre-LayerNorm, learned positions, no dropout. */
const GPT2_BLOCK = { ffnMult: 4, norm: 'layernorm', positions: 'learned', dropout: 0, qkNorm: false } as const;

/** A preset's model: GPT-2's block with its sizes and choices, heads of D/H, one key/value head per query head. */
function presetShape(s: Pick<ModelShape, 'contextLength' | 'dim' | 'heads' | 'layers' | 'activation' | 'tieEmbeddings' | 'bias' | 'qkvBias'>): ModelShape {
  return { ...GPT2_BLOCK, ...s, kvHeads: s.heads, headDim: s.dim / s.heads };
}

/**
 * A preset's run: AdamW with PyTorch's defaults (betas 0.9/0.999, eps 1e-8, weight decay 0.01), clipping at 1,
 * 100 warm-up steps, cosine decay to `minLearningRate`, a sample every 500 steps.
 */
function presetTraining(s: Pick<TrainSettings, 'steps' | 'batchSize' | 'learningRate' | 'minLearningRate' | 'evalEvery' | 'evalBatches'>):
  Omit<TrainSettings, 'seed'> {
  return { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1.0, warmupSteps: 100, sampleEvery: 500, ...s };
}

export const PRESETS: Record<'tiny' | 'small' | 'classic', Preset> = {
  tiny: {
    description: 'fast interactive default: readable text in under a minute on two CPU cores',
    tokenizer: 'char',
    model: presetShape({ contextLength: 64, dim: 96, heads: 4, layers: 3, activation: 'gelu', tieEmbeddings: true, bias: true, qkvBias: true }),
    // With the native trainer 2000 steps take about 35 s on two cores and reach val loss about 1.6 on Shakespeare:
    // speaker names, verse lines, mostly real words
    train: presetTraining({ steps: 2000, batchSize: 16, learningRate: 3e-3, minLearningRate: 3e-4, evalEvery: 250, evalBatches: 4 }),
  },
  small: {
    description: 'a step up from tiny: nanoGPT\'s CPU recipe shape (4 layers, 4 heads, 128 wide, context 64)',
    tokenizer: 'char',
    model: presetShape({ contextLength: 64, dim: 128, heads: 4, layers: 4, activation: 'gelu', tieEmbeddings: true, bias: true, qkvBias: true }),
    train: presetTraining({ steps: 2000, batchSize: 12, learningRate: 1e-3, minLearningRate: 1e-4, evalEvery: 200, evalBatches: 8 }),
  },
  classic: {
    description: 'the reference notebook\'s ClassicGPT: o200k_base, B=8 T=32 D=256 H=8 N=12, lr 1e-3',
    tokenizer: 'o200k_base',
    model: presetShape({ contextLength: 32, dim: 256, heads: 8, layers: 12, activation: 'relu', tieEmbeddings: false, bias: true, qkvBias: false }),
    train: presetTraining({ steps: 3000, batchSize: 8, learningRate: 1e-3, minLearningRate: 1e-4, evalEvery: 250, evalBatches: 8 }),
  },
};

export type PresetName = keyof typeof PRESETS;

/** The preset a run uses when none is chosen, in the CLI and the editor alike: picked from the text's size. */
export const DEFAULT_PRESET = 'auto';

export function isPresetName(name: string): name is PresetName {
  return Object.prototype.hasOwnProperty.call(PRESETS, name);
}

/** Throws a one-line Error when the config cannot describe a model. */
export function validateConfig(c: GPTConfig): GPTConfig {
  positiveInt('vocabSize', c.vocabSize);
  validateModelShape(c);
  return c;
}

function positiveInt(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${String(v)}`);
}

/** validateConfig without the vocabulary, which comes from the text: what a preset plus overrides must pass. */
export function validateModelShape<S extends ModelShape>(c: S): S {
  for (const key of ['contextLength', 'dim', 'heads', 'kvHeads', 'headDim', 'layers'] as const) positiveInt(key, c[key]);
  if (typeof c.ffnMult !== 'number' || !Number.isInteger(c.ffnMult) || c.ffnMult < 0) {
    throw new Error(`ffnMult must be a whole number (0: no feed-forward layer), got ${String(c.ffnMult)}`);
  }
  if (c.heads % c.kvHeads !== 0) throw new Error(`heads ${c.heads} is not a multiple of kvHeads ${c.kvHeads}`);
  if (!isOneOf(c.norm, NORMS)) throw new Error(`norm must be ${NORMS.join(' or ')}, got ${String(c.norm)}`);
  if (!isOneOf(c.activation, ACTIVATIONS)) throw new Error(`activation must be ${ACTIVATIONS.join(' or ')}, got ${String(c.activation)}`);
  if (!isOneOf(c.positions, POSITIONS)) throw new Error(`positions must be ${POSITIONS.join(', ')}, got ${String(c.positions)}`);
  if (c.positions === 'sinusoidal' && c.dim % 2 !== 0) throw new Error(`sinusoidal positions need an even dim, got ${c.dim}`);
  if (c.positions === 'rope' && c.headDim % 2 !== 0) throw new Error(`rotary positions need an even headDim, got ${c.headDim}`);
  if (typeof c.tieEmbeddings !== 'boolean' || typeof c.bias !== 'boolean' || typeof c.qkvBias !== 'boolean' || typeof c.qkNorm !== 'boolean') {
    throw new Error('tieEmbeddings, bias, qkvBias and qkNorm must be booleans');
  }
  if (typeof c.dropout !== 'number' || !(c.dropout >= 0 && c.dropout < 1)) throw new Error(`dropout must be in [0, 1), got ${String(c.dropout)}`);
  return c;
}

const NORMS: readonly NormKind[] = ['layernorm', 'rmsnorm'];
const ACTIVATIONS: readonly ActivationKind[] = ['relu', 'gelu'];
const POSITIONS: readonly PositionKind[] = ['learned', 'sinusoidal', 'rope', 'none'];

function isOneOf<K extends string>(v: unknown, kinds: readonly K[]): v is K {
  return typeof v === 'string' && (kinds as readonly string[]).includes(v);
}

/**
 * A model file's config with the fields older files lack filled in as those files meant them: qkvBias as bias,
 * no dropout, one key/value head per query head, heads of D/H, no QK-norm. Not validated.
 */
export function withConfigDefaults(raw: Partial<GPTConfig>): GPTConfig {
  const standardHead = typeof raw.dim === 'number' && typeof raw.heads === 'number' && raw.heads > 0 && raw.dim % raw.heads === 0;
  return {
    qkvBias: raw.bias ?? true, dropout: 0, kvHeads: raw.heads, headDim: standardHead ? raw.dim! / raw.heads! : undefined, qkNorm: false,
    ...raw,
  } as GPTConfig;
}

// ------------------------------------------------------------------ overrides by name: "kvHeads=1,norm=rmsnorm"

type OverrideKind = { int: number } | { choices: readonly string[] } | 'boolean' | 'dropout';

/** Every model switch a person can set by name, and what it takes. */
const OVERRIDABLE: Record<keyof ModelShape, OverrideKind> = {
  contextLength: { int: 1 }, dim: { int: 1 }, heads: { int: 1 }, kvHeads: { int: 1 }, headDim: { int: 1 }, layers: { int: 1 },
  ffnMult: { int: 0 }, norm: { choices: NORMS }, activation: { choices: ACTIVATIONS }, positions: { choices: POSITIONS },
  tieEmbeddings: 'boolean', bias: 'boolean', qkvBias: 'boolean', qkNorm: 'boolean', dropout: 'dropout',
};

/**
 * Parses a `key=value,...` list of model switches (`kvHeads=1,norm=rmsnorm,positions=rope`) into overrides of a
 * model shape. Keys are GPTConfig's names; numbers are whole (dropout in [0, 1)), booleans true or false. Throws a
 * one-line Error naming the first bad entry. The empty string gives no overrides.
 */
export function parseModelOverrides(text: string): Partial<ModelShape> {
  const out: Record<string, unknown> = {};
  if (text.trim() === '') return {};
  for (const entry of text.split(',')) {
    const eq = entry.indexOf('=');
    const key = (eq === -1 ? entry : entry.slice(0, eq)).trim();
    const value = eq === -1 ? '' : entry.slice(eq + 1).trim();
    if (eq === -1 || key === '' || value === '') throw new Error(`"${entry.trim()}" is not key=value (e.g. kvHeads=1,norm=rmsnorm)`);
    if (!Object.prototype.hasOwnProperty.call(OVERRIDABLE, key)) {
      throw new Error(`unknown model switch "${key}"; the switches are ${Object.keys(OVERRIDABLE).join(', ')}`);
    }
    if (key in out) throw new Error(`${key} is set twice`);
    const kind = OVERRIDABLE[key as keyof ModelShape];
    if (kind === 'boolean') {
      if (value !== 'true' && value !== 'false') throw new Error(`${key} must be true or false, got "${value}"`);
      out[key] = value === 'true';
    } else if (kind === 'dropout') {
      const p = /^\d*\.?\d+(e-?\d+)?$/i.test(value) ? Number(value) : NaN;
      if (!(p >= 0 && p < 1)) throw new Error(`${key} must be a number in [0, 1), got "${value}"`);
      out[key] = p;
    } else if ('int' in kind) {
      const n = /^\d+$/.test(value) ? Number(value) : NaN;
      if (!(Number.isSafeInteger(n) && n >= kind.int)) throw new Error(`${key} must be a whole number >= ${kind.int}, got "${value}"`);
      out[key] = n;
    } else {
      if (!kind.choices.includes(value)) throw new Error(`${key} must be ${kind.choices.join(', ')}, got "${value}"`);
      out[key] = value;
    }
  }
  return out; // every key and value checked above
}

/**
 * A shape with some switches changed, validated. kvHeads and headDim follow a changed heads or dim when the base
 * has the standard ones (KV = H, hs = D/H) and the overrides do not set them, so `heads=8` on a standard model gives
 * a standard model with 8 heads; `heads=8,headDim=32` gives more heads than D/hs.
 */
export function applyModelOverrides(base: ModelShape, overrides: Partial<ModelShape>): ModelShape {
  const shape: ModelShape = { ...base, ...overrides };
  if (overrides.kvHeads === undefined && base.kvHeads === base.heads) shape.kvHeads = shape.heads;
  if (overrides.headDim === undefined && base.headDim * base.heads === base.dim) {
    if (shape.dim % shape.heads !== 0) throw new Error(`dim ${shape.dim} is not divisible by heads ${shape.heads}; set headDim to choose the head size`);
    shape.headDim = shape.dim / shape.heads;
  }
  return validateModelShape(shape);
}

/**
 * What a person chose (training/choices.ts reads and checks flags and settings into this); anything omitted, or 0,
 * comes from the preset, and steps from the text's size.
 */
export interface TrainChoices {
  preset?: PresetName | 'auto'; // auto: picked from the text's size
  tokenizer?: string; // omitted or 'auto': the preset's
  steps?: number; // omitted or 0: sized to the text
  batchSize?: number;
  contextLength?: number;
  dim?: number;
  heads?: number;
  layers?: number;
  /** Any other model switches by name (parseModelOverrides), applied after the fields above. */
  modelOverrides?: Partial<ModelShape>;
  learningRate?: number;
  evalEvery?: number; // omitted: about 8 evaluations a run; 0: only at the end
  seed?: number; // omitted: 1337
}

export interface ResolvedTraining {
  preset: PresetName;
  tokenizer: string;
  model: ModelShape;
  settings: TrainSettings;
  /** For people: why these steps and this preset, e.g. "auto: tiny for 48 KB; 880 steps ≈ 25 passes over 45,210 tokens". */
  sizing: string;
}

/** The text a run is sized to: its length, and its token count under a tokenizer. */
export interface TextSize {
  bytes: number;
  countTokens: (tokenizer: string) => number;
}

/**
 * Passes over the training split before a small model starts memorising it. On 50 KB of Shakespeare `tiny`'s
 * validation loss bottomed after 1250 steps of 1024 tokens, about 28 passes; 25 stops just short of that. A run
 * sized to its text makes at most this many passes (and at least MIN_SIZED_STEPS steps, for the warm-up and a first
 * few evaluations), and stops early once validation has not improved for EARLY_STOP_PATIENCE evaluations: a 2 KB
 * note starts memorising after a few dozen steps, where a fixed minimum of 200 steps made it 125 passes.
 */
export const PASSES_BEFORE_MEMORISING = 25;
export const MIN_SIZED_STEPS = 50;
/** Evaluations without a new best validation loss after which a sized run stops (its best weights are kept). */
export const EARLY_STOP_PATIENCE = 3;

/** `auto`: tiny (characters, fast) for notes and source files, small up to 1 MB, the classic GPT beyond. */
export function presetForSize(bytes: number): PresetName {
  return bytes < 256 * 1024 ? 'tiny' : bytes < 1024 * 1024 ? 'small' : 'classic';
}

/**
 * A preset plus overrides: the one resolution the CLI and the editor share. Throws a one-line Error when the
 * overrides make an invalid model (dim not divisible by heads, say). The minimum learning rate keeps the
 * preset's ratio to the peak, warm-up is at most a tenth of the run, and with no explicit steps the run is sized to
 * the text so that a small file is not memorised (the preset's steps stay the ceiling).
 */
export function resolveTrainSettings(choices: TrainChoices, text: TextSize | null = null): ResolvedTraining {
  const chosen = choices.preset ?? DEFAULT_PRESET;
  const presetName = chosen === 'auto' ? (text ? presetForSize(text.bytes) : 'tiny') : chosen;
  const preset = PRESETS[presetName];
  const tokenizer = choices.tokenizer && choices.tokenizer !== 'auto' ? choices.tokenizer : preset.tokenizer;
  const sizes: Partial<ModelShape> = {};
  if (choices.contextLength) sizes.contextLength = choices.contextLength;
  if (choices.dim) sizes.dim = choices.dim;
  if (choices.heads) sizes.heads = choices.heads;
  if (choices.layers) sizes.layers = choices.layers;
  const model = applyModelOverrides(preset.model, { ...sizes, ...choices.modelOverrides });
  const batchSize = choices.batchSize || preset.train.batchSize;
  const why = chosen === 'auto' && text ? `auto: ${presetName} for ${formatBytes(text.bytes)}` : presetName;
  let steps = choices.steps || 0;
  let sizing = `${why}; ${steps} steps`;
  if (!steps) {
    if (text) {
      const trainTokens = Math.floor(0.9 * text.countTokens(tokenizer));
      const perStep = batchSize * model.contextLength;
      const sized = Math.round((PASSES_BEFORE_MEMORISING * trainTokens) / perStep);
      steps = Math.max(MIN_SIZED_STEPS, Math.min(preset.train.steps, sized));
      sizing = `${why}; ${steps} steps ≈ ${((steps * perStep) / Math.max(1, trainTokens)).toFixed(0)} passes over ` +
        `${trainTokens.toLocaleString('en-US')} training tokens, fewer if validation stops improving`;
    } else {
      steps = preset.train.steps;
      sizing = `${why}; ${steps} steps`;
    }
  }
  const learningRate = choices.learningRate || preset.train.learningRate; // 0, like omitted, is the preset's
  const settings: TrainSettings = {
    ...preset.train,
    steps,
    batchSize,
    learningRate,
    minLearningRate: learningRate * (preset.train.minLearningRate / preset.train.learningRate),
    warmupSteps: Math.min(preset.train.warmupSteps, Math.max(1, Math.floor(steps / 10))),
    evalEvery: choices.evalEvery ?? Math.min(preset.train.evalEvery, Math.max(10, Math.round(steps / 8))),
    seed: choices.seed ?? 1337,
    // A run sized to the text stops once it has stopped learning; steps a person chose are run to the end.
    patience: choices.steps ? 0 : EARLY_STOP_PATIENCE,
  };
  return { preset: presetName, tokenizer, model, settings, sizing };
}

