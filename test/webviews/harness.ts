/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The webview test harness: opens one GPT Lab view's real bundle (dist/webviews/<view>.js + .css + theme.css) in
 * headless Debian Chromium, inside exactly the page the extension serves (`viewShell()`: same CSP, a fresh nonce per
 * load), from a local http server on 127.0.0.1. A stand-in `acquireVsCodeApi` (injected with addInitScript) records
 * what the view posts and keeps its state across reloads, and the page gets a light or dark VS Code theme's
 * `--vscode-*` variables (Default Light Modern / Default Dark Modern) the way VS Code sets them: through the CSSOM,
 * so the CSP stays intact.
 *
 *   const v = await openView('loss', 'dark', { width: 1000, height: 700 });
 *   await v.waitForPosted('ready');
 *   await v.post({ type: 'run', params: { id: 'a', label: 'tiny' } });
 *   ...assert on v.page...
 *   await v.screenshot('loss');            // -> test/webviews/screenshots/loss-dark.png
 *   assert.deepEqual(v.consoleErrors, []); assert.deepEqual(v.cspViolations, []);
 *   await v.close();
 *
 * The browser is launched once per process and closed a moment after the last view closes (or by `shutdown()`).
 * Build the bundles first: `npx webpack --mode production --config-name webviews` (`npm run test:webviews` does).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { makeNonce, viewShell } from '../../extension/panels/html';
import type { ToHost, ToHostType, ToView, ViewName } from '../../engine/protocol';

export type Theme = 'light' | 'dark' | 'high-contrast';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const BUNDLE_DIR = path.join(REPO_ROOT, 'dist', 'webviews');
export const SCREENSHOT_DIR = path.join(REPO_ROOT, 'test', 'webviews', 'screenshots');

export interface OpenOptions {
  width?: number; // viewport, CSS px (default 1000)
  height?: number; // default 700
  /** The state VS Code restores into the webview (what a previous `setState` saved), as after a window reload. */
  state?: unknown;
}

