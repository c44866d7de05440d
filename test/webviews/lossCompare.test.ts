// The loss chart's comparison runs, comparison table and induction overlay, without a browser (state.ts,
// compareTable.ts, roles.ts), fed a real comparison and real runs with snapshots (lossData.ts).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CompareTable, LossCompareTag, Timeline } from '../../engine/protocol';
import { addCompareTable, addRun, applyEvents, emptyState, MAX_RUNS, PALETTE_SIZE, restoreState, rolesRun, setRoles, shownCompare,
  variantColour } from '../../webviews/loss/state';
import { formatOverSeeds, readCompareTable, tableView } from '../../webviews/loss/compareTable';
import { CHANCE_FACTOR, inductionSummary, inductionThreshold, MIN_INDUCTION, readRoles, rolesFromTimeline, rolesNote } from '../../webviews/loss/roles';
import { COMPARE_SEEDS, COMPARE_SOURCE, compareData, rolesData, type CompareData } from './lossData';

let data: CompareData;
before(async () => {
  data = await compareData();
});

const tag = (variant: number, seed: number, over: Partial<LossCompareTag> = {}): LossCompareTag =>
  ({ id: 'cmp-1', variant, label: variant === 0 ? 'baseline (tiny)' : 'norm=rmsnorm', seed, seeds: COMPARE_SEEDS, ...over });

test('compare runs: named by their variant and seed, a variant\'s seeds share its colour, no document number taken', () => {
  const s = emptyState();
  const plain = addRun(s, { id: 'train-1', source: COMPARE_SOURCE });
  for (const e of data.events) {
    if (e.event !== 'start') continue;
    addRun(s, { id: `cmp-1-${e.run}`, source: COMPARE_SOURCE, compare: tag(e.variant, e.seed, { label: e.label }) });
  }
  for (const e of data.events) applyEvents(s.runs.find((r) => r.id === `cmp-1-${e.run}`)!, [e]);
  const runs = s.runs.filter((r) => r.compare);
  assert.equal(runs.length, 2 * COMPARE_SEEDS);
  assert.deepEqual(runs.map((r) => r.label), [11, 12, 13].map((k) => `baseline (tiny) · seed ${k}`).concat([11, 12, 13].map((k) => `norm=rmsnorm · seed ${k}`)));
  const colours = (v: number): Set<number> => new Set(runs.filter((r) => r.compare!.variant === v).map((r) => r.colour));
  assert.equal(colours(0).size, 1, 'one colour per variant');
  assert.equal(colours(1).size, 1);
  assert.notEqual([...colours(0)][0], [...colours(1)][0], 'two variants, two colours');
  assert.ok(!colours(0).has(plain.colour) && !colours(1).has(plain.colour), 'and neither is the training run\'s');
  assert.equal(variantColour(s, 'cmp-1', 1), [...colours(1)][0]);
  assert.equal(variantColour(s, 'cmp-2', 1), null);
  assert.ok(runs.every((r) => r.done && r.step.length > 0), 'every run streamed to its end');
  // The next train run of the document is run 2: the comparison took no number.
  assert.equal(addRun(s, { id: 'train-2', source: COMPARE_SOURCE }).label, `${COMPARE_SOURCE} · run 2`);
  // A reload keeps the tags, labels and shared colours.
  const back = restoreState(JSON.parse(JSON.stringify(s)));
  assert.deepEqual(back.runs.map((r) => [r.label, r.colour, r.compare?.variant ?? null]), s.runs.map((r) => [r.label, r.colour, r.compare?.variant ?? null]));
  // A malformed tag from disk is dropped, and the run is an ordinary one again.
  const bad = restoreState({ ...JSON.parse(JSON.stringify(s)), runs: [{ ...JSON.parse(JSON.stringify(s.runs[1])), compare: { id: 3 } }] });
  assert.equal(bad.runs[0].compare, null);
});

test('compare runs: six variants of five seeds fit the chart; older runs make room, never the comparison\'s own', () => {
  const s = emptyState();
  for (let i = 0; i < 8; i++) applyEvents(addRun(s, { id: `t${i}`, source: 'x' }), [{ event: 'done', step: 1, steps: 1, cancelled: false,
    error: null, loss: 1, valLoss: 1, elapsedMs: 1, best: null, restoredBest: false }]);
  for (let v = 0; v < 6; v++) for (let k = 0; k < 5; k++) addRun(s, { id: `c${v}-${k}`, source: 'x', compare: tag(v, k, { seeds: 5, label: `v${v}` }) });
  assert.equal(s.runs.length, MAX_RUNS);
  assert.ok(s.runs.every((r) => r.compare), 'the finished train runs went first');
  assert.equal(new Set(s.runs.map((r) => r.colour)).size, 6);
  assert.ok(6 <= PALETTE_SIZE);
});

