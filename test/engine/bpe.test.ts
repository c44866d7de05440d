// The byte-level BPE learned from a text (engine/text/bpe.ts): the textbook examples merge by merge, the incremental
// counts against a plain recount, encoding against what learning ended with, round trips on any text, and the
// metadata that carries the merges in a model file.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../engine/common/rng';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import { encodeModel, loadModel, saveModel } from '../../engine/io/checkpoint';
import { applyModelOverrides, PRESETS, type ModelShape } from '../../engine/model/config';
import { compareTokenizers, evaluateText } from '../../engine/probes/probes';
import { trainOnText } from '../../engine/training/train';
import { ROOT } from '../helpers/reference';
import { BpeLearner, BpeTokenizer, bpeReplay, decodeBpeMetadata, encodeBpeMetadata, FIRST_MERGE_ID, learnBpe, learnBpeAsync,
  tokenizerForText } from '../../engine/text/bpe';
import { bpeVocabSize, isTokenizerChoice, MAX_PIECE_BYTES, tokenChunks } from '../../engine/text/tokenizers';
import { type TrainEvent } from '../../engine/protocol';
import { testPlan } from '../helpers/plan';

const pairs = (merges: Int32Array): [number, number][] =>
  Array.from({ length: merges.length / 2 }, (_, k) => [merges[2 * k], merges[2 * k + 1]]);

test('Wikipedia\'s worked example: aaabdaaabac merges aa (Z), then ab (Y), then ZY (X), and stops at XdXac', () => {
  // aaabdaaabac: aa occurs 4 times (overlaps included), more than any other pair        -> Z = aa: ZabdZabac (9 tokens)
  // Za and ab now both occur twice; the tie goes to the smaller pair of ids: a,b (97, 98) -> Y = ab: ZYdZYac (7)
  // ZY occurs twice                                                                       -> X = ZY: XdXac (5)
  // every pair of XdXac occurs once: nothing left to compress, as the article says.
  const r = learnBpe('aaabdaaabac', 1000);
  const [a, b] = [97, 98], Z = FIRST_MERGE_ID, Y = Z + 1;
  assert.deepEqual(pairs(r.merges), [[a, a], [a, b], [Z, Y]]);
  assert.deepEqual(Array.from(r.pairCounts), [4, 2, 2]);
  assert.equal(r.bytes, 11);
  assert.deepEqual(Array.from(r.tokensAfter), [9, 7, 5]);
  const tok = new BpeTokenizer(r.merges);
  assert.deepEqual(tok.encode('aaabdaaabac'), [Z + 2, 100, Z + 2, a, 99]); // X d X a c
  assert.equal(tok.decode(tok.encode('aaabdaaabac')), 'aaabdaaabac');
});

test('Sennrich et al. (2016), Algorithm 1\'s corpus: the ten merges derived by hand', () => {
  // {'l o w </w>': 5, 'l o w e r </w>': 2, 'n e w e s t </w>': 6, 'w i d e s t </w>': 3}, symbols as their char codes,
  // </w> as 0, new symbols from 256. Highest count first; ties to the smaller (left, right) pair of ids.
  //  1. es 9 (ties st 9, t</w> 9: e,s = 101,115 is smallest)      2. t</w> 9 (ties (es)t 9: 116,0 < 256,116)
  //  3. (es)(t</w>) 9                                              4. lo 7 (ties ow 7: 108,111 < 111,119)
  //  5. (lo)w 7                                                    6. ew 6 (ties ne 6 and w(est</w>) 6: 101,119 is smallest)
  //  7. n(ew) 6                                                    8. (new)(est</w>) 6
  //  9. (low)</w> 5                                               10. d(est</w>) 3 (ties wi 3 and id 3: 100,258 is smallest)
  // The paper's Python takes ties in the order pairs were first seen, so its 2nd merge is (es)t and its 10th wi;
  // the first merge and the counts at every step agree.
  const sym = (s: string): number[] => s.split(' ').map((c) => (c === '</w>' ? 0 : c.charCodeAt(0)));
  const learner = new BpeLearner([sym('l o w </w>'), sym('l o w e r </w>'), sym('n e w e s t </w>'), sym('w i d e s t </w>')], [5, 2, 6, 3]);
  for (let k = 0; k < 10; k++) assert.ok(learner.step(), `merge ${k + 1}`);
  const r = learner.result();
  const c = (ch: string): number => ch.charCodeAt(0);
  assert.deepEqual(pairs(r.merges), [
    [c('e'), c('s')], [c('t'), 0], [256, 257], [c('l'), c('o')], [259, c('w')],
    [c('e'), c('w')], [c('n'), 261], [262, 258], [260, 0], [c('d'), 258],
  ]);
  assert.deepEqual(Array.from(r.pairCounts), [9, 9, 9, 7, 7, 6, 6, 6, 5, 3]);
  assert.equal(r.bytes, 5 * 4 + 2 * 6 + 6 * 7 + 3 * 7);
});

