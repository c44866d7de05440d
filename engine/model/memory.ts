// Up-front memory estimates: what a model of a given shape costs to build, train or run, checked against the machine
// and the backend before anything is allocated, so a model that cannot fit is refused with the figure instead of
// ending in a V8 fatal error, wasm's "memory access out of bounds" or the OOM killer.
import * as os from 'node:os';
import type { GPTConfig } from './config';
import { formatBytes } from '../common/format';

const F32 = 4;

/** WebAssembly (wasm32) memory is at most 4 GiB: every tfjs tensor under the wasm backend lives in it. */
export const WASM_MEMORY_LIMIT = 4 * 1024 ** 3;

/** Part of physical memory a run may plan to use (the native trainer's own check uses the same share). */
const HOST_SHARE = 0.75;

/** The most a plan may use of wasm's memory: growth and fragmentation need the rest. */
const WASM_SHARE = 0.85;

/** The parameter count a config implies, computed arithmetically (no per-layer lists, so absurd configs stay cheap). */
export function parameterCount(c: Omit<GPTConfig, 'activation' | 'dropout' | 'qkNorm'>): number {
  const D = c.dim, V = c.vocabSize, T = c.contextLength, F = c.ffnMult * c.dim;
  const A = c.heads * c.headDim, C = (c.heads + 2 * c.kvHeads) * c.headDim;
  const norm = c.norm === 'layernorm' && c.bias ? 2 * D : D;
  const attention = norm + C * D + (c.qkvBias ? C : 0) + D * A + (c.bias ? D : 0);
  const mlp = F === 0 ? 0 : norm + F * D + (c.bias ? F : 0) + D * F + (c.bias ? D : 0);
  return V * D + (c.positions === 'learned' ? T * D : 0) + c.layers * (attention + mlp) + norm + (c.tieEmbeddings ? 0 : V * D) + (c.bias ? V : 0);
}

/** Floats a forward pass over [B, T] keeps alive (what a backward pass needs), plus the [T, T] mask. */
function activationFloats(c: GPTConfig, B: number, T: number): number {
  const D = c.dim, F = c.ffnMult * c.dim, H = c.heads, V = c.vocabSize;
  const A = H * c.headDim, C = (H + 2 * c.kvHeads) * c.headDim;
  const perLayer = B * T * (10 * D + C + A + 2 * F) + 2 * B * H * T * T; // 14 BTD + 2 BTF for a standard block
  return c.layers * perLayer + 3 * B * T * D + 3 * B * T * V;
}

/** Fixed per-model tensors: the causal mask (built through two [T, T] temporaries) and a sinusoidal or rotary table. */
function fixedFloats(c: GPTConfig): number {
  const T = c.contextLength;
  return 3 * T * T + (c.positions === 'sinusoidal' ? T * c.dim : c.positions === 'rope' ? T * c.headDim : 0);
}

export type EstimatePath = 'native' | 'tfjs' | 'wasm' | 'webgpu';

export interface MemoryEstimate {
  parameters: number;
  /** Bytes in the process (JavaScript, native and wasm memory together). */
  hostBytes: number;
  /** Bytes that must fit in WebAssembly memory (tfjs tensors under the wasm backend, or a wasm trainer). */
  wasmBytes: number;
}

/**
 * Training cost: the model's weights in tfjs, plus gradients and AdamW's two moments, plus activations for one
 * [B, T] batch, on the path in use. The native trainer keeps its own copy of the weights, gradients and moments in
 * native memory; the tfjs path keeps everything as tensors (under the wasm backend: inside wasm's 4 GiB) and needs
 * the activations twice (forward values and their gradients).
 */
export function estimateTraining(c: GPTConfig, batchSize: number, path: EstimatePath, wasmBackend: boolean): MemoryEstimate {
  const P = parameterCount(c);
  const act = activationFloats(c, batchSize, c.contextLength);
  const tfModel = (P + fixedFloats(c)) * F32 * 2; // weights, and the initialiser's temporaries
  if (path === 'native') {
    const native = P * F32 * 4 + act * F32; // flat weights, gradients, two moments; the activation arena
    return { parameters: P, hostBytes: tfModel + native, wasmBytes: wasmBackend ? tfModel : 0 };
  }
  // WebGPU keeps weights, gradients, moments and activations on the device (checked there against the adapter's
  // limits); the host holds the tfjs model and one flat copy of the weights.
  if (path === 'webgpu') return { parameters: P, hostBytes: tfModel + P * F32, wasmBytes: wasmBackend ? tfModel : 0 };
  const tensors = tfModel + P * F32 * 3 + 2 * act * F32; // + gradients and moments; activations and their gradients
  if (path === 'wasm') return { parameters: P, hostBytes: tfModel + P * F32 * 4 + act * F32, wasmBytes: P * F32 * 4 + act * F32 };
  return { parameters: P, hostBytes: tensors, wasmBytes: wasmBackend ? tensors : 0 };
}

/** Running a loaded model: the file's bytes and the weights (held about three times while loading), and one forward pass over the full context with attention maps. */
export function estimateInference(c: GPTConfig): MemoryEstimate {
  const P = parameterCount(c);
  const bytes = (3 * P + fixedFloats(c) + activationFloats(c, 1, c.contextLength)) * F32;
  return { parameters: P, hostBytes: bytes, wasmBytes: bytes };
}

function formatCount(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n.toLocaleString('en-US');
}

/** Host memory a plan may use: a share of physical memory. */
export function hostBudget(): number {
  return HOST_SHARE * os.totalmem();
}

/**
 * Null when the estimate fits, else one line saying what it needs and what there is. `what` names the work
 * ("training this model", "this model").
 */
export function memoryProblem(e: MemoryEstimate, what: string): string | null {
  const host = hostBudget();
  if (!Number.isFinite(e.hostBytes) || e.hostBytes > host) {
    return `${what} needs about ${formatBytes(e.hostBytes)} of memory (${formatCount(e.parameters)} parameters) but this machine has ` +
      `${formatBytes(os.totalmem())}`;
  }
  if (e.wasmBytes > WASM_SHARE * WASM_MEMORY_LIMIT) {
    return `${what} needs about ${formatBytes(e.wasmBytes)} of WebAssembly memory (${formatCount(e.parameters)} parameters) but ` +
      `the wasm backend is limited to ${formatBytes(WASM_MEMORY_LIMIT)}`;
  }
  return null;
}
