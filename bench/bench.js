#!/usr/bin/env node
// GPT Lab training-step benchmark: engine vs PyTorch on identical weights and batches.
//
//   npm run bench [-- --steps 10 --warmup 3 --rounds 2 --configs A,B --backend auto --stock-steps 4
//                    --no-native --no-wasm --no-tfjs --no-stock --no-torch]   (--no-wasm: neither wasm build)
//
// For each config the engine writes its initial model file; every side loads it (PyTorch through
// test/reference/gptlab_ref.py) and runs AdamW steps on the same [B, T] batches, each in its own process so
// peak RSS is per side. The sides, side by side in one run:
//   native     the addon's NativeGPT (the path training uses on CPUs: native-avx512, -avx2, -neon, -generic)
//   wasm-fma   the same C++ built to WebAssembly with threads and relaxed SIMD (native/wasm/gptlab_trainer_fma): its
//              GEMM's multiply-adds fused, the universal path where the runtime has relaxed SIMD (Node 20 with a flag)
//   wasm-simd  the same with SIMD128 only (native/wasm/gptlab_trainer): runtimes without relaxed SIMD
//   tfjs+k     the tfjs path (the reference implementation) on --backend, with the addon's matmul kernels
//   tfjs-wasm  the stock tfjs path on @tensorflow/tfjs-backend-wasm, no native code: what a VSIX gave before the
//              native work (--stock-steps timed steps, 1 warm-up: it is slow)
//   pytorch    Debian's torch; the bench makes it run on OpenBLAS (see ensureOpenBlas) and prints no ratio against
//              it when its process still loaded the reference BLAS.
// Rounds alternate A B A B (and the order of the sides). Medians over all timed steps; the min is shown too because
// a shared machine makes single steps noisy. Prints a table and writes bench/results/latest.json. PyTorch runs with
// OPENBLAS_NUM_THREADS=1 and, like the engine's trainers, the faster of torch.set_num_threads(GPTLAB_THREADS or
// cores) and 1, timed in warm-up (on a busy 2-core machine OpenMP at 2 threads made its steps 20x slower).
'use strict';
const { exitWith } = require('./common');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'out', 'engine');
const PY = '/usr/bin/python3';

const CONFIGS = {
  A: { label: 'A classic B=8 T=32 D=256 H=8 N=12', B: 8, T: 32, D: 256, H: 8, N: 12, V: 4744 },
  B: { label: 'B B=16 T=128 D=128 H=4 N=4', B: 16, T: 128, D: 128, H: 4, N: 4, V: 4744 },
};

function parseArgs(argv) {
  const o = { steps: 10, warmup: 3, rounds: 2, configs: ['A', 'B'], backend: 'auto', native: true, wasm: true, tfjs: true,
    stock: true, stockSteps: 4, torch: true, installBlas: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--steps') o.steps = parseInt(next(), 10);
    else if (a === '--warmup') o.warmup = parseInt(next(), 10);
    else if (a === '--rounds') o.rounds = parseInt(next(), 10);
    else if (a === '--configs') o.configs = next().split(',').map((s) => s.trim().toUpperCase());
    else if (a === '--backend') o.backend = next();
    else if (a === '--stock-steps') o.stockSteps = parseInt(next(), 10);
    else if (a === '--no-native') o.native = false;
    else if (a === '--no-wasm') o.wasm = false;
    else if (a === '--no-tfjs') o.tfjs = false;
    else if (a === '--no-stock') o.stock = false;
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--no-install') o.installBlas = false;
    else if (a === '--help' || a === '-h') {
      exitWith(0, 'usage: node bench/bench.js [--steps N] [--warmup N] [--rounds N] [--configs A,B] [--backend auto|wasm|cpu] [--stock-steps N]\n' +
        '         [--no-native] [--no-wasm] [--no-tfjs] [--no-stock] [--no-torch] [--no-install]\n' +
        '  --no-native: no native addon at all (the tfjs+k side then runs on stock kernels); --no-wasm: skip both wasm builds;\n' +
        '  --no-tfjs: skip the tfjs path with native kernels; --no-stock: skip the stock tfjs-wasm path;\n' +
        '  --no-install: never apt-get install libopenblas0-pthread');
    } else throw new Error(`unknown option ${a}`);
  }
  for (const c of o.configs) if (!CONFIGS[c]) throw new Error(`unknown config ${c}`);
  return o;
}

