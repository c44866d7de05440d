// The UI scenario: a person's path through GPT Lab in a real workbench (code-server + Chromium), one screenshot per
// step. Steps run in order; a failed step is recorded and the next ones still run where they can.
import * as path from 'node:path';
import type { FrameLocator } from 'playwright-core';
import type { CodeServer } from './codeServer';
import { Workbench, openBrowser, plain } from './workbench';
import { errorMessage, log, poll, sleep } from './util';

export interface StepResult {
  step: string;
  ok: boolean;
  seconds: number;
  detail: string;
}

export interface ScenarioOptions {
  theme: string;
  screenshotDir: string;
  /** The scratch workspace's text file (opened and trained on). */
  fileName: string;
}

const TRAIN = 'GPT Lab: Train GPT on this file';
const INSPECT_ATTENTION = 'GPT Lab: Inspect attention for selection';
const SHOW_TOKENS = 'GPT Lab: Show tokens of selection';
const COMPARE = 'GPT Lab: Compare on this file';

/** A line as the tokens panel shows a character model's chunks: spaces as ·, tabs as →. */
const shownLine = (line: string): string => line.replace(/ /g, '·').replace(/\t/g, '→');
/** The message the extension shows when a run ends (extension/train.ts). */
const TRAINING_ENDED = /Trained on .* for \d+ steps|Stopped after \d+ steps|training on .* stopped/i;

/** Points the loss chart has drawn: circles, plus vertices of the data paths (axes excluded). */
async function chartPoints(frame: FrameLocator): Promise<number> {
  return frame
    .locator('svg')
    .first()
    .evaluate((svg) => {
      let n = svg.querySelectorAll('circle').length;
      for (const p of Array.from(svg.querySelectorAll('path'))) {
        if (p.closest('.x-axis, .y-axis, .tick') || p.classList.contains('domain')) continue;
        n += (p.getAttribute('d') ?? '').match(/[MLCHV]/gi)?.length ?? 0;
      }
      return n;
    });
}

