// The views' pure state, without a browser: what each panel says and keeps (labels with true counts, run numbers and
// colours that survive a reload, the banner of the run on screen, label placement, the attention view's layout and
// compact copy, analogy hints that fit the tokenizer, the BPE replay's arithmetic), and the kit's formatters and the
// newest-request-wins rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareTokenizers, perTokenLoss } from '../../engine/probes/probes';
import type { AttentionRows, BpeReplay, TokensData, TrainEvent } from '../../engine/protocol';
import { distinctExponentFormat, modelLine, showToken, thousands } from '../../webviews/shared/format';
import { Latest } from '../../webviews/shared/host';
import { placeLabels } from '../../webviews/shared/labels';
import { addRun, applyEvents, bannersOf, freeColour, MAX_RUNS, PALETTE_SIZE, restoreState as restoreLoss, runOnScreen,
  emptyState as emptyLoss } from '../../webviews/loss/state';
import { bitsPerByte, replayCurve, replayPoint, restoreState as restoreTokens, scopeLabel, validate } from '../../webviews/tokens/state';
import { addLayers, focusRow, headView, invalidReason, labelPlan, load, modelOf, store } from '../../webviews/attention/state';
import { analogyHints, expectationNote, neighboursCaption } from '../../webviews/embeddings/state';
import { promptParts, sanitize } from '../../webviews/nextToken/state';
import { attentionData, attentionOf, engineData, modelTag } from './engineData';
import { attentionProbe, attentionThumbnails } from '../../engine/probes/attention';

test('format: tokens with visible whitespace, thousands, and exponent ticks that are never the same twice', () => {
  assert.equal(showToken(' a\tb\n'), '·a→b↵');
  assert.equal(showToken(''), '∅');
  assert.equal(showToken('\x01'), '\\x01');
  assert.equal(showToken('abcdefgh', 5), 'abcd…');
  assert.equal(thousands(49991), '49,991');
  assert.equal(thousands(-1234567.5), '−1,234,567.5');
  // The loss chart's learning-rate axis: 1e-3 and 1.5e-3 used to both read "1e-3" (and 2e-3 rounded onto 1.5e-3).
  const lr = [0, 0.0005, 0.001, 0.0015, 0.002];
  const f = distinctExponentFormat(lr);
  assert.deepEqual(lr.map(f), ['0', '5e-4', '1e-3', '1.5e-3', '2e-3']);
  assert.deepEqual([0.0001, 0.0002, 0.0003].map(distinctExponentFormat([0.0001, 0.0002, 0.0003])), ['1e-4', '2e-4', '3e-4']);
  assert.equal(modelLine({ label: 'note.md', tokenizer: 'char', parameters: 210_000, partial: true }),
    'note.md · char · 210 k parameters · partial (its run did not finish)');
});

test('labels: placed where wanted when free, moved when they would touch, hidden when there is no room', () => {
  const boxes = [{ x: 0, y: 50, width: 60, height: 12 }, { x: 10, y: 52, width: 60, height: 12 }, { x: 200, y: 50, width: 60, height: 12 }];
  const placed = placeLabels(boxes, 0, 200);
  assert.equal(placed[0].y, 50);
  assert.notEqual(placed[1].y, 52, 'the second overlapping label moves');
  assert.ok(Math.abs(placed[1].y - 50) >= 14, 'clear of the first by its height and the gap');
  assert.equal(placed[2].y, 50, 'a label elsewhere stays');
  const crowded = placeLabels(Array.from({ length: 5 }, () => ({ x: 0, y: 0, width: 50, height: 12 })), 0, 30);
  assert.equal(crowded.filter((p) => !p.hidden).length, 2, 'two labels of 12 px fit 30 px');
  for (const p of crowded.filter((x) => x.hidden)) assert.equal(p.hidden, true);
});

test('Latest: the newest request wins, an older answer is dropped', async () => {
  const latest = new Latest<number>();
  let release: (v: number) => void = () => undefined;
  const slow = latest.run(() => new Promise<number>((r) => { release = r; }));
  const fast = latest.run(() => Promise.resolve(2));
  release(1);
  assert.equal(await slow, undefined, 'superseded');
  assert.deepEqual(await fast, { value: 2 });
  const failing = latest.run(() => Promise.reject(new Error('no')));
  await assert.rejects(failing, /no/, 'the newest request’s error is the caller’s');
});

