// The interpretability parts of the panels, without a browser: the timeline slider's rules (positions, labels, ticks,
// malformed tags), the head-role grid's honest note, the ablation choice and its summary, the attribution list's order
// and sum line, and the patching ranking, each fed the engine's own answers on the test model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ablate } from '../../engine/probes/ablation';
import { attribution } from '../../engine/probes/attribution';
import { headRoles } from '../../engine/probes/headRoles';
import { patchEdit } from '../../engine/probes/patching';
import type { HeadRolesProbe, TimelineTag } from '../../engine/protocol';
import { isValidToHost } from '../../engine/protocol';
import { ablationLossLine, chosenHeads, nextTokenChange, roleNote, strongest, toggleHead, toggleLayer, topRestoring, validAblation,
  validRoles } from '../../webviews/attention/interp';
import { attributionRows, attributionSumLine, validAttribution } from '../../webviews/nextToken/state';
import { readTimeline, sliderPosition, snapshotAt, tickLabels, timelineLabel } from '../../webviews/shared/timeline';
import { engineData, selectionOf, snapshotRun } from './engineData';

test('timeline: a slider position per snapshot and one for the kept model, "at step N of M", thinned ticks, bad tags refused', async () => {
  const run = await snapshotRun();
  const tag: TimelineTag = { snapshots: run.timeline.snapshots, at: null };
  const S = tag.snapshots.length;
  assert.ok(S >= 3, `the run kept ${S} snapshots`);
  assert.deepEqual(readTimeline(tag), tag);
  assert.equal(sliderPosition(tag, null), S, 'the model itself is the last position');
  assert.equal(snapshotAt(tag, S), null);
  assert.equal(snapshotAt(tag, 1), 1);
  const last = tag.snapshots[S - 1].step;
  assert.equal(timelineLabel(tag, 0), `at step 0 of ${last} (the initial weights)` +
    (tag.snapshots[0].loss !== null ? ` · training loss ${tag.snapshots[0].loss.toFixed(3)}` : ''));
  assert.match(timelineLabel(tag, 1), new RegExp(`^at step ${tag.snapshots[1].step} of ${last}`));
  assert.match(timelineLabel(tag, null), new RegExp(`^the trained model .* after ${last} steps$`));
  const ticks = tickLabels(tag, 100);
  assert.deepEqual(ticks.map((t) => t.text), [...tag.snapshots.map((s) => String(s.step)), 'kept']);
  const few = tickLabels(tag, 2);
  assert.ok(few.length < ticks.length && few[0].position === 0 && few.at(-1)!.text === 'kept', 'thinned, the ends kept');
  assert.equal(readTimeline({ snapshots: [{ index: 1, step: 0, loss: null, bytes: 0 }], at: null }), null, 'indices out of order');
  assert.equal(readTimeline({ snapshots: 'no', at: 0 }), null);
  assert.equal(readTimeline({ ...tag, at: S })!.at, null, 'an index the run does not have is the model itself');
});

test('head roles: the grid note names the strongest head, or says honestly that no head plays the role', async () => {
  const data = await engineData();
  const text = selectionOf(data, 200, 400);
  const roles = headRoles(data.ctx, text);
  const { layers: N, heads: H } = data.ctx.model.config;
  assert.ok(validRoles(roles, N, H));
  assert.equal(validRoles(roles, N + 1, H), false, 'a grid of another shape is refused');
  const best = strongest(roles.random.previousToken);
  const note = roleNote(roles, 'previousToken', 'random');
  if (best.score >= 0.3) assert.match(note, new RegExp(`layer ${best.layer + 1}, head ${best.head + 1} \\(${best.score.toFixed(2)}\\)`));
  else assert.match(note, /^No head scores above 0.3/);
  // A model whose induction scores are all low is told so, with the repeated-half loss beside it.
  const flat: HeadRolesProbe = { ...roles, random: { ...roles.random, induction: roles.random.induction.map((r) => r.map(() => 0.05)),
    loss: { firstHalf: 3.2, secondHalf: 3.1 } } };
  assert.match(roleNote(flat, 'induction', 'random'), /this small model formed no induction heads on this text.*does not copy in context/);
  const strong: HeadRolesProbe = { ...flat, random: { ...flat.random, induction: flat.random.induction.map((r, l) => r.map((_, h) => (l === N - 1 && h === 1 ? 0.8 : 0.1))) } };
  assert.match(roleNote(strong, 'induction', 'random'), new RegExp(`layer ${N}, head 2 \\(0.80\\)`));
});

