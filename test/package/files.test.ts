// What a VSIX holds, listed as `vsce package` lists it (vsce's own listFiles, through the ignore file
// scripts/package.js writes for each package): what the editor needs is there, and no screenshot, test, fixture,
// source map or source file ships. Needs the build (npm test builds first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ignoreFileFor, ADDON } = require(path.join(root, 'scripts', 'package.js')) as {
  ignoreFileFor: (name: string, nativeLines: string[]) => string; ADDON: string };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const vsce = require('@vscode/vsce') as { listFiles(o: { cwd: string; packageManager: string; ignoreFile: string }): Promise<string[]>;
  PackageManager: { None: string } };

async function packageFiles(name: string, nativeLines: string[]): Promise<string[]> {
  const files = await vsce.listFiles({ cwd: root, packageManager: vsce.PackageManager.None, ignoreFile: ignoreFileFor(name, nativeLines) });
  return files.map((f) => f.split(path.sep).join('/')).sort();
}

/** What must never ship, with why. */
const NEVER: [RegExp, string][] = [
  [/^media\/screenshots\//, 'a screenshot'],
  [/^test\//, 'a test or fixture'],
  [/\.map$/, 'a source map'],
  [/\.ts$/, 'TypeScript source'],
  [/^(out|engine|extension|webviews|scripts|bench|bin)\//, 'source, build output or tooling'],
  [/^dist\/cli\.js$/, 'the CLI bundle'],
  [/\.png$/, 'an image other than the icon'],
];

test('the universal VSIX holds what the editor runs and nothing it does not', async () => {
  const files = await packageFiles('universal-test', []);
  for (const needed of ['package.json', 'README.md', 'LICENSE', 'dist/extension.js', 'dist/engine-worker.js', 'media/icon.png',
    'media/tinyshakespeare-sample.txt', 'native/wasm/gptlab_trainer.js', 'native/wasm/gptlab_trainer.wasm']) {
    assert.ok(files.includes(needed), `${needed} is missing from the package: ${files.join(', ')}`);
  }
  // Every file the walkthrough shows, every webview bundle, and tfjs's wasm binaries.
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    contributes: { walkthroughs: { steps: { media: { markdown?: string; image?: string } }[] }[] } };
  for (const step of pkg.contributes.walkthroughs.flatMap((w) => w.steps)) {
    const media = step.media.markdown ?? step.media.image;
    if (media) assert.ok(files.includes(media), `the walkthrough's ${media} is missing`);
  }
  for (const bundle of fs.readdirSync(path.join(root, 'dist', 'webviews')).filter((f) => /\.(js|css)$/.test(f))) {
    assert.ok(files.includes(`dist/webviews/${bundle}`), `webview bundle ${bundle} is missing`);
  }
  assert.ok(files.some((f) => /^dist\/.*\.wasm$/.test(f)), 'tfjs\'s wasm binaries are missing');
  for (const f of files) {
    if (f === 'media/icon.png') continue;
    for (const [pattern, what] of NEVER) assert.ok(!pattern.test(f), `${f} would ship: ${what}`);
  }
  assert.ok(!files.some((f) => f.endsWith(ADDON)), 'the universal package carries no native addon');
});

test('a platform VSIX adds its native addon and nothing else', async () => {
  const addon = `native/build/Release/${ADDON}`;
  const universal = await packageFiles('universal-test', []);
  const platform = await packageFiles('platform-test', [`!${addon}`]);
  const extra = platform.filter((f) => !universal.includes(f));
  assert.deepEqual(extra, fs.existsSync(path.join(root, addon)) ? [addon] : []);
});
