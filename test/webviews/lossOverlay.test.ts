// The loss chart in headless Chromium with a real comparison streaming in (a variant's seeds in one colour, the legend
// naming the variant), its table under the chart, and the induction overlay of a run that kept snapshots; screenshots
// of both per theme (test/webviews/screenshots/loss-compare-*.png, loss-induction-*.png).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CompareEvent, ToView, TrainEvent } from '../../engine/protocol';
import { openView, shutdown, type Theme, type ViewPage } from './harness';
import { tableView, readCompareTable } from '../../webviews/loss/compareTable';
import { inductionThreshold, rolesFromTimeline, rolesNote } from '../../webviews/loss/roles';
import { COMPARE_SEEDS, COMPARE_SOURCE, compareData, rolesData, type CompareData } from './lossData';

let data: CompareData;
let roles: Awaited<ReturnType<typeof rolesData>>;
before(async () => {
  data = await compareData();
  roles = await rolesData(2);
});
after(() => shutdown());

const CMP = 'compare-test';
const frames = (v: ViewPage<'loss'>): Promise<unknown> => v.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

/** Posts a comparison's events as the host does: a `run` for each run's first event, then its events in batches. */
async function streamCompare(v: ViewPage<'loss'>, events: CompareEvent[]): Promise<void> {
  const seen = new Set<number>();
  for (let i = 0; i < events.length; i += 20) {
    const batch = events.slice(i, i + 20);
    const byRun = new Map<number, TrainEvent[]>();
    for (const e of batch) {
      if (!seen.has(e.run)) {
        seen.add(e.run);
        await v.post({ type: 'run', params: { id: `${CMP}-${e.run}`, source: COMPARE_SOURCE,
          compare: { id: CMP, variant: e.variant, label: e.label, seed: e.seed, seeds: COMPARE_SEEDS } } });
      }
      const list = byRun.get(e.run) ?? [];
      list.push(e);
      byRun.set(e.run, list);
    }
    for (const [run, list] of byRun) await v.post({ type: 'events', params: { runId: `${CMP}-${run}`, events: list } });
  }
  await frames(v);
}

