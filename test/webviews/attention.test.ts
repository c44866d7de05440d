/**
 * The attention view in headless Chromium, fed real engine output (engineData: a small GPT trained in-process, its
 * attention as the engine sends it: typed arrays, thumbnails of every map and the open one in full). The grid has
 * layers x (heads + mean) thumbnails; another map comes by a `map` request; the large map carries the tokens on both
 * axes (every row labelled up to 64 tokens), its masked triangle is transparent; a focused token posts its row for the
 * host to paint and asks for its rows in every head, which the head view draws as lines, one colour per head; the
 * host's `unfocus` clears the focus with its reason; the state survives a reload. A last test prints the figures of a
 * 12 x 8 x 512 probe's first paint.
 */
import * as assert from 'node:assert/strict';
import * as os from 'node:os';
import { after, before, test } from 'node:test';
import type { AttentionData, AttentionFocus, ToHost } from '../../engine/protocol';
import { attentionData, attentionOf, engineData, mapOf, rowsOf, selectionOf, type EngineData } from './engineData';
import { attentionProbe, attentionThumbnails } from '../../engine/probes/attention';
import { canvasPixel, openView, shutdown, type ViewPage } from './harness';

let data: EngineData;
let longSel: string; // longer than the model's context: windowed
let long: AttentionData;
let short: AttentionData; // fits the context

before(async () => {
  data = await engineData();
  longSel = selectionOf(data, 200, 1000);
  long = attentionData(data, longSel);
  short = attentionData(data, selectionOf(data, 30, 400));
});
after(() => shutdown());

/** The label a token gets (the view's showToken: whitespace made visible, shortened). */
function label(text: string, max: number): string {
  const v = [...text.replace(/\r\n/g, '\n')].map((ch) => ({ ' ': '·', '\n': '↵', '\t': '→', '\r': '␍' })[ch] ?? ch).join('');
  return v === '' ? '∅' : [...v].length > max ? `${[...v].slice(0, max - 1).join('')}…` : v;
}

async function focusMessages(v: ViewPage<'attention'>): Promise<AttentionFocus[]> {
  return (await v.posted()).filter((m) => m.type === 'focus').map((m) => m.params);
}

/** Answers the view's n-th request of a type (map or rows) with the engine's answer for the long selection. */
async function answer(v: ViewPage<'attention'>, type: 'map' | 'rows', n: number): Promise<ToHost<'attention'>> {
  const req = await v.waitForPosted(type, n);
  const p = req.params as { layer: number; head?: number | 'mean'; query?: number };
  const params = type === 'map' ? mapOf(data, longSel, p.layer, p.head!) : rowsOf(data, longSel, p.layer, p.query!);
  await v.post({ type, id: req.id, params } as never);
  return req;
}

const frames = (v: ViewPage<'attention'>): Promise<unknown> =>
  v.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

/** Every pixel of the large map: alpha and colour of each (q, k) cell (the canvas is T x T). */
async function mapPixels(v: ViewPage<'attention'>): Promise<{ T: number; alpha: number[]; rgb: number[][] }> {
  return v.page.evaluate(() => {
    const c = document.querySelector('canvas.att-map-canvas') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const alpha: number[] = [], rgb: number[][] = [];
    for (let i = 0; i < c.width * c.height; i++) {
      alpha.push(d[i * 4 + 3]);
      rgb.push([d[i * 4], d[i * 4 + 1], d[i * 4 + 2]]);
    }
    return { T: c.width, alpha, rgb };
  });
}

