// The model's hyper-parameters and the presets a user picks from.
// Legend used in shape comments across the engine:
//   B = batch, T = context length, D = model width, H = heads, hs = D/H, F = ffnMult*D, V = model vocabulary, N = layers

export type NormKind = 'layernorm' | 'rmsnorm';
export type ActivationKind = 'relu' | 'gelu';
export type PositionKind = 'learned' | 'sinusoidal';

export interface GPTConfig {
  vocabSize: number; // V: compacted vocabulary (distinct ids of the training text + 1 unknown token)
  contextLength: number; // T: the longest sequence the model sees
  dim: number; // D: residual stream width
  heads: number; // H: attention heads; D must be divisible by H
  layers: number; // N: transformer blocks
  ffnMult: number; // the feed-forward layer is D -> ffnMult*D -> D
  norm: NormKind; // pre-norm flavour; eps 1e-5 for both
  activation: ActivationKind; // gelu is the exact erf form, as PyTorch's default
  positions: PositionKind; // learned wpe, or fixed sin/cos (no wpe tensor)
  tieEmbeddings: boolean; // lm_head reuses wte (no lm_head.weight tensor)
  bias: boolean; // biases in c_proj, the MLP, LayerNorm and lm_head
  qkvBias: boolean; // bias on c_attn (GPT-2 has one; the classic notebook's per-head q/k/v do not)
  dropout: number; // applied to attention probabilities and residual branches while training
}

/** The parts of a config that a preset or the user chooses; vocabSize comes from the text. */
export type ModelShape = Omit<GPTConfig, 'vocabSize'>;

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
}

export interface Preset {
  description: string;
  tokenizer: string;
  model: ModelShape;
  train: Omit<TrainSettings, 'seed'>;
}

const adamDefaults = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1.0 };

export const PRESETS: Record<'tiny' | 'small' | 'classic', Preset> = {
  tiny: {
    description: 'fast interactive default: readable text in under a minute on two CPU cores',
    tokenizer: 'char',
    model: {
      contextLength: 64, dim: 96, heads: 4, layers: 3, ffnMult: 4, norm: 'layernorm', activation: 'gelu',
      positions: 'learned', tieEmbeddings: true, bias: true, qkvBias: true, dropout: 0,
    },
    // With the native trainer 2000 steps take about 35 s on two cores and reach val loss about 1.6 on Shakespeare:
    // speaker names, verse lines, mostly real words
    train: { ...adamDefaults, steps: 2000, batchSize: 16, learningRate: 3e-3, minLearningRate: 3e-4, warmupSteps: 100,
      evalEvery: 250, evalBatches: 4, sampleEvery: 500 },
  },
  small: {
    description: 'a step up from tiny: nanoGPT\'s CPU recipe shape (4 layers, 4 heads, 128 wide, context 64)',
    tokenizer: 'char',
    model: {
      contextLength: 64, dim: 128, heads: 4, layers: 4, ffnMult: 4, norm: 'layernorm', activation: 'gelu',
      positions: 'learned', tieEmbeddings: true, bias: true, qkvBias: true, dropout: 0,
    },
    train: { ...adamDefaults, steps: 2000, batchSize: 12, learningRate: 1e-3, minLearningRate: 1e-4, warmupSteps: 100,
      evalEvery: 200, evalBatches: 8, sampleEvery: 500 },
  },
  classic: {
    description: 'the reference notebook\'s ClassicGPT: o200k_base, B=8 T=32 D=256 H=8 N=12, lr 1e-3',
    tokenizer: 'o200k_base',
    model: {
      contextLength: 32, dim: 256, heads: 8, layers: 12, ffnMult: 4, norm: 'layernorm', activation: 'relu',
      positions: 'learned', tieEmbeddings: false, bias: true, qkvBias: false, dropout: 0,
    },
    train: { ...adamDefaults, steps: 3000, batchSize: 8, learningRate: 1e-3, minLearningRate: 1e-4, warmupSteps: 100,
      evalEvery: 250, evalBatches: 8, sampleEvery: 500 },
  },
};

export type PresetName = keyof typeof PRESETS;

export function isPresetName(name: string): name is PresetName {
  return Object.prototype.hasOwnProperty.call(PRESETS, name);
}

