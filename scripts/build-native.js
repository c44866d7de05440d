#!/usr/bin/env node
// Builds the optional native sgemm addon (native/) with node-gyp.
// Never fails the install: on any problem it prints one warning line and
// exits 0, and GPT Lab falls back to the pure tfjs kernels.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const nativeDir = path.join(root, 'native');

function warn(msg) {
  // The packaged addon for this platform (scripts/cross/, per-platform VSIX) is what the engine loads next.
  const prebuilt = path.join('native', 'prebuilt', `${process.platform}-${process.arch}`, 'gptlab_native.node');
  const next = fs.existsSync(path.join(root, prebuilt)) ? `the engine uses ${prebuilt}` : 'the engine trains on the wasm build (native/wasm/) instead';
  // Written synchronously: npm pipes this script's output, and process.exit right after a piped write can cut it short.
  fs.writeSync(2, `gpt-lab: native addon not built (${msg}); ${next}.\n`);
  process.exit(0);
}

function findNodeGyp() {
  // 1. A node-gyp installed in the project or globally resolvable.
  try {
    return require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
  } catch {
    /* fall through */
  }
  // 2. npm's bundled copy (npm_execpath points at npm-cli.js during installs).
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  const nodeDir = path.dirname(process.execPath);
  candidates.push(
    path.join(nodeDir, '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
    '/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  );
  return candidates.find((p) => {
    try {
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  });
}

function main() {
  if (process.env.GPTLAB_SKIP_NATIVE === '1') warn('GPTLAB_SKIP_NATIVE=1');
  if (!fs.existsSync(path.join(nativeDir, 'binding.gyp'))) warn('native/binding.gyp missing');
  const gyp = findNodeGyp();
  if (!gyp) warn('node-gyp not found');
  const args = [gyp, 'rebuild'];
  // Offline builds: use local Node headers when they are installed.
  if (!process.env.npm_config_nodedir) {
    const headers = path.join(path.dirname(process.execPath), '..', 'include', 'node', 'node_api.h');
    if (fs.existsSync(headers)) args.push(`--nodedir=${path.resolve(path.dirname(headers), '..', '..')}`);
  }
  const verbose = process.env.GPTLAB_NATIVE_VERBOSE === '1';
  const res = spawnSync(process.execPath, args, {
    cwd: nativeDir,
    stdio: verbose ? 'inherit' : 'pipe',
    encoding: 'utf8',
    timeout: 10 * 60 * 1000,
  });
  if (res.error) warn(res.error.message);
  if (res.status !== 0) {
    const tail = `${res.stderr || ''}`.trim().split('\n').filter((l) => /error/i.test(l)).pop() || `exit ${res.status}`;
    warn(`node-gyp failed: ${tail.slice(0, 200)}`);
  }
  const out = path.join(nativeDir, 'build', 'Release', 'gptlab_native.node');
  if (!fs.existsSync(out)) warn('build produced no gptlab_native.node');
  // Smoke test: load it in a child so a bad binary cannot crash this process.
  const probe = spawnSync(process.execPath, ['-e', `const m={exports:{}};process.dlopen(m,${JSON.stringify(out)});process.stdout.write(JSON.stringify(m.exports.info()))`], { encoding: 'utf8', timeout: 30000 });
  if (probe.status !== 0) warn(`built addon failed to load: ${(probe.stderr || '').trim().split('\n')[0]}`);
  let info = {};
  try {
    info = JSON.parse(probe.stdout);
  } catch {
    /* ignore */
  }
  console.log(`gpt-lab: native sgemm addon built (isa=${info.isa}, threads=${info.maxThreads}).`);
}

try {
  main();
} catch (e) {
  warn(e && e.message ? e.message : String(e));
}
