// Installing (cached) and launching code-server for one e2e session, and stopping it by the PID we started.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { log, poll, sleep } from './util';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
/** The extension folder to install (the repository root unless GPTLAB_E2E_EXTENSION_PATH names another one). */
export const EXTENSION_PATH = path.resolve(process.env.GPTLAB_E2E_EXTENSION_PATH ?? REPO_ROOT);

/** Runs scripts/e2e/install-code-server.sh (a no-op once cached) and returns the install directory. */
export function installCodeServer(timeoutMs: number): string {
  const script = path.join(REPO_ROOT, 'scripts', 'e2e', 'install-code-server.sh');
  const started = Date.now();
  const result = spawnSync('bash', [script], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
  });
  if (result.error) throw new Error(`install-code-server.sh: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`install-code-server.sh exited with ${result.status ?? result.signal}`);
  const dir = result.stdout.trim().split('\n').pop() ?? '';
  if (!fs.existsSync(entryOf(dir))) throw new Error(`install-code-server.sh printed "${dir}", which has no code-server`);
  log(`code-server ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${dir}`);
  return dir;
}

function entryOf(installDir: string): string {
  return path.join(installDir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

export interface SessionOptions {
  installDir: string;
  /** A fresh scratch directory for this session (user data, extensions, HOME, log). */
  dir: string;
  /** The workspace folder to open (a scratch copy). */
  workspace: string;
  /** Written to the user settings.json before launch. */
  settings: Record<string, unknown>;
  /** Extra environment for code-server and so for the extension host. */
  env?: Record<string, string>;
  /** Workspace trust on, so the workspace opens untrusted (Restricted Mode); by default trust is off (all trusted). */
  restricted?: boolean;
}

export interface CodeServer {
  readonly port: number;
  readonly origin: string;
  readonly pid: number;
  readonly logFile: string;
  readonly workspace: string;
  stop(): Promise<void>;
  logTail(lines?: number): string;
}

const running = new Set<ChildProcess>();

/** Kill what is still running when the runner exits for any reason (synchronous: 'exit' handlers cannot wait). */
process.on('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL');
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    // Negative PID: the process group we created with `detached`, i.e. code-server, its server child and the
    // extension host with whatever it spawned (the engine worker), all started by us.
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

export async function launchCodeServer(options: SessionOptions): Promise<CodeServer> {
  const { dir, workspace } = options;
  const userDir = path.join(dir, 'user');
  const extensionsDir = path.join(dir, 'exts');
  for (const sub of ['config', 'data', 'cache', 'home', path.join('user', 'User'), 'exts']) {
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
  }
  fs.writeFileSync(path.join(userDir, 'User', 'settings.json'), `${JSON.stringify(options.settings, null, 2)}\n`);

  // The extension, installed by symlink: <publisher>.<name>-<version> -> the repository root.
  const pkg = JSON.parse(fs.readFileSync(path.join(EXTENSION_PATH, 'package.json'), 'utf8')) as {
    publisher: string;
    name: string;
    version: string;
  };
  fs.symlinkSync(EXTENSION_PATH, path.join(extensionsDir, `${pkg.publisher}.${pkg.name}-${pkg.version}`), 'dir');

  const port = await freePort();
  const logFile = path.join(dir, 'code-server.log');
  const logFd = fs.openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [
      entryOf(options.installDir),
      '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none',
      '--user-data-dir', userDir,
      '--extensions-dir', extensionsDir,
      '--disable-telemetry',
      '--disable-update-check',
      ...(options.restricted ? [] : ['--disable-workspace-trust']),
      '--disable-getting-started-override',
      workspace,
    ],
    {
      cwd: dir,
      detached: true, // its own process group, so stop() reaches the extension host and the engine too
      stdio: ['ignore', logFd, logFd],
      env: {
        ...process.env,
        XDG_CONFIG_HOME: path.join(dir, 'config'),
        XDG_DATA_HOME: path.join(dir, 'data'),
        XDG_CACHE_HOME: path.join(dir, 'cache'),
        HOME: path.join(dir, 'home'),
        ...options.env,
      },
    },
  );
  fs.closeSync(logFd);
  running.add(child);
  let exited: string | undefined;
  child.on('exit', (code, signal) => {
    exited = `exited with ${code ?? signal}`;
    running.delete(child);
  });

  const origin = `http://127.0.0.1:${port}`;
  const logTail = (lines = 30): string => {
    try {
      return fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  const stop = async (): Promise<void> => {
    if (exited !== undefined || child.pid === undefined) return;
    killGroup(child, 'SIGTERM');
    const deadline = Date.now() + 5_000;
    while (exited === undefined && Date.now() < deadline) await sleep(100);
    killGroup(child, 'SIGKILL'); // also whatever the group left behind (e.g. an engine worker)
    running.delete(child);
  };

  try {
    await poll(
      async () => {
        if (exited !== undefined) throw new Error(`code-server ${exited}:\n${logTail()}`);
        const res = await fetch(`${origin}/healthz`, { signal: AbortSignal.timeout(2_000) });
        return res.ok;
      },
      30_000,
      `code-server /healthz on port ${port}`,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  log(`code-server pid ${child.pid} on ${origin} (log: ${logFile})`);
  return { port, origin, pid: child.pid ?? -1, logFile, workspace, stop, logTail };
}
