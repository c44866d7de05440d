#!/usr/bin/env node
// Builds the WebAssembly native trainer (native/src in its portable-vector form, pthreads) twice into native/wasm/:
//   gptlab_trainer.wasm      SIMD128: every runtime with wasm SIMD (Node >= 16, Electron, browsers)
//   gptlab_trainer_fma.wasm  SIMD128 + relaxed SIMD: its GEMM multiplies and adds in one f32x4.relaxed_madd (an FMA on
//                            CPUs that have one); engine/compute/wasm.ts picks it where the runtime validates that opcode
// and the one glue both load through, gptlab_trainer.js (a CommonJS factory) and gptlab_trainer.worker.js: Emscripten
// writes a glue per build, but they differ only in the build's own file names (which the engine never lets the glue
// fetch: it compiles the .wasm itself), and the build stops if they ever differ in more.
// The outputs are committed, so this never fails an install: without the toolchain it keeps the committed builds and
// says so.
//   node scripts/build-wasm.js            build if the toolchain is there, else keep the committed builds
//   node scripts/build-wasm.js --require  fail (exit 1) when it cannot build (CI's check that the build works)
//
// The toolchain, from Debian bookworm and npm (see /work/shared/notes/toolchains.md):
//   emscripten 3.1.6 (apt-get install emscripten)  the driver, the JS glue and its prebuilt libc/libc++ (pthreads)
//   clang-19, wasm-ld-19 (apt-get install clang-19 lld-19)  as emscripten's LLVM: clang 14's relaxed madd is a
//                       pre-standard opcode that V8 rejects
//   binaryen 132 (npm pack binaryen@132.0.0 into ~/.cache/gptlab-cross)  as emscripten's wasm-opt and wasm-metadce:
//                       Debian's binaryen 108 cannot parse the standard opcode
// Three settings make emscripten 3.1.6 work with binaryen 132: EMCC_READ_METADATA=python reads the module's metadata
// itself instead of running wasm-emscripten-finalize (which does not come with npm's binaryen); -sWASM_BIGINT=1 leaves
// finalize nothing to rewrite; -lexports.js keeps import names unminified (binaryen 132 reports the minified names as
// JSON, which emscripten 3.1.6 cannot read). Both builds use the same toolchain.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'native', 'src');
const outDir = path.join(root, 'native', 'wasm');
const required = process.argv.includes('--require');
const GLUE_EXTS = ['js', 'worker.js'];

const CLANG_VERSION = '19';
const BINARYEN_VERSION = '132.0.0';
const CACHE = process.env.GPTLAB_CROSS_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'gptlab-cross');

const BUILDS = [
  { name: 'gptlab_trainer', what: 'SIMD128', flags: ['-msimd128'] },
  { name: 'gptlab_trainer_fma', what: 'relaxed SIMD', flags: ['-msimd128', '-mrelaxed-simd'] },
];

// What native/wasm/ holds: each build's .wasm and the first build's glue.
const OUTPUTS = [...BUILDS.map((b) => `${b.name}.wasm`), ...GLUE_EXTS.map((ext) => `${BUILDS[0].name}.${ext}`)];

function committed() {
  return OUTPUTS.every((f) => fs.existsSync(path.join(outDir, f)));
}

function keep(msg) {
  // Written synchronously: npm pipes this script's output, and process.exit right after a piped write can cut it short.
  if (required) {
    fs.writeSync(2, `gpt-lab: wasm trainer not built: ${msg}\n`);
    process.exit(1);
  }
  fs.writeSync(2, `gpt-lab: wasm trainer not rebuilt (${msg}); ${committed() ? 'using the committed builds in native/wasm/' : 'native/wasm/ lacks a build too, so the wasm path may be unavailable'}.\n`);
  process.exit(0);
}