for (const theme of ['light', 'dark'] as const) {
  test(`attention view (${theme}): grid, maps on request, labels, focus and head view, unfocus, reload`, async () => {
    const v = await openView('attention', theme, { width: 1280, height: 900 });
    try {
      await v.waitForPosted('ready');
      const N = long.probe.layers, H = long.probe.heads, T = long.probe.tokens.length;
      assert.equal(T, data.shape.contextLength, 'the probe holds the model context');
      assert.ok(long.probe.cropped > 0, 'the long selection is windowed');
      await v.post({ type: 'loading', params: { what: 'Running the model over 200 characters of tinyshakespeare-sample.txt' } });
      assert.equal(await v.page.isVisible('.gl-loading'), true);
      await v.post({ type: 'attention', params: long });
      await v.page.waitForSelector('button.att-cell canvas');
      assert.equal(await v.page.isVisible('.gl-loading'), false);
      assert.match((await v.page.textContent('.gl-model'))!, /^Model: tinyshakespeare-sample\.txt · char · /, 'the panel names its model');

      // The grid: one thumbnail per layer and head, plus the mean of each layer.
      const cells = await v.page.$$eval('button.att-cell', (bs) => bs.map((b) => `${b.getAttribute('data-layer')}:${b.getAttribute('data-head')}`));
      assert.equal(cells.length, N * (H + 1), `${N} layers x (${H} heads + mean)`);
      assert.equal(await v.page.$$eval('button.att-cell-mean', (bs) => bs.length), N);
      assert.deepEqual(await v.page.$$eval('.att-colhead span', (ss) => ss.map((s) => s.textContent)), ['', ...Array.from({ length: H }, (_, h) => `H${h + 1}`), 'mean']);
      assert.deepEqual(await v.page.$$eval('.att-rowhead', (ss) => ss.map((s) => s.textContent)), Array.from({ length: N }, (_, l) => `L${l + 1}`));
      assert.match((await v.page.textContent('.att-window'))!, new RegExp(`Showing the last ${T} of ${long.totalTokens} tokens`));

      // Thumbnails come from the engine's pooled maps: the top-right corner is masked, the bottom-left painted.
      const thumbSel = 'button.att-cell[data-layer="0"][data-head="0"] canvas';
      const box = await v.page.$eval(thumbSel, (c) => { const r = c.getBoundingClientRect(); return [r.width, r.height]; });
      assert.equal((await canvasPixel(v.page, thumbSel, box[0] - 1, 0))[3], 0, 'thumbnail: masked corner is empty');
      assert.equal((await canvasPixel(v.page, thumbSel, 0, box[1] - 1))[3], 255, 'thumbnail: causal half is painted');

      // Another map: asked for, then drawn.
      const L = N - 1, Hh = Math.min(2, H - 1);
      await v.page.click(`button.att-cell[data-layer="${L}"][data-head="${Hh}"]`);
      assert.equal(await v.page.textContent('.att-detail-title'), `Layer ${L + 1} · head ${Hh + 1}`);
      const mapReq = await answer(v, 'map', 1);
      assert.deepEqual(mapReq.params, { layer: L, head: Hh });
      await v.page.waitForFunction(() => !document.querySelector('.att-map.gl-stale'));
      const weights = mapOf(data, longSel, L, Hh).weights;
      const px = await mapPixels(v);
      assert.equal(px.T, T);
      let masked = 0, painted = 0, ordered = 0;
      const dist = (a: number[], b: number[]): number => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
      for (let q = 0; q < T; q++) {
        for (let k = 0; k < T; k++) {
          const a = px.alpha[q * T + k];
          if (k > q) { assert.equal(a, 0, `cell (${q}, ${k}) is masked`); masked++; } else { assert.equal(a, 255, `cell (${q}, ${k}) is painted`); painted++; }
        }
        if (q > 0) {
          const row = Array.from(weights.subarray(q * T, q * T + q + 1));
          const hi = row.indexOf(Math.max(...row)), lo = row.indexOf(Math.min(...row));
          if (row[hi] - row[lo] > 0.2) {
            assert.ok(dist(px.rgb[q * T + hi], px.rgb[q * T + lo]) > 30, `row ${q}: the strongest key stands out`);
            ordered++;
          }
        }
      }
      assert.equal(masked, (T * (T - 1)) / 2);
      assert.equal(painted, (T * (T + 1)) / 2);
      assert.ok(ordered > 0, 'some rows have a clear strongest key');

      // Every row labelled (48 tokens: the map is made large enough), in order, on both axes.
      const yl = await v.page.$$eval('.att-ylabels text', (ts) => ts.map((t) => t.textContent));
      const xl = await v.page.$$eval('.att-xlabels text', (ts) => ts.map((t) => t.textContent));
      assert.deepEqual(yl, long.probe.tokens.map((t) => label(t.text, 10)), 'every row has its label');
      assert.deepEqual(xl, long.probe.tokens.map((t) => label(t.text, 8)));
      assert.equal(await v.page.isVisible('.att-label-note'), false, 'no note: nothing is left unlabelled');
      const heights = await v.page.$$eval('.att-ylabels text', (ts) => ts.map((t) => t.getBoundingClientRect()));
      for (let i = 1; i < heights.length; i++) assert.ok(heights[i].top >= heights[i - 1].bottom - 1.5, `row labels ${i - 1} and ${i} do not overlap`);

      // Hover shows the exact weight of the cell under the pointer.
      const r = (await (await v.page.$('canvas.att-map-canvas'))!.boundingBox())!;
      const cell = r.width / T;
      const hq = T - 3, hk = T - 6;
      await v.page.mouse.move(r.x + (hk + 0.5) * cell, r.y + (hq + 0.5) * cell);
      const w = weights[hq * T + hk];
      const tip = (await v.page.textContent('.gl-tooltip'))!;
      assert.ok(tip.includes(`weight ${w === 0 ? '0' : w < 1e-4 ? w.toExponential(2) : w.toFixed(4)}`), `tooltip shows the weight: ${tip}`);
      await v.page.mouse.move(r.x + (T - 1) * cell, r.y + 0.5 * cell);
      assert.match((await v.page.textContent('.gl-tooltip')) ?? '', /masked/);

      // A row label focuses its token: the focus carries the row the host paints; the head view asks for every head's row.
      const q = T - 1;
      await v.page.click(`.att-ylabels text:nth-child(${q + 1})`);
      const focus = (await focusMessages(v)).at(-1)!;
      assert.deepEqual({ ...focus, weights: null }, { token: q, layer: L, head: Hh, weights: null });
      assert.deepEqual(focus.weights, Array.from(weights.subarray(q * T, q * T + q + 1)), 'the painted row is the open map’s row');
      assert.equal(await v.page.$$eval('.att-tok.focused', (s) => s.length), 1);
      assert.equal(await v.page.$$eval('.att-top tbody tr', (s) => s.length), Math.min(8, q + 1));
      const rowsReq = await answer(v, 'rows', 1);
      assert.deepEqual(rowsReq.params, { layer: L, query: q });
      await v.page.waitForSelector('.att-head-lines line');
      const rows = rowsOf(data, longSel, L, q).weights;
      const drawn = Array.from(rows).filter((x) => x >= 0.01).length;
      assert.equal(await v.page.locator('.att-head-lines line').count(), drawn, 'one line per head and key with weight >= 0.01');
      const strokes = await v.page.$$eval('.att-head-lines line', (ls) => [...new Set(ls.map((l) => `${l.getAttribute('data-head')}=${l.getAttribute('stroke')}`))]);
      assert.equal(new Set(strokes.map((s) => s.split('=')[1])).size, new Set(strokes.map((s) => s.split('=')[0])).size, 'one colour per head');
      // A head can be hidden from the head view.
      await v.page.click('.att-head-chip:first-child');
      assert.equal(await v.page.locator('.att-head-lines line[data-head="0"]').count(), 0);
      await v.page.click('.att-head-chip:first-child');

      // The layer's mean: asked for, and the focus is re-posted with the mean's row.
      await v.page.click(`button.att-cell[data-layer="${L}"][data-head="mean"]`);
      await answer(v, 'map', 2);
      await v.page.waitForFunction(() => !document.querySelector('.att-map.gl-stale'));
      const meanFocus = (await focusMessages(v)).at(-1)!;
      assert.equal(meanFocus.head, 'mean');
      const mean = mapOf(data, longSel, L, 'mean').weights;
      meanFocus.weights!.forEach((x, k) => assert.ok(Math.abs(x - mean[q * T + k]) < 1e-6));
      assert.match((await v.page.textContent('.att-detail-title'))!, new RegExp(`mean of ${H} heads`));

      await v.page.mouse.move(1, 1);
      await v.screenshot('attention');

      // The host removed the painting (the text was edited): the panel drops its focus and says why.
      await v.post({ type: 'unfocus', params: { reason: 'the text changed, so the painting no longer matched it' } });
      await frames(v);
      assert.equal(await v.page.$$eval('.att-tok.focused', (s) => s.length), 0);
      assert.match((await v.page.textContent('.att-unfocused'))!, /the text changed/);
      assert.equal(await v.page.isVisible('.att-heads'), false);

      // A token of the strip, then Escape clears: focus null, weights null.
      await v.page.click('.att-tok:nth-child(5)');
      assert.equal((await focusMessages(v)).at(-1)!.token, 4);
      await v.page.keyboard.press('Escape');
      assert.deepEqual((await focusMessages(v)).at(-1), { token: null, layer: L, head: 'mean', weights: null });

      // Keyboard: the grid's current cell has the tab stop; arrows move the selection (the map is asked for).
      await v.page.focus('button.att-cell[tabindex="0"]');
      await v.page.keyboard.press('ArrowUp');
      await v.page.keyboard.press('Home');
      assert.equal(await v.page.textContent('.att-detail-title'), `Layer ${L} · head 1`);

      // Reload: the state brings back the grid and the open map (rounded to 1/255) before any message; the painting
      // went with the window, so no token is focused.
      await v.page.click(`button.att-cell[data-layer="${N - 1}"][data-head="${Hh}"]`); // held: no request
      await v.page.click(`.att-tok:nth-child(${T})`);
      await frames(v);
      const beforeReload = await mapPixels(v);
      await v.reload();
      await v.page.waitForSelector('button.att-cell canvas');
      assert.equal(await v.page.$$eval('button.att-cell', (bs) => bs.length), N * (H + 1));
      assert.equal(await v.page.textContent('.att-detail-title'), `Layer ${N} · head ${Hh + 1}`);
      assert.equal(await v.page.$$eval('.att-tok.focused', (s) => s.length), 0);
      assert.match((await v.page.textContent('.att-unfocused'))!, /reloaded/);
      const after = await mapPixels(v);
      assert.deepEqual(after.alpha, beforeReload.alpha, 'the same map comes back');
      assert.match((await v.page.textContent('.gl-subtitle'))!, /restored after a reload/);

      // A short selection: no window note.
      await v.post({ type: 'attention', params: short });
      await v.page.waitForFunction((t) => document.querySelectorAll('.att-tok').length === t, short.probe.tokens.length);
      assert.equal(await v.page.$eval('.att-window', (p) => (p as HTMLElement).hidden), true);

      // Odd input is refused with a message, not a crash; a failed command leaves nothing older on screen.
      await v.post({ type: 'attention', params: { ...short, probe: { ...short.probe, maps: [{ layer: 0, head: 0, weights: new Float32Array(3) }] } } });
      assert.match((await v.page.textContent('.gl-error')) ?? '', /Cannot show/);
      await v.post({ type: 'error', params: { message: 'the model is gone' } });
      assert.equal(await v.page.textContent('.gl-error'), 'the model is gone');
      assert.equal(await v.page.isVisible('.gl-body'), false);

      assert.deepEqual(v.consoleErrors, []);
      assert.deepEqual(v.cspViolations, []);
    } finally {
      await v.close();
    }
  });
}

