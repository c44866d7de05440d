// `npm run test:vscode`: the in-host suite (./suite) in a VS Code downloaded by @vscode/test-electron, for machines
// that can reach update.code.visualstudio.com (offline, use `npm run test:e2e`, which runs the same suite in
// code-server). Expects `npm run build` to have run (dist/extension.js, out/test/extension/).
// Env: GPTLAB_VSCODE_VERSION (default "stable"), GPTLAB_TEST_GREP (only matching tests),
//      GPTLAB_E2E_CACHE (download cache; default ~/.cache/gpt-lab-e2e).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

async function main(): Promise<number> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gpt-lab-vscode-test-'));
  try {
    const workspace = path.join(scratch, 'workspace');
    fs.mkdirSync(workspace);
    const sample = fs.readFileSync(path.join(REPO_ROOT, 'media', 'tinyshakespeare-sample.txt'), 'utf8').slice(0, 20_000);
    fs.writeFileSync(path.join(workspace, 'sample.txt'), sample.slice(0, sample.lastIndexOf('\n') + 1));
    fs.writeFileSync(path.join(workspace, 'notes.md'), '# Notes\n\nHello world.\n');
    const userDir = path.join(scratch, 'user');
    fs.mkdirSync(path.join(userDir, 'User'), { recursive: true });
    fs.writeFileSync(
      path.join(userDir, 'User', 'settings.json'),
      JSON.stringify({ 'workbench.startupEditor': 'none', 'telemetry.telemetryLevel': 'off', 'update.mode': 'none' }),
    );

    await runTests({
      version: process.env.GPTLAB_VSCODE_VERSION ?? 'stable',
      // The download is cached next to code-server's (scripts/e2e/install-code-server.sh), outside the repository.
      cachePath: path.join(
        process.env.GPTLAB_E2E_CACHE ?? path.join(os.homedir(), '.cache', 'gpt-lab-e2e'),
        'vscode-test',
      ),
      extensionDevelopmentPath: REPO_ROOT,
      extensionTestsPath: path.join(__dirname, 'suite', 'index.js'),
      launchArgs: [
        workspace,
        '--user-data-dir', userDir,
        '--extensions-dir', path.join(scratch, 'exts'),
        '--disable-extensions', // other extensions; the one under development still loads
        '--disable-workspace-trust',
        '--skip-welcome',
        '--skip-release-notes',
        '--disable-gpu',
      ],
      extensionTestsEnv: process.env.GPTLAB_TEST_GREP ? { GPTLAB_TEST_GREP: process.env.GPTLAB_TEST_GREP } : {},
    });
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`in-host tests failed: ${message}`);
    if (/ENOTFOUND|ECONNREFUSED|EAI_AGAIN|ETIMEDOUT/.test(message)) {
      console.error('VS Code could not be downloaded; offline, `npm run test:e2e` runs the same suite in code-server.');
    }
    return 1;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

void main().then((code) => {
  process.exitCode = code; // the process ends once its output has left; nothing else keeps it alive
});