function onPath(name) {
  for (const d of (process.env.PATH || '').split(path.delimiter)) {
    const p = path.join(d, name);
    try {
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** npm's binaryen, unpacked once into the cache (never into node_modules): its bin/ folder, or null. */
function binaryenBin() {
  const dir = path.join(CACHE, `binaryen-${BINARYEN_VERSION}`);
  const bin = path.join(dir, 'package', 'bin');
  if (fs.existsSync(path.join(bin, 'wasm-opt'))) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const pack = spawnSync(npm, ['pack', `binaryen@${BINARYEN_VERSION}`, '--silent'], { cwd: dir, encoding: 'utf8', timeout: 5 * 60 * 1000 });
  const tgz = path.join(dir, `binaryen-${BINARYEN_VERSION}.tgz`);
  if (pack.status !== 0 || !fs.existsSync(tgz)) return null;
  const untar = spawnSync('tar', ['xzf', tgz], { cwd: dir });
  fs.rmSync(tgz, { force: true });
  return untar.status === 0 && fs.existsSync(path.join(bin, 'wasm-opt')) ? bin : null;
}

const SOURCES = ['gpt_wasm.cc', 'gpt.cc', 'runtime.cc', 'gemm_generic.cc'];
// Functions the glue calls (engine/compute/wasm.ts); only gptlab_guarded catches C++ exceptions.
const EXPORTS = ['gptlab_init', 'gptlab_info', 'gptlab_create', 'gptlab_destroy', 'gptlab_loss', 'gptlab_loss_and_gradients',
  'gptlab_step', 'gptlab_forward_layers', 'gptlab_forward_layers_done', 'gptlab_gradients', 'gptlab_logits', 'gptlab_attention', 'gptlab_residual',
  'gptlab_rows', 'gptlab_batch', 'gptlab_time', 'gptlab_set_threads', 'gptlab_decode', 'gptlab_row_losses',
  'gptlab_row_scores', 'gptlab_reset_cache', 'gptlab_cached', 'gptlab_malloc', 'gptlab_free'];

const COMPILE = ['-O3', '-std=gnu++17', '-ffp-contract=fast', '-fno-math-errno', '-pthread', '-DGPTLAB_WASM_MR=4', '-DGPTLAB_WASM_NV=2',
  '-sEXCEPTION_CATCHING_ALLOWED=[gptlab_guarded]'];
const LINK = [
  '-sMODULARIZE=1', '-sEXPORT_NAME=createGptlabTrainer', '-sENVIRONMENT=node,worker', '-sALLOW_MEMORY_GROWTH=1',
  '-sINITIAL_MEMORY=33554432', '-sMAXIMUM_MEMORY=4294967296', '-sTOTAL_STACK=1048576',
  // Workers for the pool (cores - 1), created and loaded before the factory resolves: the pool starts inside a
  // synchronous call, where no new worker could load.
  '-sPTHREAD_POOL_SIZE=Module["gptlabWorkers"]||0', '-sPTHREAD_POOL_SIZE_STRICT=2',
  `-sEXPORTED_FUNCTIONS=${EXPORTS.map((e) => `_${e}`).join(',')}`,
  '-sEXPORTED_RUNTIME_METHODS=UTF8ToString', '-sEXIT_RUNTIME=0', '-sTEXTDECODER=2',
  '-sWASM_BIGINT=1', '-lexports.js', // see the note at the top
];

function toolchain() {
  const emcc = onPath(process.platform === 'win32' ? 'em++.bat' : 'em++');
  if (!emcc) keep('em++ not found; apt-get install emscripten');
  const clang = onPath(`clang++-${CLANG_VERSION}`);
  const ld = onPath(`wasm-ld-${CLANG_VERSION}`);
  if (!clang || !ld) keep(`clang++-${CLANG_VERSION} or wasm-ld-${CLANG_VERSION} not found; apt-get install clang-${CLANG_VERSION} lld-${CLANG_VERSION}`);
  const binaryen = binaryenBin();
  if (!binaryen) keep(`npm's binaryen@${BINARYEN_VERSION} could not be fetched into ${CACHE}`);
  const env = {
    ...process.env,
    EM_LLVM_ROOT: path.dirname(clang),
    EM_LLVM_ADD_VERSION: CLANG_VERSION,
    EM_CLANG_ADD_VERSION: CLANG_VERSION,
    EMCC_READ_METADATA: 'python',
    PATH: [binaryen, process.env.PATH].join(path.delimiter),
    // Debian's emscripten runs its JS tools with the system node, which finds Debian's node packages (acorn) only here.
    NODE_PATH: [process.env.NODE_PATH, '/usr/share/nodejs', '/usr/lib/nodejs'].filter(Boolean).join(path.delimiter),
  };
  return { emcc, env };
}

function build(tc, b, tmp) {
  const args = [...COMPILE, ...b.flags, ...LINK, ...SOURCES.map((s) => path.join(src, s)), '-o', path.join(tmp, `${b.name}.js`)];
  const t0 = Date.now();
  const res = spawnSync(tc.emcc, args, { env: tc.env, encoding: 'utf8', timeout: 15 * 60 * 1000, maxBuffer: 64 << 20 });
  if (res.error) keep(res.error.message);
  if (res.status !== 0) {
    const lines = `${res.stderr || ''}\n${res.stdout || ''}`.split('\n').filter((l) => /error/i.test(l));
    keep(`em++ failed on ${b.name}: ${(lines[0] || `exit ${res.status}`).slice(0, 300)}`);
  }
  for (const ext of ['wasm', ...GLUE_EXTS]) if (!fs.existsSync(path.join(tmp, `${b.name}.${ext}`))) keep(`em++ produced no ${b.name}.${ext}`);
  return (Date.now() - t0) / 1000;
}

/** Whether every build's glue is the first build's but for its own name, so that one glue serves them all. */
function sameGlue(tmp) {
  const first = BUILDS[0].name;
  return BUILDS.every((b) => GLUE_EXTS.every((ext) => {
    const own = fs.readFileSync(path.join(tmp, `${b.name}.${ext}`), 'utf8').split(b.name).join(first);
    return own === fs.readFileSync(path.join(tmp, `${first}.${ext}`), 'utf8');
  }));
}

function main() {
  if (process.env.GPTLAB_SKIP_WASM === '1') keep('GPTLAB_SKIP_WASM=1');
  const tc = toolchain();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-wasm-'));
  // Both are built before either is copied: the two builds in native/wasm/ always come from the same source.
  const seconds = BUILDS.map((b) => build(tc, b, tmp));
  if (!sameGlue(tmp)) keep(`the builds' glue differs in more than their names, so ${BUILDS[0].name}.js cannot load them all`);
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of OUTPUTS) fs.copyFileSync(path.join(tmp, f), path.join(outDir, f));
  // The per-build glue an earlier build script wrote: nothing loads it now.
  for (const b of BUILDS.slice(1)) for (const ext of GLUE_EXTS) fs.rmSync(path.join(outDir, `${b.name}.${ext}`), { force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
  const kb = (f) => (fs.statSync(path.join(outDir, f)).size / 1024).toFixed(0);
  BUILDS.forEach((b, i) => console.log(`gpt-lab: wasm trainer (${b.what}) built in ${seconds[i].toFixed(0)} s: native/wasm/${b.name}.wasm ${kb(`${b.name}.wasm`)} KB.`));
  console.log(`gpt-lab: one glue for both: native/wasm/${BUILDS[0].name}.js ${kb(`${BUILDS[0].name}.js`)} KB.`);
}

try {
  main();
} catch (e) {
  keep(e && e.message ? e.message : String(e));
}
