// The loss chart's bundle in headless Chromium, fed the events of real training runs (engine/train.ts):
// lines, validation points, baselines, samples, best checkpoint, memorising warning, status line, log scale,
// small multiples, legend and state across a reload, hover readouts, keyboard, bad input; screenshots per theme.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ToView } from '../../engine/protocol';
import { engineData, eventsOf, extraRun, REPO_ROOT, type EngineData } from './engineData';
import { openView, shutdown, timeUntil, type Theme, type ViewPage } from './harness';
import { type TrainEvent } from '../../engine/protocol';


let data: EngineData;
let layer: TrainEvent[]; // LayerNorm on a short slice, long enough to overfit
let rms: TrainEvent[]; // the same with RMSNorm
const SLICE = fs.readFileSync(path.join(REPO_ROOT, 'media', 'tinyshakespeare-sample.txt'), 'utf8').slice(0, 3000);
const RUN_A = { id: 'run-a', source: 'shakespeare-3k.txt' };
const RUN_B = { id: 'run-b', source: 'shakespeare-3k.txt' };
const LABEL_A = 'shakespeare-3k.txt · run 1', LABEL_B = 'shakespeare-3k.txt · run 2';

before(async () => {
  data = await engineData();
  const t0 = performance.now();
  const settings = { steps: 300, evalEvery: 15, sampleEvery: 75 };
  layer = await extraRun({ text: SLICE, settings, shape: { dim: 64 } });
  rms = await extraRun({ text: SLICE, settings, shape: { dim: 64, norm: 'rmsnorm' } });
  console.log(`# engine: main run ${data.trainMs.toFixed(0)} ms; two 300-step overlay runs ${(performance.now() - t0).toFixed(0)} ms`);
});
after(() => shutdown());

const msgRun = (r: { id: string; source: string }): ToView<'loss'> => ({ type: 'run', params: r });
const msgEvents = (runId: string, events: TrainEvent[]): ToView<'loss'> => ({ type: 'events', params: { runId, events } });

/** Streams a run's events in batches (as the host does while training); returns ms per batch (post to idle). */
async function stream(v: ViewPage<'loss'>, runId: string, events: TrainEvent[], batch = 25): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < events.length; i += batch) {
    const t0 = performance.now();
    await v.post(msgEvents(runId, events.slice(i, i + batch)));
    await v.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    times.push(performance.now() - t0);
  }
  return times;
}

const count = (v: ViewPage<'loss'>, sel: string): Promise<number> => v.page.locator(sel).count();