/** The plain algorithm: recount every pair after every merge (the reference the incremental counts must equal). */
function recountingBpe(words: number[][], freq: number[], merges: number): [number, number][] {
  const out: [number, number][] = [];
  let ws = words.map((w) => [...w]);
  for (let m = 0; m < merges; m++) {
    const counts = new Map<string, number>();
    for (let i = 0; i < ws.length; i++) {
      for (let j = 0; j + 1 < ws[i].length; j++) {
        const k = `${ws[i][j]},${ws[i][j + 1]}`;
        counts.set(k, (counts.get(k) ?? 0) + freq[i]);
      }
    }
    let best: [number, number] | null = null, bestCount = 0;
    for (const [k, n] of counts) {
      const [a, b] = k.split(',').map(Number);
      if (n > bestCount || (n === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bestCount = n;
      }
    }
    if (!best || bestCount < 2) break;
    const z = FIRST_MERGE_ID + m;
    ws = ws.map((w) => {
      const next: number[] = [];
      for (let j = 0; j < w.length; j++) {
        if (j + 1 < w.length && w[j] === best[0] && w[j + 1] === best[1]) {
          next.push(z);
          j++;
        } else next.push(w[j]);
      }
      return next;
    });
    out.push(best);
  }
  return out;
}

test('incremental pair counts give exactly the merges of recounting after every merge (random corpora)', () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 40; trial++) {
    const alphabet = 2 + rng.int(5);
    const words = Array.from({ length: 1 + rng.int(30) }, () => Array.from({ length: 1 + rng.int(12) }, () => 97 + rng.int(alphabet)));
    const freq = words.map(() => 1 + rng.int(6));
    const learner = new BpeLearner(words.map((w) => [...w]), freq);
    while (learner.step()) { /* to the end */ }
    assert.deepEqual(pairs(learner.result().merges), recountingBpe(words, freq, 1000), `trial ${trial}`);
  }
});

const SAMPLE = 'To be, or not to be, that is the question:\nWhether \'tis nobler in the mind to suffer\n' +
  'The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\nAnd by opposing end them.\n';

test('encoding the learning text gives the token count learning ended with, after every number of merges', () => {
  const text = SAMPLE.repeat(3) + 'Садок вишневий коло хати, 1234567 🙂🙂 ' + 'x'.repeat(700);
  const r = learnBpe(text, 400);
  assert.ok(r.merges.length / 2 > 60);
  for (const m of [0, 1, 2, 10, 37, r.merges.length / 2]) {
    const tok = new BpeTokenizer(r.merges.slice(0, 2 * m));
    const expected = m === 0 ? r.bytes : r.tokensAfter[m - 1];
    assert.equal(tok.encode(text).length, expected, `${m} merges`);
  }
});

const ROUND_TRIP: Record<string, string> = {
  english: SAMPLE,
  ukrainian: 'Садок вишневий коло хати, хрущі над вишнями гудуть. Їжак і ґанок — є!',
  emoji: 'Family: 👨‍👩‍👧‍👦, flags: 🇺🇦🇯🇵, skin: 👍🏽 and a lone 🙂',
  crlf: 'line one\r\nline two\r\n\r\n\ttabbed\rcarriage',
  bom: '\ufeffstarts with a byte order mark',
  controls: '\u0000\u0001\u0002\u001b[31mred\u001b[0m\u007f\u0085\u2028\u2029',
  latin1Binary: Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) % 256)).toString('latin1'),
  specialText: 'a <|endoftext|> b',
  longRun: 'ab'.repeat(3 * MAX_PIECE_BYTES) + ' ' + '!'.repeat(1000) + ' ' + ' '.repeat(600) + 'ї'.repeat(400),
};

test('encode and decode round trip any Unicode and binary-looking text, seen in learning or not', () => {
  const tok = new BpeTokenizer(learnBpe(SAMPLE.repeat(4) + ROUND_TRIP.ukrainian, 420).merges);
  const rng = new Rng(11);
  const randomBytes = Buffer.from(Array.from({ length: 2000 }, () => rng.int(256)));
  const texts = { ...ROUND_TRIP, utf8Binary: randomBytes.toString('utf8') };
  for (const [label, text] of Object.entries(texts)) {
    const ids = tok.encode(text);
    assert.equal(tok.decode(ids), text, label);
    // the tokens' bytes are the text's UTF-8, and the chunks tile it
    assert.deepEqual(Buffer.concat(ids.map((id) => tok.tokenBytes(id))), Buffer.from(text, 'utf8'), label);
    const chunks = tokenChunks(tok, text);
    for (let i = 1; i < chunks.length; i++) assert.equal(chunks[i].byteStart, chunks[i - 1].byteEnd, label);
  }
  // Lone surrogates cannot be UTF-8: like every byte-level encoding, they read as U+FFFD.
  assert.equal(tok.decode(tok.encode('a\ud800b\udc00c\ud83d')), 'a\ufffdb\ufffdc\ufffd');
  // A tokenizer learned on the binary text itself round-trips it too.
  const own = new BpeTokenizer(learnBpe(texts.utf8Binary, 600).merges);
  assert.equal(own.decode(own.encode(texts.utf8Binary)), texts.utf8Binary);
});

