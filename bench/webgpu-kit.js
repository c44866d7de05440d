#!/usr/bin/env node
// Packs what bench/webgpu.js needs on a Linux x64 machine that has a GPU and nothing else: no Node, no registry.
// The kit is this Node binary, exactly the files of the repository that the bench's sides load (traced from a real
// run of its CPU side, with the package.json files that resolve them), Dawn's binding, the native addon, the wasm
// trainer, the bundled sample, and the Vulkan loader with glvnd's dispatch libraries that NVIDIA's Vulkan driver
// needs; run.sh unpacks it (with python3's tarfile, else tar) and runs the bench with the arguments it is given.
//
//   npm run build && node bench/webgpu-kit.js [dir]      (dir: out/gpu-kit; about 40 MB)
//   sh <dir>/run.sh --out <file.json> [bench/webgpu.js options]
//
// The built repository must be this machine's (out/ by tsc, native/build by npm ci).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const DEST = path.resolve(process.argv[2] ?? path.join(ROOT, 'out', 'gpu-kit'));

/** Files beside the traced ones: loaded with process.dlopen or fs, or only where the addon does not load. */
const EXTRA = [
  'media/tinyshakespeare-sample.txt',
  'native/build/Release/gptlab_native.node',
  'native/wasm/gptlab_trainer.js',
  'native/wasm/gptlab_trainer.wasm',
  'native/wasm/gptlab_trainer.worker.js',
  'node_modules/webgpu/dist/linux-x64/dawn.node',
  'node_modules/webgpu/package.json',
];

/** The Vulkan loader, and the glvnd libraries NVIDIA's ICD (libGLX_nvidia) links to: used only where the system lacks them. */
const LIBS = ['libvulkan.so.1', 'libGLdispatch.so.0', 'libGLX.so.0', 'libEGL.so.1', 'libOpenGL.so.0'];

function fail(msg) {
  console.error(`webgpu-kit: ${msg}`);
  process.exit(2);
}

/** Every file of the repository that a run of the bench's CPU side on B (o200k_base) and tiny (char) loads. */
function traced() {
  const log = path.join(os.tmpdir(), `gptlab-kit-trace-${process.pid}.json`);
  const tracer = path.join(os.tmpdir(), `gptlab-kit-tracer-${process.pid}.js`);
  fs.writeFileSync(tracer, `process.on('exit', () => require('fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify(Object.keys(require.cache)) + '\\n'));\n`);
  try {
    for (const config of ['B', 'tiny']) {
      const r = spawnSync(process.execPath, ['-r', tracer, path.join(__dirname, 'webgpu.js'), '--side', 'cpu', '--config', config, '--steps', '1',
        '--warmup', '0', '--no-decode'], { encoding: 'utf8', cwd: ROOT });
      if (r.status !== 0) fail(`the traced run of the CPU side on ${config} failed: ${(r.stderr || '').trim().split('\n').slice(-2).join(' | ')}`);
    }
    const files = new Set();
    for (const line of fs.readFileSync(log, 'utf8').trim().split('\n')) for (const f of JSON.parse(line)) files.add(f);
    return [...files];
  } finally {
    fs.rmSync(log, { force: true });
    fs.rmSync(tracer, { force: true });
  }
}

/** The repository-relative files to pack: the traced ones, the package.json files above them, and EXTRA. */
function repoFiles() {
  const out = new Set(EXTRA.filter((f) => fs.existsSync(path.join(ROOT, f))));
  for (const file of traced()) {
    const rel = path.relative(ROOT, file);
    if (rel.startsWith('..') || path.isAbsolute(rel) || !fs.existsSync(file)) continue;
    out.add(rel);
    // Node resolves a package's entry point through its package.json, at every level from the file up.
    for (let dir = path.dirname(rel); dir !== '.'; dir = path.dirname(dir)) {
      if (fs.existsSync(path.join(ROOT, dir, 'package.json'))) out.add(path.join(dir, 'package.json'));
    }
  }
  out.add('package.json');
  for (const must of ['node_modules/webgpu/dist/linux-x64/dawn.node', 'out/engine/compute/webgpu/device.js']) {
    if (!out.has(must)) fail(`${must} is missing: npm ci and npm run build first`);
  }
  return [...out].sort();
}

