// The tokens panel's bundle in headless Chromium, fed real engine output (compareTokenizers + perTokenLoss of the
// model engineData trains): chunks and ids per encoding, counts, chars/token on the file, visible whitespace, byte
// escapes, the model's vocabulary, surprise colours and values, windowing of long selections, keyboard, reload.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { compareTokenizers } from '../../engine/probes/probes';
import { bpeReplay, tokenizerForText } from '../../engine/text/bpe';
import type { ToView, TokensData } from '../../engine/protocol';
import { engineData, tokensData, type EngineData } from './engineData';
import { openView, shutdown, timeUntil, type Theme, type ViewPage } from './harness';

let data: EngineData;
let mixed: TokensData; // Shakespeare plus characters the char model never saw and an emoji BPE splits into bytes
before(async () => {
  data = await engineData();
  const selection = `${data.text.slice(0, 230)}\n\tnaïve “café” 🎉 déjà vu\n`;
  mixed = tokensData(data, selection);
});
after(() => shutdown());

const msg = (d: TokensData): ToView<'tokens'> => ({ type: 'tokens', params: d });
const frames = (v: ViewPage<'tokens'>): Promise<unknown> =>
  v.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
const ORDER = ['char', 'o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base']; // the model's tokenizer first
const visible = (s: string): string => s.replace(/ /g, '·').replace(/\t/g, '→').replace(/\r/g, '␍').replace(/\n/g, '↵');

