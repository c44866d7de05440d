// Which GPT Lab models GPT-2's architecture can hold exactly: Hugging Face's GPT2LMHeadModel and nanoGPT's GPT are
// both GPT-2 (pre-LayerNorm, exact-erf GELU here, learned positions, tied embeddings, no output bias). An export that
// would change what the model computes is refused with one line naming each switch, never written approximately.
// The check goes over every field of the config, so a switch added later is refused until a rule here says what its
// GPT-2 value is.
import type { GPTConfig } from '../model/config';

export type ExportTarget = 'nanogpt' | 'hf';

/** Fields that size the model, which GPT-2 takes at any value. */
const SIZES = new Set(['vocabSize', 'contextLength', 'dim', 'heads', 'layers', 'dropout']);

type Rule = (c: Record<string, unknown>, target: ExportTarget) => string | null;

/** For each switch: null when its value is GPT-2's (for this target), else why not. */
const RULES: Record<string, Rule> = {
  norm: (c) => (c.norm === 'layernorm' ? null : 'GPT-2 normalises with LayerNorm'),
  activation: (c) => (c.activation === 'gelu' ? null : 'GPT-2\'s MLP uses GELU'),
  positions: (c) => (c.positions === 'learned' ? null : 'GPT-2 learns its position embeddings (wpe)'),
  tieEmbeddings: (c) => (c.tieEmbeddings === true ? null : 'GPT-2 ties its output layer to the token embeddings'),
  // nanoGPT's MLP is 4x wide; Hugging Face's GPT-2 takes any width (n_inner) but not none (attention-only blocks)
  ffnMult: (c, t) => (c.ffnMult === 4 || (t === 'hf' && typeof c.ffnMult === 'number' && c.ffnMult > 0) ? null : 'nanoGPT\'s MLP is 4 times as wide as the model'),
  // GPT-2's output layer has no bias; nanoGPT takes one with the small patch export writes beside the checkpoint
  bias: (c, t) => (c.bias === false || t === 'nanogpt' ? null : 'it puts a bias on the output layer (lm_head.bias), which GPT-2 does not have'),
  qkvBias: () => null, // a missing bias is written as zeros: the same function
  // Switches of the same family, at their GPT-2 values (absent in older model files).
  kvHeads: (c) => (c.kvHeads === undefined || c.kvHeads === c.heads ? null : 'GPT-2 gives every head its own keys and values'),
  headDim: (c) => (c.headDim === undefined || c.headDim === (c.dim as number) / (c.heads as number) ? null : 'GPT-2\'s head size is dim / heads'),
  qkNorm: (c) => (c.qkNorm === undefined || c.qkNorm === false || c.qkNorm === 'none' ? null : 'GPT-2 does not normalise queries and keys'),
};

/**
 * Null when the target holds this config exactly, else one line naming every switch it cannot hold, e.g.
 * "norm=rmsnorm (GPT-2 normalises with LayerNorm); positions=rope (...)".
 */
export function gpt2Problem(config: GPTConfig, target: ExportTarget): string | null {
  const c = config as unknown as Record<string, unknown>;
  const problems: string[] = [];
  for (const [key, value] of Object.entries(c)) {
    if (SIZES.has(key) || value === undefined) continue;
    const rule = RULES[key];
    const why = rule ? rule(c, target) : 'no GPT-2 equivalent is known to this export';
    if (why) problems.push(`${key}=${typeof value === 'string' ? value : JSON.stringify(value)} (${why})`);
  }
  return problems.length ? problems.join('; ') : null;
}
