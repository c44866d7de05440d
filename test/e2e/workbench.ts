// Chromium (Debian's, via playwright-core) and the VS Code workbench inside it: palette, files, hovers, webviews.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BrowserContext, type FrameLocator, type Page, chromium } from 'playwright-core';
import { log, poll } from './util';

export const CHROMIUM = process.env.GPTLAB_E2E_CHROMIUM ?? '/usr/bin/chromium';

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** A fresh Chromium profile; `beforeGoto` runs before the first navigation (exposeFunction hooks go there). */
export async function openBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set GPTLAB_E2E_CHROMIUM)`);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gpt-lab-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    timeout: 60_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  context.setDefaultTimeout(15_000);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close().catch(() => undefined);
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Monaco renders spaces as U+00A0; compare text as people read it. */
export function plain(text: string): string {
  return text.replace(/\u00a0/g, ' ');
}

export class Workbench {
  constructor(readonly page: Page) {}

  async waitReady(timeoutMs = 90_000): Promise<void> {
    await this.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: timeoutMs });
    await this.page.locator('.statusbar').waitFor({ state: 'visible', timeout: timeoutMs });
  }

  /** Runs a command by its palette title ("Category: Title"); throws if the palette has no such entry. */
  async runCommand(title: string): Promise<void> {
    const page = this.page;
    await this.closeQuickInput();
    await page.keyboard.press('F1');
    const widget = page.locator('.quick-input-widget');
    await widget.waitFor({ state: 'visible', timeout: 10_000 });
    await page.keyboard.type(title, { delay: 5 });
    const row = widget.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
    try {
      await row.waitFor({ state: 'visible', timeout: 10_000 });
    } catch {
      const rows = await widget.locator('.quick-input-list .monaco-list-row').allInnerTexts();
      await this.closeQuickInput();
      throw new Error(`the command palette has no "${title}" (rows: ${JSON.stringify(rows.slice(0, 5))})`);
    }
    await row.click();
    await widget.waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
  }

  async closeQuickInput(): Promise<void> {
    if (await this.page.locator('.quick-input-widget').isVisible()) {
      await this.page.keyboard.press('Escape');
    }
  }

  /** Quick Open (Ctrl+P) a workspace file and wait for its editor tab to be active. */
  async openFile(name: string): Promise<void> {
    const page = this.page;
    await this.closeQuickInput();
    await page.keyboard.press('Control+P');
    const widget = page.locator('.quick-input-widget');
    await widget.waitFor({ state: 'visible', timeout: 10_000 });
    await page.keyboard.type(name, { delay: 5 });
    await widget.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ timeout: 15_000 });
    await page.keyboard.press('Enter');
    await this.activeTab(name).waitFor({ state: 'visible', timeout: 15_000 });
  }

  activeTab(label: string) {
    return this.page.locator('.tabs-container .tab.active', { hasText: label }).first();
  }

  tab(label: string | RegExp) {
    return this.page.locator('.tabs-container .tab', { hasText: label }).first();
  }

  /** The editor group showing `fileName` as its active tab. */
  editorFor(fileName: string) {
    return this.page
      .locator('.editor-group-container', { has: this.page.locator('.tab.active', { hasText: fileName }) })
      .locator('.monaco-editor')
      .first();
  }

  /** Focuses the text editor of a file that is already open: its tab, then the editor's input element. */
  async focusFile(fileName: string): Promise<void> {
    await this.tab(fileName).click();
    const editor = this.editorFor(fileName);
    // VS Code 1.100 edits through an EditContext div (older: a textarea); focusing it focuses the editor.
    await editor.locator('.native-edit-context, textarea.inputarea').first().focus();
    await poll(async () => (await editor.getAttribute('class'))?.includes('focused'), 5_000, `${fileName} focused`);
  }

  /** Inner document of every webview (`iframe.webview.ready` → `#active-frame`), in DOM order. */
  async webviews(): Promise<FrameLocator[]> {
    const count = await this.page.locator('iframe.webview.ready').count();
    return Array.from({ length: count }, (_, i) =>
      this.page.frameLocator('iframe.webview.ready').nth(i).frameLocator('#active-frame'),
    );
  }

  /** Identities (iframe `src`, unique per webview) of the webviews now in the page, in DOM order. */
  async webviewIds(): Promise<string[]> {
    return this.page.locator('iframe.webview.ready').evaluateAll((frames) => frames.map((f) => f.getAttribute('src') ?? ''));
  }

  /** The inner document of the webview with identity `id` (from webviewIds), or undefined once it is gone. */
  async webviewById(id: string): Promise<FrameLocator | undefined> {
    const index = (await this.webviewIds()).indexOf(id);
    return index < 0 ? undefined : this.page.frameLocator('iframe.webview.ready').nth(index).frameLocator('#active-frame');
  }

  /** The first webview whose document has `selector`. */
  async webviewWith(selector: string, timeoutMs: number, what: string): Promise<FrameLocator> {
    return poll(
      async () => {
        for (const frame of await this.webviews()) {
          if ((await frame.locator(selector).count()) > 0) return frame;
        }
        return undefined;
      },
      timeoutMs,
      what,
      250,
    );
  }

  async notifications(): Promise<string[]> {
    return (await this.page.locator('.notifications-toasts .notification-toast').allInnerTexts()).map((t) =>
      t.replace(/\s+/g, ' ').trim(),
    );
  }

  async screenshot(file: string): Promise<void> {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await this.page.screenshot({ path: file, timeout: 15_000 }).catch((err: unknown) => {
      log(`screenshot ${file} failed: ${err instanceof Error ? err.message : String(err)}`);
    });
  }
}
