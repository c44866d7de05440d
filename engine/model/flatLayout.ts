// The flat parameter layout the compiled trainers (the N-API addon, its wasm build, WebGPU) share: every tensor of
// paramSpecs back to back in the model file's order and PyTorch layouts, and the slot table native/src/gpt.h reads.
import type { GPTConfig } from './config';
import type { GPT } from './gpt';
import { paramSpecs } from './params';

// Slot order of native/src/gpt.h: GlobalTensor, then LayerTensor per layer.
const GLOBAL_SLOTS = ['transformer.wte.weight', 'transformer.wpe.weight', 'transformer.ln_f.weight', 'transformer.ln_f.bias',
  'lm_head.weight', 'lm_head.bias'];
const LAYER_SLOTS = ['ln_1.weight', 'ln_1.bias', 'attn.c_attn.weight', 'attn.c_attn.bias', 'attn.c_proj.weight',
  'attn.c_proj.bias', 'ln_2.weight', 'ln_2.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias'];

export interface FlatLayout {
  /** Where each tensor starts in the flat buffer, by nanoGPT name, in paramSpecs order. */
  offsets: Map<string, { offset: number; size: number }>;
  /** The native slot table: GLOBAL_SLOTS then LAYER_SLOTS per layer, -1 for absent tensors. */
  slots: Float64Array;
  size: number;
}

/** The flat layout of a config's parameters: paramSpecs order, PyTorch shapes, back to back. */
export function flatLayout(config: GPTConfig): FlatLayout {
  const offsets = new Map<string, { offset: number; size: number }>();
  let size = 0;
  for (const spec of paramSpecs(config)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    offsets.set(spec.name, { offset: size, size: n });
    size += n;
  }
  const names = [...GLOBAL_SLOTS];
  for (let l = 0; l < config.layers; l++) for (const s of LAYER_SLOTS) names.push(`transformer.h.${l}.${s}`);
  const slots = Float64Array.from(names, (name) => offsets.get(name)?.offset ?? -1);
  return { offsets, slots, size };
}

/** Copies a model's weights into one flat buffer (PyTorch layouts). */
export function flattenWeights(model: GPT, layout: FlatLayout): Float32Array {
  const flat = new Float32Array(layout.size);
  for (const [name, t] of model.toTensors()) flat.set(t.data, layout.offsets.get(name)!.offset);
  return flat;
}

/** The tensors of a flat buffer, by name (views, not copies). */
export function unflatten(flat: Float32Array, layout: FlatLayout): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, { offset, size }] of layout.offsets) out.set(name, flat.subarray(offset, offset + size));
  return out;
}