for (const theme of ['dark', 'light'] as Theme[]) {
  test(`loss chart (${theme}): a comparison overlaid as it trains, then its table under the chart`, async () => {
    const v = await openView('loss', theme, { width: 1150, height: 900 });
    try {
      await v.waitForPosted('ready');
      await streamCompare(v, data.events);
      const runs = 2 * COMPARE_SEEDS;
      assert.equal(await v.page.locator('#loss-chart g.run').count(), runs, 'a curve per variant and seed');
      const labels = await v.page.locator('.legend .run-label').allTextContents();
      assert.deepEqual(labels, [11, 12, 13].map((k) => `baseline (tiny) · seed ${k}`).concat([11, 12, 13].map((k) => `norm=rmsnorm · seed ${k}`)));
      // A variant's seeds share one colour (the same class, the same computed stroke); the two variants differ.
      const strokes = await v.page.$$eval('#loss-chart g.run path.smooth', (ps) => ps.map((p) => getComputedStyle(p).stroke));
      assert.equal(new Set(strokes.slice(0, 3)).size, 1);
      assert.equal(new Set(strokes.slice(3)).size, 1);
      assert.notEqual(strokes[0], strokes[3]);
      assert.equal(await v.page.locator('#compare-table').isVisible(), false, 'no table before it comes');

      const msg: ToView<'loss'> = { type: 'compareTable', params: { id: CMP, source: COMPARE_SOURCE, table: data.table } };
      await v.post(msg);
      await frames(v);
      assert.equal(await v.page.locator('#compare-table').isVisible(), true);
      const expected = tableView(readCompareTable(msg.params)!);
      assert.equal(await v.page.textContent('#compare-table h2'), expected.title);
      const rows = v.page.locator('#compare-table tbody tr');
      assert.equal(await rows.count(), 2);
      for (let i = 0; i < 2; i++) {
        const cells = await rows.nth(i).locator('td.cell').allTextContents();
        assert.deepEqual(cells, expected.rows[i].cells);
        assert.equal(await rows.nth(i).locator('td.verdict').textContent(), expected.rows[i].verdictText);
        assert.equal(await rows.nth(i).locator('td.versus').textContent(), expected.rows[i].versus);
      }
      // The table's swatch is the variant's colour on the chart.
      const swatch = await rows.nth(1).locator('.swatch').evaluate((el) => getComputedStyle(el).backgroundColor);
      assert.equal(swatch, strokes[3]);
      console.log(`# compare table (${theme}): ${expected.rows.map((r) => `${r.label}: ${r.cells.join(' | ')} | ${r.versus} | ${r.verdictText}`).join(' / ')}`);
      await v.page.locator('#compare-table').scrollIntoViewIfNeeded();
      await v.screenshot('loss-compare');

      // A narrow panel: the table scrolls sideways inside its box; the page itself does not.
      await v.page.setViewportSize({ width: 560, height: 900 });
      await frames(v);
      const widths = await v.page.evaluate(() => {
        const box = document.querySelector('.compare-scroll')!;
        return { box: box.scrollWidth - box.clientWidth, page: document.documentElement.scrollWidth - document.documentElement.clientWidth };
      });
      assert.ok(widths.box > 0, 'the table is wider than a narrow panel');
      assert.equal(widths.page, 0, 'the page does not scroll sideways');
      await v.page.setViewportSize({ width: 1150, height: 900 });

      // A reload: the runs and the table come back from the saved state alone.
      await v.reload();
      await v.page.waitForSelector('#compare-table tbody tr');
      assert.equal(await v.page.locator('#compare-table tbody tr').count(), 2);
      assert.equal(await v.page.locator('#loss-chart g.run').count(), runs);
      assert.deepEqual(v.consoleErrors, []);
      assert.deepEqual(v.cspViolations, []);
    } finally {
      await v.close();
    }
  });

  test(`loss chart (${theme}): the induction overlay of a run with snapshots, on a second axis, with its note`, async () => {
    const v = await openView('loss', theme, { width: 1100, height: 760 });
    try {
      await v.waitForPosted('ready');
      await v.post({ type: 'run', params: { id: 'rep', source: 'repeats.txt' } });
      await v.post({ type: 'events', params: { runId: 'rep', events: roles.events } });
      await frames(v);
      assert.equal(await v.page.locator('.roles-box').isVisible(), false, 'nothing before the timeline');
      await v.post({ type: 'timeline', params: { runId: 'rep', timeline: roles.timeline } });
      await frames(v);
      const series = rolesFromTimeline(roles.timeline)!;
      assert.equal(await v.page.locator('#loss-chart .roles circle.induction').count(), series.step.length);
      assert.equal(await v.page.locator('#loss-chart .roles circle.previous').count(), series.step.length);
      assert.ok((await v.page.getAttribute('#loss-chart .roles path.induction', 'd'))!.length > 10);
      // The second axis spans the scores (from 0, never past 1), with the induction threshold drawn across.
      const ticks = (await v.page.locator('#loss-chart .roles-axis .tick text').allTextContents()).map(Number);
      assert.equal(ticks[0], 0);
      assert.ok(ticks.at(-1)! <= 1 && ticks.at(-1)! >= Math.max(...series.induction), ticks.join(' '));
      const threshold = inductionThreshold(series);
      assert.equal(await v.page.textContent('#loss-chart .roles text.threshold-label'), `induction head above ${threshold.toFixed(2)}`);
      assert.equal(await v.page.textContent('#roles-note'), rolesNote(series, 2).text);
      // The hover readout names the scores at the nearest snapshot.
      const box = (await v.page.locator('#loss-chart .overlay').boundingBox())!;
      await v.page.mouse.move(box.x + box.width * 0.98, box.y + box.height / 2);
      const tip = (await v.page.locator('.gl-tooltip').textContent())!;
      const hovered = Number(/^step ([\d,]+)/.exec(tip)![1].replace(/,/g, ''));
      const nearest = series.step.reduce((a, b) => (Math.abs(b - hovered) < Math.abs(a - hovered) ? b : a));
      assert.match(tip, new RegExp(`head roles at step ${nearest}\n`), tip);
      assert.match(tip, /induction \d\.\d\d \(layer \d head \d\)/);
      await v.page.mouse.move(2, 2);
      await v.screenshot('loss-induction');

      // A run that kept no snapshots: no overlay, and a note that says why.
      await v.post({ type: 'run', params: { id: 'plain', source: 'repeats.txt' } });
      await v.post({ type: 'events', params: { runId: 'plain', events: roles.events } });
      await v.post({ type: 'timeline', params: { runId: 'plain', timeline: { snapshots: [], points: [] } } });
      await frames(v);
      assert.match((await v.page.textContent('#roles-note'))!, /kept no weight snapshots/);
      assert.notEqual(await v.page.locator('#loss-chart .roles').getAttribute('hidden'), null, 'no overlay without snapshots');
      assert.deepEqual(v.consoleErrors, []);
    } finally {
      await v.close();
    }
  });
}
