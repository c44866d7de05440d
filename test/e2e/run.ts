// `npm run test:e2e`: GPT Lab in a real VS Code, offline. code-server 4.100.3 (installed once into a cache by
// scripts/e2e/install-code-server.sh) is driven by playwright-core with Debian's Chromium:
//   1. the in-host mocha suite (test/extension/suite) runs inside the extension host; its report is printed;
//   2. its Restricted Mode tests run again in an untrusted workspace that plants native code and costly settings;
//   3. the UI scenario runs in a fresh code-server per theme (dark, light), with a screenshot per step
//      in test/e2e/screenshots/<step>-<theme>.png.
// Every session gets its own port, user data, extensions dir and a scratch copy of the workspace; code-server is
// stopped by the process group we started, always. The last line is "N passed, N failed" (suite tests + UI steps);
// the exit status is 1 when anything failed.
//
// Expects `npm run build` (dist/extension.js) and `tsc -b test` (out/test/...) to have run.
// Env: GPTLAB_E2E_PARTS=suite,restricted,ui   GPTLAB_E2E_THEMES=dark,light   GPTLAB_E2E_CACHE (code-server cache folder)
//      GPTLAB_E2E_TIMEOUT_S=1500 (whole run, after the install)   GPTLAB_E2E_KEEP=1 (keep the scratch folder)
//      GPTLAB_TEST_GREP (only matching in-host tests)   GPTLAB_E2E_CHROMIUM (default /usr/bin/chromium)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type CodeServer, REPO_ROOT, installCodeServer, launchCodeServer } from './codeServer';
import { type StepResult, runScenario } from './scenario';
import { SUITE_ENTRY, runInHostSuite } from './suite';
import { envNumber, errorMessage, exitAfterDrain, log } from './util';

const THEMES: Record<string, string> = { dark: 'Default Dark Modern', light: 'Default Light Modern' };
const SCREENSHOTS = path.join(REPO_ROOT, 'test', 'e2e', 'screenshots');
const SAMPLE_FILE = 'sample.txt';

/** Settings every session starts with (the user settings.json of its scratch user-data dir). */
function settingsFor(theme: string): Record<string, unknown> {
  return {
    'workbench.colorTheme': THEMES[theme] ?? THEMES.dark,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'editor.hover.delay': 100,
    'editor.inlineSuggest.enabled': true,
    // No word-based suggest widget: it would cover (and suppress) the ghost text the scenario looks for.
    'editor.quickSuggestions': { other: 'off', comments: 'off', strings: 'off' },
    'editor.wordBasedSuggestions': 'off',
    'editor.suggestOnTriggerCharacters': false,
    'editor.minimap.enabled': false,
    'files.autoSave': 'off',
    'security.workspace.trust.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'update.mode': 'none',
    'gptLab.preset': 'tiny',
    'gptLab.steps': 150,
    'gptLab.ghostText.temperature': 0, // greedy: the same completion every run
  };
}

/** A scratch workspace: ~20 KB of the bundled Shakespeare (cut at a line end) as sample.txt, and a small notes.md. */
function makeWorkspace(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const text = fs.readFileSync(path.join(REPO_ROOT, 'media', 'tinyshakespeare-sample.txt'), 'utf8').slice(0, 20_000);
  fs.writeFileSync(path.join(dir, SAMPLE_FILE), text.slice(0, text.lastIndexOf('\n') + 1));
  fs.writeFileSync(
    path.join(dir, 'notes.md'),
    '# Notes\n\nA scratch workspace for the GPT Lab e2e run. Hello world: tokens, attention, loss.\n',
  );
  return dir;
}

/**
 * An untrusted workspace that plants code where an engine could once have loaded it from the working directory:
 * a C library whose constructor writes `marker` (as the native addon and as Dawn's binding, in every place they were
 * looked for), wasm glue that writes it when required, and costly settings in .vscode/settings.json.
 */