/** Where the dynamic linker finds a library on this machine. */
function systemLib(name) {
  const r = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' });
  const line = (r.stdout || '').split('\n').find((l) => l.trim().startsWith(`${name} (`) && l.includes('x86-64'));
  return line ? line.split('=>').pop().trim() : null;
}

const RUN_SH = `#!/bin/sh
# bench/webgpu.js on a machine with a GPU and nothing installed: this kit brings Node, the engine and its modules,
# Dawn and the Vulkan loader (made by bench/webgpu-kit.js). Arguments go to bench/webgpu.js.
set -e
here=$(cd "$(dirname "$0")" && pwd)
kit=\${GPTLAB_KIT_DIR:-/tmp/gptlab-kit}
if [ ! -x "$kit/bin/node" ]; then
  mkdir -p "$kit"
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import sys, tarfile
t = tarfile.open(sys.argv[1])
try: t.extractall(sys.argv[2], filter="tar")
except TypeError: t.extractall(sys.argv[2])' "$here/kit.tar.xz" "$kit"
  else
    tar -xJf "$here/kit.tar.xz" -C "$kit"
  fi
fi
# Dawn opens libvulkan.so.1 itself, and NVIDIA's driver needs glvnd's dispatch: the system's, else the kit's.
for lib in libvulkan.so.1 libGLdispatch.so.0; do
  if ! ldconfig -p 2>/dev/null | grep -q "$lib "; then export LD_LIBRARY_PATH="$kit/lib\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; break; fi
done
# NVIDIA's Vulkan driver where container runtimes mount it, when the loader's own search paths hold none.
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "\${VK_DRIVER_FILES:-}\${VK_ICD_FILENAMES:-}" ] && [ -f "$icd" ] && ! ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null | grep -qi nvidia; then
  export VK_DRIVER_FILES="$icd"
  [ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH="/usr/local/nvidia/lib64\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
cd "$kit"
exec "$kit/bin/node" bench/webgpu.js "$@"
`;

function main() {
  if (process.platform !== 'linux' || process.arch !== 'x64') fail('the kit is for Linux x64: build it on such a machine');
  const files = repoFiles();
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-kit-'));
  try {
    for (const rel of files) {
      fs.mkdirSync(path.join(stage, path.dirname(rel)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, rel), path.join(stage, rel));
    }
    fs.mkdirSync(path.join(stage, 'bin'));
    fs.copyFileSync(process.execPath, path.join(stage, 'bin', 'node'));
    fs.chmodSync(path.join(stage, 'bin', 'node'), 0o755);
    fs.mkdirSync(path.join(stage, 'lib'));
    const libs = [];
    for (const name of LIBS) {
      const at = systemLib(name);
      if (!at) continue;
      fs.copyFileSync(fs.realpathSync(at), path.join(stage, 'lib', name));
      libs.push(name);
    }
    if (!libs.includes('libvulkan.so.1')) fail('libvulkan.so.1 is not installed here (apt-get install libvulkan1)');
    fs.mkdirSync(DEST, { recursive: true });
    const tarball = path.join(DEST, 'kit.tar.xz');
    const r = spawnSync('tar', ['-C', stage, '-cJf', tarball, '.'], { stdio: 'inherit', env: { ...process.env, XZ_OPT: '-6 -T0' } });
    if (r.status !== 0) fail('tar -cJ failed (is xz installed?)');
    fs.writeFileSync(path.join(DEST, 'run.sh'), RUN_SH, { mode: 0o755 });
    const mb = (fs.statSync(tarball).size / 1e6).toFixed(1);
    console.log(`${tarball}: ${mb} MB (Node ${process.version}, ${files.length} repository files, ${libs.join(', ')})`);
    console.log(`run there: sh ${path.relative(ROOT, path.join(DEST, 'run.sh'))} --out "$OUT/webgpu.json" 2>&1 | tee "$OUT/webgpu.log"`);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

main();
