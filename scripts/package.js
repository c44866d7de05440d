#!/usr/bin/env node
// Packs the VSIXs: a universal one without native code (it trains on the wasm build of the native trainer, and the
// status bar says so), and one for this machine's platform that carries the native addon.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const { version } = require(path.join(root, 'package.json'));
const addon = path.join(root, 'native', 'build', 'Release', 'gptlab_native.node');
const target = `${process.platform === 'win32' ? 'win32' : process.platform}-${process.arch}`;

function vsce(args) {
  const r = spawnSync(process.execPath, [require.resolve('@vscode/vsce/vsce'), 'package', '--no-dependencies', ...args],
    { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function sizeOf(file) {
  return `${(fs.statSync(path.join(root, file)).size / 1048576).toFixed(1)} MB`;
}

// Universal: the same file list as .vscodeignore, less the addon.
const universalIgnore = path.join(root, 'out', 'universal.vscodeignore');
fs.mkdirSync(path.dirname(universalIgnore), { recursive: true });
fs.writeFileSync(universalIgnore, fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8')
  .split('\n').filter((line) => !line.includes('gptlab_native.node')).join('\n'));
const universal = `gpt-lab-${version}.vsix`;
vsce(['--ignoreFile', universalIgnore, '-o', universal]);
const made = [`${universal} (${sizeOf(universal)}, universal: wasm trainer)`];

if (fs.existsSync(addon)) {
  const native = `gpt-lab-${target}-${version}.vsix`;
  vsce(['--target', target, '-o', native]);
  made.push(`${native} (${sizeOf(native)}, ${target}: native trainer)`);
} else {
  console.warn(`package: no native addon built (${path.relative(root, addon)}), so no ${target} package`);
}
console.log(`packaged:\n  ${made.join('\n  ')}`);