export interface ViewPage<V extends ViewName> {
  page: Page;
  theme: Theme;
  /** Delivers a host -> view message, as the extension's `webview.postMessage` does (a window `message` event). */
  post(msg: ToView<V>): Promise<void>;
  /** Every message the view has posted so far (across reloads), in order. */
  posted(): Promise<ToHost<V>[]>;
  /** Waits (up to 10 s) until the view has posted `n` messages of this type and returns the n-th. */
  waitForPosted(type: ToHostType<V>, n?: number): Promise<ToHost<V>>;
  /** Console errors and uncaught page errors, as they happen. */
  consoleErrors: string[];
  /** CSP violations (`securitypolicyviolation` events): "directive blocked-uri". */
  cspViolations: string[];
  /** Saves test/webviews/screenshots/<name>-<theme>.png (or <name>.png when name already ends in -light/-dark). */
  screenshot(name: string): Promise<string>;
  /** The view's last saved state (its `setState` argument), or undefined. */
  state(): Promise<unknown>;
  /** Reloads the page as VS Code does after a window reload: the saved state comes back, no message is replayed. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

/** Default Light Modern / Default Dark Modern colours (VS Code 1.9x), as the `--vscode-*` variables webviews get. */
const THEMES: Record<'light' | 'dark', Record<string, string>> & Partial<Record<Theme, Record<string, string>>> = {
  light: {
    'foreground': '#3b3b3b', 'descriptionForeground': '#3b3b3b', 'errorForeground': '#f85149', 'focusBorder': '#005fb8',
    'icon-foreground': '#3b3b3b', 'widget-border': '#e5e5e5', 'widget-shadow': 'rgba(0, 0, 0, 0.16)', 'contrastBorder': 'transparent',
    'editor-background': '#ffffff', 'editor-foreground': '#3b3b3b', 'editor-selectionBackground': '#add6ff',
    'editor-inactiveSelectionBackground': '#e5ebf1', 'editor-lineHighlightBorder': '#eeeeee',
    'editorWidget-background': '#f8f8f8', 'editorWidget-foreground': '#3b3b3b', 'editorWidget-border': '#c8c8c8',
    'editorHoverWidget-background': '#f8f8f8', 'editorHoverWidget-foreground': '#3b3b3b', 'editorHoverWidget-border': '#c8c8c8',
    'editorHoverWidget-statusBarBackground': '#eeeeee',
    'panel-background': '#f8f8f8', 'panel-border': '#e5e5e5', 'sideBar-background': '#f8f8f8',
    'button-background': '#005fb8', 'button-foreground': '#ffffff', 'button-hoverBackground': '#0258a8',
    'button-border': 'rgba(0, 0, 0, 0.1)', 'button-secondaryBackground': '#e5e5e5', 'button-secondaryForeground': '#3b3b3b',
    'button-secondaryHoverBackground': '#cccccc',
    'input-background': '#ffffff', 'input-foreground': '#3b3b3b', 'input-border': '#cecece', 'input-placeholderForeground': '#767676',
    'inputOption-activeBackground': '#bed6ed', 'inputOption-activeBorder': '#005fb8',
    'dropdown-background': '#ffffff', 'dropdown-foreground': '#3b3b3b', 'dropdown-border': '#cecece',
    'checkbox-background': '#f8f8f8', 'checkbox-border': '#cecece', 'checkbox-foreground': '#3b3b3b',
    'badge-background': '#cccccc', 'badge-foreground': '#3b3b3b',
    'list-hoverBackground': '#f2f2f2', 'list-activeSelectionBackground': '#e8e8e8', 'list-activeSelectionForeground': '#000000',
    'textLink-foreground': '#005fb8', 'textLink-activeForeground': '#005fb8', 'textPreformat-foreground': '#3b3b3b',
    'textPreformat-background': 'rgba(0, 0, 0, 0.12)', 'textCodeBlock-background': '#f8f8f8', 'textBlockQuote-background': '#f8f8f8',
    'charts-foreground': '#616161', 'charts-lines': 'rgba(97, 97, 97, 0.5)', 'charts-red': '#e51400', 'charts-blue': '#1a85ff',
    'charts-yellow': '#bf8803', 'charts-orange': '#d18616', 'charts-green': '#388a34', 'charts-purple': '#652d90',
    'scrollbarSlider-background': 'rgba(100, 100, 100, 0.4)', 'scrollbarSlider-hoverBackground': 'rgba(100, 100, 100, 0.7)',
    'scrollbarSlider-activeBackground': 'rgba(0, 0, 0, 0.6)',
    'progressBar-background': '#005fb8', 'toolbar-hoverBackground': 'rgba(184, 184, 184, 0.31)',
    'editorWarning-foreground': '#bf8803', 'editorError-foreground': '#e51400', 'editorInfo-foreground': '#1a85ff',
    'notificationsWarningIcon-foreground': '#bf8803', 'inputValidation-warningBackground': '#f6f5d2',
    'inputValidation-warningBorder': '#b89500',
    'font-family': '-apple-system, BlinkMacSystemFont, "Segoe WPC", "Segoe UI", "Ubuntu", "Droid Sans", sans-serif',
    'font-size': '13px', 'font-weight': 'normal',
    'editor-font-family': '"Droid Sans Mono", "monospace", monospace', 'editor-font-size': '14px', 'editor-font-weight': 'normal',
  },
  dark: {
    'foreground': '#cccccc', 'descriptionForeground': '#9d9d9d', 'errorForeground': '#f85149', 'focusBorder': '#0078d4',
    'icon-foreground': '#cccccc', 'widget-border': '#313131', 'widget-shadow': 'rgba(0, 0, 0, 0.36)', 'contrastBorder': 'transparent',
    'editor-background': '#1f1f1f', 'editor-foreground': '#cccccc', 'editor-selectionBackground': '#264f78',
    'editor-inactiveSelectionBackground': '#3a3d41', 'editor-lineHighlightBorder': '#282828',
    'editorWidget-background': '#202020', 'editorWidget-foreground': '#cccccc', 'editorWidget-border': '#454545',
    'editorHoverWidget-background': '#202020', 'editorHoverWidget-foreground': '#cccccc', 'editorHoverWidget-border': '#454545',
    'editorHoverWidget-statusBarBackground': '#262626',
    'panel-background': '#181818', 'panel-border': '#2b2b2b', 'sideBar-background': '#181818',
    'button-background': '#0078d4', 'button-foreground': '#ffffff', 'button-hoverBackground': '#026ec1',
    'button-border': 'rgba(255, 255, 255, 0.07)', 'button-secondaryBackground': '#313131', 'button-secondaryForeground': '#cccccc',
    'button-secondaryHoverBackground': '#3c3c3c',
    'input-background': '#313131', 'input-foreground': '#cccccc', 'input-border': '#3c3c3c', 'input-placeholderForeground': '#989898',
    'inputOption-activeBackground': 'rgba(36, 137, 219, 0.51)', 'inputOption-activeBorder': '#2488db',
    'dropdown-background': '#313131', 'dropdown-foreground': '#cccccc', 'dropdown-border': '#3c3c3c',
    'checkbox-background': '#313131', 'checkbox-border': '#3c3c3c', 'checkbox-foreground': '#cccccc',
    'badge-background': '#616161', 'badge-foreground': '#f8f8f8',
    'list-hoverBackground': '#2a2d2e', 'list-activeSelectionBackground': '#04395e', 'list-activeSelectionForeground': '#ffffff',
    'textLink-foreground': '#4daafc', 'textLink-activeForeground': '#4daafc', 'textPreformat-foreground': '#d0d0d0',
    'textPreformat-background': '#3c3c3c', 'textCodeBlock-background': '#2b2b2b', 'textBlockQuote-background': '#2b2b2b',
    'charts-foreground': '#cccccc', 'charts-lines': 'rgba(204, 204, 204, 0.5)', 'charts-red': '#f14c4c', 'charts-blue': '#3794ff',
    'charts-yellow': '#cca700', 'charts-orange': '#d18616', 'charts-green': '#89d185', 'charts-purple': '#b180d7',
    'scrollbarSlider-background': 'rgba(121, 121, 121, 0.4)', 'scrollbarSlider-hoverBackground': 'rgba(100, 100, 100, 0.7)',
    'scrollbarSlider-activeBackground': 'rgba(191, 191, 191, 0.4)',
    'progressBar-background': '#0078d4', 'toolbar-hoverBackground': 'rgba(90, 93, 94, 0.31)',
    'editorWarning-foreground': '#cca700', 'editorError-foreground': '#f14c4c', 'editorInfo-foreground': '#3794ff',
    'notificationsWarningIcon-foreground': '#cca700', 'inputValidation-warningBackground': '#352a05',
    'inputValidation-warningBorder': '#b89500',
    'font-family': '-apple-system, BlinkMacSystemFont, "Segoe WPC", "Segoe UI", "Ubuntu", "Droid Sans", sans-serif',
    'font-size': '13px', 'font-weight': 'normal',
    'editor-font-family': '"Droid Sans Mono", "monospace", monospace', 'editor-font-size': '14px', 'editor-font-weight': 'normal',
  },
};

// Default High Contrast: black, white text, cyan borders, orange focus; VS Code's class for it is vscode-high-contrast.
THEMES['high-contrast'] = {
  ...THEMES.dark,
  'foreground': '#ffffff', 'descriptionForeground': '#ffffff', 'errorForeground': '#f48771', 'focusBorder': '#f38518',
  'contrastBorder': '#6fc3df', 'widget-border': '#6fc3df', 'editor-background': '#000000', 'editor-foreground': '#ffffff',
  'editorWidget-background': '#0c141f', 'editorHoverWidget-background': '#0c141f', 'editorHoverWidget-border': '#6fc3df',
  'editorHoverWidget-foreground': '#ffffff', 'panel-background': '#000000', 'panel-border': '#6fc3df',
  'button-background': '#000000', 'button-foreground': '#ffffff', 'button-border': '#6fc3df', 'button-hoverBackground': '#000000',
  'button-secondaryBackground': '#000000', 'button-secondaryForeground': '#ffffff',
  'input-background': '#000000', 'input-foreground': '#ffffff', 'input-border': '#6fc3df',
  'dropdown-background': '#000000', 'dropdown-border': '#6fc3df', 'checkbox-background': '#000000', 'checkbox-border': '#6fc3df',
  'charts-foreground': '#ffffff', 'charts-lines': 'rgba(255, 255, 255, 0.6)', 'charts-red': '#f48771', 'charts-blue': '#3794ff',
  'charts-yellow': '#ffff00', 'charts-orange': '#f38518', 'charts-green': '#89d185', 'charts-purple': '#b180d7',
};

/** The `--vscode-*` variables of a theme, e.g. for a test that checks a colour. */
export function themeVariables(theme: Theme): Record<string, string> {
  return Object.fromEntries(Object.entries(THEMES[theme] ?? THEMES.dark).map(([k, v]) => [`--vscode-${k}`, v]));
}

// ---- the local server: GET /<view> -> viewShell page; GET /assets/<file> -> dist/webviews/<file> ----

let server: { origin: string; close(): Promise<void> } | undefined;
let serverStarting: Promise<{ origin: string; close(): Promise<void> }> | undefined;

const MIME: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.woff2': 'font/woff2', '.ttf': 'font/ttf',
};

