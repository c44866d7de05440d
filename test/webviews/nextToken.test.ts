/**
 * The next-token view in headless Chromium, fed real engine output (engineData: a small GPT trained in-process).
 * Bars follow probability; a slider change posts one debounced `resample`, and the engine's reply for exactly those
 * settings greys out the cut tokens and changes the kept mass; the logit lens has N + 1 rows; `sampleOne` and `reset`
 * round-trip with the appended text highlighted; the state survives a reload; no console errors, no CSP violations.
 */
import * as assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { NextTokenData, SamplingOptions } from '../../engine/protocol';
import { engineData, nextTokenData, selectionOf, type EngineData } from './engineData';
import { openView, shutdown, type ViewPage } from './harness';

const K = 10;
let data: EngineData;
let prompt: string;

before(async () => {
  data = await engineData();
  prompt = selectionOf(data, 160, 2400);
});
after(() => shutdown());

const pct = (p: number): string => (p === 0 ? '0%' : p < 0.001 ? `${(p * 100).toExponential(1)}%` : `${(p * 100).toFixed(p < 0.1 ? 2 : 1)}%`);

async function bars(v: ViewPage<'nextToken'>): Promise<{ token: string; prob: string; sampled: string; cut: boolean; width: number }[]> {
  return v.page.$$eval('table.nt-bars tbody tr', (trs) => trs.map((tr) => ({
    token: tr.querySelector('.nt-token')!.textContent ?? '',
    prob: tr.querySelector('.nt-prob')!.textContent ?? '',
    sampled: tr.querySelector('.nt-sampled')!.textContent ?? '',
    cut: tr.classList.contains('cut'),
    width: (tr.querySelector('.nt-bar-sampled') as HTMLElement).getBoundingClientRect().width,
  })));
}

/** A token as the view shows it: whitespace made visible, shortened to `max`. */
function shown(text: string, max = 16): string {
  const v = text.replace(/ /g, '·').replace(/\r\n|\n/g, '↵').replace(/\r/g, '␍').replace(/\t/g, '⇥');
  return v === '' ? '∅' : v.length > max ? `${v.slice(0, max - 1)}…` : v;
}

/** Sampled text as the prompt box shows it: whitespace made visible. */
const vis = (t: string): string => t.replace(/ /g, '·').replace(/\n/g, '↵\n').replace(/\t/g, '⇥');

/** Answers the view's newest request of `type` the way the host does: the engine's probe for those settings. */
async function reply(v: ViewPage<'nextToken'>, type: 'resample', n: number, p: string, sampledSoFar = ''): Promise<NextTokenData> {
  const req = await v.waitForPosted(type, n);
  const settings = req.params as SamplingOptions;
  const d = nextTokenData(data, p, K, settings, sampledSoFar);
  await v.post({ type: 'nextToken', id: req.id, params: d });
  return d;
}

