/// <reference lib="dom" />
/**
 * The embeddings view in headless Chromium, fed real engine output: the PCA of a small trained model's embeddings,
 * its nearest neighbours and analogies, posted exactly as the host posts them (replies echo the request ids).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { ProjectionData, ToView } from '../../engine/protocol';
import { analogyData, engineData, neighboursData, projectionData, type EngineData } from './engineData';
import { openView, shutdown, timeUntil, type ViewPage } from './harness';

type View = ViewPage<'embeddings'>;

/** What the view shows for a token: whitespace made visible (as webviews/shared/format.ts). */
function visible(text: string): string {
  return text.length === 0 ? '∅' : [...text].map((ch) => ({ ' ': '·', '\n': '↵', '\t': '→', '\r': '␍' })[ch] ?? ch).join('');
}

/** Non-transparent pixels of a canvas. */
async function inkedPixels(page: Page, selector: string): Promise<number> {
  return page.evaluate((sel) => {
    const c = document.querySelector(sel) as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  }, selector);
}

/** The request the view posted last of a type, with its id, after an action. */
async function lastRequest(v: View, type: 'neighbours' | 'analogy', n: number): Promise<{ id: number; params: Record<string, unknown> }> {
  const m = await v.waitForPosted(type, n);
  assert.equal(typeof m.id, 'number', `${type} requests carry an id`);
  return { id: m.id as number, params: m.params };
}

const tableTokens = (v: View, table: string): Promise<string[]> =>
  v.page.$$eval(`${table} tbody tr td.token`, (tds) => tds.map((td) => td.textContent ?? ''));

const attr = async (v: View, name: string): Promise<string | null> => v.page.getAttribute('#app', name);

/**
 * Posts a host message and returns once the view has handled it: `window.postMessage` dispatches later, so a listener
 * added after the view's own runs right after the view's handler.
 */
async function deliver(v: View, msg: ToView<'embeddings'>): Promise<void> {
  await v.page.evaluate((m) => new Promise<void>((resolve) => {
    window.addEventListener('message', () => resolve(), { once: true });
    window.postMessage(m, '*');
  }), msg as unknown);
}

async function open(theme: 'light' | 'dark', opts: { width?: number; height?: number; state?: unknown } = {}): Promise<View> {
  const v = await openView('embeddings', theme, { width: 1100, height: 720, ...opts });
  await v.waitForPosted('ready');
  return v;
}

function clean(v: View): void {
  assert.deepEqual(v.consoleErrors, [], 'no console errors');
  assert.deepEqual(v.cspViolations, [], 'no CSP violations');
}

