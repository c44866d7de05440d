// Runs the in-host mocha suite (test/extension/suite) inside code-server's extension host, the way @vscode/test-web
// does: the workbench URL's `payload` names extensionDevelopmentPath/extensionTestsPath, and the workbench reports the
// tests' exit code through window.codeAutomationExit and its log lines through window.codeAutomationLog.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CodeServer, EXTENSION_PATH, REPO_ROOT } from './codeServer';
import { openBrowser } from './workbench';
import { errorMessage, log, withTimeout } from './util';

export const SUITE_ENTRY = path.join(REPO_ROOT, 'out', 'test', 'extension', 'suite', 'index.js');

export interface SuiteResult {
  exitCode: number;
  passed: number;
  failed: number;
  seconds: number;
}

const SUMMARY = /^(\d+) passed, (\d+) failed$/;

export async function runInHostSuite(server: CodeServer, reportFile: string, timeoutMs: number): Promise<SuiteResult> {
  const started = Date.now();
  const browser = await openBrowser();
  const printed: string[] = [];
  const print = (line: string): void => {
    printed.push(line);
    process.stdout.write(`  | ${line}\n`);
  };
  try {
    const { page } = browser;
    let onExit!: (code: number) => void;
    const exited = new Promise<number>((resolve) => (onExit = resolve));
    await page.exposeFunction('codeAutomationExit', (code: number) => onExit(Number(code)));
    // The workbench's log (it includes what the extension host logs); its errors also reach the console below.
    await page.exposeFunction('codeAutomationLog', () => undefined);

    // The extension host's console reaches the page's console, mixed with the workbench's own log lines; the report
    // itself is read from reportFile. Uncaught errors of the host are worth seeing.
    page.on('console', (msg) => {
      const text = msg.text();
      if (msg.type() !== 'error' || text.startsWith('Failed to load resource') || /test\(s\) failed/.test(text)) return;
      log(`console error: ${text.replace(/%c\s*|color: #\w+\s*/g, '').slice(0, 400)}`);
    });
    const remote = (p: string): string => `vscode-remote://127.0.0.1:${server.port}${p}`;
    const payload = [
      ['extensionDevelopmentPath', remote(EXTENSION_PATH)],
      ['extensionTestsPath', remote(SUITE_ENTRY)],
    ];
    const url = `${server.origin}/?folder=${encodeURIComponent(server.workspace)}&payload=${encodeURIComponent(
      JSON.stringify(payload),
    )}`;
    log(`in-host suite: ${SUITE_ENTRY}`);
    await page.goto(url, { timeout: 60_000 });

    // Print the report as the extension host writes it (it tees mocha's console output into reportFile).
    let shown = 0;
    const drain = (): void => {
      if (!fs.existsSync(reportFile)) return;
      const lines = fs.readFileSync(reportFile, 'utf8').split('\n');
      const complete = lines.slice(0, -1); // the last element is an unfinished line (or '')
      for (const line of complete.slice(shown)) print(line);
      shown = complete.length;
    };
    const ticker = setInterval(drain, 500);
    let exitCode: number;
    try {
      exitCode = await withTimeout(exited, timeoutMs, 'the in-host suite to finish (codeAutomationExit)');
    } catch (err) {
      log(errorMessage(err));
      exitCode = 124;
    } finally {
      clearInterval(ticker);
      drain();
    }

    const summary = printed.map((l) => SUMMARY.exec(l.trim())).filter((m) => m !== null).pop();
    let passed = summary ? Number(summary[1]) : 0;
    let failed = summary ? Number(summary[2]) : 0;
    if (exitCode !== 0 && failed === 0) failed = 1; // it failed before or outside mocha (load error, timeout)
    if (exitCode === 0 && !summary) {
      failed = 1;
      passed = 0;
      log('the suite exited 0 but printed no "N passed, N failed" line');
    }
    log(`in-host suite exit code ${exitCode}`);
    return { exitCode, passed, failed, seconds: (Date.now() - started) / 1000 };
  } finally {
    await browser.close();
  }
}
