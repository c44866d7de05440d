// The wasm training path: native/src's NativeGPT compiled to WebAssembly with pthreads (scripts/build-wasm.js), in two
// builds: wasm-fma (relaxed SIMD: the GEMM's multiply-adds fused, where the runtime has relaxed SIMD) and wasm-simd
// (SIMD128: every runtime), one .wasm file each, both loaded by the one Emscripten glue (gptlab_trainer.js and its
// worker): the builds' glue differs only in the file names it would fetch, and it fetches nothing here (the module
// is compiled here and handed to it). Each is wrapped in a class with the addon NativeGPT's interface (addon.ts's
// NativeGPTHandle), decoding included. The universal fast path where no prebuilt addon matches the platform, or the
// addon failed its self-check. Loaded only from GPT Lab's own package folder, or where GPTLAB_WASM_PATH says.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import type { GPTConfig } from '../model/config';
import { OUT_OF_MEMORY_CODE, packAdamWStep, packageFile, runSelfCheck, type AdamWStep, type NativeGPTConstructor,
  type NativeGPTHandle } from './addon';

/** The builds in native/wasm/, best first. */
export const WASM_BUILDS = [
  { name: 'wasm-fma', file: 'gptlab_trainer_fma.wasm', isa: 'wasm-relaxed-simd' },
  { name: 'wasm-simd', file: 'gptlab_trainer.wasm', isa: 'wasm-simd128' },
] as const;
export type WasmBuildName = (typeof WASM_BUILDS)[number]['name'];
const WASM_DIR = path.join('native', 'wasm');
/** The glue every build loads through, beside the .wasm files (with gptlab_trainer.worker.js, its threads' script). */
const GLUE = 'gptlab_trainer.js';

// The engine's TypeScript lib has no WebAssembly declarations (they come with the DOM lib); the little used here.
interface WasmMemory { readonly buffer: ArrayBuffer }
type WasmCompiled = object;
interface WasmInstance { readonly exports: object }
const WA = (globalThis as unknown as { WebAssembly: {
  Module: new (bytes: Uint8Array) => WasmCompiled;
  Instance: new (module: WasmCompiled, imports: object) => WasmInstance;
  validate(bytes: Uint8Array): boolean;
} }).WebAssembly;

/** The Emscripten module's parts that this file uses (native/src/gpt_wasm.cc's exports). */
interface WasmModule {
  wasmMemory: WasmMemory;
  PThread: { unusedWorkers: { unref(): void }[]; runningWorkers: { unref(): void }[] };
  UTF8ToString(ptr: number): string;
  _gptlab_init(threads: number): void;
  _gptlab_info(out: number): number;
  _gptlab_create(shape: number, offsets: number, noffsets: number, params: number, nparams: number, out: number,
    error: number, errorLen: number): number;
  _gptlab_destroy(m: number): void;
  _gptlab_loss(m: number, idx: number, targets: number, B: number, T: number, out: number, error: number, errorLen: number): number;
  _gptlab_loss_and_gradients(m: number, idx: number, targets: number, B: number, T: number, seed: number, out: number,
    error: number, errorLen: number): number;
  _gptlab_step(m: number, idx: number, targets: number, B: number, T: number, settings: number, out: number, error: number,
    errorLen: number): number;
  _gptlab_forward_layers(m: number, idx: number, B: number, T: number, layers: number, error: number, errorLen: number): number;
  _gptlab_forward_layers_done(m: number): number;
  _gptlab_decode(m: number, ids: number, n: number, out: number, error: number, errorLen: number): number;
  _gptlab_row_losses(m: number, idx: number, targets: number, B: number, T: number, losses: number, error: number,
    errorLen: number): number;
  _gptlab_row_scores(m: number, idx: number, targets: number, B: number, T: number, losses: number, entropies: number,
    error: number, errorLen: number): number;
  _gptlab_reset_cache(m: number): void;
  _gptlab_cached(m: number): number;
  _gptlab_gradients(m: number): number;
  _gptlab_logits(m: number): number;
  _gptlab_attention(m: number, l: number): number;
  _gptlab_residual(m: number, l: number): number;
  _gptlab_rows(m: number): number;
  _gptlab_batch(m: number): number;
  _gptlab_time(m: number): number;
  _gptlab_set_threads(m: number, n: number): void;
  _gptlab_malloc(bytes: number): number;
  _gptlab_free(p: number): void;
}