/** Throws a one-line Error when the config cannot describe a model. */
export function validateConfig(c: GPTConfig): GPTConfig {
  const positiveInt = (name: string, v: unknown): void => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${String(v)}`);
  };
  positiveInt('vocabSize', c.vocabSize);
  positiveInt('contextLength', c.contextLength);
  positiveInt('dim', c.dim);
  positiveInt('heads', c.heads);
  positiveInt('layers', c.layers);
  positiveInt('ffnMult', c.ffnMult);
  if (c.dim % c.heads !== 0) throw new Error(`dim ${c.dim} is not divisible by heads ${c.heads}`);
  if (c.positions === 'sinusoidal' && c.dim % 2 !== 0) throw new Error(`sinusoidal positions need an even dim, got ${c.dim}`);
  if (c.norm !== 'layernorm' && c.norm !== 'rmsnorm') throw new Error(`norm must be layernorm or rmsnorm, got ${String(c.norm)}`);
  if (c.activation !== 'relu' && c.activation !== 'gelu') throw new Error(`activation must be relu or gelu, got ${String(c.activation)}`);
  if (c.positions !== 'learned' && c.positions !== 'sinusoidal') throw new Error(`positions must be learned or sinusoidal, got ${String(c.positions)}`);
  if (typeof c.tieEmbeddings !== 'boolean' || typeof c.bias !== 'boolean' || typeof c.qkvBias !== 'boolean') {
    throw new Error('tieEmbeddings, bias and qkvBias must be booleans');
  }
  if (typeof c.dropout !== 'number' || !(c.dropout >= 0 && c.dropout < 1)) throw new Error(`dropout must be in [0, 1), got ${String(c.dropout)}`);
  return c;
}

/** What a person chose; anything omitted comes from the preset, and steps from the text's size. */
export interface TrainChoices {
  preset?: PresetName | 'auto'; // auto: picked from the text's size
  tokenizer?: string; // omitted or 'auto': the preset's
  steps?: number; // omitted or 0: sized to the text
  batchSize?: number;
  contextLength?: number;
  dim?: number;
  heads?: number;
  layers?: number;
  learningRate?: number;
  evalEvery?: number;
  seed?: number;
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
 * validation loss bottomed after 1250 steps of 1024 tokens, about 28 passes; 25 stops just short of that.
 */
export const PASSES_BEFORE_MEMORISING = 25;
const MIN_SIZED_STEPS = 200;

/** `auto`: tiny (characters, fast) for notes and source files, small up to 1 MB, the classic GPT beyond. */
export function presetForSize(bytes: number): PresetName {
  return bytes < 256 * 1024 ? 'tiny' : bytes < 1024 * 1024 ? 'small' : 'classic';
}

/**
 * A preset plus overrides: the one resolution the CLI and the editor share. The minimum learning rate keeps the
 * preset's ratio to the peak, warm-up is at most a tenth of the run, and with no explicit steps the run is sized to
 * the text so that a small file is not memorised (the preset's steps stay the ceiling).
 */
export function resolveTrainSettings(choices: TrainChoices, text: TextSize | null = null): ResolvedTraining {
  const presetName = choices.preset === undefined || choices.preset === 'auto'
    ? (text ? presetForSize(text.bytes) : 'tiny')
    : choices.preset;
  const preset = PRESETS[presetName];
  const tokenizer = choices.tokenizer && choices.tokenizer !== 'auto' ? choices.tokenizer : preset.tokenizer;
  const model: ModelShape = {
    ...preset.model,
    contextLength: choices.contextLength || preset.model.contextLength,
    dim: choices.dim || preset.model.dim,
    heads: choices.heads || preset.model.heads,
    layers: choices.layers || preset.model.layers,
  };
  const batchSize = choices.batchSize || preset.train.batchSize;
  const why = choices.preset === 'auto' && text ? `auto: ${presetName} for ${formatBytes(text.bytes)}` : presetName;
  let steps = choices.steps || 0;
  let sizing = `${why}; ${steps} steps`;
  if (!steps) {
    if (text) {
      const trainTokens = Math.floor(0.9 * text.countTokens(tokenizer));
      const perStep = batchSize * model.contextLength;
      const sized = Math.round((PASSES_BEFORE_MEMORISING * trainTokens) / perStep);
      steps = Math.max(MIN_SIZED_STEPS, Math.min(preset.train.steps, sized));
      sizing = `${why}; ${steps} steps ≈ ${((steps * perStep) / Math.max(1, trainTokens)).toFixed(0)} passes over ` +
        `${trainTokens.toLocaleString('en-US')} training tokens`;
    } else {
      steps = preset.train.steps;
      sizing = `${why}; ${steps} steps`;
    }
  }
  const learningRate = choices.learningRate ?? preset.train.learningRate;
  const settings: TrainSettings = {
    ...preset.train,
    steps,
    batchSize,
    learningRate,
    minLearningRate: learningRate * (preset.train.minLearningRate / preset.train.learningRate),
    warmupSteps: Math.min(preset.train.warmupSteps, Math.max(1, Math.floor(steps / 10))),
    evalEvery: choices.evalEvery ?? Math.min(preset.train.evalEvery, Math.max(10, Math.round(steps / 8))),
    seed: choices.seed ?? 1337,
  };
  return { preset: presetName, tokenizer, model, settings, sizing };
}

function formatBytes(n: number): string {
  return n < 1024 ? `${n} bytes` : n < 1048576 ? `${(n / 1024).toFixed(0)} KB` : `${(n / 1048576).toFixed(1)} MB`;
}

/** Where the best model of an unfinished run is kept: beside the final file, so a crash or a closed window loses little. */
export function partialPath(out: string): string {
  return out.replace(/(\.safetensors)?$/, '.partial.safetensors');
}
