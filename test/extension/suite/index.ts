// Entry point of the in-host test suite, as @vscode/test-electron expects: `extensionTestsPath` points at this file's
// compiled form (out/test/extension/suite/index.js) and the extension host calls `run()`; a rejection means failure.
// Used by both `npm run test:vscode` (downloaded VS Code) and `npm run test:e2e` (code-server, offline).
//
// Env: GPTLAB_TEST_GREP (only tests whose full title matches), GPTLAB_TEST_REPORT (also append every report line to
// this file: code-server forwards the host's console to the browser mixed with the workbench's own logs).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { format } from 'node:util';
import { removeScratchDir } from './helpers';

// mocha 11 is ESM-first, but `require('mocha')` still returns the Mocha class (CommonJS build).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Mocha = require('mocha') as typeof import('mocha');

export function run(): Promise<void> {
  const reportFile = process.env.GPTLAB_TEST_REPORT;
  /** One finished report line: to the console (the host's stdout or the workbench log) and the report file. */
  const report = (line: string): void => {
    console.log(line);
    if (!reportFile) return;
    try {
      fs.appendFileSync(reportFile, `${line}\n`);
    } catch (err) {
      console.error(`cannot append to GPTLAB_TEST_REPORT=${reportFile}: ${String(err)}`);
    }
  };
  // Reporters print through Base.consoleLog with printf-style arguments; hand on whole, formatted lines instead
  // (the workbench's log forwarding would otherwise show the raw "%s" format strings).
  const base = Mocha.reporters.Base as unknown as { consoleLog: (...args: unknown[]) => void };
  const originalConsoleLog = base.consoleLog;
  base.consoleLog = (...args: unknown[]): void => {
    for (const line of format(...args).split('\n')) report(line);
  };

  // Waits inside the tests follow progress (helpers.ts STALL_MS); this only catches a test stuck outside them.
  const mocha = new Mocha({ ui: 'tdd', color: false, reporter: 'spec', timeout: 600_000, slow: 10_000 });
  const grep = process.env.GPTLAB_TEST_GREP;
  if (grep) mocha.grep(grep);
  const files = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js'))
    .sort();
  for (const f of files) mocha.addFile(path.join(__dirname, f));

  return new Promise<void>((resolve, reject) => {
    const finish = (passes: number, failures: number, err?: unknown): void => {
      // The closing line the e2e runner reads (and prints again as its own last line).
      report(`${passes} passed, ${failures} failed`);
      base.consoleLog = originalConsoleLog;
      removeScratchDir();
      if (err !== undefined) reject(err instanceof Error ? err : new Error(`the suite could not run: ${format(err)}`));
      else if (failures > 0) reject(new Error(`${failures} test(s) failed`));
      else resolve();
    };
    try {
      const runner = mocha.run((failures) => finish(runner.stats?.passes ?? 0, failures));
    } catch (err) {
      report(`the suite could not run: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      finish(0, 1, err);
    }
  });
}