test('bpe:N names: 256 to 65,536 tokens; learning stops early when no pair occurs twice', async () => {
  assert.equal(bpeVocabSize('bpe:512'), 512);
  for (const bad of ['bpe:255', 'bpe:65537', 'bpe:', 'bpe:1e3', 'bpe:0512x', 'BPE:512']) assert.equal(bpeVocabSize(bad), null, bad);
  assert.ok(isTokenizerChoice('bpe:300') && isTokenizerChoice('char') && !isTokenizerChoice('bpe:12'));
  const tiny = await tokenizerForText('bpe:5000', 'abab abab', undefined);
  assert.equal(tiny.name, `bpe:${tiny.vocabSize}`);
  assert.ok(tiny.vocabSize < 5000);
  assert.equal((await tokenizerForText('bpe:256', SAMPLE)).vocabSize, 256); // bytes only
  assert.equal((await tokenizerForText('char', SAMPLE)).name, 'char');
});

test('learning can be cancelled, and gives the same merges async as sync', async () => {
  const text = SAMPLE.repeat(20);
  assert.deepEqual(Array.from((await learnBpeAsync(text, 500)).merges), Array.from(learnBpe(text, 500).merges));
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(learnBpeAsync(text, 500, controller.signal), /abort/i);
});

test('the merges travel as model-file metadata, checked on the way back', () => {
  const tok = new BpeTokenizer(learnBpe(SAMPLE, 300).merges);
  const back = decodeBpeMetadata(encodeBpeMetadata(tok), tok.name);
  assert.deepEqual(Array.from(back.merges), Array.from(tok.merges));
  assert.deepEqual(back.encode(SAMPLE), tok.encode(SAMPLE));
  assert.throws(() => decodeBpeMetadata(undefined, 'bpe:300'), /gptlab.bpe is missing/);
  assert.throws(() => decodeBpeMetadata('{', 'bpe:300'), /not valid JSON/);
  assert.throws(() => decodeBpeMetadata(encodeBpeMetadata(tok), 'bpe:999'), /holds \d+ merges/);
  assert.throws(() => decodeBpeMetadata('{"pattern":"gpt2","merges":[1,2,3]}', 'bpe:257'), /in pairs/);
  assert.throws(() => decodeBpeMetadata('{"pattern":"gpt2","merges":[1,256]}', 'bpe:257'), /only ids below 256/);
  assert.throws(() => decodeBpeMetadata('{"pattern":"gpt2","merges":[1,2,1,2]}', 'bpe:258'), /repeats the pair/);
  assert.throws(() => decodeBpeMetadata('{"pattern":"gpt5","merges":[]}', 'bpe:256'), /unknown BPE split pattern/);
  assert.throws(() => decodeBpeMetadata('{"pattern":"gpt2","merges":[1.5,2]}', 'bpe:257'), /whole numbers/);
});

test('the merge replay lists every merge with the file\'s token count falling after each', async () => {
  const replay = await bpeReplay('aaabdaaabac', 1000);
  assert.equal(replay.name, 'bpe:259');
  assert.equal(replay.bytes, 11);
  assert.deepEqual(replay.steps.map((s) => [s.left, s.right, s.token, s.pairCount, s.tokensAfter]),
    [['a', 'a', 'aa', 4, 9], ['a', 'b', 'ab', 2, 7], ['aa', 'ab', 'aaab', 2, 5]]);
  const big = await bpeReplay(SAMPLE.repeat(5), 400);
  for (let i = 1; i < big.steps.length; i++) assert.ok(big.steps[i].tokensAfter < big.steps[i - 1].tokensAfter);
});

// ---- Training on its ids, the merges in the model file, and the command line ----

const shape: ModelShape = applyModelOverrides(PRESETS.tiny.model, { contextLength: 16, dim: 32, heads: 2, layers: 1 });
const CORPUS = fs.readFileSync(path.join(ROOT, 'media', 'tinyshakespeare-sample.txt'), 'utf8').slice(0, 20000);

before(async () => {
  await selectBackend('wasm');
});