function log(msg) {
  process.stderr.write(`[bench] ${msg}\n`);
}

function ensureBuilt() {
  const need = [path.join('compute', 'tfjsBackend.js'), path.join('training', 'train.js'), path.join('io', 'checkpoint.js'), path.join('model', 'gpt.js'), path.join('compute', 'kernels', 'index.js')];
  if (need.every((f) => fs.existsSync(path.join(OUT, f)))) return;
  log('compiling TypeScript (tsc -b) ...');
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-b'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0 || !need.every((f) => fs.existsSync(path.join(OUT, f)))) {
    throw new Error('out/engine is not built; run `npx tsc -b` first');
  }
}

function torchAvailable() {
  const r = spawnSync(PY, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** PyTorch from Debian: wait for a concurrent install, then install it ourselves. */
function ensureTorch() {
  let v = torchAvailable();
  if (v) return { version: v, installedByBench: false };
  log(`${PY} cannot import torch; waiting up to 2 minutes in case it is being installed ...`);
  for (let i = 0; i < 12 && !v; i++) {
    sleep(10000);
    v = torchAvailable();
  }
  if (v) return { version: v, installedByBench: false };
  log('torch still missing: running `apt-get install -y python3-torch libopenblas0-pthread` (Debian) ...');
  const r = spawnSync('apt-get', ['install', '-y', 'python3-torch', 'libopenblas0-pthread'], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) log(`apt-get install failed (exit ${r.status}); PyTorch side skipped`);
  v = torchAvailable();
  return v ? { version: v, installedByBench: true } : null;
}

/** Which BLAS a torch process really loads (bench/torch_step.py --blas reads its /proc/self/maps). */
function probeBlas(env) {
  const r = spawnSync(PY, [path.join(__dirname, 'torch_step.py'), '--blas'], { encoding: 'utf8',
    env: { ...process.env, OPENBLAS_VERBOSE: '2', ...env } });
  if (r.status !== 0) return { kind: 'unknown', libs: [], error: (r.stderr || '').trim().split('\n').pop() };
  const blas = JSON.parse(r.stdout.trim().split('\n').pop()).blas;
  // OpenBLAS (a DYNAMIC_ARCH build) says which kernels it picked when OPENBLAS_VERBOSE=2.
  const core = /Core:\s*(\S+)/.exec(r.stderr || '');
  if (core) blas.core = core[1];
  return blas;
}

/**
 * The OpenBLAS kernels this CPU runs, when OpenBLAS's own detection fell back to a generic one: on VMs whose CPUID
 * names no model ("Intel(R) Xeon(R) Processor"), OpenBLAS 0.3.21 picks Prescott (SSE3), 5x slower than SkylakeX here.
 */
function openblasCoreFor(blas) {
  if (!blas.core || !/^(Prescott|Katmai|Coppermine|Northwood|Banias|Core2|Penryn|Dunnington|Nehalem|Atom)$/i.test(blas.core)) return null;
  let flags = '';
  try {
    flags = (/^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8')) || [])[1] || '';
  } catch {
    return null;
  }
  if (/\bavx512f\b/.test(flags) && /\bavx512bw\b/.test(flags)) return 'SkylakeX';
  if (/\bavx2\b/.test(flags) && /\bfma\b/.test(flags)) return 'Haswell';
  return null;
}

/** Corrects OpenBLAS's kernel choice (OPENBLAS_CORETYPE) when it fell back to a generic core on a capable CPU. */
function fixOpenBlasCore(r) {
  if (r.blas.kind !== 'openblas') return r;
  const core = openblasCoreFor(r.blas);
  if (!core) return r;
  const env = { ...r.env, OPENBLAS_CORETYPE: core };
  const blas = probeBlas(env);
  if (blas.kind !== 'openblas' || blas.core !== core) return r;
  log(`OpenBLAS picked the ${r.blas.core} kernels on a CPU with ${core}'s instructions: OPENBLAS_CORETYPE=${core}`);
  return { ...r, env, blas: { ...blas, detectedCore: r.blas.core } };
}

const OPENBLAS_DIRS = ['openblas-pthread', 'openblas-openmp', 'openblas'].map((d) => `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/${d}`);

/**
 * Makes PyTorch run on OpenBLAS: Debian's python3-torch (BLAS_INFO=generic) calls whatever libblas.so.3 resolves
 * to, and a fresh machine's is the reference BLAS (libblas3), which made a step 30x slower (3.2 s instead of 0.2 s).
 * Probes the BLAS torch loads; on the reference one, points LD_LIBRARY_PATH at an installed OpenBLAS, else installs
 * libopenblas0-pthread (apt-get, as root) and probes again; then makes sure OpenBLAS runs its kernels for this CPU.
 * Returns the env for torch's processes and what it found.
 */
function ensureOpenBlas(allowInstall) {
  const r0 = ensureOpenBlasLibrary(allowInstall);
  return { ...fixOpenBlasCore(r0), installed: r0.installed };
}

function ensureOpenBlasLibrary(allowInstall) {
  const tryEnv = (env) => ({ env, blas: probeBlas(env) });
  const withDirs = () => {
    const dir = OPENBLAS_DIRS.find((d) => fs.existsSync(path.join(d, 'libblas.so.3')));
    return dir ? tryEnv({ LD_LIBRARY_PATH: [dir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') }) : null;
  };
  let r = tryEnv({});
  if (r.blas.kind !== 'reference') return { ...r, installed: false };
  log(`torch loads the reference BLAS (${r.blas.libs.join(', ')}), about 30x slower than OpenBLAS`);
  const viaDir = withDirs();
  if (viaDir && viaDir.blas.kind !== 'reference') return { ...viaDir, installed: false };
  let installed = false;
  if (allowInstall && typeof process.getuid === 'function' && process.getuid() === 0) {
    log('installing OpenBLAS: apt-get install -y libopenblas0-pthread ...');
    const a = spawnSync('apt-get', ['install', '-y', 'libopenblas0-pthread'], { stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    installed = a.status === 0;
    if (!installed) log(`apt-get install failed (exit ${a.status})`);
    r = tryEnv({});
    if (r.blas.kind !== 'reference') return { ...r, installed };
    const again = withDirs();
    if (again && again.blas.kind !== 'reference') return { ...again, installed };
  } else if (allowInstall) {
    log('not root: cannot apt-get install libopenblas0-pthread');
  }
  return { ...r, installed };
}

function threadCount() {
  const env = parseInt(process.env.GPTLAB_THREADS || '', 10);
  if (env > 0) return env;
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function modelConfig(c) {
  return {
    vocabSize: c.V, contextLength: c.T, dim: c.D, heads: c.H, layers: c.N, ffnMult: 4, norm: 'layernorm',
    activation: 'relu', positions: 'learned', tieEmbeddings: false, bias: true, qkvBias: false, dropout: 0,
    kvHeads: c.H, headDim: c.D / c.H, qkNorm: false,
  };
}

/** 6 * params * tokens + attention (QK^T and AV, forward + backward, full T x T). */
function stepFlops(c, params) {
  const tokens = c.B * c.T;
  return 6 * params * tokens + 12 * c.N * c.D * c.T * tokens;
}

function makeBatches(c, n, seed) {
  const per = c.B * c.T;
  const out = new Int32Array(n * 2 * per);
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < c.B; r++) {
      const row = new Int32Array(c.T + 1);
      for (let t = 0; t <= c.T; t++) row[t] = 1 + Math.floor(next() * (c.V - 1));
      out.set(row.subarray(0, c.T), 2 * b * per + r * c.T);
      out.set(row.subarray(1), 2 * b * per + per + r * c.T);
    }
  }
  return out;
}

async function writeInitialModel(c, file) {
  await require(path.join(OUT, 'compute', 'tfjsBackend.js')).selectBackend('cpu', { native: false });
  const { GPT } = require(path.join(OUT, 'model', 'gpt.js'));
  const { saveModel } = require(path.join(OUT, 'io', 'checkpoint.js'));
  const { Vocabulary } = require(path.join(OUT, 'text', 'vocab.js'));
  const model = GPT.init(modelConfig(c), 1234);
  const vocab = new Vocabulary([null, ...Array.from({ length: c.V - 1 }, (_, i) => i + 1)]);
  saveModel(file, model, vocab, 'char', null);
  const params = model.parameterCount;
  for (const v of model.variables()) v.dispose();
  return params;
}

function runChild(cmd, args, env) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    throw new Error(`${path.basename(args[0])} failed (exit ${r.status}): ${(r.stderr || '').trim().split('\n').slice(-5).join(' | ')}`);
  }
  const line = r.stdout.trim().split('\n').pop();
  return JSON.parse(line);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The native sgemm's best rate on two square-ish shapes, 1 and all threads: the machine's ceiling for the engine. */
function sgemmCeiling() {
  const { findAddon } = require('./sgemm.js');
  const p = findAddon();
  if (!p) return null;
  const m = { exports: {} };
  process.dlopen(m, p);
  const addon = m.exports;
  const info = addon.info();
  const shapes = [[512, 512, 512], [2048, 128, 512]];
  const rows = [];
  for (const [M, N, K] of shapes) {
    const A = new Float32Array(M * K).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const B = new Float32Array(K * N).map((_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
    const C = new Float32Array(M * N);
    const row = { shape: `${M}x${N}x${K}` };
    for (const t of [...new Set([1, info.maxThreads])]) {
      addon.setThreads(t, false);
      const fn = () => addon.sgemm(false, false, M, N, K, 1, A, K, B, N, 0, C, N);
      for (let i = 0; i < 3; i++) fn();
      const times = [];
      const t0 = Date.now();
      while (Date.now() - t0 < 400 || times.length < 5) {
        const s = process.hrtime.bigint();
        fn();
        times.push(Number(process.hrtime.bigint() - s) / 1e9);
      }
      // A ceiling is what the kernel can do: the fastest repetition, not a typical one on a shared machine.
      row[`gflops_${t}t`] = +((2 * M * N * K) / Math.min(...times) / 1e9).toFixed(1);
    }
    rows.push(row);
  }
  addon.setThreads(info.maxThreads, info.adaptive);
  return { isa: info.isa, maxThreads: info.maxThreads, rows };
}

/** The better of two ceiling measurements (before and after the runs), shape by shape. */
function bestCeiling(a, b) {
  if (!a || !b) return a || b;
  return { ...a, rows: a.rows.map((row, i) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, k === 'shape' ? v : Math.max(v, b.rows[i][k])]))) };
}

function fmt(n, d = 0) {
  return Number.isFinite(n) ? n.toFixed(d) : '-';
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  ensureBuilt();
  const started = Date.now();
  const threads = threadCount();
  const load0 = os.loadavg();
  const torch = o.torch ? ensureTorch() : null;
  if (o.torch && !torch) log('PyTorch unavailable: engine only');
  const blas = torch ? ensureOpenBlas(o.installBlas) : null;
  if (torch) Object.assign(torch, { blas: blas.blas, blasEnv: blas.env, blasInstalledByBench: blas.installed });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-bench-'));
  const ceilingBefore = sgemmCeiling();
  const prepared = {};
  for (const name of o.configs) {
    const c = CONFIGS[name];
    const modelFile = path.join(tmp, `${name}.model.safetensors`);
    const params = await writeInitialModel(c, modelFile);
    const batchesFile = path.join(tmp, `${name}.batches.i32`);
    fs.writeFileSync(batchesFile, Buffer.from(makeBatches(c, o.warmup + o.steps, 42).buffer));
    prepared[name] = { c, modelFile, batchesFile, params, engine: [], wasm: [], wasmSimd: [], tfjs: [], stock: [], torch: [] };
  }
  const preset = require(path.join(OUT, 'model', 'config.js')).PRESETS.classic.train;
  const train = { ...preset, learningRate: 1e-3, warmupSteps: 0, steps: 1000 };
  for (let round = 0; round < o.rounds; round++) {
    for (const name of o.configs) {
      const p = prepared[name];
      const common = { B: p.c.B, T: p.c.T, warmup: o.warmup, steps: o.steps };
      const runEngine = (side, trainingPath, extra = {}, env = {}) => {
        log(`round ${round + 1}/${o.rounds} config ${name}: ${side} ...`);
        const settings = { ...common, backend: o.backend, native: o.native, path: trainingPath, train, ...extra };
        p[side].push(runChild(process.execPath, [path.join(__dirname, 'engine_step.js'), p.modelFile, p.batchesFile, JSON.stringify(settings)], env));
      };
      const runTorch = () => {
        log(`round ${round + 1}/${o.rounds} config ${name}: pytorch ...`);
        const settings = { ...common, threads, lr: train.learningRate, beta1: train.beta1, beta2: train.beta2, eps: train.eps,
          weightDecay: train.weightDecay, gradClip: train.gradClip };
        p.torch.push(runChild(PY, [path.join(__dirname, 'torch_step.py'), p.modelFile, p.batchesFile, JSON.stringify(settings)],
          { OPENBLAS_NUM_THREADS: '1', ...blas.env }));
        const last = p.torch[p.torch.length - 1];
        if (last.blas && last.blas.kind === 'reference') log(`pytorch ran on the reference BLAS (${last.blas.libs.join(', ')}): no ratio against it`);
      };
      const sides = [];
      if (o.native) sides.push(() => runEngine('engine', 'native'));
      if (o.wasm) {
        sides.push(() => runEngine('wasm', 'wasm', {}, { GPTLAB_WASM_BUILD: 'wasm-fma' }));
        sides.push(() => runEngine('wasmSimd', 'wasm', {}, { GPTLAB_WASM_BUILD: 'wasm-simd' }));
      }
      if (o.tfjs && o.native) sides.push(() => runEngine('tfjs', 'tfjs'));
      if (o.stock || (o.tfjs && !o.native)) {
        sides.push(() => runEngine('stock', 'tfjs', { backend: 'wasm', native: false, warmup: 1, steps: Math.max(1, Math.min(o.stockSteps, o.steps)) }));
      }
      if (torch) sides.push(runTorch);
      // Alternate the order so that no side always gets the cooler machine.
      for (const run of round % 2 === 0 ? sides : [...sides].reverse()) run();
    }
  }
  const ceiling = bestCeiling(ceilingBefore, sgemmCeiling());
  const results = [];
  for (const name of o.configs) {
    const p = prepared[name];
    const flops = stepFlops(p.c, p.params);
    const tokens = p.c.B * p.c.T;
    const side = (runs) => {
      if (runs.length === 0) return null;
      const ms = median(runs.flatMap((r) => r.times_ms));
      const stepsRun = runs.reduce((n, r) => n + r.losses.length, 0);
      const kms = runs.reduce((n, r) => n + Object.values((r.kernelCalls && r.kernelCalls.ms) || {}).reduce((a, b) => a + b, 0), 0);
      return {
        median_ms: +ms.toFixed(1),
        min_ms: +Math.min(...runs.flatMap((r) => r.times_ms)).toFixed(1),
        tokens_per_s: +(tokens / (ms / 1000)).toFixed(0),
        gflops: +(flops / (ms / 1000) / 1e9).toFixed(1),
        peak_rss_mb: +Math.max(...runs.map((r) => r.peak_rss_mb)).toFixed(0),
        matmul_ms_per_step: runs[0].kernelCalls ? +(kms / stepsRun).toFixed(1) : undefined,
        first_loss: runs[0].losses[0],
        last_loss: runs[0].losses[runs[0].losses.length - 1],
        runs_ms: runs.map((r) => r.times_ms.map((t) => +t.toFixed(1))),
      };
    };
    const e = side(p.engine);
    const w = side(p.wasm);
    const ws = side(p.wasmSimd);
    const j = side(p.tfjs);
    const k = side(p.stock);
    const t0 = side(p.torch);
    // A ratio against PyTorch on the reference BLAS would say nothing about the engine: refused.
    const torchBlas = p.torch.length ? p.torch[p.torch.length - 1].blas || { kind: 'unknown', libs: [] } : null;
    const t = torchBlas && torchBlas.kind === 'reference' ? null : t0;
    const lastOf = (runs) => runs[runs.length - 1];
    const ratio = (a, b2) => (a && b2 ? +(a.median_ms / b2.median_ms).toFixed(2) : null);
    const peak = ceiling ? Math.max(...ceiling.rows.map((row) => row[`gflops_${ceiling.maxThreads}t`] ?? 0)) : null;
    results.push({
      config: name,
      label: p.c.label,
      shape: { B: p.c.B, T: p.c.T, D: p.c.D, H: p.c.H, N: p.c.N, V: p.c.V },
      parameters: p.params,
      flops_per_step: flops,
      engine: e && { ...e, trainer: lastOf(p.engine).trainer, nativeInfo: lastOf(p.engine).nativeInfo },
      engine_wasm: w && { ...w, trainer: lastOf(p.wasm).trainer },
      engine_wasm_simd: ws && { ...ws, trainer: lastOf(p.wasmSimd).trainer },
      engine_tfjs: j && { ...j, trainer: lastOf(p.tfjs).trainer, backend: lastOf(p.tfjs).backend, kernels: lastOf(p.tfjs).kernels,
        kernelCalls: lastOf(p.tfjs).kernelCalls },
      tfjs_stock: k && { ...k, trainer: lastOf(p.stock).trainer, backend: lastOf(p.stock).backend, kernels: lastOf(p.stock).kernels },
      pytorch: t0 && { ...t0, threads: p.torch[0].threads, version: p.torch[0].torch, blas: torchBlas },
      pytorch_ratio_refused: t0 && !t ? `PyTorch ran on the reference BLAS (${torchBlas.libs.join(', ')})` : undefined,
      ratio_engine_over_pytorch: ratio(e, t),
      ratio_wasm_over_pytorch: ratio(w, t),
      ratio_tfjs_over_pytorch: ratio(j, t),
      ratio_stock_over_pytorch: ratio(k, t),
      ratio_engine_over_tfjs: ratio(e, j),
      ratio_wasm_over_native: ratio(w, e),
      ratio_wasm_simd_over_native: ratio(ws, e),
      speedup_wasm_fma_over_simd: w && ws ? +(ws.median_ms / w.median_ms).toFixed(2) : null,
      speedup_wasm_over_stock: w && k ? +(k.median_ms / w.median_ms).toFixed(2) : null,
      speedup_wasm_over_tfjs: w && j ? +(j.median_ms / w.median_ms).toFixed(2) : null,
      engine_fraction_of_sgemm_ceiling: e && peak ? +(e.gflops / peak).toFixed(2) : null,
      peak_rss_engine_over_pytorch: e && t ? +(e.peak_rss_mb / t.peak_rss_mb).toFixed(2) : null,
      first_loss_abs_diff: e && t0 ? +Math.abs(e.first_loss - t0.first_loss).toExponential(2) : null,
      first_loss_abs_diff_wasm: w && t0 ? +Math.abs(w.first_loss - t0.first_loss).toExponential(2) : null,
    });
  }
  const report = {
    date: new Date().toISOString(),
    host: { cpus: os.cpus().length, model: os.cpus()[0] && os.cpus()[0].model, loadavg_start: load0, loadavg_end: os.loadavg(), node: process.version },
    threads,
    options: o,
    pytorch: torch,
    sgemm_ceiling: ceiling,
    results,
    total_s: +((Date.now() - started) / 1000).toFixed(1),
  };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  fs.rmSync(tmp, { recursive: true, force: true });

  // Compact table.
  const lines = [];
  lines.push(`GPT Lab bench  ${report.date}  threads=${threads}  load ${load0.map((x) => x.toFixed(1)).join('/')}  ${report.total_s}s`);
  if (ceiling) lines.push(`sgemm ceiling (${ceiling.isa}, best of runs before and after): ` + ceiling.rows.map((r) => `${r.shape} ${Object.entries(r).filter(([k]) => k !== 'shape').map(([k, v]) => `${v} GF/s@${k.replace('gflops_', '')}`).join(' ')}`).join('; '));
  lines.push('config  side       ms/step (min)     tok/s   GFLOP/s  RSS MB  loss@1    how');
  for (const r of results) {
    const row = (sideName, s, how) => s && lines.push(
      `${r.config.padEnd(7)} ${sideName.padEnd(10)} ${fmt(s.median_ms, 1).padStart(7)} (${fmt(s.min_ms, 0).padStart(5)})  ${fmt(s.tokens_per_s).padStart(6)}  ${fmt(s.gflops, 1).padStart(7)}  ${fmt(s.peak_rss_mb).padStart(6)}  ${s.first_loss.toFixed(4).padStart(8)}  ${how}`);
    row('native', r.engine, r.engine && `${r.engine.trainer} (the native trainer)`);
    row('wasm-fma', r.engine_wasm, r.engine_wasm && `${r.engine_wasm.trainer} (native/wasm/, relaxed SIMD: the universal path)`);
    row('wasm-simd', r.engine_wasm_simd, r.engine_wasm_simd && `${r.engine_wasm_simd.trainer} (native/wasm/, SIMD128: runtimes without relaxed SIMD)`);
    row('tfjs+k', r.engine_tfjs, r.engine_tfjs && `${r.engine_tfjs.trainer}${r.engine_tfjs.kernels.native ? ` + native ${r.engine_tfjs.kernels.isa} ${r.engine_tfjs.kernels.kernels.join(',')}` : ', stock kernels'} (the reference path)`);
    row('tfjs-wasm', r.tfjs_stock, r.tfjs_stock && `${r.tfjs_stock.trainer}, stock @tensorflow/tfjs-backend-wasm kernels, no native code`);
    const b = r.pytorch && r.pytorch.blas;
    row('pytorch', r.pytorch, r.pytorch && `torch ${r.pytorch.version}, ${r.pytorch.threads} threads, BLAS ${b ? `${b.kind}${torch.blas.core ? ` ${torch.blas.core}${torch.blas.detectedCore ? ` (forced; detected ${torch.blas.detectedCore})` : ''}` : ''} (${b.libs.filter((l) => /libblas|openblas.*\.so/.test(path.basename(l))).map((l) => path.basename(path.dirname(l)) + '/' + path.basename(l)).join(', ')})` : 'unknown'}`);
    if (r.pytorch_ratio_refused) lines.push(`${r.config.padEnd(7)} no ratio against PyTorch: ${r.pytorch_ratio_refused}, ~30x slower than OpenBLAS; apt-get install -y libopenblas0-pthread`);
    const facts = [];
    const nativeName = r.engine ? r.engine.trainer.split(',')[0] : 'native';
    if (r.ratio_wasm_over_native != null) facts.push(`wasm-fma/${nativeName} ${r.ratio_wasm_over_native}`);
    if (r.ratio_wasm_simd_over_native != null) facts.push(`wasm-simd/${nativeName} ${r.ratio_wasm_simd_over_native}`);
    if (r.speedup_wasm_fma_over_simd != null) facts.push(`FMA ${r.speedup_wasm_fma_over_simd}x faster than SIMD128`);
    if (r.speedup_wasm_over_stock != null) facts.push(`wasm-fma ${r.speedup_wasm_over_stock}x faster than tfjs-wasm`);
    if (r.speedup_wasm_over_tfjs != null) facts.push(`${r.speedup_wasm_over_tfjs}x than tfjs+k`);
    if (r.ratio_engine_over_pytorch != null) facts.push(`native/pytorch ${r.ratio_engine_over_pytorch}`);
    if (r.ratio_wasm_over_pytorch != null) facts.push(`wasm-fma/pytorch ${r.ratio_wasm_over_pytorch}`);
    if (r.ratio_tfjs_over_pytorch != null) facts.push(`tfjs+k/pytorch ${r.ratio_tfjs_over_pytorch}`);
    if (r.ratio_stock_over_pytorch != null) facts.push(`tfjs-wasm/pytorch ${r.ratio_stock_over_pytorch}`);
    if (r.engine_fraction_of_sgemm_ceiling != null) facts.push(`engine at ${Math.round(r.engine_fraction_of_sgemm_ceiling * 100)}% of the sgemm ceiling`);
    if (r.peak_rss_engine_over_pytorch != null) facts.push(`peak RSS engine/pytorch ${r.peak_rss_engine_over_pytorch}`);
    if (r.first_loss_abs_diff != null) facts.push(`|loss@1 diff| ${r.first_loss_abs_diff}`);
    if (facts.length) lines.push(`${r.config.padEnd(7)} ${facts.join(', ')}`);
  }
  console.log(lines.join('\n'));
  console.log('JSON: bench/results/latest.json');
}

main().catch((e) => {
  exitWith(1, `bench failed: ${e && e.message ? e.message : e}`);
});