test('compare table: the CLI\'s columns and words, with the spread over seeds and a verdict per variant', () => {
  const t = data.table;
  const s = emptyState();
  assert.equal(addCompareTable(s, { id: 'cmp-1', source: COMPARE_SOURCE, table: t })?.id, 'cmp-1');
  const view = tableView(shownCompare(s)!);
  assert.match(view.title, /Compared on shakespeare-12k\.txt: preset tiny, tokenizer char/);
  assert.deepEqual(view.head, ['params', 'train loss', 'val loss', 'bits/byte', 'ms/step', 'tok/s']);
  assert.equal(view.rows.length, 2);
  const [base, rms] = view.rows;
  assert.equal(base.label, 'baseline (tiny)');
  assert.equal(base.verdict, 'reference');
  // Every number is the table's, formatted as the CLI formats it.
  assert.equal(base.cells[2], `${t.rows[0].valLoss!.mean.toFixed(3)} ± ${t.rows[0].valLoss!.spread!.toFixed(3)}`);
  assert.equal(rms.cells[3], formatOverSeeds(t.rows[1].bitsPerByte));
  assert.equal(rms.cells[0], `${(t.rows[1].parameters / 1e3).toFixed(1)}K`);
  assert.equal(rms.cells[4], t.rows[1].msPerStep!.mean.toFixed(1));
  const v = t.rows[1].versus!;
  assert.ok(v.p !== null && v.spread !== null, 'three seeds: a paired test');
  assert.equal(rms.verdict, v.finding ? (v.difference < 0 ? 'better' : 'worse') : 'noise');
  assert.match(rms.verdictText, v.finding ? /a finding/ : /within seed noise: not a finding/);
  assert.match(rms.versus, /^[+−]\d\.\d{4} ± \d\.\d{4}, p [=<] /);
  assert.ok(view.lines.some((l) => /3 seeds \(11 to 13\): mean ± spread/.test(l)));
  assert.ok(view.lines.some((l) => /60 steps of 8 × 32 tokens: 15,360 tokens per run/.test(l)), view.lines.join('\n'));
  // One seed: no test, said so.
  const one: CompareTable = { ...t, seeds: [11], rows: t.rows.map((r, i) => ({ ...r, runs: r.runs.slice(0, 1),
    valLoss: r.valLoss && { mean: r.valLoss.mean, spread: null },
    versus: i === 0 ? null : { metric: 'valLoss', difference: 0.01, spread: null, p: null, finding: null } })) };
  const oneView = tableView(readCompareTable({ id: 'x', source: 'y', table: one })!);
  assert.equal(oneView.rows[1].verdict, 'one-seed');
  assert.match(oneView.lines[1], /one seed cannot tell a finding from seed noise/);
  assert.equal(oneView.rows[0].cells[2], t.rows[0].valLoss!.mean.toFixed(4));
  // Stopped: the notes say which rows are short.
  const stopped = tableView(readCompareTable({ id: 'x', source: 'y', table: { ...t, cancelled: true,
    rows: [t.rows[0], { ...t.rows[1], runs: t.rows[1].runs.slice(0, 1), versus: null }] } })!);
  assert.equal(stopped.rows[1].verdict, 'n/a');
  assert.ok(stopped.notes.includes('row 2: 1 of 3 runs trained before the comparison was stopped'));
  assert.ok(stopped.notes.some((n) => /stopped before every run finished/.test(n)));
});

test('compare table: checked on the way in (it is kept on disk), newest shown, three kept', () => {
  for (const bad of [null, 3, 'x', {}, { id: 'a' }, { id: 'a', table: { rows: [], seeds: [1] } }, { id: 'a', table: { rows: [{}], seeds: [1] } },
    { id: 'a', table: { rows: [{ parameters: 1, steps: 1 }], seeds: [] } }]) {
    assert.equal(readCompareTable(bad), null, JSON.stringify(bad));
  }
  // Wrong types inside a row become n/a, never a crash or a NaN on screen.
  const odd = readCompareTable({ id: 'a', source: 7, table: { seeds: [1, 'x'], rows: [{ parameters: 1000, steps: 5, label: '<b>x</b>',
    valLoss: { mean: 'no' }, msPerStep: { mean: 2, spread: 'x' } }] } })!;
  const v = tableView(odd);
  assert.deepEqual(v.rows[0].cells, ['1.0K', 'n/a', 'n/a', 'n/a', '2.0', 'n/a']);
  assert.equal(v.rows[0].label, '<b>x</b>', 'text, drawn as text');
  assert.equal(odd.source, 'untitled');
  const s = emptyState();
  for (const id of ['a', 'b', 'c', 'd']) addCompareTable(s, { id, source: 's', table: data.table });
  assert.deepEqual(s.compares.map((c) => c.id), ['b', 'c', 'd']);
  addCompareTable(s, { id: 'b', source: 's', table: data.table });
  assert.equal(shownCompare(s)!.id, 'b', 'a table that comes again is the one shown');
  const back = restoreState(JSON.parse(JSON.stringify(s)));
  assert.deepEqual(back.compares.map((c) => c.id), ['c', 'd', 'b']);
  assert.deepEqual(tableView(back.compares[2]), tableView(s.compares[2]));
});