const step = (n: number, loss = 2): TrainEvent => ({ event: 'step', step: n, steps: 10, loss, lr: 1e-3, gradNorm: 1, tokensPerSec: 1, elapsedMs: n, etaMs: 0 });
const done: TrainEvent = { event: 'done', step: 10, steps: 10, cancelled: false, error: null, loss: 1, valLoss: 1, elapsedMs: 10, best: null, restoredBest: false };

test('loss state: runs are numbered per document across a reload, each run on the chart has its own colour', () => {
  const s = emptyLoss();
  const a = addRun(s, { id: 'a', source: 'note.md' });
  const b = addRun(s, { id: 'b', source: 'note.md' });
  const c = addRun(s, { id: 'c', source: 'poems.txt' });
  assert.deepEqual([a.label, b.label, c.label], ['note.md · run 1', 'note.md · run 2', 'poems.txt · run 1']);
  // A window reload: the saved state comes back through JSON, the host numbers nothing.
  const after = restoreLoss(JSON.parse(JSON.stringify(s)));
  const d = addRun(after, { id: 'd', source: 'note.md' });
  assert.equal(d.label, 'note.md · run 3', 'never a second "run 1"');
  assert.equal(new Set(after.runs.map((r) => r.colour)).size, 4);
  // A replay of a known run keeps its number and colour.
  const again = addRun(after, { id: 'b', source: 'note.md' });
  assert.deepEqual([again.label, again.colour], [b.label, b.colour]);
  // Twelve runs: the chart keeps as many as there are colours, all different (a comparison's seeds share theirs, so
  // the chart holds up to MAX_RUNS runs).
  const full = emptyLoss();
  for (let i = 0; i < 12; i++) {
    const r = addRun(full, { id: `r${i}`, source: 'x' });
    applyEvents(r, [step(1), done]);
  }
  assert.equal(full.runs.length, PALETTE_SIZE);
  assert.equal(new Set(full.runs.map((r) => r.colour)).size, PALETTE_SIZE);
  assert.ok(MAX_RUNS >= PALETTE_SIZE);
  assert.deepEqual(full.runs.map((r) => r.number), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'the oldest finished runs left');
  assert.equal(freeColour({ ...full, runs: full.runs.slice(1) }), full.runs[0].colour, 'a freed colour is the next one given');
});

test('loss state: banners belong to the run on screen', () => {
  const s = emptyLoss();
  const memo = addRun(s, { id: 'm', source: 'note.md' });
  applyEvents(memo, [step(1), { event: 'warning', code: 'memorising', message: 'validation loss rose' }, done]);
  assert.deepEqual(bannersOf(runOnScreen(s)).map((b) => b.title), ['Memorising · note.md · run 1']);
  const other = addRun(s, { id: 'o', source: 'poems.txt' });
  applyEvents(other, [step(1)]);
  assert.equal(runOnScreen(s), other, 'the run in progress is on screen');
  assert.deepEqual(bannersOf(runOnScreen(s)), [], 'note.md’s warning does not follow later runs');
  s.focus = 'm';
  applyEvents(other, [done]);
  assert.equal(runOnScreen(s), memo, 'with nothing training, the chosen run');
});

test('tokens state: labels say what was tokenized, with true counts; bits per byte from the surprise', async () => {
  const data = await engineData();
  const file = data.text;
  const make = (scope: TokensData['scope'], text: string, line: number | null = null): TokensData =>
    validate({ source: 'note.md', scope, line, text, comparison: compareTokenizers(data.ctx, text, file), surprise: null, model: modelTag(data) })!;
  assert.equal(scopeLabel(make('file', file)), `the whole of note.md · ${thousands([...file].length)} characters`);
  assert.equal(scopeLabel(make('line', 'First Citizen:', 1)), 'line 1 of note.md · 14 characters');
  assert.equal(scopeLabel(make('selection', 'Before we')), 'the selection in note.md · 9 characters');
  assert.equal(validate({ text: 3 }), null);

  const text = file.slice(0, 300);
  const d = { ...make('selection', text), surprise: perTokenLoss(data.ctx, text) };
  const b = bitsPerByte(d)!;
  const losses = d.surprise.filter((t) => t.loss !== null);
  const bits = losses.reduce((s, t) => s + t.loss! / Math.LN2, 0);
  const bytes = losses.reduce((s, t) => s + Buffer.byteLength(text.slice(t.start, t.end), 'utf8'), 0);
  assert.ok(Math.abs(b.bitsPerByte - bits / bytes) < 1e-12);
  assert.equal(b.tokens, losses.length);
  // A state from an older version, or junk, restores to an empty one.
  assert.equal(restoreTokens({ version: 1, data: d }).data, null);
  assert.equal(restoreTokens({ version: 2, data: d }).data?.text, text);
});