for (const theme of ['light', 'dark'] as Theme[]) {
  test(`loss chart (${theme}): two real runs overlaid, with every mark the issue asks for`, async () => {
    const v = await openView('loss', theme, { width: 1100, height: 860 });
    try {
      await v.waitForPosted('ready');
      assert.equal(await v.page.locator('.gl-empty').isVisible(), true, 'an empty state before any run');

      // Run A streams in live; the first batch's first paint is a figure, not an assertion.
      await v.post(msgRun(RUN_A));
      const firstPaint = await timeUntil(v, msgEvents(RUN_A.id, layer.slice(0, 30)), `#loss-chart g.run[data-run="${RUN_A.id}"] path.smooth[d]`);
      const mid = await stream(v, RUN_A.id, layer.slice(30, 200));
      const status = await v.page.textContent('#status');
      const lastStep = eventsOf(layer.slice(0, 200), 'step').at(-1)!;
      assert.match(status!, new RegExp(`step ${lastStep.step} / 300`), `live status: ${status}`);
      assert.match(status!, /loss \d\.\d{3}/);
      assert.match(status!, /tok\/s/);
      assert.match(status!, /ETA /);
      const rest = await stream(v, RUN_A.id, layer.slice(200));
      await v.post(msgRun(RUN_B));
      const restB = await stream(v, RUN_B.id, rms, 100);
      const all = [...mid, ...rest];
      console.log(`# loss ${theme}: first paint ${firstPaint.toFixed(1)} ms after the first events; ` +
        `batches of 25 events: median ${median(all).toFixed(1)} ms, max ${Math.max(...all).toFixed(1)} ms; batches of 100: median ${median(restB).toFixed(1)} ms`);

      // Lines: raw + smoothed per run, in the legend's colours.
      assert.equal(await count(v, '#loss-chart g.run'), 2);
      assert.equal(await count(v, '#loss-chart path.smooth'), 2);
      assert.equal(await count(v, '#loss-chart path.raw'), 2);
      assert.deepEqual(await v.page.locator('.legend .run-label').allTextContents(), [LABEL_A, LABEL_B]);

      // Validation points: one per eval with a validation loss, per run.
      for (const [run, events] of [[RUN_A, layer], [RUN_B, rms]] as const) {
        const evals = eventsOf(events, 'eval').filter((e) => e.valLoss !== null);
        assert.equal(await count(v, `circle.val[data-run="${run.id}"]`), evals.length, `${run.id} val points`);
        const done = eventsOf(events, 'done')[0];
        assert.ok(done.best, 'the run has a best checkpoint');
        const best = v.page.locator(`g.best[data-run="${run.id}"]`);
        assert.equal(await best.getAttribute('data-step'), String(done.best.step), `${run.id} best checkpoint step`);
        assert.match((await best.textContent())!, new RegExp(`best ${done.best.valLoss.toFixed(3)}`));
        // Sample markers at each sample's step.
        const samples = eventsOf(events, 'sample');
        assert.deepEqual(await v.page.locator(`g.sample[data-run="${run.id}"]`).evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-step')))),
          samples.map((s) => s.step));
      }

      // Reference lines of the newest run (B): uniform ln V, unigram, bigram; in that order from the top.
      const start = eventsOf(rms, 'start')[0];
      const labels = await v.page.locator('.baseline text.label').allTextContents();
      assert.equal(labels.length, 3, `baseline labels: ${labels.join(' | ')}`);
      assert.ok(labels.includes(`uniform · ln V ${start.baselines.uniform.toFixed(3)}`), labels.join(' | '));
      assert.ok(labels.includes(`unigram ${start.baselines.unigram!.toFixed(3)}`));
      assert.ok(labels.includes(`bigram ${start.baselines.bigram!.toFixed(3)}`));
      assert.ok(Math.abs(start.baselines.uniform - Math.log(start.vocabSize)) < 1e-9, 'uniform is ln V');
      const ys = await v.page.locator('.baseline line:not(.hit)').evaluateAll((els) => Object.fromEntries(
        els.map((e) => [e.parentElement!.classList[1], Number(e.getAttribute('y1'))])));
      assert.ok(ys.uniform < ys.unigram && ys.unigram < ys.bigram, `baseline order ${JSON.stringify(ys)}`);

      // The memorising warning is visible, with the engine's message.
      const warn = eventsOf(rms, 'warning').find((w) => w.code === 'memorising');
      assert.ok(warn, 'the RMSNorm run on 3 KB overfits and the engine warns');
      const banner = v.page.locator('.banner.warning[data-code="memorising"]');
      assert.ok(await banner.first().isVisible());
      assert.ok((await banner.allTextContents()).some((t) => t.includes(warn.message)));
      assert.ok(await count(v, '.band') >= 1, 'the memorising stretch is shaded');

      // Status line after the runs finished.
      const doneB = eventsOf(rms, 'done')[0];
      const finalStatus = (await v.page.textContent('#status'))!;
      assert.match(finalStatus, /✓ Done/);
      assert.match(finalStatus, /300 \/ 300 steps/);
      assert.match(finalStatus, new RegExp(`best val ${doneB.best!.valLoss.toFixed(3)} @ ${doneB.best!.step}`));

      // Small multiples: learning rate, tokens/s, gradient norm, one line per run.
      for (const key of ['lr', 'tokensPerSec', 'gradNorm']) assert.equal(await count(v, `#chart-${key} path.metric`), 2, key);

      // Hover on the main chart: the readout shows the exact loss at the nearest step.
      const box = (await v.page.locator('#loss-chart .overlay').boundingBox())!;
      const steps = eventsOf(layer, 'step');
      const hoverT0 = performance.now();
      for (let i = 0; i < 30; i++) await v.page.mouse.move(box.x + box.width * (0.2 + i * 0.01), box.y + 4);
      const hoverMs = (performance.now() - hoverT0) / 30;
      await v.page.mouse.move(box.x + box.width * 0.37, box.y + 4); // the top strip: no marker there
      const tip = (await v.page.locator('.gl-tooltip').textContent())!;
      const shown = Number(/step ([\d,]+)/.exec(tip)![1].replace(/,/g, ''));
      const at = steps.find((s) => s.step === shown)!;
      assert.ok(tip.includes(`loss ${at.loss.toFixed(4)}`), `tooltip ${tip} should hold loss ${at.loss.toFixed(4)} at step ${shown}`);
      assert.equal(await count(v, '.hover circle.dot'), 2);
      assert.equal(await count(v, '#chart-lr .hover-dots circle'), 2, 'the small multiples follow the same step');
      console.log(`# loss ${theme}: hover readout ${hoverMs.toFixed(1)} ms per pointer move (incl. playwright round trip)`);

      // A sample marker shows its text on hover.
      const sample = eventsOf(rms, 'sample')[0];
      await v.page.locator(`g.sample[data-run="${RUN_B.id}"][data-step="${sample.step}"] path.mark`).hover();
      const sampleTip = (await v.page.locator('.gl-tooltip').textContent())!;
      assert.ok(sampleTip.includes(`sample at step ${sample.step}`), sampleTip);
      assert.ok(sampleTip.replace(/\n/g, '').includes(sample.text.replace(/\n/g, '').slice(0, 40)), 'the sample text');
      // A validation point shows its exact value.
      const bestB = eventsOf(rms, 'done')[0].best!.step;
      const ev = eventsOf(rms, 'eval').filter((e) => e.step !== bestB)[2];
      await v.page.locator(`circle.val[data-run="${RUN_B.id}"][data-step="${ev.step}"]`).hover();
      assert.ok((await v.page.locator('.gl-tooltip').textContent())!.includes(`validation loss ${ev.valLoss!.toFixed(4)}`));
      await v.page.mouse.move(2, 2);

      await v.screenshot('loss');

      // Log scale toggles the y scale (ticks and the path change), and sticks across a reload.
      const dLinear = await v.page.locator(`#loss-chart g.run[data-run="${RUN_A.id}"] path.smooth`).getAttribute('d');
      await v.page.click('#log-scale');
      assert.equal(await v.page.getAttribute('#log-scale', 'aria-pressed'), 'true');
      const dLog = await v.page.locator(`#loss-chart g.run[data-run="${RUN_A.id}"] path.smooth`).getAttribute('d');
      assert.notEqual(dLog, dLinear, 'the log scale redraws the line (at once: the click redraws)');

      // Hiding a run from the legend removes its lines.
      await v.page.click(`.legend li[data-run="${RUN_A.id}"] button.swatch-toggle`);
      await v.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      assert.equal(await count(v, '#loss-chart path.smooth'), 1);
      assert.equal(await v.page.getAttribute(`.legend li[data-run="${RUN_A.id}"] button.swatch-toggle`, 'aria-pressed'), 'false');
      await v.page.click(`.legend li[data-run="${RUN_A.id}"] button.swatch-toggle`);

      // Keyboard: the chart takes focus and arrows move the readout.
      await v.page.focus('#loss-chart');
      await v.page.keyboard.press('End');
      assert.match((await v.page.locator('.gl-tooltip').textContent())!, /step 300/);
      await v.page.keyboard.press('Escape');

      // Text alternative: evaluation tables with exact values.
      await v.page.click('details.data summary');
      await v.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const rows = await v.page.locator('section.run-data').first().locator('tbody tr').count();
      assert.equal(rows, eventsOf(layer, 'eval').length);

      // Reload: the legend (the session's runs), the lines and the log scale come back from the saved state alone.
      await v.reload();
      await v.page.waitForSelector('#loss-chart path.smooth');
      assert.deepEqual(await v.page.locator('.legend .run-label').allTextContents(), [LABEL_A, LABEL_B]);
      assert.equal(await count(v, '#loss-chart path.smooth'), 2);
      assert.equal(await v.page.getAttribute('#log-scale', 'aria-pressed'), 'true');
      assert.equal(await count(v, `circle.val[data-run="${RUN_B.id}"]`), eventsOf(rms, 'eval').filter((e) => e.valLoss !== null).length);
      // A replay of a known run after the reload (as the host does) starts it over instead of doubling it.
      await v.post(msgRun(RUN_A));
      await stream(v, RUN_A.id, layer, 200);
      assert.equal(await count(v, `circle.val[data-run="${RUN_A.id}"]`), eventsOf(layer, 'eval').filter((e) => e.valLoss !== null).length);
      assert.equal(await count(v, '.legend li.run'), 2);

      assert.deepEqual(v.consoleErrors, []);
      assert.deepEqual(v.cspViolations, []);
    } finally {
      await v.close();
    }
  });
}

