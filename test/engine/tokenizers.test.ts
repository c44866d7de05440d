import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { displayBytes, encodeAsync, getTokenizer, MAX_PIECE_BYTES, tokenChunks, tokenText, TOKENIZER_NAMES } from '../../engine/text/tokenizers';

const SAMPLES: Record<string, string> = {
  english: 'The quick brown fox jumps over the lazy dog. It\'s 3:14 p.m.',
  ukrainian: 'Садок вишневий коло хати, хрущі над вишнями гудуть. Їжак і ґанок — є!',
  emoji: 'Family: 👨‍👩‍👧‍👦, flags: 🇺🇦🇯🇵, skin: 👍🏽 and a lone 🙂',
  crlf: 'line one\r\nline two\r\n\r\n\ttabbed\rcarriage',
  code: 'function f(x: number): number {\n  return x ** 2 >>> 0; // 𝑥²\n}\n<|endoftext|>',
};

for (const name of TOKENIZER_NAMES) {
  test(`${name}: encode/decode round trips every sample exactly`, () => {
    const tok = getTokenizer(name);
    for (const [label, text] of Object.entries(SAMPLES)) {
      const ids = tok.encode(text);
      assert.ok(ids.length > 0, label);
      assert.equal(tok.decode(ids), text, label);
      // token bytes concatenate to the text's UTF-8 bytes
      const bytes = Buffer.concat(ids.map((id) => Buffer.from(tok.tokenBytes(id))));
      assert.equal(bytes.toString('utf8'), text, label);
    }
  });

  test(`${name}: chunks tile the text with correct offsets`, () => {
    const tok = getTokenizer(name);
    for (const text of Object.values(SAMPLES)) {
      const chunks = tokenChunks(tok, text);
      assert.equal(chunks[0].byteStart, 0);
      assert.equal(chunks.at(-1)!.byteEnd, Buffer.byteLength(text));
      for (let i = 1; i < chunks.length; i++) assert.equal(chunks[i].byteStart, chunks[i - 1].byteEnd);
      for (const c of chunks) assert.ok(c.start <= c.end && c.end <= text.length);
    }
  });
}

test('special-token strings in user text are plain text, never control tokens', () => {
  for (const name of ['o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base']) {
    const tok = getTokenizer(name);
    const ids = tok.encode('a <|endoftext|> b');
    assert.ok(!ids.includes(name === 'o200k_base' ? 199999 : name === 'cl100k_base' ? 100257 : 50256), name);
    assert.equal(tok.decode(ids), 'a <|endoftext|> b');
  }
});

test('bytes that are part of a UTF-8 character display as \\xNN, never U+FFFD', () => {
  assert.equal(displayBytes(Uint8Array.of(0xd0)), '\\xd0');
  assert.equal(displayBytes(Uint8Array.of(0xd0, 0xbf)), 'п');
  assert.equal(displayBytes(Uint8Array.of(0x41, 0xf0, 0x9f, 0x99)), 'A\\xf0\\x9f\\x99');
  assert.equal(displayBytes(Uint8Array.of(0xc0, 0x80)), '\\xc0\\x80'); // overlong form is not a character
  // o200k splits some Cyrillic and emoji into partial-byte tokens: each shows its bytes, and nothing shows U+FFFD
  const tok = getTokenizer('o200k_base');
  let partial = 0;
  for (const text of [SAMPLES.ukrainian, SAMPLES.emoji, 'Ґ ґ Ї ї Є є ІІІ ЁЁЁ ѢѣѤѥ']) {
    for (const id of tok.encode(text)) {
      const shown = tokenText(tok, id);
      assert.ok(!shown.includes('\uFFFD'));
      if (/\\x[0-9a-f]{2}/.test(shown)) partial++;
    }
  }
  assert.ok(partial > 0, 'expected at least one token that holds part of a character');
});

test('char tokenizer ids are code points, astral characters included', () => {
  const tok = getTokenizer('char');
  assert.deepEqual(tok.encode('aї🙂'), [0x61, 0x457, 0x1f642]);
  assert.equal(tokenText(tok, 0x1f642), '🙂');
});

test('unknown tokenizer names are refused with the list of choices', () => {
  assert.throws(() => getTokenizer('gpt5'), /unknown tokenizer "gpt5"; choose one of o200k_base/);
});

test('long runs with no spaces tokenize in linear time and round-trip exactly', { timeout: 120_000 }, () => {
  // 20,000 letters in a row took 25 s with js-tiktoken's quadratic merge; the per-test timeout catches a regression
  for (const name of TOKENIZER_NAMES) {
    const tok = getTokenizer(name);
    for (const ch of ['a', '_', ' ', 'я', '🙂', '\n', '9']) {
      const text = ch.repeat(200_000);
      const ids = tok.encode(text);
      assert.equal(tok.decode(ids), text, `${name} ${JSON.stringify(ch)}`);
    }
  }
});

test('ordinary text gets exactly js-tiktoken\'s ids; only pieces over the bounded length are split', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Tiktoken } = require('js-tiktoken/lite') as { Tiktoken: new (r: unknown) => { encode(t: string, a: string[], d: string[]): number[] } };
  const text = fs.readFileSync(path.join(__dirname, '../../../media/tinyshakespeare-sample.txt'), 'utf8').slice(0, 60_000) + Object.values(SAMPLES).join('\n');
  for (const name of ['o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base']) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ranks = require(`js-tiktoken/ranks/${name}`) as { default?: unknown };
    const reference = new Tiktoken(ranks.default ?? ranks);
    assert.deepEqual(getTokenizer(name).encode(text), reference.encode(text, [], []), name);
    const run = 'x'.repeat(3 * MAX_PIECE_BYTES);
    const ids = getTokenizer(name).encode(run);
    assert.equal(getTokenizer(name).decode(ids), run);
  }
});

test('encodeAsync gives the same ids as encode and stops when cancelled', async () => {
  const tok = getTokenizer('o200k_base');
  const text = 'To be, or not to be, that is the question. '.repeat(20_000);
  assert.deepEqual(await encodeAsync(tok, text), tok.encode(text));
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(encodeAsync(tok, text, controller.signal), { name: 'AbortError' });
});

test('hasToken tells which ids a model file may hold', () => {
  assert.equal(getTokenizer('char').hasToken(0x10ffff), true);
  assert.equal(getTokenizer('char').hasToken(0x110000), false);
  assert.equal(getTokenizer('cl100k_base').hasToken(100256), false); // unused id
  assert.equal(getTokenizer('cl100k_base').hasToken(100257), false); // <|endoftext|> is never produced from text
  assert.equal(getTokenizer('cl100k_base').hasToken(9906), true);
  assert.throws(() => getTokenizer('char').tokenBytes(0x110000), /char has no token 1114112/);
});