function plantedWorkspace(dir: string, marker: string): string {
  makeWorkspace(dir);
  const lib = path.join(path.dirname(dir), 'planted.node');
  const src = `${lib}.c`;
  fs.writeFileSync(src, `#include <stdio.h>\n__attribute__((constructor)) static void planted(void) {\n` +
    `  FILE* f = fopen(${JSON.stringify(marker)}, "w");\n  if (f) { fputs("loaded\\n", f); fclose(f); }\n}\n`);
  const cc = spawnSync('cc', ['-shared', '-fPIC', '-o', lib, src], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc could not build the planted library: ${cc.stderr}`);
  const platform = `${process.platform}-${process.arch}`;
  for (const rel of [path.join('native', 'build', 'Release', 'gptlab_native.node'), path.join('native', 'prebuilt', platform, 'gptlab_native.node'),
    path.join('native', 'webgpu', platform, 'dawn.node'), path.join('node_modules', 'webgpu', 'dist', platform, 'dawn.node')]) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.copyFileSync(lib, path.join(dir, rel));
  }
  fs.mkdirSync(path.join(dir, 'native', 'wasm'), { recursive: true });
  // The glue both wasm builds load through, with the builds it would be loaded for.
  fs.writeFileSync(path.join(dir, 'native', 'wasm', 'gptlab_trainer.js'), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'loaded');\n`);
  for (const build of ['gptlab_trainer.wasm', 'gptlab_trainer_fma.wasm']) fs.writeFileSync(path.join(dir, 'native', 'wasm', build), 'planted');
  fs.mkdirSync(path.join(dir, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.vscode', 'settings.json'), JSON.stringify({ 'gptLab.steps': 5_000_000, 'gptLab.ghostText.maxTokens': 100_000,
    'gptLab.ghostText.scope': 'allFiles', 'gptLab.hover.encoding': 'cl100k_base' }, null, 2));
  return dir;
}

interface Tally {
  passed: number;
  failed: number;
}