for (const theme of ['light', 'dark'] as Theme[]) {
  test(`tokens panel (${theme}): every encoding side by side, from real engine output`, async () => {
    const v = await openView('tokens', theme, { width: 1100, height: 900 });
    try {
      await v.waitForPosted('ready');
      const firstPaint = await timeUntil(v, msg(mixed), 'section.card[data-encoding="r50k_base"] span.tok');
      console.log(`# tokens ${theme}: first paint ${firstPaint.toFixed(1)} ms for a ${mixed.text.length}-char selection ` +
        `(${mixed.comparison.encodings.reduce((n, e) => n + e.tokens.length, 0)} chunks over 5 encodings)`);

      // Cards and table rows, model tokenizer first.
      assert.deepEqual(await v.page.locator('section.card').evaluateAll((els) => els.map((e) => e.getAttribute('data-encoding'))), ORDER);
      assert.equal(await v.page.locator('section.card.model h2').textContent(), 'char');
      for (const e of mixed.comparison.encodings) {
        const row = v.page.locator(`table.counts tr[data-encoding="${e.encoding}"]`);
        assert.equal((await row.locator('td.count').textContent())!.replace(/,/g, ''), String(e.count), `${e.encoding} count`);
        assert.equal(await row.locator('td.file-cpt .val').textContent(), e.charsPerToken.toFixed(2), `${e.encoding} chars/token on the file`);
        assert.equal(await row.locator('td.file-bpt').textContent(), e.bytesPerToken.toFixed(2), `${e.encoding} bytes/token on the file`);
        assert.equal((await row.locator('td.file-tokens').textContent())!.replace(/,/g, ''), String(e.fileTokens));
        // Chunks: one per token, in order, with its id.
        const card = v.page.locator(`section.card[data-encoding="${e.encoding}"]`);
        const ids = await card.locator('span.tok').evaluateAll((els) => els.map((x) => Number(x.getAttribute('data-id'))));
        assert.deepEqual(ids, e.tokens.map((t) => t.id), `${e.encoding} ids in order`);
        assert.deepEqual(await card.locator('span.tok .id').allTextContents(), e.tokens.map((t) => String(t.id)));
        // Whitespace made visible; a break after each chunk that ends a line.
        const texts = await card.locator('span.tok .txt').allTextContents();
        assert.deepEqual(texts.filter((_, i) => !/\\x/.test(e.tokens[i].text)), e.tokens.filter((t) => !/\\x/.test(t.text)).map((t) => visible(t.text)));
        assert.equal(await card.locator('span.br').count(), e.tokens.filter((t) => t.text.endsWith('\n')).length);
        // Byte escapes: a token that holds part of a UTF-8 character shows \xNN, styled apart.
        const partial = e.tokens.filter((t) => /\\x[0-9a-f]{2}/.test(t.text));
        assert.equal(await card.locator('span.tok.partial').count(), partial.length, `${e.encoding} partial tokens`);
        if (partial.length) assert.match((await card.locator('span.tok.partial .esc').first().textContent())!, /^\\x[0-9a-f]{2}$/);
      }
      const anyPartial = mixed.comparison.encodings.some((e) => e.tokens.some((t) => /\\x/.test(t.text)));
      assert.ok(anyPartial, 'the emoji is split into bytes by at least one encoding');
      assert.ok(texts(await v.page.locator('section.card[data-encoding="char"] span.tok .txt').allTextContents()).includes('→'), 'a tab shows as →');

      // The model's vocabulary: characters it never saw are marked and counted.
      const charEnc = mixed.comparison.encodings.find((e) => e.encoding === 'char')!;
      const unknown = charEnc.inModel!.filter((x) => !x).length;
      assert.ok(unknown >= 4, 'ï, “, ”, 🎉 … are not in the model');
      assert.equal(await v.page.locator('section.card[data-encoding="char"] span.tok.unk').count(), unknown);
      assert.match((await v.page.locator('section.card[data-encoding="char"] .unknown').textContent())!, new RegExp(`^${unknown} not in`));
      assert.equal(await v.page.locator('section.card[data-encoding="o200k_base"] span.tok.unk').count(), 0, 'only the model tokenizer is checked');

      // Surprise under the model: colour by bits = loss / ln 2; the exact value on hover.
      assert.equal(await v.page.getAttribute('#colour-surprise', 'aria-checked'), 'true');
      const scored = mixed.surprise!.map((t, i) => ({ i, bits: t.loss === null ? null : t.loss / Math.LN2 })).filter((x) => x.bits !== null);
      const lo = scored.reduce((a, b) => (b.bits! < a.bits! ? b : a)), hi = scored.reduce((a, b) => (b.bits! > a.bits! ? b : a));
      const bg = (i: number): Promise<number[]> => v.page.locator(`section.card[data-encoding="char"] span.tok[data-i="${i}"]`)
        .evaluate((el) => getComputedStyle(el).backgroundColor.match(/[\d.]+/g)!.map(Number));
      const [cLo, cHi] = [await bg(lo.i), await bg(hi.i)];
      assert.notDeepEqual(cLo, cHi, 'low and high surprise get different colours');
      assert.ok(cHi[0] - cHi[2] > cLo[0] - cLo[2], `high surprise is redder: ${cHi.join()} vs ${cLo.join()}`);
      await v.page.locator(`section.card[data-encoding="char"] span.tok[data-i="${hi.i}"]`).hover();
      const tip = (await v.page.locator('.gl-tooltip').textContent())!;
      assert.ok(tip.includes(`surprise  ${hi.bits!.toFixed(3)} bits`), tip);
      assert.ok(tip.includes(`id     ${charEnc.tokens[hi.i].id}`), tip);
      // Hovering a chunk outlines the chunks of the same characters in every other encoding.
      const o200 = mixed.comparison.encodings.find((e) => e.encoding === 'o200k_base')!;
      const k = o200.tokens.findIndex((t) => t.end - t.start >= 4 && !/\\x/.test(t.text));
      await v.page.locator(`section.card[data-encoding="o200k_base"] span.tok[data-i="${k}"]`).hover();
      const t = o200.tokens[k];
      assert.equal(await v.page.locator('section.card[data-encoding="char"] span.tok.linked').count(),
        charEnc.tokens.filter((c) => c.start < t.end && c.end > t.start).length);
      await v.page.mouse.move(1, 1);
      await v.page.evaluate(() => document.querySelectorAll('.chunks').forEach((c) => { c.scrollTop = 0; })); // hover scrolled them

      await v.screenshot('tokens');

      // Colour by chunk instead: the surprise colours go.
      await v.page.click('#colour-chunk');
      assert.equal(await v.page.locator('section.card[data-encoding="char"] span.tok[data-i="3"]').evaluate((el) => el.style.backgroundColor), '');
      // Ids can be hidden.
      await v.page.click('#show-ids');
      assert.equal(await v.page.locator('section.card span.tok .id').first().isVisible(), false);

      // Keyboard: one tab stop per encoding; arrows step through its tokens with the readout.
      await v.page.focus('section.card[data-encoding="o200k_base"] .chunks');
      await v.page.keyboard.press('ArrowRight');
      await v.page.keyboard.press('ArrowRight');
      assert.match((await v.page.locator('.gl-tooltip').textContent())!, /o200k_base · token 2 of/);

      assert.deepEqual(v.consoleErrors, []);
      assert.deepEqual(v.cspViolations, []);
    } finally {
      await v.close();
    }
  });
}