describe('embeddings view', () => {
  let data: EngineData;
  let projection: ProjectionData;

  before(async () => {
    data = await engineData();
    projection = projectionData(data);
  });
  after(() => shutdown());

  it('draws every token of the vocabulary, with the variance explained on the axes', async () => {
    const v = await open('light');
    const ms = await timeUntil(v, { type: 'projection', params: projection }, '#app[data-points]');
    const V = projection.points.length;
    assert.equal(V, data.ctx.model.config.vocabSize);
    assert.equal(await attr(v, 'data-points'), String(V));
    assert.equal(await attr(v, 'data-visible'), String(V), 'at the start the whole vocabulary is on screen');
    // every point leaves ink: at least a few pixels per token on the point layer
    const ink = await inkedPixels(v.page, '.layer-base');
    assert.ok(ink > V * 4, `the point layer has ink (${ink} pixels for ${V} points)`);
    const pct = (f: number): string => `${(f * 100).toFixed(1)}%`;
    assert.equal(await v.page.textContent('.axis-title-x'), `PC1 · ${pct(projection.explained[0])} of variance`);
    assert.equal(await v.page.textContent('.axis-title-y'), `PC2 · ${pct(projection.explained[1])} of variance`);
    assert.match((await v.page.textContent('.gl-subtitle')) ?? '', new RegExp(`^${V} tokens`));
    assert.match((await v.page.textContent('.gl-model')) ?? '', /^Model: tinyshakespeare-sample\.txt · char · /, 'the panel names its model');
    // a char vocabulary of ~60 tokens has room for labels at the start
    assert.ok(Number(await attr(v, 'data-labels')) > 0, 'labels for points with room');
    console.log(`# perf: first paint of ${V} points after the projection arrives: ${ms.toFixed(1)} ms ` +
      `(view's own handling ${await attr(v, 'data-paint-ms')} ms)`);
    // hover shows the token and its exact coordinates
    const box = (await v.page.locator('.layer-top').boundingBox())!;
    let hovered = '';
    for (let gx = 10; gx < box.width && !hovered; gx += 6) {
      for (let gy = 10; gy < box.height && !hovered; gy += 6) {
        await v.page.mouse.move(box.x + gx, box.y + gy);
        if (await v.page.isVisible('.gl-tooltip')) hovered = (await v.page.textContent('.gl-tooltip')) ?? '';
      }
      if (gx > 400 && !hovered) break;
    }
    assert.ok(hovered, 'hovering a point shows a tooltip');
    const point = projection.points.find((p) => hovered.startsWith(`${visible(p.text)}   id ${p.id}`));
    assert.ok(point, `the tooltip names a token of the vocabulary: ${JSON.stringify(hovered)}`);
    assert.ok(hovered.includes(`PC1 ${Number(point.x.toPrecision(6)).toString().replace('-', '−')}`), hovered);
    assert.ok(hovered.includes(`PC2 ${Number(point.y.toPrecision(6)).toString().replace('-', '−')}`), hovered);
    // clicking that point asks for its neighbours
    await v.page.mouse.down();
    await v.page.mouse.up();
    const req = await lastRequest(v, 'neighbours', 1);
    assert.deepEqual(req.params, { token: point.text, k: 10 });
    clean(v);
    await v.close();
  });

  it('asks for the neighbours of a typed token and lists them in cosine order, highlighted in the plot', async () => {
    const v = await open('dark');
    await deliver(v, { type: 'projection', params: projection });
    await v.page.fill('#nb-token', 'e');
    await v.page.fill('#nb-k', '8');
    await v.page.press('#nb-token', 'Enter');
    const req = await lastRequest(v, 'neighbours', 1);
    assert.deepEqual(req.params, { token: 'e', k: 8 });
    const inkBefore = await inkedPixels(v.page, '.layer-top');
    const reply = neighboursData(data, 'e', 8);
    await deliver(v, { type: 'neighbours', id: req.id, params: reply });
    assert.deepEqual(await tableTokens(v, '#nb-table'), reply.nearest.map((n) => visible(n.text)), 'rows in the engine order');
    const cosines = await v.page.$$eval('#nb-table tbody tr', (trs) => trs.map((tr) => Number(tr.getAttribute('data-cosine'))));
    assert.deepEqual(cosines, reply.nearest.map((n) => n.cosine));
    for (let i = 1; i < cosines.length; i++) assert.ok(cosines[i] <= cosines[i - 1], 'ordered by cosine, highest first');
    // bars are proportional to the cosine
    const widths = await v.page.$$eval('#nb-table .fill', (fills) => fills.map((f) => f.getBoundingClientRect().width));
    for (let i = 1; i < widths.length; i++) assert.ok(widths[i] <= widths[i - 1] + 0.5);
    // the highlights: the query and its k neighbours, in the text alternative, and ink on the top layer
    const roles = await v.page.$$eval('#highlight-table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(roles, ['query', ...reply.nearest.map((_, i) => `neighbour ${i + 1}`)]);
    assert.ok((await inkedPixels(v.page, '.layer-top')) > inkBefore + 200, 'the query and neighbours are drawn');
    // a table row is a button: Enter on it queries its token; arrow keys move between rows
    await v.page.focus('#nb-table tbody tr:first-child');
    await v.page.keyboard.press('ArrowDown');
    await v.page.keyboard.press('Enter');
    const again = await lastRequest(v, 'neighbours', 2);
    assert.deepEqual(again.params, { token: reply.nearest[1].text, k: 8 });
    assert.equal(await v.page.inputValue('#nb-token'), reply.nearest[1].text);
    // zoom to the highlighted points changes the view
    const zoom0 = Number(await attr(v, 'data-zoom'));
    await v.page.click('text=Zoom to highlighted');
    await v.page.waitForFunction((z) => Number(document.getElementById('app')!.dataset.zoom) !== z, zoom0);
    clean(v);
    await v.close();
  });

  it('the analogy box returns the engine’s answer', async () => {
    const v = await open('light');
    await deliver(v, { type: 'projection', params: projection });
    const [a, b, c] = ['a', 'A', 'B'];
    await v.page.fill('#an-a', a);
    await v.page.fill('#an-b', b);
    await v.page.fill('#an-c', c);
    await v.page.press('#an-c', 'Enter');
    const req = await lastRequest(v, 'analogy', 1);
    assert.deepEqual(req.params, { a, b, c, k: 5 });
    const reply = analogyData(data, a, b, c, 5);
    await deliver(v, { type: 'analogy', id: req.id, params: reply });
    const rows = await tableTokens(v, '#an-table');
    assert.equal(rows.length, reply.nearest.length);
    assert.equal(rows[0], visible(reply.nearest[0].text), 'the top row is the engine’s answer');
    assert.equal(await v.page.getAttribute('#an-table tbody tr:first-child', 'class'), 'best');
    assert.equal(await v.page.textContent('#an-caption'), `${a} − ${b} + ${c} → ${visible(reply.nearest[0].text)}`);
    const roles = await v.page.$$eval('#highlight-table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(roles.slice(0, 4), ['a', 'b', 'c', 'result 1']);
    console.log(`# analogy ${a} − ${b} + ${c} → ${reply.nearest.slice(0, 3).map((n) => `${JSON.stringify(n.text)} ${n.cosine.toFixed(3)}`).join(', ')}`);
    clean(v);
    await v.close();
  });

  it('shows an error reply inline, next to the input, and carries on', async () => {
    const v = await open('dark');
    await deliver(v, { type: 'projection', params: projection });
    await v.page.fill('#nb-token', '🎉');
    await v.page.press('#nb-token', 'Enter');
    const req = await lastRequest(v, 'neighbours', 1);
    assert.deepEqual(req.params, { token: '🎉', k: 10 });
    let message = '';
    try {
      neighboursData(data, '🎉', 10);
    } catch (e) {
      message = (e as Error).message;
    }
    assert.match(message, /"🎉" never occurred in the training text/);
    await deliver(v, { type: 'error', id: req.id, params: { message } });
    assert.equal(await v.page.isVisible('#nb-error'), true);
    assert.equal(await v.page.textContent('#nb-error'), message);
    assert.equal(await v.page.getAttribute('#nb-token', 'aria-invalid'), 'true');
    assert.equal(await v.page.isVisible('.banner'), false, 'not a page-level failure');
    // the analogy box: the culprit input is marked
    await v.page.fill('#an-a', 'a');
    await v.page.fill('#an-b', 'qq');
    await v.page.fill('#an-c', 'B');
    await v.page.press('#an-a', 'Enter');
    const areq = await lastRequest(v, 'analogy', 1);
    let amessage = '';
    try {
      analogyData(data, 'a', 'qq', 'B', 5);
    } catch (e) {
      amessage = (e as Error).message;
    }
    await deliver(v, { type: 'error', id: areq.id, params: { message: amessage } });
    assert.equal(await v.page.textContent('#an-error'), amessage);
    assert.equal(await v.page.getAttribute('#an-b', 'aria-invalid'), 'true');
    assert.equal(await v.page.getAttribute('#an-a', 'aria-invalid'), null);
    // a good query afterwards clears the error
    await v.page.fill('#nb-token', 'e');
    await v.page.press('#nb-token', 'Enter');
    const ok = await lastRequest(v, 'neighbours', 2);
    await deliver(v, { type: 'neighbours', id: ok.id, params: neighboursData(data, 'e', 10) });
    assert.equal(await v.page.isVisible('#nb-error'), false);
    assert.equal((await tableTokens(v, '#nb-table')).length, 10);
    // empty input: no request, an inline hint
    await v.page.fill('#nb-token', '');
    await v.page.press('#nb-token', 'Enter');
    assert.equal(await v.page.textContent('#nb-error'), 'Type a token first.');
    assert.equal((await v.posted()).filter((m) => m.type === 'neighbours').length, 2);
    clean(v);
    await v.close();
  });

  it('zooms and pans with the keyboard and the wheel', async () => {
    const v = await open('light');
    await deliver(v, { type: 'projection', params: projection });
    const V = projection.points.length;
    const pixels = (): Promise<string> => v.page.evaluate(() => (document.querySelector('.layer-base') as HTMLCanvasElement).toDataURL());
    const before0 = await pixels();
    const tickBefore = await v.page.textContent('.axis-x .tick:first-of-type text');
    await v.page.focus('.layer-top');
    for (let i = 0; i < 4; i++) await v.page.keyboard.press('+');
    await v.page.waitForFunction(() => Number(document.getElementById('app')!.dataset.zoom) > 4);
    await v.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
    assert.notEqual(await pixels(), before0, 'the canvas changed');
    assert.ok(Number(await attr(v, 'data-visible')) < V, `fewer points on screen when zoomed in (${await attr(v, 'data-visible')} of ${V})`);
    assert.notEqual(await v.page.textContent('.axis-x .tick:first-of-type text'), tickBefore, 'the axis follows');
    await v.page.keyboard.press('ArrowLeft');
    await v.page.keyboard.press('0');
    await v.page.waitForFunction(() => document.getElementById('app')!.dataset.zoom === '1.000');
    const box = (await v.page.locator('.layer-top').boundingBox())!;
    await v.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await v.page.mouse.wheel(0, -400);
    await v.page.waitForFunction(() => Number(document.getElementById('app')!.dataset.zoom) > 1.2);
    clean(v);
    await v.close();
  });

  it('redraws from its saved state after a reload, before any message', async () => {
    const v = await open('dark');
    await deliver(v, { type: 'projection', params: projection });
    await v.page.fill('#nb-token', 'o');
    await v.page.press('#nb-token', 'Enter');
    const req = await lastRequest(v, 'neighbours', 1);
    const reply = neighboursData(data, 'o', 10);
    await deliver(v, { type: 'neighbours', id: req.id, params: reply });
    await v.page.focus('.layer-top');
    await v.page.keyboard.press('+');
    await v.page.waitForTimeout(400); // the debounced save of the zoom
    const zoom = await attr(v, 'data-zoom');
    await v.reload();
    await v.waitForPosted('ready', 2);
    assert.equal(await attr(v, 'data-points'), String(projection.points.length));
    assert.equal(await attr(v, 'data-zoom'), zoom);
    assert.deepEqual(await tableTokens(v, '#nb-table'), reply.nearest.map((n) => visible(n.text)));
    assert.equal(await v.page.inputValue('#nb-token'), 'o');
    assert.ok((await inkedPixels(v.page, '.layer-base')) > 0);
    // the host replays the same projection after the reload: the results stay
    await deliver(v, { type: 'projection', params: projection });
    assert.equal((await tableTokens(v, '#nb-table')).length, 10);
    clean(v);
    await v.close();
  });

  it('ignores malformed messages and odd values', async () => {
    const v = await open('light');
    await deliver(v, { type: 'projection', params: { points: [], explained: [NaN, NaN], model: null } });
    assert.equal(await attr(v, 'data-points'), '0');
    assert.equal(await v.page.textContent('.axis-title-x'), 'PC1');
    const odd = { points: [...projection.points.slice(0, 5), { id: 99, text: 'x', unknown: false, x: NaN, y: 1, tokenizerId: 1 }],
      explained: projection.explained, model: null };
    await deliver(v, { type: 'projection', params: odd });
    assert.equal(await attr(v, 'data-points'), '5', 'points without finite coordinates are dropped');
    await v.page.evaluate(() => window.postMessage({ type: 'neighbours', params: null }, '*'));
    await deliver(v, { type: 'neighbours', params: { query: 'x', id: 1, nearest: 'nope' } } as unknown as ToView<'embeddings'>);
    assert.equal((await tableTokens(v, '#nb-table')).length, 0);
    assert.deepEqual(v.cspViolations, []);
    assert.deepEqual(v.consoleErrors, []);
    await v.close();
  });

  it('stays fast at 10,000 points (perf figures)', async () => {
    const v = await open('light');
    // 10k points around the real ones (the real vocabulary, repeated with jitter of its own spread)
    const real = projection.points;
    const sx = Math.max(...real.map((p) => Math.abs(p.x))) * 0.05, sy = Math.max(...real.map((p) => Math.abs(p.y))) * 0.05;
    let seed = 1;
    const rnd = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
    const big: ProjectionData = {
      explained: projection.explained,
      model: projection.model,
      points: Array.from({ length: 10_000 }, (_, i) => {
        const p = real[i % real.length];
        return { ...p, id: i, text: `${p.text}${Math.floor(i / real.length) || ''}`, x: p.x + sx * rnd(), y: p.y + sy * rnd() };
      }),
    };
    const ms = await timeUntil(v, { type: 'projection', params: big }, '#app[data-points="10000"]');
    assert.equal(await attr(v, 'data-visible'), '10000');
    assert.ok((await inkedPixels(v.page, '.layer-base')) > 10_000);
    // zoom redraws: 10 keyboard zoom steps, each measured to the next frame
    const zoomMs = await v.page.evaluate(async () => {
      const canvas = document.querySelector('.layer-top') as HTMLCanvasElement;
      const times: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        canvas.dispatchEvent(new KeyboardEvent('keydown', { key: i < 5 ? '+' : '-', bubbles: true }));
        await new Promise((r) => requestAnimationFrame(() => r(null)));
        times.push(performance.now() - t0);
      }
      return times.sort((x, y) => x - y)[5];
    });
    // hover: pointer moves across the plot, each measured to the next frame
    const hoverMs = await v.page.evaluate(async () => {
      const canvas = document.querySelector('.layer-top') as HTMLCanvasElement;
      const r = canvas.getBoundingClientRect();
      const times: number[] = [];
      for (let i = 0; i < 30; i++) {
        const t0 = performance.now();
        canvas.dispatchEvent(new PointerEvent('pointermove', { clientX: r.left + (r.width * i) / 30, clientY: r.top + r.height / 2, bubbles: true }));
        await new Promise((res) => requestAnimationFrame(() => res(null)));
        times.push(performance.now() - t0);
      }
      return times.sort((x, y) => x - y)[15];
    });
    console.log(`# perf: first paint of 10,000 points after the projection arrives: ${ms.toFixed(1)} ms ` +
      `(view's own handling ${await attr(v, 'data-paint-ms')} ms); zoom step to next frame, median ${zoomMs.toFixed(1)} ms; ` +
      `hover to next frame, median ${hoverMs.toFixed(1)} ms`);
    clean(v);
    await v.close();
  });

  it('a selection of several tokens: the mean of their embeddings, each token to pick; hints that fit the tokenizer; errors go after a success', async () => {
    const v = await open('light');
    await deliver(v, { type: 'projection', params: projection });
    // The selection's neighbours come after the command: a word is several tokens in a character model.
    await deliver(v, { type: 'error', params: { message: 'an older failure' } });
    await deliver(v, { type: 'neighbours', params: neighboursData(data, 'the', 10) });
    assert.equal(await v.page.isVisible('.gl-error'), false, 'the error line goes after a successful search');
    assert.equal(await v.page.inputValue('#nb-token'), 'the', 'the input shows the query that was answered');
    const caption = (await v.page.textContent('#nb-caption'))!;
    assert.ok(caption.startsWith('“the” is 3 tokens in char: nearest to the mean of their embeddings (t h e)'), caption);
    assert.deepEqual(await v.page.locator('.pick button').allTextContents(), ['t', 'h', 'e']);
    const roles = await v.page.$$eval('#highlight-table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(roles.slice(0, 3), ['query token 1', 'query token 2', 'query token 3']);
    // Picking one token asks for its own neighbours.
    await v.page.click('.pick button:nth-child(2)');
    const req = await lastRequest(v, 'neighbours', 1);
    assert.deepEqual(req.params, { token: 'h', k: 10 });
    await deliver(v, { type: 'neighbours', id: req.id, params: neighboursData(data, 'h', 10) });
    assert.match((await v.page.textContent('#nb-caption'))!, /^Nearest to “h” \(id \d+\) by cosine$/);
    assert.equal(await v.page.locator('.pick button').count(), 0);
    // Analogy hints use tokens this model has: for a character model, letters and their capitals.
    const hints = await v.page.locator('.hints button').allTextContents();
    assert.ok(hints.length >= 1, 'at least one hint');
    const vocab = new Set(projection.points.map((p) => p.text));
    for (const h of hints) {
      const terms = h.split(/ [−+] /);
      assert.equal(terms.length, 3, h);
      for (const t of terms) assert.ok(vocab.has(t.replace(/·/g, ' ')), `${t} of the hint ${h} is one token of the model`);
    }
    await v.page.click('.hints button:first-of-type');
    const areq = await lastRequest(v, 'analogy', 1);
    const { a, b, c } = areq.params as { a: string; b: string; c: string };
    await deliver(v, { type: 'analogy', id: areq.id, params: analogyData(data, a, b, c, 5) });
    const note = (await v.page.textContent('#an-expect'))!;
    assert.match(note, /came first|is number \d|is not among the 5 nearest/, 'the panel says how the hint came out');
    console.log(`# embeddings: hint ${a} − ${b} + ${c}: ${note}`);
    clean(v);
    await v.close();
  });

  for (const theme of ['light', 'dark'] as const) {
    it(`screenshot (${theme})`, async () => {
      const v = await open(theme);
      await deliver(v, { type: 'projection', params: projection });
      await v.page.fill('#an-a', 'a');
      await v.page.fill('#an-b', 'A');
      await v.page.fill('#an-c', 'B');
      await v.page.press('#an-a', 'Enter');
      const areq = await lastRequest(v, 'analogy', 1);
      await deliver(v, { type: 'analogy', id: areq.id, params: analogyData(data, 'a', 'A', 'B', 5) });
      await v.page.fill('#nb-token', 'e');
      await v.page.press('#nb-token', 'Enter');
      const req = await lastRequest(v, 'neighbours', 1);
      await deliver(v, { type: 'neighbours', id: req.id, params: neighboursData(data, 'e', 10) });
      await v.page.mouse.move(0, 0);
      const file = await v.screenshot('embeddings');
      console.log(`# screenshot ${file}`);
      clean(v);
      await v.close();
    });
  }
});
