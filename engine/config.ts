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
