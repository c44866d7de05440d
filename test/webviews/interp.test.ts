/**
 * The panels' interpretability parts in headless Chromium, fed the engine's own answers on a small model trained with
 * weight snapshots (engineData's snapshotRun). The attention view shows a timeline slider; moving it asks the probe at
 * that snapshot (the newest position wins) and the maps change; the head-role grid draws every head's score with an
 * honest note; a click on a head asks for its ablation and the loss line shows the engine's before and after; a
 * pushed patching result draws its grid. The next-token view asks "why this token?" and lists the attribution with
 * sum = logit, asks again for a chosen token and at a snapshot (where sampling is off). The embeddings view replays
 * its projection; a model without snapshots gets a one-line hint instead of a slider. Screenshots in both themes.
 */
import * as assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ablate } from '../../engine/probes/ablation';
import { attentionProbe, textAttention } from '../../engine/probes/attention';
import { attribution } from '../../engine/probes/attribution';
import { headRoles } from '../../engine/probes/headRoles';
import { patchEdit } from '../../engine/probes/patching';
import { embeddingPca, logitLens, nextToken, type ProbeContext } from '../../engine/probes/probes';
import type { AttentionData, NextTokenData, PatchData, ProjectionData } from '../../engine/protocol';
import { attributionLabel, attributionSumLine } from '../../webviews/nextToken/state';
import { roleNote } from '../../webviews/attention/interp';
import { timelineLabel } from '../../webviews/shared/timeline';
import { snapshotRun, type SnapshotRun } from './engineData';
import { openView, shutdown, type ViewPage } from './harness';
import type { ViewName } from '../../engine/protocol';

let run: SnapshotRun;
let text: string;

before(async () => {
  run = await snapshotRun();
  text = run.text.slice(600, 760);
});
after(() => shutdown());

const model = (ctx: ProbeContext) => ({ label: 'tinyshakespeare-sample.txt', tokenizer: ctx.tokenizer.name, parameters: ctx.model.parameterCount, partial: false });
const ctxAt = (at: number | null): ProbeContext => (at === null ? run.ctx : run.at(at));

function attentionAt(at: number | null): AttentionData {
  const probe = attentionProbe(textAttention(ctxAt(at), text), 64, [{ layer: 0, head: 0 }]);
  return { source: 'tinyshakespeare-sample.txt', model: model(run.ctx), probe, totalTokens: probe.tokens.length + probe.cropped, timeline: run.tag(at) };
}

/** Drags a view's timeline slider through positions, as a person does (input events, all in one task: no pause between). */
async function moveSlider<V extends ViewName>(v: ViewPage<V>, ...positions: number[]): Promise<void> {
  await v.page.$eval('input.gl-timeline-input', (el, ps) => {
    for (const p of ps) {
      (el as HTMLInputElement).value = String(p);
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }
  }, positions);
}

