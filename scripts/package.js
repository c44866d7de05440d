#!/usr/bin/env node
// Packs the VSIXs: a universal one without native code (it trains on the WebAssembly build of the native trainer, and
// the status bar says so), and one per platform whose native addon is built here: this machine's
// (native/build/Release) and any cross-built one in native/prebuilt/<platform>-<arch>/ (npm run build:cross): linux-arm64,
// win32-x64, darwin-arm64 and darwin-x64.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { checkDarwinAddon } = require('./cross/check-darwin.js');

const root = path.resolve(__dirname, '..');
const { version } = require(path.join(root, 'package.json'));
const here = `${process.platform}-${process.arch}`;
const ADDON = 'gptlab_native.node';

/**
 * The .vscodeignore without its native lines, plus the lines that let one target's addon in (test/package/files.test.ts
 * lists a package's files through it, as vsce does).
 */
function ignoreFileFor(name, nativeLines) {
  const base = fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8').split('\n').filter((l) => !l.includes(ADDON));
  const file = path.join(root, 'out', `${name}.vscodeignore`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, [...base, ...nativeLines].join('\n') + '\n');
  return file;
}

function vsce(args) {
  const r = spawnSync(process.execPath, [require.resolve('@vscode/vsce/vsce'), 'package', '--no-dependencies', ...args],
    { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

module.exports = { ignoreFileFor, ADDON };
if (require.main === module) main();

function main() {
  const made = [];
  function pack(file, ignore, extra, what) {
    vsce(['--ignoreFile', ignore, '-o', file, ...extra]);
    made.push(`${file} (${(fs.statSync(path.join(root, file)).size / 1048576).toFixed(1)} MB, ${what})`);
  }

  pack(`gpt-lab-${version}.vsix`, ignoreFileFor('universal', []), [], 'universal: wasm trainer');
  const targets = new Map();
  if (fs.existsSync(path.join(root, 'native', 'build', 'Release', ADDON))) targets.set(here, `native/build/Release/${ADDON}`);
  const prebuilt = path.join(root, 'native', 'prebuilt');
  for (const target of fs.existsSync(prebuilt) ? fs.readdirSync(prebuilt) : []) {
    if (!targets.has(target) && fs.existsSync(path.join(prebuilt, target, ADDON))) targets.set(target, `native/prebuilt/${target}/${ADDON}`);
  }
  /**
   * The WebGPU trainer's binding (the `webgpu` package's Dawn build for the target) beside the addon: vsce leaves
   * node_modules out, so it is copied to native/webgpu/<dir>/, where engine/compute/webgpu/device.ts looks first, for
   * the time of the packing (a stale copy would shadow node_modules in this checkout).
   */
  function dawnLines(target) {
    const dir = target.startsWith('darwin-') ? 'darwin-universal' : target;
    const from = path.join(root, 'node_modules', 'webgpu', 'dist', dir);
    if (!fs.existsSync(path.join(from, 'dawn.node'))) return [];
    fs.cpSync(from, path.join(root, 'native', 'webgpu', dir), { recursive: true });
    return [`!native/webgpu/${dir}/**`];
  }

  const refused = [];
  for (const [target, addon] of targets) {
    // A macOS addon cannot run here (scripts/cross/build-darwin.sh): it is packed only when it passes the static checks.
    const problems = target.startsWith('darwin-') ? checkDarwinAddon(path.join(root, addon), target.slice('darwin-'.length)) : [];
    if (problems.length) {
      refused.push(`${target}: ${addon}: ${problems.join('; ')}`);
      continue;
    }
    const dawn = dawnLines(target);
    pack(`gpt-lab-${target}-${version}.vsix`, ignoreFileFor(target, [`!${addon}`, ...dawn]), ['--target', target],
      `${target}: native trainer${dawn.length ? ', WebGPU' : ''}`);
    fs.rmSync(path.join(root, 'native', 'webgpu'), { recursive: true, force: true });
  }
  console.log(`packaged:\n  ${made.join('\n  ')}`);
  if (refused.length) {
    process.stderr.write(`not packaged, the addon failed its static checks:\n  ${refused.join('\n  ')}\n`);
    process.exitCode = 1;
  }
}