test('loss chart: the main run of engineData streams one event at a time; odd input is dropped, not drawn', async () => {
  const v = await openView('loss', 'dark', { width: 900, height: 700 });
  try {
    await v.waitForPosted('ready');
    await v.post(msgRun({ id: 'main', source: 'tinyshakespeare-12k.txt' }));
    const t0 = performance.now();
    for (const e of data.events) await v.post(msgEvents('main', [e]));
    await v.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    console.log(`# loss: ${data.events.length} single-event messages in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(await count(v, 'circle.val'), eventsOf(data.events, 'eval').length);
    const rawPoints = await v.page.locator('path.smooth').getAttribute('d');
    assert.ok(rawPoints && rawPoints.split('L').length >= 150, 'one vertex per step');

    // Bad messages: wrong types, NaN, empty arrays, an unknown run, a huge batch: no error, nothing absurd drawn.
    await v.page.evaluate(() => {
      window.postMessage({ type: 'events', params: { runId: 5, events: 'x' } }, '*');
      window.postMessage({ type: 'events', params: { runId: 'main', events: [] } }, '*');
      window.postMessage({ type: 'events', params: { runId: 'main', events: [null, 1, { event: 'step', step: 'x' }, { event: 'nope' }] } }, '*');
      window.postMessage({ type: 'run', params: { id: '', source: 3 } }, '*');
      window.postMessage({ type: 'bogus', params: {} }, '*');
      window.postMessage('just a string', '*');
    });
    const odd: TrainEvent[] = [
      { event: 'step', step: 1, steps: 5000, loss: NaN, lr: NaN, gradNorm: Infinity, tokensPerSec: NaN, elapsedMs: 0, etaMs: NaN },
      ...Array.from({ length: 4999 }, (_, i): TrainEvent => ({ event: 'step', step: i + 2, steps: 5000, loss: 3 - i / 5000,
        lr: 1e-3, gradNorm: 0.5, tokensPerSec: 1000, elapsedMs: i, etaMs: 5000 - i })),
      { event: 'eval', step: 5000, trainLoss: 2, valLoss: null },
    ];
    // Events of a run the chart was never told of are dropped: a made-up "untitled · run 1" would take the number and
    // colour of the document's real run (the host replays every run whole, run first, when the view reconnects).
    await v.post(msgEvents('odd', odd.slice(0, 50)));
    await v.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    assert.equal(await count(v, '.legend li.run'), 1, 'no run made up from orphan events');
    await v.post(msgRun({ id: 'odd', source: 'odd.txt' }));
    await v.post(msgEvents('odd', odd));
    await v.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    assert.deepEqual(await v.page.locator('.legend .run-label').allTextContents(), ['tinyshakespeare-12k.txt · run 1', 'odd.txt · run 1']);
    const d = (await v.page.locator('g.run[data-run="odd"] path.smooth').getAttribute('d'))!;
    assert.ok(!/NaN|Infinity/.test(d), 'no NaN in the path');
    assert.ok(d.split(/[LM]/).length < 2000, `5000 steps are decimated for drawing (${d.split(/[LM]/).length} vertices)`);
    const domain = await v.page.locator('#loss-chart .axis.x .tick text').allTextContents();
    assert.ok(domain.some((t) => t.startsWith('5')), `x axis reaches 5k: ${domain.join(',')}`);
    await v.page.click('.legend li[data-run="odd"] button.remove');
    assert.equal(await count(v, '.legend li.run'), 1);

    await v.post({ type: 'error', params: { message: 'the engine stopped' } });
    await v.page.waitForSelector('.gl-error:not([hidden])');
    assert.match((await v.page.textContent('.gl-error'))!, /the engine stopped/);
    assert.deepEqual(v.consoleErrors, []);
    assert.deepEqual(v.cspViolations, []);
  } finally {
    await v.close();
  }
});

test('loss chart after a reload: runs keep distinct labels and colours, labels never overlap, a banner is the run on screen’s', async () => {
  const v = await openView('loss', 'light', { width: 1000, height: 820 });
  try {
    await v.waitForPosted('ready');
    // Two runs of the same file, then a window reload.
    await v.post(msgRun({ id: 'r1', source: 'note.md' }));
    await stream(v, 'r1', layer, 400);
    await v.post(msgRun({ id: 'r2', source: 'note.md' }));
    await stream(v, 'r2', rms, 400);
    await v.reload();
    await v.page.waitForSelector('#loss-chart path.smooth');
    // After the reload the host numbers nothing: a third run of the same file is run 3, never a second "run 1".
    await v.post(msgRun({ id: 'r3', source: 'note.md' }));
    await stream(v, 'r3', layer, 400);
    const labels = await v.page.locator('.legend .run-label').allTextContents();
    assert.deepEqual(labels, ['note.md · run 1', 'note.md · run 2', 'note.md · run 3']);
    const colours = await v.page.locator('.legend li.run .swatch').evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
    assert.equal(new Set(colours).size, 3, `three runs, three colours: ${colours.join(' ')}`);

    // "best …" labels of runs whose best checkpoints sit close together never overlap.
    const boxes = await v.page.locator('g.best text.label').evaluateAll((ts) => ts.filter((t) => t.getAttribute('visibility') !== 'hidden').map((t) => {
      const r = t.getBoundingClientRect();
      return [r.left, r.top, r.right, r.bottom];
    }));
    assert.ok(boxes.length >= 2, `${boxes.length} best labels shown`);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, b] = [boxes[i], boxes[j]];
        assert.ok(a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1], `best labels ${i} and ${j} overlap: ${a.join()} / ${b.join()}`);
      }
    }
    // The learning-rate axis never repeats a label.
    const lrTicks = await v.page.locator('#chart-lr .axis.y .tick text').allTextContents();
    assert.equal(new Set(lrTicks).size, lrTicks.length, `learning-rate ticks: ${lrTicks.join(', ')}`);

    // The memorising warning of run 2 is not shown over run 3, which is on screen now.
    assert.ok(eventsOf(rms, 'warning').some((w) => w.code === 'memorising'));
    const titles = await v.page.locator('.banner strong').allTextContents();
    assert.ok(titles.every((t) => t.endsWith('note.md · run 3')), `only run 3’s banners: ${titles.join(' | ')}`);
    // Choosing run 2 for the reference lines brings its banner back, titled with its own label.
    await v.page.selectOption('#focus-run', 'r2');
    assert.match((await v.page.locator('.banner.warning[data-code="memorising"] strong').textContent())!, /Memorising · note\.md · run 2/);

    // Ten runs fit the chart, each in its own colour; the eleventh makes the oldest finished one go.
    for (let i = 4; i <= 11; i++) {
      await v.post(msgRun({ id: `r${i}`, source: i % 2 ? 'a.txt' : 'b.txt' }));
      await stream(v, `r${i}`, layer.slice(0, 40), 40);
    }
    const all = await v.page.locator('.legend li.run').evaluateAll((els) => els.map((e): [string | null, string] => [e.getAttribute('data-run'), String(e.className)]));
    assert.equal(all.length, 10);
    assert.ok(!all.some(([id]) => id === 'r1'), 'the oldest run left the chart');
    assert.equal(new Set(all.map(([, cls]) => /\bc\d\b/.exec(cls)![0])).size, 10, 'ten runs, ten colour classes');
    await v.screenshot('loss-reload');
    assert.deepEqual(v.consoleErrors, []);
  } finally {
    await v.close();
  }
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}
