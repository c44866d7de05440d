/**
 * Native fused optimizer helpers for the wasm and cpu backends: the global
 * gradient norm and an in-place AdamW update, each one pass over memory
 * instead of ~13 tfjs elementwise kernels per parameter.
 *
 * Parameters and moment buffers are updated in place in the backend's own
 * memory (wasm heap / cpu typed arrays). That is only done when the tensor's
 * data is not shared (refCount 1); otherwise, or without the addon, the
 * functions return false / null and the caller uses its tfjs path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadNative, type NativeAddon } from '../addon';
import { nativeKernelsInstalled, tensorMemory } from './index';

/** The addon, only while native kernels are installed for the active backend: one switch turns all of them off. */
function addon(): NativeAddon | null {
  if (!nativeKernelsInstalled().includes(tf.getBackend())) return null;
  const a = loadNative();
  return a && typeof a.adamw === 'function' && typeof a.sumSquares === 'function' ? a : null;
}

/** True when the native optimizer path can run on the current backend. */
export function nativeOptimizerAvailable(): boolean {
  const name = tf.getBackend();
  return addon() !== null && (name === 'wasm' || name === 'cpu');
}

/** sum over tensors of sum(x^2), or null when any tensor cannot be read natively. */
export function nativeSumSquares(tensors: readonly tf.Tensor[]): number | null {
  const a = addon();
  if (!a) return null;
  let total = 0;
  for (const t of tensors) {
    const loc = tensorMemory(t);
    if (!loc) return null;
    total += a.sumSquares(loc.arr, loc.off, t.size);
  }
  return total;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1 - beta1^t */
  bc1: number;
  /** sqrt(1 - beta2^t) */
  bc2Sqrt: number;
  /** gradient scale from clipping (1 = none) */
  clip: number;
}

/**
 * In-place AdamW on one parameter: p, m, v are updated in their backend memory.
 * Returns false (and changes nothing) when it cannot run natively.
 */
export function nativeAdamWUpdate(p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, h: AdamWHyper): boolean {
  const a = addon();
  if (!a) return false;
  const lp = tensorMemory(p), lg = tensorMemory(g), lm = tensorMemory(m), lv = tensorMemory(v);
  if (!lp || !lg || !lm || !lv) return false;
  if (g.size !== p.size || m.size !== p.size || v.size !== p.size) return false;
  // Writing in place is only safe when no other tensor shares the memory.
  if (lp.refCount !== 1 || lm.refCount !== 1 || lv.refCount !== 1) return false;
  if (p.dataId === m.dataId || p.dataId === v.dataId || m.dataId === v.dataId) return false;
  // All four may live in the same wasm heap array; offsets keep them apart.
  a.adamw(lp.arr, lp.off, lg.arr, lg.off, lm.arr, lm.off, lv.arr, lv.off, p.size,
    h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.bc1, h.bc2Sqrt, h.clip);
  return true;
}
