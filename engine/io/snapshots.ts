// Weight snapshots of a training run, kept beside the model file: model.safetensors -> model.snapshots.safetensors.
// Each tensor is float16 (half the memory of the model's float32; about three significant digits, plenty to replay a
// probe at step N), or float32 for a tensor with values beyond float16's range. The model file itself stays a plain
// model that every reader (PyTorch, export) takes as it is.
import { CONFIG_KEYS, type GPTConfig } from '../model/config';
import { paramSpecs } from '../model/params';
import { fitsFloat16, fromFloat16, toFloat16 } from '../common/float16';
import { decodeSafeTensors, encodeSafeTensors, type HalfTensor, type SafeTensor } from './safetensors';
import { readBounded, shown, writeFileAtomic } from './files';
import { type TimelinePoint } from '../protocol';

export const SNAPSHOTS_FORMAT = '1';

export interface Snapshot {
  step: number; // weights after this many optimizer steps; 0 is the initialisation
  loss: number | null; // mean training loss over the steps just before it
  weights: Map<string, HalfTensor | SafeTensor>; // PyTorch layouts, by nanoGPT name
}

/** A run's snapshots, oldest first, and its head-role timeline (finer than the snapshots: scores are small). */
export interface SnapshotSet {
  snapshots: Snapshot[];
  timeline: TimelinePoint[];
}

export class SnapshotFileError extends Error {
  override name = 'SnapshotFileError';
}

/** Where a model file's snapshots live. */
export function snapshotsPath(modelFile: string): string {
  return modelFile.replace(/(\.safetensors)?$/, '.snapshots.safetensors');
}

/** A model's weights (PyTorch layouts) as a snapshot: float16 where every value fits, else float32. */
export function compressWeights(tensors: Map<string, { shape: number[]; data: Float32Array }>): Map<string, HalfTensor | SafeTensor> {
  const out = new Map<string, HalfTensor | SafeTensor>();
  for (const [name, t] of tensors) {
    out.set(name, fitsFloat16(t.data) ? { shape: t.shape, half: toFloat16(t.data) } : { shape: t.shape, data: Float32Array.from(t.data) });
  }
  return out;
}

/** A snapshot's weights back as float32, as GPT.fromTensors takes them. */
export function snapshotWeights(s: Snapshot): Map<string, Float32Array> {
  return new Map([...s.weights].map(([name, t]) => [name, 'half' in t ? fromFloat16(t.half) : t.data]));
}

/** Bytes a snapshot holds. */
export function snapshotBytes(s: Snapshot): number {
  let n = 0;
  for (const t of s.weights.values()) n += 'half' in t ? t.half.byteLength : t.data.byteLength;
  return n;
}

function configKey(config: GPTConfig): string {
  return JSON.stringify(Object.fromEntries(CONFIG_KEYS.map((k) => [k, config[k]])));
}

/** The snapshot file's bytes: tensors `snapshot.{k}.{name}`, and the steps, losses and timeline as metadata. */
export function encodeSnapshots(config: GPTConfig, set: SnapshotSet): Buffer {
  const tensors = new Map<string, HalfTensor | SafeTensor>();
  set.snapshots.forEach((s, k) => {
    for (const [name, t] of s.weights) tensors.set(`snapshot.${k}.${name}`, t);
  });
  return encodeSafeTensors(tensors, {
    'gptlab.snapshots.format': SNAPSHOTS_FORMAT,
    'gptlab.config': configKey(config),
    'gptlab.snapshots': JSON.stringify(set.snapshots.map((s) => ({ step: s.step, loss: s.loss }))),
    'gptlab.timeline': JSON.stringify(set.timeline),
  });
}

/** Parses a snapshot file for a model of this config; every problem is a one-line Error. */
export function decodeSnapshots(bytes: Uint8Array, config: GPTConfig): SnapshotSet {
  const { tensors, halves, metadata } = decodeSafeTensors(bytes, { allowFloat16: true });
  if (metadata['gptlab.snapshots.format'] !== SNAPSHOTS_FORMAT) throw new Error('not a GPT Lab snapshot file of this version');
  if (metadata['gptlab.config'] !== configKey(config)) throw new Error('its snapshots are of a different model (the config differs)');
  let steps: unknown, timeline: unknown;
  try {
    steps = JSON.parse(metadata['gptlab.snapshots'] ?? '');
    timeline = JSON.parse(metadata['gptlab.timeline'] ?? '[]');
  } catch {
    throw new Error('its snapshot metadata is not valid JSON');
  }
  if (!Array.isArray(steps) || !Array.isArray(timeline)) throw new Error('its snapshot metadata is not a list');
  const specs = paramSpecs(config);
  const snapshots = steps.map((entry: unknown, k): Snapshot => {
    const e = entry as { step?: unknown; loss?: unknown };
    if (typeof e !== 'object' || e === null || !Number.isInteger(e.step) || (e.loss !== null && typeof e.loss !== 'number')) {
      throw new Error(`snapshot ${k} has no step`);
    }
    const weights = new Map<string, HalfTensor | SafeTensor>();
    for (const spec of specs) {
      const key = `snapshot.${k}.${spec.name}`;
      const t = halves.get(key) ?? tensors.get(key);
      if (!t) throw new Error(`snapshot ${k} lacks ${spec.name}`);
      if (JSON.stringify(t.shape) !== JSON.stringify(spec.shape)) throw new Error(`snapshot ${k}'s ${spec.name} has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(spec.shape)}`);
      weights.set(spec.name, t);
    }
    return { step: e.step as number, loss: e.loss, weights };
  });
  if (tensors.size + halves.size !== snapshots.length * specs.length) throw new Error('it holds tensors that belong to no snapshot');
  return { snapshots, timeline: timeline as TimelinePoint[] };
}

export function saveSnapshots(file: string, config: GPTConfig, set: SnapshotSet): void {
  writeFileAtomic(file, encodeSnapshots(config, set));
}

/** Loads the snapshots of a model of this config; a file that cannot be used is one SnapshotFileError line. */
export function loadSnapshots(file: string, config: GPTConfig, maxBytes: number): SnapshotSet {
  try {
    return decodeSnapshots(readBounded(file, maxBytes, 'the limit for a model file'), config);
  } catch (e) {
    throw new SnapshotFileError(`the snapshots in ${shown(file)} cannot be used: ${e instanceof Error ? e.message : String(e)}`);
  }
}