function startServer(): Promise<{ origin: string; close(): Promise<void> }> {
  if (server) return Promise.resolve(server);
  serverStarting ??= new Promise((resolve, reject) => {
    const srv = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const origin = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
      if (url.pathname.startsWith('/assets/')) {
        const file = path.normalize(path.join(BUNDLE_DIR, decodeURIComponent(url.pathname.slice('/assets/'.length))));
        if (!file.startsWith(BUNDLE_DIR + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
          res.writeHead(404).end('not found');
          return;
        }
        res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
        fs.createReadStream(file).pipe(res);
        return;
      }
      if (url.pathname === '/favicon.ico') {
        res.writeHead(204).end();
        return;
      }
      const view = url.pathname.slice(1) as ViewName;
      if (!/^[A-Za-z]+$/.test(view)) {
        res.writeHead(404).end('not found');
        return;
      }
      const html = viewShell({ view, title: `GPT Lab: ${view}`, cspSource: origin, asset: (f) => `${origin}/assets/${f}`, nonce: makeNonce() });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
    });
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const origin = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
      server = { origin, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); }) };
      resolve(server);
    });
  });
  return serverStarting;
}

// ---- the browser: one per process ----

let browser: Promise<Browser> | undefined;
let openCount = 0;
let idleTimer: NodeJS.Timeout | undefined;

