// Every panel in VS Code's high-contrast theme on real engine output (it draws, with no console error or CSP violation,
// and a screenshot per panel, <panel>-high-contrast.png, to look at), and every panel's own handler fuzzed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { VIEW_NAMES, type ToView, type ViewName } from '../../engine/protocol';
import { attentionData, engineData, nextTokenData, projectionData, selectionOf, tokensData, type EngineData } from './engineData';
import { openView, shutdown } from './harness';

after(shutdown);

const SCREENSHOT: Record<ViewName, string> = {
  loss: 'loss', tokens: 'tokens', attention: 'attention', nextToken: 'next-token', embeddings: 'embeddings',
};

/** What each view draws from real engine output: the messages, and a mark that only real data draws. */
function realData(view: ViewName, data: EngineData, runId: string): { messages: ToView<ViewName>[]; drawn: string } {
  const selection = selectionOf(data, 160, 200);
  return {
    loss: { messages: [{ type: 'run', params: { id: runId, source: `sample-${runId}.txt` } }, { type: 'events', params: { runId, events: data.events } }],
      drawn: `#loss-chart g.run[data-run="${runId}"] path.smooth[d]` },
    tokens: { messages: [{ type: 'tokens', params: tokensData(data, selection) }], drawn: 'section.card span.tok' },
    attention: { messages: [{ type: 'attention', params: attentionData(data, selection) }], drawn: 'button.att-cell canvas' },
    nextToken: { messages: [{ type: 'nextToken', params: nextTokenData(data, selection) }], drawn: 'table.nt-bars tbody tr' },
    embeddings: { messages: [{ type: 'projection', params: projectionData(data) }], drawn: '#app[data-points]:not([data-points="0"])' },
  }[view] as unknown as { messages: ToView<ViewName>[]; drawn: string };
}

for (const view of VIEW_NAMES) {
  test(`${view} in the high-contrast theme`, async () => {
    const { messages, drawn } = realData(view, await engineData(), 'hc');
    const v = await openView(view, 'high-contrast', { width: 1000, height: 760 });
    try {
      for (const m of messages) await v.post(m);
      await v.page.waitForSelector(drawn);
      await v.screenshot(`${SCREENSHOT[view]}-high-contrast`);
      assert.deepEqual(v.consoleErrors, []);
      assert.deepEqual(v.cspViolations, []);
    } finally {
      await v.close();
    }
  });
}

// Each panel's own message handler, fuzzed in the page: 10,000 seeded random messages (unknown types, known types with
// wrong or hostile parameters, odd ids), then a real message. The panel must log no error and still draw.
for (const view of VIEW_NAMES) {
  test(`${view}: 10,000 random messages, then real data still draws`, async () => {
    const data = await engineData();
    const v = await openView(view, 'dark', { width: 900, height: 700 });
    try {
      await v.page.evaluate((types: string[]) => {
        let seed = 12345;
        const rnd = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647);
        const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
        const junk = (depth: number): unknown => {
          const r = rnd();
          if (depth > 2 || r < 0.3) return pick<unknown>([null, undefined, NaN, -1, 0, 1e308, '', '<img src=x>', 'x'.repeat(3000), true, [], {}]);
          if (r < 0.5) return Array.from({ length: Math.floor(rnd() * 4) }, () => junk(depth + 1));
          const o: Record<string, unknown> = {};
          for (const k of ['id', 'runId', 'events', 'probe', 'tokens', 'layers', 'points', 'nearest', 'top', 'lens', 'message', 'comparison', 'explained']) {
            if (rnd() < 0.4) o[k] = junk(depth + 1);
          }
          return o;
        };
        for (let i = 0; i < 10_000; i++) {
          const msg = rnd() < 0.2 ? junk(0) : { type: pick([...types, 'ready', 'focus', 'nope']), id: pick([undefined, 1, -3, 2.5, 'x']), params: junk(1) };
          window.postMessage(msg, '*');
        }
      }, ['run', 'events', 'tokens', 'bpeReplay', 'attention', 'map', 'rows', 'unfocus', 'nextToken', 'projection', 'neighbours', 'analogy', 'error', 'loading']);
      const { messages, drawn } = realData(view, data, 'after');
      await v.page.evaluate(() => new Promise((r) => setTimeout(r, 0))); // every fuzz message handled (a task each)
      assert.equal(await v.page.locator(drawn).count(), 0, 'no random message drew real marks');
      for (const m of messages) await v.post(m);
      await v.page.waitForSelector(drawn); // posted after the fuzz, so handled after every fuzz message
      assert.deepEqual(v.consoleErrors, [], 'no console errors (dropped messages are warnings)');
      assert.deepEqual(v.cspViolations, []);
    } finally {
      await v.close();
    }
  });
}