/** Every pixel of the first thumbnails of the grid, to tell two snapshots' maps apart. */
const thumbPixels = <V extends ViewName>(v: ViewPage<V>): Promise<number[]> => v.page.$$eval('button.att-cell canvas', (cs) =>
  cs.slice(0, 4).flatMap((c) => Array.from((c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data)));

for (const theme of ['light', 'dark'] as const) {
  test(`attention (${theme}): timeline slider replays the maps, head roles, ablation changes the loss shown, a patching result`, async (t) => {
    const v = await openView('attention', theme, { width: 1280, height: 1300 });
    try {
      await v.waitForPosted('ready');
      const { layers: N, heads: H } = run.ctx.model.config;
      const S = run.timeline.snapshots.length;
      await v.post({ type: 'attention', params: attentionAt(null) });
      await v.page.waitForSelector('button.att-cell canvas');
      // The slider: one position per snapshot and the kept model, where it starts.
      assert.equal(await v.page.isVisible('.gl-timeline'), true);
      assert.equal(await v.page.getAttribute('input.gl-timeline-input', 'max'), String(S));
      assert.equal(await v.page.textContent('.gl-timeline-label'), timelineLabel(run.tag(null), null));
      assert.equal(await v.page.isVisible('.gl-timeline-hint'), false);

      // Head roles, asked for on the probed text.
      const roles = headRoles(run.ctx, text);
      const rolesReq = await v.waitForPosted('roles');
      await v.post({ type: 'roles', id: rolesReq.id, params: roles });
      await v.page.waitForFunction(() => document.querySelector('button.att-role-cell')?.textContent !== '');
      assert.equal(await v.page.locator('button.att-role-cell').count(), N * H);
      assert.equal(await v.page.textContent('.att-roles-note'), roleNote(roles, 'induction', 'random'));
      const inductionCell = await v.page.textContent(`button.att-role-cell[data-layer="${N - 1}"][data-head="0"]`);
      assert.equal(inductionCell, roles.random.induction[N - 1][0].toFixed(2));
      await v.page.click('button.att-role-button[data-role="previousToken"]');
      assert.equal(await v.page.textContent(`button.att-role-cell[data-layer="0"][data-head="1"]`), roles.random.previousToken[0][1].toFixed(2));

      // Move the slider through two positions quickly: only the last is asked for (debounced), at the initial weights.
      const before = await thumbPixels(v);
      await moveSlider(v, 1, 0);
      const replay = await v.waitForPosted('atSnapshot');
      assert.deepEqual(replay.params, { snapshot: 0 });
      assert.match((await v.page.textContent('.gl-timeline-label'))!, /^at step 0 of \d+ \(the initial weights\)/);
      await v.post({ type: 'attention', id: replay.id, params: attentionAt(0) });
      await v.page.waitForFunction(() => !document.body.querySelector('.gl-loading:not([hidden])'));
      // The repaint after the snapshot's data arrived (the view's own first-paint figure, read after the frame is painted).
      const paintMs = await v.page.waitForFunction(() => document.body.dataset.paintMs).then((h) => h.jsonValue());
      t.diagnostic(`timeline repaint (${theme}): ${paintMs} ms from the snapshot's data to the painted frame`);
      const afterPixels = await thumbPixels(v);
      assert.notDeepEqual(afterPixels, before, 'the maps at the initial weights are not the trained ones');
      assert.equal((await v.posted()).filter((m) => m.type === 'atSnapshot').length, 1, 'one request for two quick moves');
      // The roles come again for the snapshot shown.
      const roles0 = headRoles(run.at(0), text);
      const rolesReq2 = await v.waitForPosted('roles', 2);
      await v.post({ type: 'roles', id: rolesReq2.id, params: roles0 });

      // Switch a head off: the view asks for the ablation and shows the engine's loss before and after.
      await v.page.click(`button.att-role-cell[data-layer="${N - 1}"][data-head="1"]`);
      const abl = await v.waitForPosted('ablate');
      assert.deepEqual(abl.params, { heads: [{ layer: N - 1, head: 1 }], mode: 'zero' });
      const a = ablate(run.at(0), text, [{ layer: N - 1, head: 1 }], 'zero', 8);
      await v.post({ type: 'ablation', id: abl.id, params: a });
      await v.page.waitForFunction(() => (document.querySelector('.att-ablation-loss')?.textContent ?? '') !== '');
      const lossLine = (await v.page.textContent('.att-ablation-loss'))!;
      assert.ok(lossLine.includes(`${a.loss.before!.toFixed(3)} → ${a.loss.after!.toFixed(3)}`), lossLine);
      assert.ok(lossLine.includes(`L${N}H2 zeroed`));
      // A whole layer, mean ablation: a request with all its heads (the newest choice wins).
      await v.page.click('button.att-roles-layer >> nth=0');
      await v.page.selectOption('.att-ablation-mode select', 'mean');
      // (The two changes may come as one request or two, however fast the page is: the newest is the one answered.)
      let abl2 = await v.waitForPosted('ablate', 2);
      if ((abl2.params as { mode: string }).mode !== 'mean') abl2 = await v.waitForPosted('ablate', 3);
      const heads2 = [...Array.from({ length: H }, (_, head) => ({ layer: 0, head })), { layer: N - 1, head: 1 }];
      assert.deepEqual(abl2.params, { heads: heads2, mode: 'mean' });
      const a2 = ablate(run.at(0), text, heads2, 'mean', 8);
      await v.post({ type: 'ablation', id: abl2.id, params: a2 });
      await v.page.waitForFunction((want) => (document.querySelector('.att-ablation-loss')?.textContent ?? '').includes(want),
        `${a2.loss.before!.toFixed(3)} → ${a2.loss.after!.toFixed(3)}`);
      assert.ok(await v.page.locator('table.att-ablation-next tbody tr').count() >= 6);
      await v.page.locator('.att-roles').scrollIntoViewIfNeeded();
      await v.screenshot('attention-roles-ablation');

      // A patching result pushed by the command: its grid, its best heads, its residual rows.
      const prefix = run.text.slice(300, 420);
      const patch: PatchData = { source: 'tinyshakespeare-sample.txt', model: model(run.ctx), selection: 'ROMEO', edit: 'JULIET',
        probe: patchEdit(run.ctx, `${prefix}ROMEO`, `${prefix}JULIET`) };
      await v.post({ type: 'patch', params: patch });
      await v.page.waitForSelector('.att-patch:not([hidden]) .att-patch-cell');
      assert.equal(await v.page.locator('.att-patch-cell').count(), N * H);
      assert.equal(await v.page.locator('.att-patch-residuals tr').count(), N + 1);
      const r11 = patch.probe.heads[1][1].restored;
      assert.equal(await v.page.textContent(`.att-patch-cell >> nth=${H + 1}`), r11 === null ? '–' : r11.toFixed(2).replace(/^-(?!0\.00$)/, '−').replace(/^-/, ''));
      await v.page.evaluate(() => window.scrollTo(0, 0));
      await v.screenshot('attention-patch');
      assert.deepEqual(v.consoleErrors, []);
      assert.deepEqual(v.cspViolations, []);
    } finally {
      await v.close();
    }
  });

  test(`next token (${theme}): why this token (sum = logit), another token, and the distribution at a snapshot`, async () => {
    const v = await openView('nextToken', theme, { width: 1100, height: 1500 });
    try {
      await v.waitForPosted('ready');
      const prompt = run.text.slice(1000, 1150);
      const plain = { temperature: 1, topK: 0, topP: 1 };
      const payload = (at: number | null): NextTokenData => ({ prompt, sampledSoFar: '', probe: nextToken(ctxAt(at), prompt, 20, plain),
        lens: logitLens(ctxAt(at), prompt, 5), model: model(run.ctx), timeline: run.tag(at) });
      await v.post({ type: 'nextToken', params: payload(null) });
      const req = await v.waitForPosted('attribution');
      assert.deepEqual(req.params, { token: null });
      const a = attribution(run.ctx, prompt);
      await v.post({ type: 'attribution', id: req.id, params: a });
      await v.page.waitForSelector('.nt-attr-row');
      assert.equal(await v.page.textContent('.nt-attr-sum'), attributionSumLine(a));
      assert.match(attributionSumLine(a), / = logit /, 'the contributions sum to the logit');
      assert.equal(await v.page.locator('.nt-attr-row').count(), Math.min(10, a.components.length));
      assert.ok(a.components.length > 10, 'the test model has more parts than the list shows at first');
      const first = [...a.components].sort((x, y) => Math.abs(y.contribution) - Math.abs(x.contribution))[0];
      assert.equal(await v.page.textContent('.nt-attr-row .nt-attr-label >> nth=0'), attributionLabel(first));
      await v.page.click('button.nt-attr-more');
      assert.equal(await v.page.locator('.nt-attr-row').count(), a.components.length);

      // Another token of the list.
      const second = payload(null).probe.top[1];
      await v.page.selectOption('.nt-attr-pick select', second.text);
      const req2 = await v.waitForPosted('attribution', 2);
      assert.deepEqual(req2.params, { token: second.text });
      const a2 = attribution(run.ctx, prompt, { token: second.text });
      await v.post({ type: 'attribution', id: req2.id, params: a2 });
      await v.page.waitForFunction((want) => document.querySelector('.nt-attr-sum')?.textContent === want, attributionSumLine(a2));

      // The timeline: the distribution at snapshot 1; sampling is off there.
      await moveSlider(v, 1);
      const replay = await v.waitForPosted('atSnapshot');
      assert.deepEqual(replay.params, { snapshot: 1, sampling: plain });
      await v.post({ type: 'nextToken', id: replay.id, params: payload(1) });
      await v.page.waitForFunction(() => document.querySelector<HTMLButtonElement>('button.nt-sample')?.disabled === true);
      const req3 = await v.waitForPosted('attribution', 3);
      const token = (req3.params as { token: string | null }).token;
      await v.post({ type: 'attribution', id: req3.id, params: attribution(run.at(1), prompt, token === null ? {} : { token }) });
      assert.match((await v.page.textContent('.gl-timeline-label'))!, new RegExp(`^at step ${run.timeline.snapshots[1].step} of `));
      await v.page.waitForSelector('.nt-attr-row');
      await v.page.locator('.nt-attr-box').scrollIntoViewIfNeeded();
      await v.screenshot('next-token-attribution');
      assert.deepEqual(v.consoleErrors, []);
      assert.deepEqual(v.cspViolations, []);
    } finally {
      await v.close();
    }
  });
}

test('embeddings: the timeline replays the projection; a model without snapshots gets a hint, not a slider', async () => {
  const v = await openView('embeddings', 'dark', { width: 1000, height: 760 });
  try {
    await v.waitForPosted('ready');
    const projection = (at: number | null): ProjectionData => ({ ...embeddingPca(ctxAt(at)), model: model(run.ctx), timeline: run.tag(at) });
    await v.post({ type: 'projection', params: { ...projection(null), timeline: { snapshots: [], at: null } } });
    await v.page.waitForSelector('.gl-timeline-hint:not([hidden])');
    assert.equal(await v.page.isVisible('.gl-timeline'), false);
    await v.post({ type: 'projection', params: projection(null) });
    await v.page.waitForSelector('.gl-timeline:not([hidden])');
    assert.equal(await v.page.isVisible('.gl-timeline-hint'), false);
    await moveSlider(v, 2);
    const replay = await v.waitForPosted('atSnapshot');
    assert.deepEqual(replay.params, { snapshot: 2 });
    const at2 = projection(2);
    await v.post({ type: 'projection', id: replay.id, params: at2 });
    await v.page.waitForFunction((n) => document.querySelector('.embeddings-app')?.getAttribute('data-points') === String(n), at2.points.length);
    assert.match((await v.page.textContent('.gl-timeline-label'))!, new RegExp(`^at step ${run.timeline.snapshots[2].step} of `));
    await v.screenshot('embeddings-timeline');
    assert.deepEqual(v.consoleErrors, []);
  } finally {
    await v.close();
  }
});
