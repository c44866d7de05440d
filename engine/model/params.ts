// The model's parameter list in nanoGPT / GPT-2 names and PyTorch layouts.
// This is the single source of truth for the model file, the initialiser and the PyTorch reference scripts.
import type { GPTConfig } from './config';

export interface ParamSpec {
  name: string; // nanoGPT name, e.g. transformer.h.0.attn.c_attn.weight
  shape: number[]; // PyTorch layout: nn.Linear weights are [out, in]
  init: 'normal' | 'residual' | 'zeros' | 'ones'; // residual: GPT-2's scaled c_proj, std residualStd(config)
}

export function paramSpecs(c: GPTConfig): ParamSpec[] {
  const D = c.dim, V = c.vocabSize, T = c.contextLength, F = c.ffnMult * c.dim;
  const A = c.heads * c.headDim, C = (c.heads + 2 * c.kvHeads) * c.headDim; // attention width; q, k, v together
  const specs: ParamSpec[] = [];
  const add = (name: string, shape: number[], init: ParamSpec['init']): void => {
    specs.push({ name, shape, init });
  };
  const norm = (prefix: string): void => {
    add(`${prefix}.weight`, [D], 'ones');
    if (c.norm === 'layernorm' && c.bias) add(`${prefix}.bias`, [D], 'zeros');
  };
  add('transformer.wte.weight', [V, D], 'normal');
  if (c.positions === 'learned') add('transformer.wpe.weight', [T, D], 'normal');
  for (let i = 0; i < c.layers; i++) {
    const h = `transformer.h.${i}`;
    norm(`${h}.ln_1`);
    // rows: q (H*hs), k (KV*hs), v (KV*hs); heads contiguous within each
    add(`${h}.attn.c_attn.weight`, [C, D], 'normal');
    if (c.qkvBias) add(`${h}.attn.c_attn.bias`, [C], 'zeros');
    add(`${h}.attn.c_proj.weight`, [D, A], 'residual');
    if (c.bias) add(`${h}.attn.c_proj.bias`, [D], 'zeros');
    if (F === 0) continue; // attention-only block
    norm(`${h}.ln_2`);
    add(`${h}.mlp.c_fc.weight`, [F, D], 'normal');
    if (c.bias) add(`${h}.mlp.c_fc.bias`, [F], 'zeros');
    add(`${h}.mlp.c_proj.weight`, [D, F], 'residual');
    if (c.bias) add(`${h}.mlp.c_proj.bias`, [D], 'zeros');
  }
  norm('transformer.ln_f');
  if (!c.tieEmbeddings) add('lm_head.weight', [V, D], 'normal');
  if (c.bias) add('lm_head.bias', [V], 'zeros');
  return specs;
}

/** nn.Linear weights are stored [out, in] in files; the engine keeps them [in, out] so matmuls need no transpose. */
export function isLinearWeight(name: string): boolean {
  return /\.(c_attn|c_proj|c_fc)\.weight$/.test(name) || name === 'lm_head.weight';
}

/** GPT-2's std for the projections into the residual stream: 0.02/sqrt(branches), two per block (one without the MLP). */
export function residualStd(c: Pick<GPTConfig, 'layers' | 'ffnMult'>): number {
  return 0.02 / Math.sqrt((c.ffnMult > 0 ? 2 : 1) * c.layers);
}
