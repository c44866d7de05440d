// Every panel in VS Code's high-contrast theme on real engine output (it draws, with no console error or CSP violation,
// and a screenshot per panel, <panel>-high-contrast.png, to look at), and every panel's own handler fuzzed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ToView, ViewName } from '../../webviews/protocol';
import { attentionData, engineData, nextTokenData, projectionData, selectionOf, tokensData } from './engineData';
import { openView, shutdown } from './harness';

after(shutdown);

const SCREENSHOT: Record<ViewName, string> = {
  loss: 'loss', tokens: 'tokens', attention: 'attention', nextToken: 'next-token', embeddings: 'embeddings',
};

for (const view of ['loss', 'tokens', 'attention', 'nextToken', 'embeddings'] as const) {
  test(`${view} in the high-contrast theme`, async () => {
    const data = await engineData();
    const selection = selectionOf(data, 160, 200);
    const messages = {
      loss: [{ type: 'run', params: { id: 'hc', label: 'sample · run 1' } }, { type: 'events', params: { runId: 'hc', events: data.events } }],
      tokens: [{ type: 'tokens', params: tokensData(data, selection) }],
      attention: [{ type: 'attention', params: attentionData(data, selection) }],
      nextToken: [{ type: 'nextToken', params: nextTokenData(data, selection) }],
      embeddings: [{ type: 'projection', params: projectionData(data) }],
    }[view] as unknown as ToView<typeof view>[];
    const v = await openView(view, 'high-contrast', { width: 1000, height: 760 });
    try {
      for (const m of messages) await v.post(m);
      await v.page.waitForTimeout(400);
      const drawn = await v.page.locator('svg path, svg circle, canvas, table td, span').count();
      assert.ok(drawn > 10, `${view} drew ${drawn} marks`);
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
for (const view of ['loss', 'tokens', 'attention', 'nextToken', 'embeddings'] as const) {
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
      }, ['run', 'events', 'tokens', 'attention', 'nextToken', 'projection', 'neighbours', 'analogy', 'error']);
      await v.page.waitForTimeout(1500);
      const selection = selectionOf(data, 160, 200);
      const real = {
        loss: [{ type: 'run', params: { id: 'after', label: 'after the fuzz' } }, { type: 'events', params: { runId: 'after', events: data.events } }],
        tokens: [{ type: 'tokens', params: tokensData(data, selection) }],
        attention: [{ type: 'attention', params: attentionData(data, selection) }],
        nextToken: [{ type: 'nextToken', params: nextTokenData(data, selection) }],
        embeddings: [{ type: 'projection', params: projectionData(data) }],
      }[view] as unknown as ToView<typeof view>[];
      for (const m of real) await v.post(m);
      await v.page.waitForTimeout(400);
      assert.ok((await v.page.locator('svg path, canvas, table td, span').count()) > 10, 'the panel draws after the fuzz');
      assert.deepEqual(v.consoleErrors, [], 'no console errors (dropped messages are warnings)');
      assert.deepEqual(v.cspViolations, []);
    } finally {
      await v.close();
    }
  });
}