test('tokens state: the BPE replay point after k merges, and its curve', () => {
  const r: BpeReplay = { name: 'bpe:259', bytes: 100, characters: 90, steps: [
    { id: 256, left: 't', right: 'h', token: 'th', pairCount: 10, tokensAfter: 90 },
    { id: 257, left: 'th', right: 'e', token: 'the', pairCount: 8, tokensAfter: 82 },
    { id: 258, left: ' ', right: 'the', token: ' the', pairCount: 5, tokensAfter: 77 },
  ] };
  assert.deepEqual(replayPoint(r, 0), { step: 0, vocab: 256, tokens: 100, charsPerToken: 0.9, bytesPerToken: 1, merge: null });
  const p = replayPoint(r, 2);
  assert.equal(p.tokens, 82);
  assert.equal(p.merge?.token, 'the');
  assert.equal(replayPoint(r, 99).step, 3, 'clamped to the merges there are');
  const curve = replayCurve(r, 2);
  assert.deepEqual(curve[0], [256, 0.9]);
  assert.deepEqual(curve.at(-1), [259, 90 / 77], 'the last merge is always on the curve');
});

test('attention state: every row labelled up to 64 tokens, a reason when not; the compact copy; the head view', async () => {
  // 45 tokens in a narrow pane: the map grows to 11 px a row rather than label every second one.
  assert.deepEqual(labelPlan(45, 300), { size: 495, step: 1, note: null });
  assert.equal(labelPlan(64, 1000).step, 1);
  const big = labelPlan(512, 640);
  assert.ok(big.step > 1);
  assert.match(big.note!, /^One row in \d+ is labelled: 512 rows/);

  const data = await engineData();
  const d = attentionData(data, data.text.slice(500, 560));
  assert.equal(invalidReason(d), null);
  assert.match(invalidReason({ ...d, probe: { ...d.probe, thumbnails: { res: 4, values: new Float32Array(3) } } })!, /thumbnails/);
  assert.match(invalidReason({ ...d, probe: { ...d.probe, maps: [{ layer: 0, head: 9, weights: d.probe.maps[0].weights }] } })!, /map/);
  const m = modelOf(d);
  const T = m.T;
  // The compact copy: bytes of the thumbnails and the open map's causal half, back within 1/255.
  const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');
  const back = load(store(m, { layer: 0, head: 0 }, b64)!, (s) => new Uint8Array(Buffer.from(s, 'base64')))!;
  assert.equal(back.approximate, true);
  const before = m.maps.get('0:0')!, after = back.maps.get('0:0')!;
  for (let i = 0; i < T * T; i++) assert.ok(Math.abs(before[i] - after[i]) <= 0.5 / 255 + 1e-7);
  for (let i = 0; i < m.thumbnails.length; i++) assert.ok(Math.abs(m.thumbnails[i] - back.thumbnails[i]) <= 0.5 / 255 + 1e-7);
  // The focus row is the open map's row, clamped to [0, 1].
  assert.deepEqual(focusRow(before, T, 2), Array.from(before.subarray(2 * T, 2 * T + 3)));
  // The head view draws the weights that show (>= 0.01) of every head, and shrinks rows to fit.
  const rows: AttentionRows = { layer: 0, query: 2, weights: Float32Array.from([0.5, 0.005, 0.495, 0.9, 0.05, 0.05]) };
  const hv = headView(rows, 2, 100);
  assert.deepEqual(hv.lines.map((l) => `${l.head}:${l.key}`), ['0:0', '0:2', '1:0', '1:1', '1:2']);
  assert.equal(hv.rowHeight, 18);
  assert.equal(headView({ layer: 0, query: 511, weights: new Float32Array(512) }, 1, 420).rowHeight, 2);

  // A first paint of the first layer: the other layers' thumbnails are zero until they come, and only a continuation
  // of this model's (same size, from the next layer, the right length) is taken. The compact copy waits for them.
  const sel = data.text.slice(500, 560);
  const whole = attentionOf(data, sel);
  const firstProbe = attentionProbe({ ...whole, layers: whole.layers.slice(0, 1) }, 64);
  const first = modelOf({ ...d, probe: firstProbe });
  assert.equal(invalidReason({ ...d, probe: firstProbe }), null);
  assert.deepEqual([first.thumbLayers, first.N, first.thumbnails.length], [1, whole.N, m.thumbnails.length]);
  assert.equal(store(first, { layer: 0, head: 0 }, b64), null, 'nothing is kept over a reload while layers are missing');
  const rest = attentionThumbnails(whole, firstProbe.thumbnails.res, 1);
  assert.equal(addLayers(first, { ...rest, from: 2 }), false, 'not the next layer');
  assert.equal(addLayers(first, { ...rest, res: rest.res - 1 }), false, 'another size');
  assert.equal(addLayers(first, { ...rest, values: rest.values.subarray(1) }), false, 'the wrong length');
  assert.equal(addLayers(first, { ...rest, count: whole.N }), false, 'more layers than the model has');
  assert.equal(first.thumbLayers, 1);
  assert.equal(addLayers(first, rest), true);
  assert.deepEqual(first.thumbnails, m.thumbnails, 'the same thumbnails as the whole probe');
  assert.equal(addLayers(first, rest), false, 'a second copy of the rest is not taken');
  assert.notEqual(store(first, { layer: 0, head: 0 }, b64), null);
  assert.match(invalidReason({ ...d, probe: { ...firstProbe, thumbnails: { ...firstProbe.thumbnails, from: 1 } } })!, /first layer/);
});

