// Picks the fastest TensorFlow.js backend that loads here, and always says which one it got. tfjs itself keeps the
// active backend process-wide; which one an engine asked for, and what it got, is the compute plan's (plan.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { installNativeKernels, uninstallNativeKernels } from './kernels';
import type { MatMulMode } from '../model/gpt';
import { type BackendReport, type BackendRequest } from '../protocol';

export interface BackendOptions {
  /** Use the native N-API kernels under wasm/cpu when the addon loads (default: unless GPTLAB_NATIVE=0). */
  native?: boolean;
}

/** The native TensorFlow bindings: the GPU build first, then the CPU build. Both are optional dependencies. */
function loadTensorflowBinding(): string {
  const errors: string[] = [];
  // Literal requires, so that bundlers leave both as run-time externals.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const candidates: [string, () => unknown][] = [
    ['@tensorflow/tfjs-node-gpu', (): unknown => require('@tensorflow/tfjs-node-gpu')],
    ['@tensorflow/tfjs-node', (): unknown => require('@tensorflow/tfjs-node')],
  ];
  /* eslint-enable @typescript-eslint/no-require-imports */
  for (const [pkg, load] of candidates) {
    try {
      load();
      return pkg;
    } catch (e) {
      errors.push(`${pkg}: ${firstLine(e)}`);
    }
  }
  throw new Error(`TensorFlow bindings are not installed (${errors.join('; ')})`);
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0];
}

/** In a webpack bundle the .wasm files sit next to the bundle; from tsc output tfjs finds its own. */
function configureWasmPaths(): void {
  const bundled = path.join(__dirname, 'tfjs-backend-wasm-simd.wasm');
  if (fs.existsSync(bundled)) setWasmPaths(__dirname + path.sep);
}

async function activate(name: BackendReport['name']): Promise<string> {
  if (name === 'tensorflow') {
    const pkg = loadTensorflowBinding();
    if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} loaded but its backend failed to initialise`);
    return pkg;
  }
  if (name === 'wasm') {
    configureWasmPaths();
    if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialise');
    return 'wasm';
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend failed to initialise');
  return 'cpu (plain JavaScript)';
}

/**
 * auto: tensorflow (GPU, then CPU bindings), then wasm, then cpu. An explicit request that cannot load is an error.
 * Activating the backend that is already active costs nothing, so each engine start simply asks again.
 */
export async function selectBackend(requested: BackendRequest = 'auto', options: BackendOptions = {}): Promise<BackendReport> {
  const wantNative = options.native ?? process.env.GPTLAB_NATIVE !== '0';
  const order: BackendReport['name'][] = requested === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [requested];
  const tried: string[] = [];
  for (const name of order) {
    try {
      const detail = await activate(name);
      await tf.ready();
      const kernels = name === 'tensorflow' ? null : wantNative ? installNativeKernels(name) : (uninstallNativeKernels(name), null);
      return { name, requested, detail, tried, kernels };
    } catch (e) {
      if (requested !== 'auto') throw new Error(`backend "${requested}" is not available: ${firstLine(e)}`);
      tried.push(`${name}: ${firstLine(e)}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could be loaded (${tried.join('; ')})`);
}

/** Native kernels and TensorFlow take transposed operands at full speed; the stock wasm/cpu ones need explicit transposes. */
export function matMulModeFor(r: BackendReport): MatMulMode {
  return r.name === 'tensorflow' || r.kernels?.native ? 'transpose-flags' : 'explicit-transposes';
}

/** One line for people: "wasm (native AVX-512 matmul, 2 threads)". */
export function describeBackend(r: BackendReport): string {
  const k = r.kernels;
  const native = k?.native ? ` + native ${k.isa} matmul, ${k.threads} thread${k.threads === 1 ? '' : 's'}` : r.name === 'tensorflow' ? '' : ' (no native kernels)';
  return `${r.name}: ${r.detail}${native}`;
}
