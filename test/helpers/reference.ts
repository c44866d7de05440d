// Shared helpers for the tests that compare the engine with the PyTorch reference (test/reference/).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import { installNativeKernels, uninstallNativeKernels } from '../../engine/compute/kernels/index';
import { loadNative } from '../../engine/compute/addon';
import type { MatMulMode } from '../../engine/model/gpt';
import { decodeSafeTensors, type SafeTensor } from '../../engine/io/safetensors';

/** The repository root, from out/test/helpers/ (compiled) or test/helpers/ (source). */
export const ROOT = path.resolve(__dirname, '..', '..', path.basename(path.resolve(__dirname, '..', '..')) === 'out' ? '..' : '.');

/** The committed fixtures, or GPTLAB_REFERENCE_FIXTURES (a freshly generated copy; relative to the repo root). */
export const FIXTURE_DIR = path.resolve(ROOT, process.env.GPTLAB_REFERENCE_FIXTURES ?? path.join('test', 'fixtures', 'reference'));

export const PYTHON = process.env.GPTLAB_PYTHON ?? '/usr/bin/python3';
export const REFERENCE_DIR = path.join(ROOT, 'test', 'reference');

export interface Fixture {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

export function readFixture(file: string): Fixture {
  return decodeSafeTensors(fs.readFileSync(path.join(FIXTURE_DIR, file)));
}

export function fixtureBytes(file: string): Buffer {
  return fs.readFileSync(path.join(FIXTURE_DIR, file));
}

export function tensorOf(f: Fixture, name: string): SafeTensor {
  const t = f.tensors.get(name);
  if (!t) throw new Error(`fixture has no tensor ${name}`);
  return t;
}

/** Token ids stored as floats -> Int32Array (checks they are whole numbers). */
export function idsOf(t: SafeTensor): Int32Array {
  return Int32Array.from(t.data, (v) => {
    if (!Number.isInteger(v)) throw new Error(`id ${v} is not an integer`);
    return v;
  });
}

/** max |a - b| over all elements (float64 accumulation); lengths must match. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Relative error in the max norm: max|a - ref| / max|ref|. */
export function relMaxErr(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  const scale = maxAbs(ref);
  const d = maxAbsDiff(a, ref);
  return scale === 0 ? d : d / scale;
}

export function l2(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** A way to run the engine: a tfjs backend with its stock kernels, or with the native matmul kernels installed. */
export interface EngineMode {
  label: string; // "cpu", "wasm", "cpu+native", "wasm+native"
  backend: 'cpu' | 'wasm';
  native: boolean;
}

/** cpu and wasm with stock kernels, plus both with native kernels when the addon loads (GPTLAB_NATIVE=0 skips those). */
export function engineModes(): EngineMode[] {
  const modes: EngineMode[] = [
    { label: 'cpu', backend: 'cpu', native: false },
    { label: 'wasm', backend: 'wasm', native: false },
  ];
  if (process.env.GPTLAB_NATIVE !== '0' && loadNative()) {
    modes.push({ label: 'cpu+native', backend: 'cpu', native: true }, { label: 'wasm+native', backend: 'wasm', native: true });
  }
  return modes;
}

/**
 * Activates a mode and returns how models built in it multiply (pass it to decodeModel, loadModel or GPT.init). The
 * kernel state is set explicitly after selectBackend, so the mode is exactly what it says whatever selectBackend's own
 * default about native kernels is.
 */
export async function useMode(m: EngineMode): Promise<MatMulMode> {
  await selectBackend(m.backend);
  if (tf.getBackend() !== m.backend) throw new Error(`asked for ${m.backend}, got ${tf.getBackend()}`);
  if (m.native) {
    const r = installNativeKernels(m.backend);
    if (!r.native) throw new Error(`native kernels did not install on ${m.backend}`);
    return 'transpose-flags';
  }
  uninstallNativeKernels(m.backend);
  return 'explicit-transposes';
}

/** Whether `/usr/bin/python3 -c 'import torch'` works; the reason when it does not. */
export function torchAvailable(): { ok: true } | { ok: false; reason: string } {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) return { ok: false, reason: `${PYTHON} cannot run: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, reason: `${PYTHON} -c 'import torch' failed: ${(r.stderr || '').trim().split('\n').pop() ?? ''}` };
  return { ok: true };
}

/** Runs a Python script and parses the last line of its stdout as JSON. */
export function runPythonJson(script: string, args: string[]): unknown {
  const r = spawnSync(PYTHON, [path.join(REFERENCE_DIR, script), ...args], { encoding: 'utf8', timeout: 600_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${script} exited ${r.status}: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

/** A row of the measured-error table printed at the end of a test file. */
export interface Measurement {
  check: string;
  variant: string;
  mode: string;
  value: number;
  limit: number;
}

export function formatMeasurements(rows: Measurement[]): string {
  const w = [0, 0, 0];
  for (const r of rows) {
    w[0] = Math.max(w[0], r.check.length);
    w[1] = Math.max(w[1], r.variant.length);
    w[2] = Math.max(w[2], r.mode.length);
  }
  return rows.map((r) => `${r.check.padEnd(w[0])}  ${r.variant.padEnd(w[1])}  ${r.mode.padEnd(w[2])}  ${r.value.toExponential(2)}  (limit ${r.limit.toExponential(0)})`).join('\n');
}