test('ablation: heads and layers toggle, the request passes the guard, and the summary reads the engine answer', async () => {
  const data = await engineData();
  const text = selectionOf(data, 120, 900);
  const { heads: H } = data.ctx.model.config;
  let chosen = toggleHead(new Set(), { layer: 1, head: 2 });
  chosen = toggleLayer(chosen, 0, H);
  assert.deepEqual(chosenHeads(chosen), [...Array.from({ length: H }, (_, head) => ({ layer: 0, head })), { layer: 1, head: 2 }]);
  assert.deepEqual(chosenHeads(toggleLayer(chosen, 0, H)), [{ layer: 1, head: 2 }], 'a layer whose heads are all off comes back on');
  const heads = chosenHeads(chosen);
  assert.ok(isValidToHost('attention', { type: 'ablate', id: 1, params: { heads, mode: 'zero' } }));
  assert.ok(!isValidToHost('attention', { type: 'ablate', id: 1, params: { heads: [], mode: 'zero' } }), 'no heads: refused');
  assert.ok(!isValidToHost('attention', { type: 'ablate', id: 1, params: { heads, mode: 'half' } }), 'an unknown mode: refused');
  const a = ablate(data.ctx, text, heads, 'zero', 8);
  assert.ok(validAblation(a, heads, 'zero'));
  assert.equal(validAblation(a, heads.slice(1), 'zero'), false, 'an answer for other heads is not this one');
  const d = a.loss.after! - a.loss.before!;
  assert.equal(ablationLossLine(a), `Loss on this text: ${a.loss.before!.toFixed(3)} → ${a.loss.after!.toFixed(3)} nats per token ` +
    `(${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(3)})`);
  const rows = nextTokenChange(a, 4);
  assert.ok(rows.length >= 4 && rows.length <= 8);
  for (const r of rows) {
    assert.equal(r.before, a.next.before.find((t) => t.id === r.id)?.prob ?? null);
    assert.equal(r.after, a.next.after.find((t) => t.id === r.id)?.prob ?? null);
  }
});

test('attribution: the list is sorted by size, the sum line says sum = logit, and a malformed answer is refused', async () => {
  const data = await engineData();
  const a = attribution(data.ctx, selectionOf(data, 150, 2000));
  assert.ok(validAttribution(a));
  assert.equal(validAttribution({ ...a, components: [{ label: 'x', contribution: NaN }] }), false);
  const rows = attributionRows(a, false, 5);
  assert.equal(rows.length, 5);
  for (let i = 1; i < rows.length; i++) assert.ok(Math.abs(rows[i - 1].contribution) >= Math.abs(rows[i].contribution));
  assert.equal(attributionRows(a, true).length, a.components.length);
  assert.equal(attributionSumLine(a), `sum of ${a.components.length} contributions ${a.sum.toFixed(4)} = logit ${a.logit.toFixed(4)}`);
  assert.match(attributionSumLine({ ...a, sum: a.logit + 0.01 }), /≠ logit .* \(off by 1\.0e-2\)$/);
});

test('patching: the heads that restore most come first', async () => {
  const data = await engineData();
  const before = selectionOf(data, 120, 3000);
  const p = patchEdit(data.ctx, `${before}ROMEO`, `${before}JULIET`);
  const top = topRestoring(p.heads, 3);
  const all = p.heads.flat().map((r) => r.restored ?? 0).sort((x, y) => y - x);
  assert.deepEqual(top.map((t) => t.restored), all.slice(0, 3));
  assert.equal(p.heads[top[0].layer][top[0].head].restored ?? 0, top[0].restored);
});