for (const theme of ['light', 'dark'] as const) {
  test(`next-token view (${theme}): bars, sliders, logit lens, sample, reset, reload`, async () => {
    const v = await openView('nextToken', theme, { width: 1180, height: 820 });
    try {
      await v.waitForPosted('ready');
      const first = nextTokenData(data, prompt, K);
      await v.post({ type: 'nextToken', params: first });
      await v.page.waitForSelector('table.nt-bars tbody tr');

      // Bars: the engine's top-k, in order of probability, with probability and logit.
      const b0 = await bars(v);
      const byProb = first.probe.top.slice().sort((a, b) => b.prob - a.prob);
      assert.equal(b0.length, K);
      assert.deepEqual(b0.map((b) => b.token), byProb.map((t) => shown(t.text)));
      assert.deepEqual(b0.map((b) => b.prob), byProb.map((t) => pct(t.prob)));
      for (let i = 1; i < byProb.length; i++) assert.ok(byProb[i - 1].prob >= byProb[i].prob);
      const logits = await v.page.$$eval('.nt-logit', (tds) => tds.map((t) => t.textContent));
      assert.deepEqual(logits, byProb.map((t) => t.logit.toFixed(2)));
      assert.equal(b0.filter((b) => b.cut).length, 0, 'nothing is cut at temperature 1 without top-k/top-p');
      assert.match((await v.page.textContent('.nt-kept-text')) ?? '', /^kept mass 100\.0%/);
      assert.match((await v.page.textContent('.gl-model')) ?? '', /^Model: tinyshakespeare-sample\.txt · char · /, 'the panel names its model');
      assert.match((await v.page.textContent('.gl-subtitle')) ?? '', new RegExp(`^${first.probe.tokens.length} tokens of context`));

      // The logit lens: one row per layer plus the embeddings (N + 1), the last position's top tokens.
      const N = data.shape.layers;
      assert.equal(first.lens.layers.length, N + 1);
      assert.equal(await v.page.$$eval('table.nt-lens tbody tr', (trs) => trs.length), N + 1);
      const lensHeads = await v.page.$$eval('table.nt-lens tbody th', (ths) => ths.map((t) => t.textContent));
      assert.deepEqual(lensHeads, ['embeddings', ...Array.from({ length: N }, (_, l) => (l === N - 1 ? `block ${l + 1} (output)` : `block ${l + 1}`))]);
      const T = first.lens.tokens.length;
      const lastRow = await v.page.$$eval('table.nt-lens tbody tr:last-child td', (tds) => tds.map((t) => t.textContent));
      const lastTop = first.lens.layers[N][T - 1].top;
      assert.equal(lastRow.length, 5);
      assert.deepEqual(lastRow, lastTop.slice(0, 5).map((t) => `${shown(t.text, 10)} ${pct(t.prob)}`));
      assert.equal(await v.page.$$eval('table.nt-lens td.final', (tds) => tds.length) >= 1, true, 'the output token is outlined');

      // Top-k 3: one debounced resample (three quick changes, one request), then the engine's reply for top-k 3.
      const before = (await v.posted()).filter((m) => m.type === 'resample').length;
      await v.page.evaluate(() => {
        const input = document.querySelector('input[name="topK"]') as HTMLInputElement;
        for (const value of ['1', '2', '3']) {
          input.value = value;
          input.dispatchEvent(new Event('input', { bubbles: true }));
        }
      });
      const req = await v.waitForPosted('resample', before + 1);
      assert.deepEqual(req.params, { temperature: 1, topK: 3, topP: 1 });
      assert.ok(typeof req.id === 'number');
      await new Promise((r) => setTimeout(r, 150));
      assert.equal((await v.posted()).filter((m) => m.type === 'resample').length, before + 1, 'debounced: one request');
      const k3 = await reply(v, 'resample', before + 1, prompt);
      await v.page.waitForFunction(() => document.querySelectorAll('table.nt-bars tr.cut').length > 0);
      const b1 = await bars(v);
      assert.equal(b1.filter((b) => !b.cut).length, 3, 'three tokens kept');
      assert.deepEqual(b1.map((b) => b.cut), k3.probe.top.slice().sort((a, b) => b.prob - a.prob).map((t) => t.sampledProb === 0));
      assert.ok(b1[0].width > b0[0].width, 'the kept tokens take the cut mass: the first bar grows');
      assert.equal(b1.at(-1)!.sampled, 'cut');
      assert.ok(k3.probe.keptMass < 1);
      assert.match((await v.page.textContent('.nt-kept-text')) ?? '', new RegExp(`^kept mass ${pct(k3.probe.keptMass).replace('.', '\\.')} \\(temperature 1\\.00, top-k 3\\)`));

      // Temperature 0: greedy.
      await v.page.fill('input[name="temperature"]', '0');
      const g = await reply(v, 'resample', before + 2, prompt);
      assert.deepEqual(g.probe.sampling, { temperature: 0, topK: 3, topP: 1 });
      await v.page.waitForFunction(() => document.querySelectorAll('table.nt-bars tr.cut').length === 9);
      assert.match((await v.page.textContent('.nt-kept-text')) ?? '', /greedy/);
      assert.equal(await v.page.textContent('input[name="temperature"] + output'), '0 (greedy)');

      // Back to temperature 1, top-k 5, top-p 0.9 for the rest (and the screenshot).
      await v.page.fill('input[name="temperature"]', '1');
      await v.page.fill('input[name="topK"]', '5');
      await v.page.fill('input[name="topP"]', '0.9');
      await new Promise((r) => setTimeout(r, 120));
      const nRes = (await v.posted()).filter((m) => m.type === 'resample').length;
      const last = await reply(v, 'resample', nRes, prompt);
      assert.deepEqual(last.probe.sampling, { temperature: 1, topK: 5, topP: 0.9 });

      // Hover shows the exact values.
      await v.page.hover('table.nt-bars tbody tr:first-child .nt-bar');
      const tip = (await v.page.textContent('.gl-tooltip')) ?? '';
      const top0 = last.probe.top.slice().sort((a, b) => b.prob - a.prob)[0];
      assert.ok(tip.includes(`probability ${top0.prob}`) && tip.includes(`logit ${top0.logit}`), tip);

      // Sample one token: the request carries the settings; the reply's prompt shows the appended text highlighted.
      let text = prompt, sampled = '';
      for (let i = 1; i <= 2; i++) {
        await v.page.click('button.nt-sample');
        const s = await v.waitForPosted('sampleOne', i);
        assert.deepEqual(s.params, { temperature: 1, topK: 5, topP: 0.9 });
        const current = nextTokenData(data, text, K, s.params);
        const drawn = current.probe.sampled[0].text; // the host draws; the most likely allowed token stands in for the draw
        text += drawn;
        sampled += drawn;
        await v.post({ type: 'nextToken', id: s.id, params: nextTokenData(data, text, K, s.params, sampled) });
        await v.page.waitForFunction((want) => document.querySelector('mark.nt-newest')?.textContent === want, vis(drawn));
      }
      const marks = await v.page.$$eval('.nt-prompt mark', (ms) => ms.map((m) => m.textContent).join(''));
      assert.equal(marks, vis(sampled));
      assert.ok(((await v.page.textContent('.nt-prompt')) ?? '').endsWith(vis(sampled)));
      await v.page.mouse.move(5, 5);
      await v.screenshot('next-token');

      // Reload: the state redraws everything before any message.
      await v.reload();
      await v.page.waitForSelector('table.nt-bars tbody tr');
      assert.equal(await v.page.$$eval('table.nt-bars tbody tr', (trs) => trs.length), K);
      assert.equal(await v.page.$$eval('table.nt-lens tbody tr', (trs) => trs.length), N + 1);
      assert.equal(await v.page.inputValue('input[name="topK"]'), '5');
      assert.equal(await v.page.$$eval('.nt-prompt mark', (ms) => ms.map((m) => m.textContent).join('')), vis(sampled));

      // All positions in the lens: one column per position (up to 64).
      await v.page.check('.nt-toggle input');
      const cols = await v.page.$$eval('table.nt-lens thead th', (ths) => ths.length);
      assert.equal(cols, 1 + Math.min(64, nextTokenData(data, text, K).lens.tokens.length));

      // Reset: back to the selection, nothing highlighted.
      await v.page.click('button.nt-reset');
      const r = await v.waitForPosted('reset');
      await v.post({ type: 'nextToken', id: r.id, params: nextTokenData(data, prompt, K, { temperature: 1, topK: 5, topP: 0.9 }) });
      await v.page.waitForFunction(() => document.querySelectorAll('.nt-prompt mark').length === 0);

      // Bad input is refused with a message; an error reply is shown.
      await v.post({ type: 'nextToken', params: { ...first, probe: null } as unknown as NextTokenData });
      assert.match((await v.page.textContent('.gl-error')) ?? '', /not well formed/);
      await v.post({ type: 'error', params: { message: 'the model is busy' } });
      assert.equal(await v.page.textContent('.gl-error'), 'the model is busy');

      assert.deepEqual(v.consoleErrors, []);
      assert.deepEqual(v.cspViolations, []);
    } finally {
      await v.close();
    }
  });
}