export interface WasmInfo {
  /** "wasm-fma" or "wasm-simd" */
  name: WasmBuildName;
  isa: string;
  maxThreads: number;
  file: string;
}

interface LoadedBuild {
  module: WasmModule;
  info: WasmInfo;
}

/** Each build loads at most once per process; a failure is kept as its one-line reason. */
const builds = new Map<WasmBuildName, Promise<LoadedBuild | string>>();
let loading: Promise<WasmModule | null> | null = null;
let chosen: LoadedBuild | null = null;
let loadError: string | undefined;

/**
 * One function, f32x4.relaxed_madd over three v128 parameters (37 bytes): valid exactly where the runtime compiles
 * relaxed SIMD.
 */
const RELAXED_SIMD_PROBE = Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10,
  13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11);

/**
 * Whether this runtime runs relaxed SIMD. Node 22 and Electron (VS Code) have it on; Node 20's V8 has it behind a flag,
 * which is turned on here, before the build is compiled (worker threads started later inherit it).
 */
export function relaxedSimdAvailable(): boolean {
  if (WA.validate(RELAXED_SIMD_PROBE)) return true;
  try {
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return WA.validate(RELAXED_SIMD_PROBE);
}

/**
 * A build's .wasm file (native/wasm/<file> in the package folder) when the glue is beside it, or null.
 * GPTLAB_WASM_PATH overrides the folder: a folder holding the builds and the glue, or one build's .wasm file (then
 * only that build is found).
 */
export function findWasmTrainerPath(build: WasmBuildName = 'wasm-simd'): string | null {
  const file = WASM_BUILDS.find((b) => b.name === build)!.file;
  const override = process.env.GPTLAB_WASM_PATH;
  let found: string | null;
  if (!override) found = packageFile(path.join(WASM_DIR, file));
  else if (fs.existsSync(override) && fs.statSync(override).isDirectory()) found = path.resolve(override, file);
  else found = path.basename(override) === file ? path.resolve(override) : null;
  return found !== null && fs.existsSync(found) && fs.existsSync(path.join(path.dirname(found), GLUE)) ? found : null;
}

/** Threads the wasm pool uses: GPTLAB_THREADS, else the cores. */
function wasmThreads(): number {
  const env = Number(process.env.GPTLAB_THREADS);
  if (Number.isInteger(env) && env > 0) return Math.min(env, 64);
  return Math.max(1, Math.min(64, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length));
}

async function instantiate(wasmFile: string): Promise<WasmModule> {
  // Compiled here, synchronously, and handed to the glue: Emscripten 3.1.6 would fetch() a path, which Node refuses.
  // The glue's factory makes a new instance on every call, so both builds can load in one process.
  const module = new WA.Module(fs.readFileSync(wasmFile));
  const glue = path.join(path.dirname(wasmFile), GLUE);
  const factory = createRequire(glue)(glue) as (m: object) => Promise<WasmModule>;
  const threads = wasmThreads();
  const m = await factory({
    // At least one: with none, Emscripten 3.1.6 never finishes loading (it counts loaded workers down to zero).
    gptlabWorkers: Math.max(1, threads - 1),
    instantiateWasm(imports: object, receive: (i: WasmInstance, m: WasmCompiled) => void) {
      const instance = new WA.Instance(module, imports);
      receive(instance, module);
      return instance.exports;
    },
    print: () => undefined,
    printErr: () => undefined,
  });
  m._gptlab_init(threads);
  // The pool's workers must not keep the process alive.
  for (const w of [...m.PThread.unusedWorkers, ...m.PThread.runningWorkers]) w.unref();
  return m;
}

/** Loads one build and self-checks it: the build, or a one-line reason. */
async function loadBuild(build: WasmBuildName): Promise<LoadedBuild | string> {
  try {
    const spec = WASM_BUILDS.find((b) => b.name === build)!;
    const file = findWasmTrainerPath(build);
    if (!file) return `${build}: ${path.join(WASM_DIR, spec.file)} or its ${GLUE} not found (run npm run build:wasm)`;
    if (build === 'wasm-fma' && !relaxedSimdAvailable()) return `${build}: this runtime has no relaxed SIMD`;
    const m = await instantiate(file);
    const out = m._gptlab_malloc(24);
    const kernels = m.UTF8ToString(m._gptlab_info(out));
    const maxThreads = new Float64Array(m.wasmMemory.buffer, out, 3)[0];
    m._gptlab_free(out);
    const failed = runSelfCheck(wasmClass(m, true), 'wasm');
    if (failed) return `${build} refused: ${failed}`;
    return { module: m, info: { name: build, isa: `${spec.isa} (${kernels} kernels)`, maxThreads, file } };
  } catch (e) {
    return `${build}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  }
}

function loadOnce(build: WasmBuildName): Promise<LoadedBuild | string> {
  let p = builds.get(build);
  if (!p) builds.set(build, (p = loadBuild(build)));
  return p;
}

/** The builds to try, best first: GPTLAB_WASM_BUILD=wasm-simd|wasm-fma names one. */
function candidates(): WasmBuildName[] {
  const forced = process.env.GPTLAB_WASM_BUILD;
  if (!forced) return WASM_BUILDS.map((b) => b.name);
  const named = WASM_BUILDS.find((b) => b.name === forced);
  if (!named) throw new Error(`GPTLAB_WASM_BUILD must be ${WASM_BUILDS.map((b) => b.name).join(' or ')}, not "${forced}"`);
  return [named.name];
}

/**
 * Loads the best wasm build that this runtime runs and that passes its self-check (wasm-fma, then wasm-simd), once;
 * resolves to null (never rejects) when none does or GPTLAB_WASM=0 disables them. lastWasmLoadError() says why.
 */
export function loadWasmTrainer(): Promise<WasmModule | null> {
  if (loading) return loading;
  loading = (async () => {
    if (process.env.GPTLAB_WASM === '0') {
      loadError = 'disabled by GPTLAB_WASM=0';
      return null;
    }
    let names: WasmBuildName[];
    try {
      names = candidates();
    } catch (e) {
      loadError = (e as Error).message;
      return null;
    }
    const reasons: string[] = [];
    for (const build of names) {
      const r = await loadOnce(build);
      if (typeof r !== 'string') {
        chosen = r;
        loadError = undefined;
        return r.module;
      }
      reasons.push(r);
    }
    loadError = reasons.join('; ');
    return null;
  })();
  return loading;
}

/**
 * One build's NativeGPT class, whatever loadWasmTrainer() chose (tests and benchmarks compare the two), or its
 * one-line reason.
 */
export async function loadWasmBuild(build: WasmBuildName, options: { liveParams?: boolean } = {}):
  Promise<{ cls: NativeGPTConstructor; info: WasmInfo } | string> {
  const r = await loadOnce(build);
  return typeof r === 'string' ? r : { cls: wasmClass(r.module, options.liveParams ?? true), info: r.info };
}

export function lastWasmLoadError(): string | undefined {
  return loadError;
}

/** Set once loadWasmTrainer() has resolved with a build. */
export function wasmTrainerInfo(): WasmInfo | null {
  return chosen?.info ?? null;
}

/**
 * The wasm NativeGPT class once loadWasmTrainer() has succeeded, else null. With liveParams (the default, the addon's
 * contract) the caller's params array is updated after every step; without, only by syncParams() (the trainer's use:
 * it saves a copy of every weight per step).
 */
export function wasmGPTClass(options: { liveParams?: boolean } = {}): NativeGPTConstructor | null {
  return chosen ? wasmClass(chosen.module, options.liveParams ?? true) : null;
}

const ERROR_LEN = 512;

function wasmClass(m: WasmModule, liveParams: boolean): NativeGPTConstructor {
  // Pointers come back from wasm as signed 32-bit numbers: those past 2 GB are negative until made unsigned.
  const f32 = (ptr: number, n: number): Float32Array => new Float32Array(m.wasmMemory.buffer, ptr >>> 0, n);
  const f64 = (ptr: number, n: number): Float64Array => new Float64Array(m.wasmMemory.buffer, ptr >>> 0, n);
  const i32 = (ptr: number, n: number): Int32Array => new Int32Array(m.wasmMemory.buffer, ptr >>> 0, n);
  const alloc = (bytes: number): number => {
    const p = m._gptlab_malloc(Math.max(bytes, 8)) >>> 0;
    if (!p) {
      const e = new Error(`the wasm trainer could not allocate ${(bytes / 1e9).toFixed(1)} GB (its memory is at most 4 GB)`);
      (e as { code?: string }).code = OUT_OF_MEMORY_CODE;
      throw e;
    }
    return p;
  };

  return class WasmGPT implements NativeGPTHandle {
    private handle = 0;
    private readonly V: number;
    private readonly T: number;
    private readonly H: number;
    private readonly N: number;
    private readonly D: number;
    private readonly nparams: number;
    private readonly paramsPtr: number;
    private readonly scratch: number; // error text, then 16 doubles of settings/results
    private batchPtr = 0;
    private batchCap = 0;

    constructor(shape: GPTConfig, offsets: Float64Array, private readonly params: Float32Array) {
      if (!(offsets instanceof Float64Array)) throw new TypeError('NativeGPT: offsets must be a Float64Array');
      if (!(params instanceof Float32Array)) throw new TypeError('NativeGPT: params must be a Float32Array');
      const known = (x: string, ok: string[]): boolean => ok.includes(x);
      const positions = ['sinusoidal', 'learned', 'rope', 'none']; // codes 0..3 of gpt_wasm.cc's shape[8]
      if (!known(shape.norm, ['layernorm', 'rmsnorm']) || !known(shape.activation, ['relu', 'gelu']) ||
        !known(shape.positions, positions)) throw new TypeError('NativeGPT: unknown norm, activation or positions');
      this.V = shape.vocabSize;
      this.T = shape.contextLength;
      this.H = shape.heads;
      this.N = shape.layers;
      this.D = shape.dim;
      this.nparams = params.length;
      this.scratch = alloc(ERROR_LEN + 16 * 8 + offsets.length * 8 + 8);
      this.paramsPtr = alloc(4 * params.length);
      f32(this.paramsPtr, params.length).set(params);
      const shapePtr = this.scratch + ERROR_LEN;
      f64(shapePtr, 16).set([shape.vocabSize, shape.contextLength, shape.dim, shape.heads, shape.layers, shape.ffnMult,
        shape.norm === 'rmsnorm' ? 1 : 0, shape.activation === 'gelu' ? 1 : 0, positions.indexOf(shape.positions),
        shape.tieEmbeddings ? 1 : 0, shape.bias ? 1 : 0, shape.qkvBias ? 1 : 0, shape.dropout, shape.kvHeads, shape.headDim,
        shape.qkNorm ? 1 : 0]);
      const offPtr = shapePtr + 16 * 8;
      f64(offPtr, offsets.length).set(offsets);
      const outPtr = offPtr + offsets.length * 8;
      const rc = m._gptlab_create(shapePtr, offPtr, offsets.length, this.paramsPtr, params.length, outPtr, this.scratch, ERROR_LEN);
      if (rc !== 0) {
        const msg = m.UTF8ToString(this.scratch);
        this.free();
        this.fail(rc, msg);
      }
      this.handle = i32(outPtr, 1)[0];
    }

    private free(): void {
      if (this.batchPtr) m._gptlab_free(this.batchPtr);
      m._gptlab_free(this.paramsPtr);
      m._gptlab_free(this.scratch);
      this.batchPtr = 0;
    }

    private fail(rc: number, msg: string): never {
      if (rc === 1) throw new RangeError(msg);
      const e = new Error(msg);
      if (rc === 2) (e as { code?: string }).code = OUT_OF_MEMORY_CODE;
      throw e;
    }

    private check(rc: number): void {
      if (rc !== 0) this.fail(rc, m.UTF8ToString(this.scratch));
    }

    private live(): number {
      if (!this.handle) throw new TypeError('NativeGPT: the model was disposed');
      return this.handle;
    }

    /** Copies inputs (and targets) into wasm memory after the addon's checks; returns their pointers. */
    private batch(inputs: Int32Array, targets: Int32Array | null, B: number, T: number): { idx: number; tg: number } {
      if (!(inputs instanceof Int32Array)) throw new TypeError('inputs must be an Int32Array');
      if (targets !== null && !(targets instanceof Int32Array)) throw new TypeError('targets must be an Int32Array');
      if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1) throw new TypeError('B and T must be positive integers');
      if (T > this.T) throw new RangeError('T exceeds the context length');
      if (inputs.length !== B * T || (targets && targets.length !== inputs.length)) throw new RangeError('inputs/targets must hold B*T ids');
      for (let i = 0; i < inputs.length; i++) {
        if (inputs[i] < 0 || inputs[i] >= this.V || (targets && (targets[i] < 0 || targets[i] >= this.V))) {
          throw new RangeError("token id out of the model's vocabulary");
        }
      }
      const n = inputs.length;
      if (2 * n > this.batchCap) {
        if (this.batchPtr) m._gptlab_free(this.batchPtr);
        this.batchPtr = alloc(8 * n);
        this.batchCap = 2 * n;
      }
      i32(this.batchPtr, n).set(inputs);
      if (targets) i32(this.batchPtr + 4 * n, n).set(targets);
      return { idx: this.batchPtr, tg: this.batchPtr + 4 * n };
    }

    loss(inputs: Int32Array, targets: Int32Array, B: number, T: number): number {
      const h = this.live();
      const b = this.batch(inputs, targets, B, T);
      const out = this.scratch + ERROR_LEN;
      this.check(m._gptlab_loss(h, b.idx, b.tg, B, T, out, this.scratch, ERROR_LEN));
      return f64(out, 1)[0];
    }

    lossAndGradients(inputs: Int32Array, targets: Int32Array, B: number, T: number, seed = 0): number {
      const h = this.live();
      if (!Number.isInteger(seed) || seed < 0) throw new TypeError('seed must be a non-negative integer');
      const b = this.batch(inputs, targets, B, T);
      const out = this.scratch + ERROR_LEN;
      this.check(m._gptlab_loss_and_gradients(h, b.idx, b.tg, B, T, seed, out, this.scratch, ERROR_LEN));
      return f64(out, 1)[0];
    }

    gradients(): Float32Array {
      const at = m._gptlab_gradients(this.live());
      // Null until the first lossAndGradients or step (NativeGPT allocates gradients then), as the addon says too.
      if (at === 0) throw new Error('gradients: call lossAndGradients or step first');
      return f32(at, this.nparams).slice();
    }

    step(inputs: Int32Array, targets: Int32Array, B: number, T: number, s: AdamWStep):
      { loss: number; gradNorm: number; applied: boolean; threads: number } {
      const h = this.live();
      const settings = packAdamWStep(s);
      if (settings.some((x) => Number.isNaN(x)) || !Number.isInteger(s.t) || s.t < 1 || !(s.seed >= 0 && s.seed <= 9.0e15)) {
        throw new TypeError('step: settings need lr, beta1, beta2, eps, weightDecay, gradClip, t >= 1 and seed');
      }
      const b = this.batch(inputs, targets, B, T);
      const sp = this.scratch + ERROR_LEN, out = sp + 8 * 8;
      f64(sp, 8).set(settings);
      this.check(m._gptlab_step(h, b.idx, b.tg, B, T, sp, out, this.scratch, ERROR_LEN));
      const r = f64(out, 4);
      const result = { loss: r[0], gradNorm: r[1], applied: r[2] !== 0, threads: r[3] };
      if (liveParams && result.applied) this.syncParams();
      return result;
    }

    syncParams(): void {
      this.params.set(f32(this.paramsPtr, this.nparams));
    }

    forward(inputs: Int32Array, B: number, T: number, layers?: number): void {
      const h = this.live();
      if (layers !== undefined && !(Number.isInteger(layers) && layers >= 1 && layers <= this.N)) {
        throw new RangeError(`forward: layers must be 1 to the model's ${this.N}`);
      }
      const b = this.batch(inputs, null, B, T);
      this.check(m._gptlab_forward_layers(h, b.idx, B, T, layers ?? 0, this.scratch, ERROR_LEN));
    }

    /** Blocks the last forward ran: attention and residuals past them are not its. */
    private layersDone(): number {
      return m._gptlab_forward_layers_done(this.handle);
    }

    private rows(): number {
      const rows = m._gptlab_rows(this.live());
      if (rows === 0) throw new TypeError('call forward first');
      return rows;
    }

    logits(): Float32Array {
      const done = this.rows() && this.layersDone();
      if (done < this.N) throw new TypeError(`logits: the last forward stopped after ${done} layers`);
      return f32(m._gptlab_logits(this.handle), this.rows() * this.V).slice();
    }

    attention(layer: number): Float32Array {
      this.rows();
      if (!Number.isInteger(layer) || layer < 0 || layer >= this.N) throw new RangeError('layer index out of range');
      if (layer >= this.layersDone()) throw new RangeError(`layer ${layer} is past the ${this.layersDone()} layers of the last forward`);
      const Bn = m._gptlab_batch(this.handle), Tn = m._gptlab_time(this.handle);
      return f32(m._gptlab_attention(this.handle, layer), Bn * this.H * Tn * Tn).slice();
    }

    residual(layer: number): Float32Array {
      const rows = this.rows();
      if (!Number.isInteger(layer) || layer < 0 || layer > this.N) throw new RangeError('layer index out of range');
      if (layer > this.layersDone()) throw new RangeError(`layer ${layer} is past the ${this.layersDone()} layers of the last forward`);
      return f32(m._gptlab_residual(this.handle, layer), rows * this.D).slice();
    }

    decode(ids: Int32Array): Float32Array {
      const h = this.live();
      if (!(ids instanceof Int32Array)) throw new TypeError('decode(ids: Int32Array)');
      const cached = m._gptlab_cached(h), n = ids.length;
      if (n < 1 || cached + n > this.T) {
        throw new RangeError(`decode: the cache holds ${this.T} tokens; ${cached} + ${n} do not fit`);
      }
      const b = this.batch(ids, null, 1, n);
      const out = this.scratch + ERROR_LEN; // receives the pointer to the logits
      this.check(m._gptlab_decode(h, b.idx, n, out, this.scratch, ERROR_LEN));
      return f32(i32(out, 1)[0], this.V).slice();
    }

    rowLosses(inputs: Int32Array, targets: Int32Array, B: number, T: number): Float32Array {
      const h = this.live();
      const b = this.batch(inputs, targets, B, T);
      const losses = alloc(4 * B * T);
      try {
        this.check(m._gptlab_row_losses(h, b.idx, b.tg, B, T, losses, this.scratch, ERROR_LEN));
        return f32(losses, B * T).slice();
      } finally {
        m._gptlab_free(losses);
      }
    }

    rowScores(inputs: Int32Array, targets: Int32Array, B: number, T: number): Float32Array {
      const h = this.live();
      const b = this.batch(inputs, targets, B, T);
      const scores = alloc(8 * B * T); // losses, then entropies
      try {
        this.check(m._gptlab_row_scores(h, b.idx, b.tg, B, T, scores, scores + 4 * B * T, this.scratch, ERROR_LEN));
        return f32(scores, 2 * B * T).slice();
      } finally {
        m._gptlab_free(scores);
      }
    }

    resetCache(): void {
      m._gptlab_reset_cache(this.live());
    }

    setThreads(n: number): void {
      m._gptlab_set_threads(this.live(), Math.max(0, Math.min(1024, Math.floor(n))));
    }

    dispose(): void {
      if (!this.handle) return;
      m._gptlab_destroy(this.handle);
      this.handle = 0;
      this.free();
    }
  };
}