test('attention view: 45 tokens in a narrow panel still label every row (the map grows, the pane scrolls)', async () => {
  const v = await openView('attention', 'dark', { width: 640, height: 800 });
  try {
    await v.waitForPosted('ready');
    const sel = data.text.slice(2000, 2045);
    const d = attentionData(data, sel);
    assert.equal(d.probe.tokens.length, 45);
    await v.post({ type: 'attention', params: d });
    await v.page.waitForSelector('.att-ylabels text');
    assert.equal(await v.page.locator('.att-ylabels text').count(), 45);
    assert.equal(await v.page.locator('.att-xlabels text').count(), 45);
    assert.equal(await v.page.isVisible('.att-label-note'), false);
    await v.screenshot('attention-narrow');
    assert.deepEqual(v.consoleErrors, []);
  } finally {
    await v.close();
  }
});

for (const theme of ['light', 'dark'] as const) test(`attention view (${theme}): a first paint of the first layer, then the other layers as they come`, async () => {
  const v = await openView('attention', theme, { width: 1280, height: 900 });
  try {
    await v.waitForPosted('ready');
    const whole = attentionOf(data, longSel);
    const first: AttentionData = { ...long, probe: attentionProbe({ ...whole, layers: whole.layers.slice(0, 1) }, 64) };
    const N = whole.N;
    assert.ok(N >= 2, 'a model with layers to follow');
    await v.post({ type: 'attention', params: first });
    await v.page.waitForFunction(() => document.body.dataset.paintMs !== undefined);
    const pending = await v.page.$$eval('button.att-cell.pending', (bs) => [...new Set(bs.map((b) => b.getAttribute('data-layer')))]);
    assert.deepEqual(pending, Array.from({ length: N - 1 }, (_, l) => String(l + 1)), 'every layer after the first is on its way');
    assert.match((await v.page.textContent('.gl-subtitle'))!, N === 2 ? /layer 2 is on the way/ : new RegExp(`layers 2–${N} are on the way`));
    assert.equal(await v.page.evaluate(() => document.body.dataset.layersMs), undefined);
    const lastSel = `button.att-cell[data-layer="${N - 1}"][data-head="0"] canvas`;
    const box = await v.page.$eval(lastSel, (c) => { const r = c.getBoundingClientRect(); return [r.width, r.height]; });
    assert.equal((await canvasPixel(v.page, lastSel, 0, box[1] - 1))[3], 0, 'a layer still on its way is not painted');
    assert.equal((await canvasPixel(v.page, 'button.att-cell[data-layer="0"][data-head="0"] canvas', 0, box[1] - 1))[3], 255);
    await v.screenshot('attention-first-paint');

    // Layers that do not continue this probe are not taken; the rest is, and the grid is whole.
    const rest = attentionThumbnails(whole, first.probe.thumbnails.res, 1);
    await v.post({ type: 'layers', params: { ...rest, from: 2 } });
    await v.post({ type: 'layers', params: rest });
    await v.page.waitForFunction(() => document.body.dataset.layersMs !== undefined);
    assert.equal(await v.page.locator('button.att-cell.pending').count(), 0);
    assert.doesNotMatch((await v.page.textContent('.gl-subtitle'))!, /on the way/);
    assert.equal((await canvasPixel(v.page, lastSel, 0, box[1] - 1))[3], 255, 'the last layer is painted now');
    assert.equal(await v.page.isVisible('.gl-error'), false);
    assert.deepEqual(v.consoleErrors, []);
  } finally {
    await v.close();
  }
});

