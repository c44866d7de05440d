// Every panel in VS Code's high-contrast theme, on real engine output: it draws, with no console error or CSP
// violation, and a screenshot per panel (<panel>-high-contrast.png) to look at.
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