async function main(): Promise<number> {
  const parts = new Set((process.env.GPTLAB_E2E_PARTS ?? 'suite,restricted,ui').split(',').map((s) => s.trim()));
  const themes = (process.env.GPTLAB_E2E_THEMES ?? 'dark,light').split(',').map((s) => s.trim()).filter(Boolean);
  for (const t of themes) if (!(t in THEMES)) throw new Error(`unknown theme "${t}" (known: ${Object.keys(THEMES).join(', ')})`);

  for (const [file, how] of [
    [path.join(REPO_ROOT, 'dist', 'extension.js'), 'npm run build'],
    [SUITE_ENTRY, 'npx tsc -b test'],
  ] as const) {
    if (!fs.existsSync(file)) throw new Error(`${path.relative(REPO_ROOT, file)} is missing: run \`${how}\` first`);
  }

  const installDir = installCodeServer(15 * 60_000);
  const budgetMs = envNumber('GPTLAB_E2E_TIMEOUT_S', 1500) * 1000;
  // Last resort against a hang anywhere: the 'exit' handler in codeServer.ts kills every code-server group.
  const watchdog = setTimeout(() => {
    log(`the e2e run exceeded GPTLAB_E2E_TIMEOUT_S=${budgetMs / 1000}; stopping everything`);
    process.stdout.write('0 passed, 1 failed\n');
    exitAfterDrain(1);
  }, budgetMs);
  watchdog.unref();

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gpt-lab-e2e-'));
  log(`scratch folder ${scratch}`);
  const tally: Tally = { passed: 0, failed: 0 };
  const timings: string[] = [];

  const session = async <T>(name: string, theme: string, body: (server: CodeServer) => Promise<T>, env?: Record<string, string>,
    restricted?: { marker: string }): Promise<T> => {
    const dir = path.join(scratch, name);
    fs.mkdirSync(dir, { recursive: true });
    const workspace = path.join(dir, 'workspace');
    const server = await launchCodeServer({
      installDir,
      dir,
      workspace: restricted ? plantedWorkspace(workspace, restricted.marker) : makeWorkspace(workspace),
      settings: restricted ? { ...settingsFor(theme), 'security.workspace.trust.enabled': true,
        'security.workspace.trust.startupPrompt': 'never', 'security.workspace.trust.banner': 'never' } : settingsFor(theme),
      env,
      restricted: restricted !== undefined,
    });
    try {
      return await body(server);
    } catch (err) {
      log(`code-server log tail (${server.logFile}):\n${server.logTail(20)}`);
      throw err;
    } finally {
      await server.stop();
      log(`code-server pid ${server.pid} stopped`);
    }
  };

  if (parts.has('suite')) {
    const reportFile = path.join(scratch, 'suite-report.txt');
    try {
      const result = await session('suite', 'dark', (server) => runInHostSuite(server, reportFile, 1_200_000), {
        GPTLAB_TEST_REPORT: reportFile,
        ...(process.env.GPTLAB_TEST_GREP ? { GPTLAB_TEST_GREP: process.env.GPTLAB_TEST_GREP } : {}),
      });
      tally.passed += result.passed;
      tally.failed += result.failed;
      timings.push(`in-host suite: exit code ${result.exitCode}, ${result.passed} passed, ${result.failed} failed, ${result.seconds.toFixed(1)} s`);
    } catch (err) {
      tally.failed += 1;
      timings.push(`in-host suite: did not run: ${errorMessage(err)}`);
    }
  }

  if (parts.has('restricted')) {
    // The same in-host suite, only its Restricted Mode tests, in an untrusted workspace full of planted native code.
    const reportFile = path.join(scratch, 'restricted-report.txt');
    const marker = path.join(scratch, 'planted-code-was-loaded');
    try {
      const result = await session('restricted', 'dark', (server) => runInHostSuite(server, reportFile, 300_000), {
        GPTLAB_TEST_REPORT: reportFile, GPTLAB_TEST_GREP: 'Restricted Mode', GPTLAB_PLANTED_MARKER: marker,
      }, { marker });
      const loaded = fs.existsSync(marker);
      if (loaded) log(`planted native code was loaded: ${marker} exists`);
      tally.passed += result.passed;
      tally.failed += result.failed + (loaded ? 1 : 0);
      timings.push(`Restricted Mode suite: exit code ${result.exitCode}, ${result.passed} passed, ${result.failed} failed` +
        `${loaded ? ', PLANTED CODE LOADED' : ''}, ${result.seconds.toFixed(1)} s`);
    } catch (err) {
      tally.failed += 1;
      timings.push(`Restricted Mode suite: did not run: ${errorMessage(err)}`);
    }
  }

  if (parts.has('ui')) {
    fs.rmSync(SCREENSHOTS, { recursive: true, force: true });
    for (const theme of themes) {
      const started = Date.now();
      let steps: StepResult[] = [];
      try {
        steps = await session(`ui-${theme}`, theme, (server) =>
          runScenario(server, { theme, screenshotDir: SCREENSHOTS, fileName: SAMPLE_FILE }),
        );
      } catch (err) {
        steps = [{ step: 'session', ok: false, seconds: 0, detail: errorMessage(err) }];
      }
      const ok = steps.filter((s) => s.ok).length;
      tally.passed += ok;
      tally.failed += steps.length - ok;
      const failedSteps = steps.filter((s) => !s.ok).map((s) => s.step);
      timings.push(
        `UI scenario (${theme}): ${ok}/${steps.length} steps ok, ${((Date.now() - started) / 1000).toFixed(1)} s` +
          (failedSteps.length ? `; failed: ${failedSteps.join(', ')}` : ''),
      );
    }
    log(`screenshots in ${path.relative(REPO_ROOT, SCREENSHOTS)}/`);
  }

  if (process.env.GPTLAB_E2E_KEEP) log(`kept ${scratch}`);
  else fs.rmSync(scratch, { recursive: true, force: true });

  log('summary:');
  for (const line of timings) process.stdout.write(`  ${line}\n`);
  process.stdout.write(`${tally.passed} passed, ${tally.failed} failed\n`);
  return tally.failed > 0 || tally.passed === 0 ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping`);
    exitAfterDrain(130); // the 'exit' handler kills the code-server groups
  });
}

main().then(
  (code) => exitAfterDrain(code),
  (err: unknown) => {
    log(`e2e run failed: ${errorMessage(err)}`);
    process.stdout.write('0 passed, 1 failed\n');
    exitAfterDrain(1);
  },
);