test('attention view: first paint and hover on a 12 x 8 x 512 probe as the engine sends it (typed arrays)', async () => {
  const v = await openView('attention', 'dark', { width: 1400, height: 900 });
  try {
    await v.waitForPosted('ready');
    // Generated in the page, engine-shaped: thumbnails of every map (64 x 64, max-pooled) and the open map 512 x 512,
    // every row a causal softmax of structured random logits (previous token, a sink at 0, local).
    const figures = await v.page.evaluate(async () => {
      const N = 12, H = 8, T = 512, R = 64;
      let seed = 1;
      const rand = (): number => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 4294967296);
      const map = new Float32Array(T * T);
      for (let q = 0; q < T; q++) {
        let max = -Infinity;
        for (let k = 0; k <= q; k++) {
          const z = 2 * rand() + (k === q - 1 ? 4 : 0) + (k === 0 ? 3 : 0) - 0.02 * (q - k);
          map[q * T + k] = z;
          if (z > max) max = z;
        }
        let sum = 0;
        for (let k = 0; k <= q; k++) sum += (map[q * T + k] = Math.exp(map[q * T + k] - max));
        for (let k = 0; k <= q; k++) map[q * T + k] /= sum;
      }
      const thumbs = new Float32Array(N * (H + 1) * R * R);
      for (let i = 0; i < thumbs.length; i++) {
        const c = i % (R * R), r = Math.floor(c / R), k = c % R;
        thumbs[i] = k > r ? 0 : k === r || k === 0 ? 0.6 + 0.4 * rand() : 0.2 * rand();
      }
      const tokens = Array.from({ length: T }, (_, i) => ({ id: i % 50, tokenizerId: i % 50, text: 'abcdefghij'[i % 10], unknown: false, start: i, end: i + 1 }));
      const msg = { type: 'attention', params: { source: 'synthetic.txt', model: null, totalTokens: 612,
        probe: { tokens, cropped: 100, layers: N, heads: H, thumbnails: { res: R, from: 0, count: N, values: thumbs }, maps: [{ layer: 0, head: 0, weights: map }] } } };
      const t0 = performance.now();
      window.postMessage(msg, '*');
      await new Promise<void>((resolve) => {
        const tick = (): void => (document.body.dataset.paintMs ? resolve() : void requestAnimationFrame(tick));
        requestAnimationFrame(tick);
      });
      const withClone = performance.now() - t0;
      // Hover: one pointermove per animation frame across the large map for 120 frames.
      const canvas = document.querySelector('canvas.att-map-canvas') as HTMLCanvasElement;
      const rect = canvas.getBoundingClientRect();
      const handler: number[] = [], frameTimes: number[] = [];
      let last = performance.now();
      await new Promise<void>((resolve) => {
        let i = 0;
        const step = (now: number): void => {
          frameTimes.push(now - last);
          last = now;
          const s = performance.now();
          canvas.dispatchEvent(new PointerEvent('pointermove', { clientX: rect.left + (i * 37) % rect.width, clientY: rect.top + (i * 53) % rect.height, bubbles: true }));
          void (document.querySelector('.gl-tooltip') as HTMLElement).offsetWidth; // force the layout the move causes
          handler.push(performance.now() - s);
          if (++i < 120) requestAnimationFrame(step);
          else resolve();
        };
        requestAnimationFrame(step);
      });
      frameTimes.shift();
      const sorted = (a: number[]): number[] => a.slice().sort((x, y) => x - y);
      const p = (a: number[], f: number): number => sorted(a)[Math.min(a.length - 1, Math.floor(a.length * f))];
      return {
        paint: Number(document.body.dataset.paintMs), withClone, cells: document.querySelectorAll('button.att-cell').length,
        note: document.querySelector('.att-window')?.textContent ?? '', labelNote: document.querySelector('.att-label-note')?.textContent ?? '',
        handlerMean: handler.reduce((a, b) => a + b, 0) / handler.length, handlerMax: Math.max(...handler),
        frameMedian: p(frameTimes, 0.5), frameP95: p(frameTimes, 0.95), tip: document.querySelector('.gl-tooltip')?.textContent ?? '',
      };
    });
    console.log(`# attention (12 layers x 8 heads x 512 tokens as typed arrays, 2.8 MB; headless Chromium --disable-gpu): ` +
      `first paint ${figures.paint} ms after the message arrives, ${figures.withClone.toFixed(0)} ms from window.postMessage (structured clone included); ` +
      `hover handler ${figures.handlerMean.toFixed(2)} ms mean, ${figures.handlerMax.toFixed(2)} ms max, frame interval median ${figures.frameMedian.toFixed(1)} ms, ` +
      `p95 ${figures.frameP95.toFixed(1)} ms; load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`);
    assert.equal(figures.cells, 12 * 9);
    assert.match(figures.note, /Showing the last 512 of 612 tokens/);
    assert.match(figures.labelNote, /One row in \d+ is labelled: 512 rows/, 'the map says why not every row is labelled');
    assert.match(figures.tip, /weight|masked/);
    assert.deepEqual(v.consoleErrors, []);
    assert.deepEqual(v.cspViolations, []);
  } finally {
    await v.close();
  }
});