test('induction overlay: a real run\'s timeline reduced to its best heads, with a threshold from its own chance level', async () => {
  const two = await rolesData(2);
  const roles = rolesFromTimeline(two.timeline)!;
  assert.ok(roles.step.length >= 8, `a point per candidate step: ${roles.step.length}`);
  assert.deepEqual([...roles.step].sort((a, b) => a - b), roles.step, 'ascending');
  // The best head's score is the largest of the grid at that step.
  two.timeline.points.forEach((p, i) => assert.equal(roles.induction[i], Math.max(...p.roles.induction.flat())));
  const { peak, firstAbove, threshold } = inductionSummary(roles);
  // The threshold: CHANCE_FACTOR times the untrained model's best score (attention spread evenly), at least MIN_INDUCTION.
  assert.equal(roles.step[0], 0);
  assert.equal(threshold, Math.max(MIN_INDUCTION, Math.round(CHANCE_FACTOR * roles.induction[0] * 100) / 100));
  assert.equal(inductionThreshold({ ...roles, induction: [0.09, ...roles.induction.slice(1)] }), 0.27, 'a short context: chance is higher');
  console.log(`# induction: ${roles.step.map((s, i) => `${s}:${roles.induction[i].toFixed(2)}`).join(' ')}; prev-token peak ${Math.max(...roles.previousToken).toFixed(2)}`);
  const note = rolesNote(roles, 2);
  if (firstAbove === null) {
    assert.equal(note.kind, 'none');
    assert.match(note.text, new RegExp(`No induction head formed: no head scores above ${threshold.toFixed(2)} on induction at any of the ${roles.step.length} steps scored`));
  } else {
    assert.equal(note.kind, 'formed');
    assert.match(note.text, new RegExp(`first passes ${threshold.toFixed(2)} at step ${firstAbove} .* peaks at ${peak!.score.toFixed(2)}`));
  }
  // On the chart: the timeline belongs to its run, and survives a reload.
  const s = emptyState();
  const run = addRun(s, { id: 'r', source: 'repeats.txt' });
  applyEvents(run, two.events);
  assert.equal(setRoles(s, 'nope', two.timeline), false, 'a run not on the chart');
  assert.equal(setRoles(s, 'r', { points: 'x' }), false, 'not a timeline');
  assert.equal(setRoles(s, 'r', two.timeline), true);
  assert.equal(rolesRun(s)?.id, 'r');
  const back = restoreState(JSON.parse(JSON.stringify(s)));
  assert.deepEqual(back.runs[0].roles, roles);
  assert.equal(readRoles({ step: [1, 2], induction: [0.5, 7], inductionHead: ['a', 'b'], previousToken: [0.1, 0.2], previousTokenHead: ['c', 'd'] })!.step.length, 1,
    'a score outside [0, 1] from disk is dropped');
});

test('induction overlay: the note of a run where an induction head forms names the step and the head', () => {
  // The branch a test's budget cannot train into (see lossData.ts): a series as rolesFromTimeline makes it.
  const roles = { step: [0, 100, 200, 300], induction: [0.02, 0.03, 0.14, 0.21], inductionHead: ['layer 1 head 1', 'layer 2 head 3', 'layer 2 head 3', 'layer 2 head 3'],
    previousToken: [0.03, 0.4, 0.6, 0.6], previousTokenHead: ['layer 1 head 2', 'layer 1 head 2', 'layer 1 head 2', 'layer 1 head 2'] };
  assert.equal(inductionThreshold(roles), MIN_INDUCTION, '3 × 0.02 is below the floor');
  assert.deepEqual(inductionSummary(roles), { peak: { step: 300, score: 0.21, head: 'layer 2 head 3' }, firstAbove: 200, threshold: 0.1 });
  const note = rolesNote(roles, 2);
  assert.equal(note.kind, 'formed');
  assert.equal(note.text, 'An induction head formed: the best induction score first passes 0.10 at step 200 (at initialisation the best head ' +
    'gives it 0.02, attention spread evenly) and peaks at 0.21 (layer 2 head 3, step 300). A fall in the loss near that step is the "induction bump".');
});

test('induction overlay: one layer cannot form the circuit, and a run without snapshots says so', async () => {
  const one = await rolesData(1, 200);
  const roles = rolesFromTimeline(one.timeline)!;
  const note = rolesNote(roles, 1);
  assert.ok(Math.max(...roles.induction) < inductionThreshold(roles), `one layer: ${Math.max(...roles.induction)}`);
  assert.equal(note.kind, 'none');
  assert.match(note.text, /A one-layer model cannot form one/);
  const empty: Timeline = { snapshots: [], points: [] };
  const none = rolesNote(rolesFromTimeline(empty)!, 2);
  assert.equal(none.kind, 'no-snapshots');
  assert.match(none.text, /kept no weight snapshots/);
});
