// The HTML shell of every GPT Lab webview: a strict CSP (nothing by default; scripts only by nonce; styles, images
// and fonts only from the bundle folder), the shared theme and the view's stylesheet, and the view's bundle.
// No vscode import, so the webview tests in Chromium serve exactly this page.
import type { ViewName } from '../../engine';

export interface ShellOptions {
  view: ViewName;
  title: string;
  /** The webview's CSP source (webview.cspSource), or the test server's origin. */
  cspSource: string;
  /** A URI for a file of the bundle folder (dist/webviews/). */
  asset: (file: string) => string;
  nonce: string;
}

export function viewShell(o: ShellOptions): string {
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${o.nonce}'`,
    `style-src ${o.cspSource}`,
    `img-src ${o.cspSource} data:`,
    `font-src ${o.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${o.asset('theme.css')}">
<link rel="stylesheet" href="${o.asset(`${o.view}.css`)}">
<title>${escapeHtml(o.title)}</title>
</head>
<body data-view="${o.view}">
<main id="app"></main>
<script nonce="${o.nonce}" src="${o.asset(`${o.view}.js`)}"></script>
</body>
</html>`;
}

/** 128 random bits, base64: a fresh one for every page load. */
export function makeNonce(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64');
}

/** Text made safe inside HTML and Markdown that allows HTML (the webview shell, the hover). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