test('training on a bpe:N tokenizer learns it from the text, trains on its ids and keeps the merges in the model file', async () => {
  const events: TrainEvent[] = [];
  const r = await trainOnText({ compute: await testPlan('tfjs'), text: CORPUS, tokenizer: 'bpe:400', model: shape, onEvent: (e) => events.push(e),
    settings: { ...PRESETS.tiny.train, steps: 30, batchSize: 4, warmupSteps: 3, evalEvery: 15, evalBatches: 2, sampleEvery: 0, seed: 3 } });
  try {
    assert.equal(r.tokenizer.name, 'bpe:400');
    const start = events[0] as Extract<TrainEvent, { event: 'start' }>;
    assert.equal(start.tokenizer, 'bpe:400');
    assert.equal(r.vocab.size, 401); // the whole learned vocabulary, behind the unknown token
    assert.equal(start.trainTokens + start.valTokens, r.tokenizer.encode(CORPUS).length);
    assert.ok(r.history.steps.at(-1)!.loss < r.history.steps[0].loss - 0.5, 'the loss falls');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-bpe-')), 'bpe.safetensors');
    saveModel(file, r.model, r.vocab, r.tokenizer, r.history);
    const loaded = loadModel(file);
    try {
      assert.equal(loaded.tokenizer.name, 'bpe:400');
      assert.deepEqual(Array.from((loaded.tokenizer as BpeTokenizer).merges), Array.from((r.tokenizer as BpeTokenizer).merges));
      const probe = CORPUS.slice(5000, 7000);
      assert.deepEqual(loaded.tokenizer.encode(probe), r.tokenizer.encode(probe));
      assert.equal(evaluateText(loaded, probe).loss, evaluateText(r, probe).loss);
    } finally {
      loaded.model.dispose();
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
    // saving a learned tokenizer by name alone would lose its merges: refused
    assert.throws(() => encodeModel(r.model, r.vocab, 'bpe:400', null), /carries its merges/);
  } finally {
    r.model.dispose();
  }
});

test('gpt-lab train --tokenizer bpe:N, then eval and tokens; a bad N is one line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-bpe-cli-'));
  try {
    const corpus = path.join(dir, 'corpus.txt'), out = path.join(dir, 'm.safetensors');
    fs.writeFileSync(corpus, CORPUS);
    const bin = path.join(ROOT, 'bin', 'gpt-lab.js');
    const run = (args: string[]): SpawnSyncReturns<string> =>
      spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir, timeout: 180_000, maxBuffer: 1 << 30 });
    const t = run(['train', corpus, '--tokenizer', 'bpe:300', '--steps', '10', '--context', '16', '--dim', '32', '--heads', '2',
      '--layers', '1', '--batch', '4', '--json', '--out', out]);
    assert.equal(t.status, 0, `${String(t.signal)} ${String(t.error)} ${t.stderr}`);
    const startEvent = JSON.parse(t.stdout.split('\n')[0]) as { tokenizer: string; vocabSize: number };
    assert.equal(startEvent.tokenizer, 'bpe:300');
    assert.equal(startEvent.vocabSize, 301);
    const e = run(['eval', out, '--file', corpus, '--json']);
    assert.equal(e.status, 0, e.stderr);
    const ev = JSON.parse(e.stdout) as { loss: number; bitsPerByte: number; tokens: number; unknownTokens: number };
    assert.ok(Number.isFinite(ev.loss) && ev.bitsPerByte > 0 && ev.unknownTokens === 0);
    const k = run(['tokens', '--encoding', 'bpe:300', '--file', corpus, '--json']);
    assert.equal(k.status, 0, k.stderr);
    const tk = JSON.parse(k.stdout) as { encoding: string; count: number };
    assert.equal(tk.encoding, 'bpe:300');
    assert.equal(tk.count, ev.tokens + 1); // the same merges: learned from the same text
    const bad = run(['train', corpus, '--tokenizer', 'bpe:12']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr.trim(), /^gpt-lab: --tokenizer must be .*bpe:N .*got "bpe:12" \(usage: gpt-lab train --help\)$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('comparing tokenizers on a file adds a BPE learned from it, with bytes per token for every row', async () => {
  const learned = await tokenizerForText('bpe:500', CORPUS);
  const c = compareTokenizers(null, CORPUS.slice(0, 200), CORPUS, [learned]);
  assert.deepEqual(c.encodings.map((e) => e.encoding), ['o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base', 'char', 'bpe:500']);
  assert.equal(c.fileBytes, Buffer.byteLength(CORPUS));
  for (const e of c.encodings) {
    assert.equal(e.bytesPerToken, c.fileBytes / e.fileTokens, e.encoding);
    assert.equal(e.charsPerToken, c.fileChars / e.fileTokens, e.encoding);
  }
  const bpe = c.encodings.at(-1)!;
  assert.equal(bpe.fileTokens, learned.encode(CORPUS).length);
  assert.ok(bpe.charsPerToken > c.encodings.find((e) => e.encoding === 'char')!.charsPerToken);
});