function getBrowser(): Promise<Browser> {
  browser ??= chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu',
    '--disable-background-networking', '--disable-component-update', '--no-first-run', '--force-color-profile=srgb'] });
  return browser;
}

/** Closes the browser and the server (idempotent). Call it from an `after` hook, or let the idle timer do it. */
export async function shutdown(): Promise<void> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = undefined;
  const b = browser;
  browser = undefined;
  if (b) await (await b).close().catch(() => undefined);
  const s = server;
  server = undefined;
  serverStarting = undefined;
  if (s) await s.close();
}

/**
 * A host message made ready for the test driver: typed arrays (the attention probe's) cross as base64, several times
 * faster than Playwright's own encoding of them, and the page revives them (initScript's __glRevive) before posting, so
 * the view gets the typed arrays VS Code delivers.
 */
export function encodeForPage(x: unknown): unknown {
  if (ArrayBuffer.isView(x)) return { __glTyped: x.constructor.name, b64: Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64') };
  if (Array.isArray(x)) return x.map(encodeForPage);
  if (typeof x === 'object' && x !== null) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, encodeForPage(v)]));
  return x;
}

/** The script every page gets before its own: the stand-in VS Code API, the theme, the CSP watcher, the reviver. */
function initScript(args: { vars: Record<string, string>; theme: Theme; state: string | null }): void {
  const w = window as unknown as Record<string, unknown> & { __glReport?: (kind: string, payload: string) => void };
  // encodeForPage's typed arrays, back as typed arrays.
  const revive = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(revive);
    if (typeof x !== 'object' || x === null) return x;
    const o = x as Record<string, unknown>;
    if (typeof o.__glTyped === 'string' && typeof o.b64 === 'string') {
      const bin = atob(o.b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const Typed = (globalThis as unknown as Record<string, new (b: ArrayBuffer) => unknown>)[o.__glTyped];
      return new Typed(bytes.buffer);
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, revive(v)]));
  };
  w.__glRevive = revive;
  const report = (kind: string, payload: unknown): void => {
    try { w.__glReport?.(kind, JSON.stringify(payload)); } catch { /* the binding is gone while the page unloads */ }
  };
  // State survives reloads in sessionStorage (VS Code keeps it in the host); the first load starts from opts.state.
  const KEY = '__glState';
  if (sessionStorage.getItem('__glInit') === null) {
    sessionStorage.setItem('__glInit', '1');
    if (args.state !== null) sessionStorage.setItem(KEY, args.state);
  }
  let acquired = false;
  w.acquireVsCodeApi = () => {
    if (acquired) throw new Error('An instance of the VS Code API has already been acquired');
    acquired = true;
    return Object.freeze({
      postMessage: (message: unknown) => {
        // As VS Code does, the message is cloned: anything that cannot be cloned throws in the view.
        report('posted', structuredClone(message));
      },
      getState: () => {
        const s = sessionStorage.getItem(KEY);
        return s === null ? undefined : (JSON.parse(s) as unknown);
      },
      setState: (state: unknown) => {
        sessionStorage.setItem(KEY, JSON.stringify(state));
        report('state', state);
        return state;
      },
    });
  };
  document.addEventListener('securitypolicyviolation', (e) => {
    report('csp', `${e.violatedDirective} ${e.blockedURI}${e.sourceFile ? ` (${e.sourceFile}:${e.lineNumber})` : ''}`);
  });
  // The theme, as VS Code applies it: variables on <html>'s style (through the CSSOM: allowed by the CSP),
  // vscode-light/vscode-dark classes and data-vscode-theme-kind on <body>.
  const applyHtml = (): boolean => {
    const html = document.documentElement;
    if (!html) return false;
    for (const [k, v] of Object.entries(args.vars)) html.style.setProperty(k, v);
    return true;
  };
  const applyBody = (): boolean => {
    const body = document.body;
    if (!body) return false;
    body.classList.add(`vscode-${args.theme}`);
    body.dataset.vscodeThemeKind = `vscode-${args.theme}`;
    body.dataset.vscodeThemeName = { light: 'Light Modern', dark: 'Dark Modern', 'high-contrast': 'Default High Contrast' }[args.theme];
    return true;
  };
  let htmlDone = applyHtml(), bodyDone = applyBody();
  if (!htmlDone || !bodyDone) {
    const mo = new MutationObserver(() => {
      if (!htmlDone) htmlDone = applyHtml();
      if (!bodyDone) bodyDone = applyBody();
      if (htmlDone && bodyDone) mo.disconnect();
    });
    mo.observe(document, { childList: true, subtree: true });
  }
}