function texts(xs: string[]): string {
  return xs.join('');
}

test('tokens panel: a 6,000-character selection is windowed; state survives a reload; no model, odd input', async () => {
  const v = await openView('tokens', 'dark', { width: 1000, height: 800 });
  try {
    await v.waitForPosted('ready');
    const big = tokensData(data, data.text.slice(0, 6000));
    const charEnc = big.comparison.encodings.find((e) => e.encoding === 'char')!;
    assert.equal(charEnc.count, 6000);
    assert.equal(charEnc.tokens.length, 2000, 'the engine caps the comparison at 2,000 tokens per encoding');
    const paint = await timeUntil(v, msg(big), 'section.card[data-encoding="r50k_base"] span.tok');
    const nodes = await v.page.locator('span.tok').count();
    console.log(`# tokens: first paint ${paint.toFixed(1)} ms for 6,000 chars (${big.comparison.encodings.reduce((n, e) => n + e.tokens.length, 0)} ` +
      `chunks compared, ${nodes} drawn); render ${await v.page.evaluate(() => document.body.dataset.renderMs)} ms`);
    const card = v.page.locator('section.card[data-encoding="char"]');
    assert.equal(await card.locator('span.tok').count(), 400, 'only the first 400 chunks are drawn');
    assert.ok(nodes <= 5 * 400);
    assert.match((await card.locator('.cap-note').textContent())!, /first 2,000 of 6,000 tokens/);
    assert.match((await card.locator('table.counts td.count, .card-stats').first().textContent())!, /6,000 tokens/);
    await card.locator('button.more').click();
    assert.equal(await card.locator('span.tok').count(), 800);
    assert.match((await card.locator('button.more').textContent())!, /800 of 2,000 shown/);
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) await card.locator('button.more').click();
    console.log(`# tokens: three more pages of 400 in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(await card.locator('span.tok').count(), 2000);
    assert.equal(await card.locator('button.more').isVisible(), false, 'nothing more to show');

    // Reload: the panel redraws from the saved state alone, windowing included.
    await v.reload();
    await v.page.waitForSelector('section.card[data-encoding="char"] span.tok');
    assert.equal(await v.page.locator('section.card[data-encoding="char"] span.tok').count(), 2000);
    assert.equal(await v.page.locator('section.card[data-encoding="o200k_base"] span.tok').count(),
      Math.min(400, big.comparison.encodings.find((e) => e.encoding === 'o200k_base')!.tokens.length));

    // No model yet: no vocabulary marks, no surprise; the surprise colouring is offered but disabled.
    const plain: TokensData = { source: 'notes.md', scope: 'file', line: null, text: 'Hello, world!\n',
      comparison: compareTokenizers(null, 'Hello, world!\n', 'Hello, world!\n'), surprise: null, model: null };
    await v.post(msg(plain));
    await v.page.waitForFunction(() => document.querySelectorAll('section.card.model').length === 0);
    assert.equal(await v.page.locator('span.tok.unk').count(), 0);
    assert.equal(await v.page.locator('#colour-surprise').isDisabled(), true);
    assert.equal(await v.page.locator('.gl-subtitle').textContent(), 'the whole of notes.md · 14 characters · the file: 14 characters, 14 bytes',
      'a whole file is not called a selection');
    assert.equal(await v.page.locator('.gl-model').textContent(), 'Model: none yet');

    // Odd input: dropped or drawn safely, never an exception.
    await v.page.evaluate(() => {
      window.postMessage({ type: 'tokens', params: { text: 5 } }, '*');
      window.postMessage({ type: 'tokens', params: { source: 'x', text: '', comparison: { encodings: [], fileChars: 0, modelTokenizer: null }, surprise: [] } }, '*');
      window.postMessage({ type: 'tokens', params: { source: 'x', text: 'ab', surprise: null, comparison: { fileChars: NaN, modelTokenizer: 7,
        encodings: [{ encoding: 'char', tokens: [null, { id: 'x' }, { id: 1, text: 'a', start: 0, end: 1, byteStart: 0, byteEnd: 1 }], count: NaN, inModel: 3, fileTokens: -1, charsPerToken: Infinity }] } } }, '*');
    });
    await frames(v);
    assert.equal(await v.page.locator('span.tok').count(), 1);
    await v.post({ type: 'error', params: { message: 'the selection is empty' } });
    assert.match((await v.page.locator('.gl-error').textContent())!, /the selection is empty/);
    assert.equal(await v.page.locator('span.tok').count(), 0, 'a failed command leaves no older answer on screen');
    assert.deepEqual(v.consoleErrors, []);
    assert.deepEqual(v.cspViolations, []);
  } finally {
    await v.close();
  }
});

test('tokens panel: run twice on different lines, it shows the second line’s tokens; stale content is marked while a request runs', async () => {
  const v = await openView('tokens', 'light', { width: 1000, height: 760 });
  try {
    await v.waitForPosted('ready');
    const lines = data.text.split('\n');
    const line5 = lines[4], line1 = lines[0];
    assert.notEqual(line5, line1);
    await v.post({ type: 'loading', params: { what: 'Tokenizing line 5 of tinyshakespeare-sample.txt' } });
    assert.equal(await v.page.locator('.gl-loading').isVisible(), true, 'the loading note shows at once');
    await v.post(msg(tokensData(data, line5, data.text, true, 'line', 5)));
    await v.page.waitForSelector('section.card[data-encoding="char"] span.tok');
    assert.equal(await v.page.locator('.gl-loading').isVisible(), false);
    const shown = async (enc: string): Promise<string> =>
      (await v.page.locator(`section.card[data-encoding="${enc}"] span.tok .txt`).allTextContents()).join('');
    const visibleText = (s: string): string => s.replace(/ /g, '·').replace(/\t/g, '→');
    assert.equal(await shown('char'), visibleText(line5));

    // The second command: while it runs, the first answer is marked stale; then every encoding shows line 1.
    await v.post({ type: 'loading', params: { what: 'Tokenizing line 1 of tinyshakespeare-sample.txt' } });
    assert.equal(await v.page.locator('.gl-body.gl-stale').count(), 1, 'the old tokens are marked stale');
    assert.match((await v.page.locator('.gl-loading').textContent())!, /line 1/);
    await v.post(msg(tokensData(data, line1, data.text, true, 'line', 1)));
    await v.page.waitForFunction(() => !document.querySelector('.gl-body.gl-stale'));
    for (const enc of ORDER) {
      const want = tokensData(data, line1).comparison.encodings.find((e) => e.encoding === enc)!.tokens.map((t) => t.text).join('');
      assert.equal(await shown(enc), visibleText(want), `${enc} shows line 1, not line 5`);
    }
    assert.match((await v.page.locator('.gl-subtitle').textContent())!, new RegExp(`^line 1 of tinyshakespeare-sample.txt · ${[...line1].length} characters`));
    assert.match((await v.page.locator('.gl-model').textContent())!, /^Model: tinyshakespeare-sample.txt · char · /, 'the panel names its model');
    assert.deepEqual(v.consoleErrors, []);
  } finally {
    await v.close();
  }
});

test('tokens panel: the BPE replay learns from the file merge by merge and compares characters per token', async () => {
  const v = await openView('tokens', 'dark', { width: 1100, height: 1000 });
  try {
    await v.waitForPosted('ready');
    const file = data.text.slice(0, 4000);
    const text = file.slice(0, 120);
    await v.post(msg(tokensData(data, text, file)));
    await v.page.waitForSelector('section.card span.tok');
    await v.page.fill('#bpe-size', '300');
    await v.page.click('#bpe-learn');
    const req = await v.waitForPosted('bpeReplay');
    assert.deepEqual(req.params, { vocabSize: 300 });
    const replay = await bpeReplay(file, 300);
    const learned = await tokenizerForText('bpe:300', file);
    const comparison = compareTokenizers(data.ctx, text, file, [learned]);
    await v.post({ type: 'bpeReplay', id: req.id, params: { replay, comparison } });
    await v.page.waitForSelector('.replay-body:not([hidden]) path.curve[d]');
    const n = replay.steps.length;
    assert.ok(n > 0 && n <= 44, `${n} merges`);
    // The learned tokenizer joins the comparison: its row, its card, its chars and bytes per token.
    const row = v.page.locator(`table.counts tr[data-encoding="${replay.name}"]`);
    const learnedRow = comparison.encodings.find((e) => e.encoding === replay.name)!;
    assert.equal(await row.locator('td.file-cpt .val').textContent(), learnedRow.charsPerToken.toFixed(2));
    assert.equal(await row.locator('.badge').textContent(), 'learned');
    assert.equal((await row.locator('td.file-tokens').textContent())!.replace(/,/g, ''), String(replay.steps.at(-1)!.tokensAfter),
      'the replay ends at the token count the learned tokenizer gives the file');
    // The last merge, then one back.
    const last = replay.steps.at(-1)!;
    assert.match((await v.page.locator('.replay-merge').textContent())!, new RegExp(`^merge ${n} of ${n}: `));
    await v.page.click('button[aria-label="one merge back"]');
    const prev = replay.steps.at(-2)!;
    const merge = (await v.page.locator('.replay-merge').textContent())!;
    assert.ok(merge.startsWith(`merge ${n - 1} of ${n}`), merge);
    assert.ok(merge.includes(`(id ${prev.id}, the pair stood side by side ${prev.pairCount} times)`), merge);
    assert.ok(merge.includes(`file ${prev.tokensAfter.toLocaleString('en-US')} tokens`), merge);
    assert.notEqual(prev.id, last.id);
    // The chart's reference lines: char, r50k, cl100k, o200k, labelled without overlaps.
    assert.deepEqual(await v.page.locator('g.ref').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-encoding'))),
      ['char', 'r50k_base', 'cl100k_base', 'o200k_base']);
    const boxes = await v.page.locator('g.ref text:not([hidden])').evaluateAll((ts) => ts.map((t) => {
      const r = t.getBoundingClientRect();
      return [r.left, r.top, r.right, r.bottom];
    }));
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, b] = [boxes[i], boxes[j]];
        assert.ok(a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1], `reference labels ${i} and ${j} overlap`);
      }
    }
    await v.screenshot('tokens-bpe-replay');
    assert.deepEqual(v.consoleErrors, []);
    assert.deepEqual(v.cspViolations, []);
  } finally {
    await v.close();
  }
});