export async function runScenario(server: CodeServer, options: ScenarioOptions): Promise<StepResult[]> {
  const { theme, screenshotDir, fileName } = options;
  const results: StepResult[] = [];
  const browser = await openBrowser();
  const wb = new Workbench(browser.page);
  const page = browser.page;
  page.on('pageerror', (err) => log(`[${theme}] page error: ${err.message.split('\n')[0]}`));

  // Notifications come and go (info toasts hide after a few seconds): remember each step's for its report.
  const toastsSeen = new Set<string>();
  const toastWatch = setInterval(() => {
    void wb.notifications().then(
      (toasts) => toasts.forEach((t) => toastsSeen.add(t)),
      () => undefined,
    );
  }, 500);

  let stepNo = 0;
  const step = async (name: string, timeoutMs: number, body: () => Promise<string>): Promise<boolean> => {
    stepNo += 1;
    const id = `${String(stepNo).padStart(2, '0')}-${name}`;
    const started = Date.now();
    toastsSeen.clear();
    let ok = false;
    let detail: string;
    try {
      let timer: NodeJS.Timeout | undefined;
      detail = await Promise.race([
        body(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`step timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
      ok = true;
    } catch (err) {
      detail = errorMessage(err).split('\n').slice(0, 3).join(' | ');
      for (const t of await wb.notifications().catch(() => [])) toastsSeen.add(t);
      if (toastsSeen.size) detail += ` | notifications: ${JSON.stringify([...toastsSeen])}`;
    }
    await wb.screenshot(path.join(screenshotDir, `${id}-${theme}.png`));
    const seconds = (Date.now() - started) / 1000;
    results.push({ step: id, ok, seconds, detail });
    log(`[${theme}] ${ok ? 'ok  ' : 'FAIL'} ${id} (${seconds.toFixed(1)} s): ${detail}`);
    return ok;
  };

  try {
    await step('open-file', 120_000, async () => {
      await page.goto(`${server.origin}/?folder=${encodeURIComponent(server.workspace)}`, { timeout: 60_000 });
      await wb.waitReady();
      await wb.openFile(fileName);
      const firstLine = wb.editorFor(fileName).locator('.view-line').first();
      await poll(async () => plain(await firstLine.innerText()).includes('First Citizen'), 15_000, 'the text');
      return `${fileName} open: "${plain(await firstLine.innerText()).trim()}"`;
    });

    let chart: FrameLocator | undefined;
    await step('train-loss-chart', 150_000, async () => {
      await wb.focusFile(fileName);
      await wb.runCommand(TRAIN);
      chart = await wb.webviewWith('svg', 60_000, 'a webview with the loss chart (svg)');
      // Watch it draw: sample the number of points until it stops changing for 4 s (training of 150 steps ends).
      const counts: number[] = [];
      let stableSince = Date.now();
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline) {
        const n = await chartPoints(chart).catch(() => 0);
        if (counts.length === 0 || n !== counts[counts.length - 1]) {
          counts.push(n);
          stableSince = Date.now();
        } else if (n > 0 && Date.now() - stableSince > 4_000) {
          break;
        }
        if (n > 0 && [...toastsSeen].some((t) => TRAINING_ENDED.test(t))) {
          const final = await chartPoints(chart).catch(() => n);
          if (final !== n) counts.push(final);
          break;
        }
        await sleep(200);
      }
      const last = counts[counts.length - 1] ?? 0;
      if (last < 2) throw new Error(`the loss chart drew ${last} points (counts seen: ${counts.join(',')})`);
      const status = await chart.locator('.status').first().innerText().catch(() => '');
      // The run is named by its file, whether its first events came before or after the panel was ready.
      const labels = await chart.locator('.legend .run-label').allTextContents();
      if (!labels.includes(`${fileName} · run 1`)) throw new Error(`the chart names the run ${JSON.stringify(labels)}, not "${fileName} · run 1"`);
      const shown = counts.length > 8 ? [...counts.slice(0, 4), '…', ...counts.slice(-3)] : counts;
      return `loss chart points over time: ${shown.join(' -> ')} (${counts.length} different counts seen)` +
        (status ? `; status "${status.trim().replace(/\s+/g, ' ')}"` : '');
    });

    await step('hover-tokens', 40_000, async () => {
      await wb.focusFile(fileName);
      await page.keyboard.press('Control+Home');
      const editor = wb.editorFor(fileName);
      // Where the word "Citizen" is drawn on the first line (a DOM range over its characters).
      const line = editor.locator('.view-line', { hasText: 'Citizen' }).first();
      const box = await line.evaluate((el) => {
        const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          const i = (node.textContent ?? '').indexOf('Citizen');
          if (i < 0) continue;
          const range = document.createRange();
          range.setStart(node, i + 1);
          range.setEnd(node, i + 4);
          const r = range.getBoundingClientRect();
          return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
        }
        return null;
      });
      if (!box) throw new Error('no "Citizen" on screen to hover');
      const hover = page.locator('.monaco-hover:not(.hidden)').first();
      const text = await poll(
        async () => {
          // Away and back, as a person hovers again: a hover that stays up is never asked again, and the surprise
          // that came late (the engine was still loading the new model) shows on the next one.
          await page.mouse.move(5, 5);
          await hover.waitFor({ state: 'hidden', timeout: 3_000 }).catch(() => undefined);
          await page.mouse.move(box.x - 3, box.y);
          await page.mouse.move(box.x, box.y, { steps: 3 });
          await hover.waitFor({ state: 'visible', timeout: 3_000 });
          const t = plain(await hover.innerText()).trim();
          // The model was just trained: its engine answers a hover in time once it has loaded it (a late answer is
          // kept for the next hover), and then the hover shows each token's surprise.
          return /token/i.test(t) && /bits/.test(t) ? t : '';
        },
        30_000,
        'a hover that shows the tokens of "Citizen" and their surprise',
        500,
      ).catch(async (err: unknown) => {
        const seen = (await hover.isVisible()) ? plain(await hover.innerText()).trim() : '(no hover)';
        throw new Error(`${errorMessage(err)}; hover shows: ${JSON.stringify(seen.slice(0, 200))}`);
      });
      if (!/\d/.test(text)) throw new Error(`the token hover shows no ids: ${JSON.stringify(text.slice(0, 200))}`);
      return `hover: ${JSON.stringify(text.replace(/\s+/g, ' ').slice(0, 160))}`;
    });

    await step('ghost-text', 60_000, async () => {
      await page.mouse.move(5, 5); // let the hover go
      await wb.focusFile(fileName);
      await page.keyboard.press('Control+End');
      await page.keyboard.press('Enter');
      // Mid-word: the default (word) mode finishes the word in progress, and shows nothing where the model thinks the word
      // has ended but is unsure what follows (after 150 steps it thinks "Firs" is a word). "Citiz" it finishes.
      await page.keyboard.type('Citiz', { delay: 30 });
      const editor = wb.editorFor(fileName);
      const ghost = editor.locator('.ghost-text-decoration, .ghost-text').first();
      try {
        await ghost.waitFor({ state: 'visible', timeout: 10_000 });
      } catch {
        await page.keyboard.press('Alt+Backslash'); // editor.action.inlineSuggest.trigger
        await ghost.waitFor({ state: 'visible', timeout: 10_000 }).catch(async (err: unknown) => {
          await page.keyboard.press('Escape');
          throw new Error(`no ghost text after typing "Citiz" at the end of the file (${errorMessage(err).split('\n')[0]})`);
        });
      }
      const ghostText = plain(await editor.locator('.ghost-text-decoration, .ghost-text').allInnerTexts().then((t) => t.join('')));
      const firstGhostLine = ghostText.split('\n')[0] ?? '';
      // Accepting moves the cursor past the inserted text: the status bar's column says so, whatever the model offers
      // next (the rendered line would show a new suggestion as well as the accepted one).
      const column = async (): Promise<number> => Number(/Col (\d+)/.exec(await page.locator('.statusbar').innerText())?.[1] ?? NaN);
      const before = await column();
      await page.keyboard.press('Tab');
      const wanted = before + firstGhostLine.length;
      await poll(async () => (await column()) === wanted, 10_000,
        `the cursor at column ${wanted} after Tab accepted ${JSON.stringify(firstGhostLine)} (it was at ${before})`);
      if (firstGhostLine.trim() === '') throw new Error(`the ghost text is whitespace alone: ${JSON.stringify(ghostText)}`);
      const expected = `Citiz${firstGhostLine}`.trimEnd();
      const lines = (await editor.locator('.view-line').allInnerTexts()).map(plain);
      if (!lines.some((l) => l.includes(expected))) throw new Error(`after Tab no line reads ${JSON.stringify(expected)}`);
      return `ghost text ${JSON.stringify(ghostText.slice(0, 80))} accepted with Tab`;
    });

    await step('inspect-attention', 90_000, async () => {
      await wb.focusFile(fileName);
      await page.keyboard.press('Control+Home');
      await page.keyboard.press('Shift+End'); // select "First Citizen:"
      const before = new Set(await wb.webviewIds());
      await wb.runCommand(INSPECT_ATTENTION);
      await wb.tab(/attention/i).waitFor({ state: 'visible', timeout: 30_000 });
      // The panel's own webview is the one that was not there before the command.
      const id = await poll(async () => (await wb.webviewIds()).find((w) => !before.has(w)), 30_000, 'a new webview');
      const content = 'svg *, canvas, table td';
      const frame = await poll(
        async () => {
          const f = await wb.webviewById(id);
          return f && (await f.locator(content).count()) > 0 ? f : undefined;
        },
        45_000,
        `the attention webview to draw something (${content})`,
        250,
      );
      // The first paint has the open map's layer; the other layers' thumbnails follow, and the grid ends up whole.
      const cells = await poll(async () => {
        const [all, pending] = await Promise.all([frame.locator('button.att-cell').count(), frame.locator('button.att-cell.pending').count()]);
        return all > 0 && pending === 0 ? all : undefined;
      }, 30_000, 'every layer\'s thumbnails in the grid', 250);
      const text = plain(await frame.locator('body').innerText()).replace(/\s+/g, ' ').trim();
      const tab = (await wb.tab(/attention/i).innerText()).trim();
      return `panel "${tab}" open, ${cells} thumbnails: ${JSON.stringify(text.slice(0, 100))}`;
    });

    await step('attention-on-source', 60_000, async () => {
      // Click the last token of the strip: the attention it gives is painted over the source as decorations.
      const frame = (await wb.webviews()).at(-1)!;
      await frame.locator('span.att-tok').last().click();
      const painted = page.locator('.monaco-editor').first().locator('[class*="ced-"]');
      await poll(async () => (await painted.count()) > 0, 15_000, 'attention decorations over the source');
      return `${await painted.count()} decorated spans over the source`;
    });

    await step('attention-stays-then-clears-on-edit', 40_000, async () => {
      // The painting survives a click in the editor; an edit removes it, and the panel drops its focus and says why.
      const painted = page.locator('.monaco-editor').first().locator('[class*="ced-"]');
      const frame = (await wb.webviews()).at(-1)!;
      await wb.focusFile(fileName);
      // The cursor moves within the painted lines (to the end of the file, they would scroll out of the DOM).
      await page.keyboard.press('Control+Home');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('End');
      await sleep(1000);
      if ((await painted.count()) === 0) throw new Error('the painting went away when the cursor moved');
      if ((await frame.locator('.gl-model').innerText()).indexOf(fileName) < 0) throw new Error('the attention panel does not name its model');
      await page.keyboard.type('x');
      await poll(async () => (await painted.count()) === 0, 10_000, 'the painting to clear when the text changes');
      await poll(async () => (await frame.locator('.att-unfocused').count()) > 0, 10_000, 'the panel to say why its focus went');
      const focused = await frame.locator('.att-tok.focused').count();
      await page.keyboard.press('Control+Z');
      if (focused !== 0) throw new Error('the panel still shows a focused token');
      return `the painting stayed through a click, and an edit cleared it and the panel's focus: ${plain(await frame.locator('.att-unfocused').innerText())}`;
    });

    await step('timeline-slider-attention', 90_000, async () => {
      // The run kept snapshots (gptLab.snapshots, default 8): the attention panel has a timeline; moving it to the
      // initial weights replays the probe there, and the maps change.
      const frame = (await wb.webviews()).at(-1)!;
      await frame.locator('.gl-timeline:not([hidden])').waitFor({ state: 'visible', timeout: 30_000 });
      const thumbs = async (): Promise<string> => frame.locator('button.att-cell canvas').first().evaluate((c) => (c as HTMLCanvasElement).toDataURL());
      const before = await thumbs();
      const positions = Number(await frame.locator('input.gl-timeline-input').getAttribute('max'));
      await frame.locator('input.gl-timeline-input').evaluate((el) => {
        (el as HTMLInputElement).value = '0';
        el.dispatchEvent(new Event('input', { bubbles: true }));
      });
      await poll(async () => /^at step 0 of/.test(await frame.locator('.gl-timeline-label').innerText()), 10_000, 'the label at step 0');
      await poll(async () => (await frame.locator('.gl-loading:not([hidden])').count()) === 0 && (await thumbs()) !== before, 45_000,
        'the maps at the initial weights', 250);
      return `${positions} snapshots; at "${plain(await frame.locator('.gl-timeline-label').innerText())}" the maps changed`;
    });

    await step('ablate-head', 90_000, async () => {
      // Back to the trained model; switch off the first layer's heads: the loss shown changes.
      const frame = (await wb.webviews()).at(-1)!;
      const slider = frame.locator('input.gl-timeline-input');
      await slider.evaluate((el) => {
        const input = el as HTMLInputElement;
        input.value = input.max;
        input.dispatchEvent(new Event('input', { bubbles: true }));
      });
      await poll(async () => /^the trained model/.test(await frame.locator('.gl-timeline-label').innerText()), 10_000, 'the trained model');
      await poll(async () => (await frame.locator('.gl-loading:not([hidden])').count()) === 0, 45_000, 'the replay');
      await poll(async () => ((await frame.locator('button.att-role-cell').first().innerText()).trim()) !== '', 45_000, 'the head-role scores');
      await frame.locator('button.att-roles-layer').first().click();
      const line = frame.locator('.att-ablation-loss');
      await poll(async () => (await line.innerText()).includes('→'), 45_000, 'the loss before and after', 250);
      const text = plain(await line.innerText());
      const m = /([\d.]+) → ([\d.]+) nats/.exec(text);
      if (!m || m[1] === m[2]) throw new Error(`the loss shown did not change: ${text}`);
      return text;
    });

    await step('validation-marker', 60_000, async () => {
      // The training document shows where its validation text (the last 10% of its tokens) begins: a gutter marker
      // near nine tenths of the file, whose line's hover says so.
      await wb.focusFile(fileName);
      const editor = wb.editorFor(fileName);
      // The whole line's dashed border (view overlays) and the gutter icon (glyph margin) are both the marker's decoration.
      const marker = editor.locator('.view-overlays [class*="ced-"], .glyph-margin-widgets [class*="ced-"], .margin-view-overlays [class*="ced-"]');
      let at = 0;
      for (const line of [665, 640, 690, 615, 715, 590, 740]) {
        await page.keyboard.press('Control+g');
        await page.keyboard.type(String(line));
        await page.keyboard.press('Enter');
        await sleep(600);
        if ((await marker.count()) > 0) {
          at = line;
          break;
        }
      }
      if (!at) throw new Error('no validation marker between lines 570 and 760');
      const box = (await marker.first().boundingBox())!;
      const text = (await editor.locator('.view-lines').boundingBox())!;
      const hover = page.locator('.monaco-hover:not(.hidden)').first();
      const said = await poll(async () => {
        await page.mouse.move(text.x + 12, box.y + box.height / 2);
        await page.mouse.move(text.x + 16, box.y + box.height / 2, { steps: 3 });
        await hover.waitFor({ state: 'visible', timeout: 3_000 });
        const t = plain(await hover.innerText());
        return t.includes('validation text starts here') ? t : '';
      }, 30_000, 'the marker line\'s hover', 500);
      await page.mouse.move(text.x + text.width / 2, 5);
      return `marker near line ${at}: ${JSON.stringify(said.replace(/\s+/g, ' ').slice(0, 120))}`;
    });

    await step('tokens-twice', 90_000, async () => {
      // Two selections one after the other: the panel shows the second one's tokens, and names its model.
      const editor = wb.editorFor(fileName);
      const lineText = async (i: number): Promise<string> => plain(await editor.locator('.view-line').nth(i).innerText()).replace(/\u00a0/g, ' ');
      const chunks = async (frame: FrameLocator): Promise<string> =>
        (await frame.locator('section.card[data-encoding="char"] span.tok .txt').allInnerTexts()).join('');
      await wb.focusFile(fileName);
      await page.keyboard.press('Control+Home');
      for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Home');
      await page.keyboard.press('Shift+End');
      const line5 = await lineText(4);
      const before = new Set(await wb.webviewIds());
      await wb.runCommand(SHOW_TOKENS);
      const id = await poll(async () => (await wb.webviewIds()).find((w) => !before.has(w)), 30_000, 'the tokens webview');
      const frame = await poll(async () => wb.webviewById(id), 10_000, 'its frame');
      await poll(async () => (await chunks(frame)) === shownLine(line5), 45_000, `the tokens of line 5 ${JSON.stringify(line5)}`, 250);
      await wb.focusFile(fileName);
      await page.keyboard.press('Control+Home');
      await page.keyboard.press('Shift+End');
      const line1 = await lineText(0);
      await wb.runCommand(SHOW_TOKENS);
      await poll(async () => (await chunks(frame)) === shownLine(line1), 45_000, `the tokens of line 1 ${JSON.stringify(line1)} (not line 5's)`, 250);
      const model = plain(await frame.locator('.gl-model').innerText());
      if (!model.includes(fileName)) throw new Error(`the tokens panel does not name its model: ${model}`);
      return `line 5, then line 1: the panel shows line 1's tokens; ${model}`;
    });

    await step('compare-table', 240_000, async () => {
      // Compare on this file: pick RMSNorm in the multi-select, one seed; the chart overlays both runs, then the table.
      await wb.focusFile(fileName);
      await wb.runCommand(COMPARE);
      const widget = page.locator('.quick-input-widget');
      await widget.waitFor({ state: 'visible', timeout: 10_000 });
      await widget.locator('.quick-input-list .monaco-list-row', { hasText: 'RMSNorm' }).first().click();
      await page.keyboard.press('Enter');
      await widget.locator('.quick-input-list .monaco-list-row', { hasText: '1 seed' }).first().waitFor({ timeout: 10_000 });
      await page.keyboard.press('Enter');
      const frame = await wb.webviewWith('#loss-chart', 30_000, 'the loss chart');
      await poll(async () => (await frame.locator('#compare-table tbody tr').count()) === 2, 200_000, 'the comparison\'s table', 500);
      const legend = await frame.locator('.legend .run-label').allInnerTexts();
      if (!legend.includes('norm=rmsnorm') || !legend.some((l) => l.startsWith('baseline ('))) throw new Error(`the legend: ${JSON.stringify(legend)}`);
      const rows = (await frame.locator('#compare-table tbody tr').allInnerTexts()).map((r) => plain(r).replace(/\s+/g, ' ').trim());
      await frame.locator('#compare-table').scrollIntoViewIfNeeded();
      return `table: ${rows.join(' / ')}`;
    });

    await step('reload-then-train-again', 300_000, async () => {
      // After a window reload the chart keeps its runs, and a second run of the same file gets its own number and colour.
      const loaded = page.waitForEvent('load', { timeout: 60_000 });
      await wb.runCommand('Developer: Reload Window').catch(() => undefined); // the page goes away under the palette
      await loaded;
      await wb.waitReady();
      await wb.openFile(fileName);
      await wb.focusFile(fileName);
      await page.keyboard.press('Control+Home'); // the reload kept the earlier steps' selection: train the whole file
      toastsSeen.clear();
      await wb.runCommand(TRAIN);
      await poll(() => Promise.resolve([...toastsSeen].some((t) => TRAINING_ENDED.test(t))), 240_000, 'the second run to end', 500);
      const frame = await wb.webviewWith('#loss-chart', 30_000, 'the loss chart');
      const runs = await frame.locator('.legend li.run').evaluateAll((items) => items.map((li) => ({
        label: li.querySelector('.run-label')?.textContent ?? '', colour: [...li.classList].find((c) => /^c\d+$/.test(c)) ?? '' })));
      const mine = runs.filter((r) => r.label.startsWith(`${fileName} · run`));
      if (mine.length < 2) throw new Error(`the chart shows ${mine.length} runs of ${fileName} after the reload: ${JSON.stringify(runs)}`);
      if (new Set(mine.map((r) => r.label)).size !== mine.length) throw new Error(`two runs share a label: ${JSON.stringify(mine)}`);
      if (new Set(runs.map((r) => r.colour)).size !== runs.length) throw new Error(`two runs share a colour: ${JSON.stringify(runs)}`);
      return `after the reload: ${runs.map((r) => `${r.label} (${r.colour})`).join(', ')}`;
    });
  } finally {
    clearInterval(toastWatch);
    await browser.close();
  }
  return results;
}