test('embeddings state: analogy hints fit the tokenizer; captions say what was asked', () => {
  const pts = (xs: string[]): { text: string; unknown: boolean }[] => xs.map((text) => ({ text, unknown: false }));
  const charHints = analogyHints(pts('etaoinETAOIN .,'.split('')));
  assert.deepEqual(charHints[0], { a: 'e', b: 'E', c: 'T', d: 't', why: 'lower and upper case' });
  for (const h of charHints) for (const t of [h.a, h.b, h.c, h.d]) assert.ok('etaoinETAOIN'.includes(t));
  const words = analogyHints(pts([' king', ' man', ' woman', ' queen', ' he', ' his', ' her', ' she', 'x']));
  assert.deepEqual(words.map((h) => [h.a, h.b, h.c, h.d]), [[' king', ' man', ' woman', ' queen'], [' he', ' his', ' her', ' she']]);
  assert.deepEqual(analogyHints(pts(['x', 'y'])), [], 'no hint rather than one that cannot work');

  const tok = (id: number, text: string) => ({ id, tokenizerId: id, text, unknown: false });
  assert.equal(neighboursCaption({ text: 'the', query: [tok(1, 't'), tok(2, 'h'), tok(3, 'e')], mean: true, unknown: 0, nearest: [] }, 'char'),
    '“the” is 3 tokens in char: nearest to the mean of their embeddings (t h e). Pick one token below for its own neighbours.');
  assert.equal(neighboursCaption({ text: 'e', query: [tok(3, 'e')], mean: false, unknown: 0, nearest: [] }, 'char'), 'Nearest to “e” (id 3) by cosine');
  const r = { a: tok(1, 'e'), b: tok(2, 'E'), c: tok(3, 'A'), nearest: [{ ...tok(4, 'o'), cosine: 0.5 }, { ...tok(5, 'a'), cosine: 0.4 }] };
  assert.match(expectationNote(r, { a: 'e', b: 'E', c: 'A', d: 'a' })!, /^“a” is number 2/);
  assert.equal(expectationNote(r, null), null);
});

test('next-token state: settings clamped, the prompt split into the selection and what was sampled', () => {
  assert.deepEqual(sanitize({ temperature: 9, topK: -3, topP: 0 }), { temperature: 2, topK: 0, topP: 0.01 });
  assert.deepEqual(sanitize(undefined), { temperature: 1, topK: 0, topP: 1 });
  const d = { prompt: 'To be or', sampledSoFar: ' or', probe: {}, lens: {}, model: null } as never;
  assert.deepEqual(promptParts(d, ' o'), [{ key: 'base', text: 'To be' }, { key: 'older', text: ' o' }, { key: 'newest', text: 'r' }]);
});