/** Opens a view's bundle in Chromium, themed, with the stand-in VS Code API. */
export async function openView<V extends ViewName>(view: V, theme: Theme, opts: OpenOptions = {}): Promise<ViewPage<V>> {
  const bundle = path.join(BUNDLE_DIR, `${view}.js`);
  if (!fs.existsSync(bundle)) {
    throw new Error(`${path.relative(REPO_ROOT, bundle)} is missing: build it with \`npx webpack --mode production --config-name webviews\``);
  }
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = undefined;
  openCount++;
  const [b, srv] = await Promise.all([getBrowser(), startServer()]);
  const context: BrowserContext = await b.newContext({
    viewport: { width: opts.width ?? 1000, height: opts.height ?? 700 },
    deviceScaleFactor: 1,
    colorScheme: theme === 'light' ? 'light' : 'dark',
    reducedMotion: 'reduce',
  });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  const cspViolations: string[] = [];
  const postedMessages: ToHost<V>[] = [];
  let lastState: unknown = opts.state;
  await page.exposeBinding('__glReport', (_source, kind: string, payload: string) => {
    const value = JSON.parse(payload) as unknown;
    if (kind === 'posted') postedMessages.push(value as ToHost<V>);
    else if (kind === 'state') lastState = value;
    else if (kind === 'csp') cspViolations.push(value as string);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  await page.addInitScript(initScript, {
    vars: themeVariables(theme), theme, state: opts.state === undefined ? null : JSON.stringify(opts.state),
  });
  await page.goto(`${srv.origin}/${view}`, { waitUntil: 'load' });

  let closed = false;
  const handle: ViewPage<V> = {
    page,
    theme,
    consoleErrors,
    cspViolations,
    post: async (msg) => {
      await page.evaluate((m) => window.postMessage((window as unknown as { __glRevive(x: unknown): unknown }).__glRevive(m), '*'), encodeForPage(msg));
    },
    posted: () => Promise.resolve(postedMessages.slice()),
    waitForPosted: async (type, n = 1) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const hits = postedMessages.filter((m) => m.type === type);
        if (hits.length >= n) return hits[n - 1];
        if (Date.now() > deadline) {
          throw new Error(`${view}: waited 10 s for ${n} "${String(type)}" message(s); got ${JSON.stringify(postedMessages.map((m) => m.type))}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    screenshot: async (name) => {
      fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
      const file = path.join(SCREENSHOT_DIR, /-(light|dark|high-contrast)$/.test(name) ? `${name}.png` : `${name}-${theme}.png`);
      await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
      return file;
    },
    state: () => Promise.resolve(lastState),
    reload: async () => {
      await page.reload({ waitUntil: 'load' });
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await context.close().catch(() => undefined);
      openCount--;
      if (openCount === 0) {
        idleTimer = setTimeout(() => void shutdown(), 1500);
      }
    },
  };
  return handle;
}

/** Reads a canvas's pixels in the page: [r, g, b, a] at CSS-pixel (x, y) of the canvas matching `selector`. */
export async function canvasPixel(page: Page, selector: string, x: number, y: number): Promise<[number, number, number, number]> {
  return page.evaluate(({ selector, x, y }) => {
    const c = document.querySelector<HTMLCanvasElement>(selector);
    if (!c) throw new Error(`no canvas ${selector}`);
    const scale = c.width / c.getBoundingClientRect().width;
    const d = c.getContext('2d')!.getImageData(Math.floor(x * scale), Math.floor(y * scale), 1, 1).data;
    return [d[0], d[1], d[2], d[3]] as [number, number, number, number];
  }, { selector, x, y });
}

/** Milliseconds from a `post` until `selector` matches (polled in the page each animation frame): first-paint figures. */
export async function timeUntil<V extends ViewName>(v: ViewPage<V>, msg: ToView<V>, selector: string): Promise<number> {
  return v.page.evaluate(({ m, selector }) => new Promise<number>((resolve, reject) => {
    const t0 = performance.now();
    window.postMessage((window as unknown as { __glRevive(x: unknown): unknown }).__glRevive(m), '*');
    const tick = (): void => {
      if (document.querySelector(selector)) {
        // One more frame so the number includes layout and paint of what the selector found.
        requestAnimationFrame(() => resolve(performance.now() - t0));
      } else if (performance.now() - t0 > 10_000) {
        reject(new Error(`timeUntil: ${selector} never appeared`));
      } else {
        requestAnimationFrame(tick);
      }
    };
    requestAnimationFrame(tick);
  }), { m: encodeForPage(msg), selector });
}
