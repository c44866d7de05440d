#!/usr/bin/env node
// Builds the WebAssembly native trainer (native/src in its portable-vector form, SIMD128, pthreads) with Emscripten
// into native/wasm/: gptlab_trainer.js (the glue, a CommonJS factory), gptlab_trainer.wasm and
// gptlab_trainer.worker.js. The outputs are committed, so this never fails an install: without the toolchain
// (Debian: apt-get install emscripten) it keeps the committed build and says so.
//   node scripts/build-wasm.js            build if emcc is there, else keep the committed build
//   node scripts/build-wasm.js --require  fail (exit 1) when it cannot build (CI's check that the build works)
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'native', 'src');
const outDir = path.join(root, 'native', 'wasm');
const NAME = 'gptlab_trainer';
const required = process.argv.includes('--require');

function committed() {
  return ['js', 'wasm', 'worker.js'].every((ext) => fs.existsSync(path.join(outDir, `${NAME}.${ext}`)));
}

function keep(msg) {
  if (required) {
    console.error(`gpt-lab: wasm trainer not built: ${msg}`);
    process.exit(1);
  }
  console.warn(`gpt-lab: wasm trainer not rebuilt (${msg}); ${committed() ? 'using the committed build in native/wasm/' : 'no build in native/wasm/ either, so the wasm path is unavailable'}.`);
  process.exit(0);
}

function findEmcc() {
  const names = process.platform === 'win32' ? ['em++.bat', 'em++'] : ['em++'];
  const dirs = (process.env.PATH || '').split(path.delimiter);
  if (process.env.EMSDK) dirs.unshift(path.join(process.env.EMSDK, 'upstream', 'emscripten'));
  for (const d of dirs) for (const n of names) {
    const p = path.join(d, n);
    try {
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return null;
}

const SOURCES = ['gpt_wasm.cc', 'gpt.cc', 'runtime.cc', 'gemm_generic.cc'];
// Functions the glue calls (engine/wasmTrainer.ts); only gptlab_guarded catches C++ exceptions.
const EXPORTS = ['gptlab_init', 'gptlab_info', 'gptlab_create', 'gptlab_destroy', 'gptlab_loss', 'gptlab_loss_and_gradients',
  'gptlab_step', 'gptlab_forward', 'gptlab_gradients', 'gptlab_logits', 'gptlab_attention', 'gptlab_residual',
  'gptlab_rows', 'gptlab_batch', 'gptlab_time', 'gptlab_set_threads', 'gptlab_malloc', 'gptlab_free'];

const COMPILE = ['-O3', '-std=gnu++17', '-msimd128', '-ffp-contract=fast', '-fno-math-errno', '-pthread', '-DGPTLAB_WASM_MR=4', '-DGPTLAB_WASM_NV=2',
  '-sEXCEPTION_CATCHING_ALLOWED=[gptlab_guarded]'];
const LINK = [
  '-sMODULARIZE=1', '-sEXPORT_NAME=createGptlabTrainer', '-sENVIRONMENT=node,worker', '-sALLOW_MEMORY_GROWTH=1',
  '-sINITIAL_MEMORY=33554432', '-sMAXIMUM_MEMORY=4294967296', '-sTOTAL_STACK=1048576',
  // Workers for the pool (cores - 1), created and loaded before the factory resolves: the pool starts inside a
  // synchronous call, where no new worker could load.
  '-sPTHREAD_POOL_SIZE=Module["gptlabWorkers"]||0', '-sPTHREAD_POOL_SIZE_STRICT=2',
  `-sEXPORTED_FUNCTIONS=${EXPORTS.map((e) => `_${e}`).join(',')}`,
  '-sEXPORTED_RUNTIME_METHODS=UTF8ToString', '-sEXIT_RUNTIME=0', '-sTEXTDECODER=2',
];

function main() {
  if (process.env.GPTLAB_SKIP_WASM === '1') keep('GPTLAB_SKIP_WASM=1');
  const emcc = findEmcc();
  if (!emcc) keep('em++ not found; install emscripten');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-wasm-'));
  // Debian's emscripten runs its JS tools with the system node, which finds Debian's node packages (acorn) only here.
  const env = { ...process.env, NODE_PATH: [process.env.NODE_PATH, '/usr/share/nodejs', '/usr/lib/nodejs'].filter(Boolean).join(path.delimiter) };
  const args = [...COMPILE, ...LINK, ...SOURCES.map((s) => path.join(src, s)), '-o', path.join(tmp, `${NAME}.js`)];
  const t0 = Date.now();
  const res = spawnSync(emcc, args, { env, encoding: 'utf8', timeout: 15 * 60 * 1000, maxBuffer: 64 << 20 });
  if (res.error) keep(res.error.message);
  if (res.status !== 0) {
    const lines = `${res.stderr || ''}\n${res.stdout || ''}`.split('\n').filter((l) => /error/i.test(l));
    keep(`em++ failed: ${(lines[0] || `exit ${res.status}`).slice(0, 300)}`);
  }
  fs.mkdirSync(outDir, { recursive: true });
  for (const ext of ['js', 'wasm', 'worker.js']) {
    const f = path.join(tmp, `${NAME}.${ext}`);
    if (!fs.existsSync(f)) keep(`em++ produced no ${NAME}.${ext}`);
    fs.copyFileSync(f, path.join(outDir, `${NAME}.${ext}`));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  const kb = (ext) => (fs.statSync(path.join(outDir, `${NAME}.${ext}`)).size / 1024).toFixed(0);
  console.log(`gpt-lab: wasm trainer built in ${((Date.now() - t0) / 1000).toFixed(0)} s: native/wasm/${NAME}.wasm ${kb('wasm')} KB, .js ${kb('js')} KB, .worker.js ${kb('worker.js')} KB.`);
}

try {
  main();
} catch (e) {
  keep(e && e.message ? e.message : String(e));
}
