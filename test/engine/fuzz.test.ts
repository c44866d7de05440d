// Hostile and damaged inputs, seeded and reproducible: mutated model files (header bytes, config values, vocabulary
// entries, weights) and random strings through the tokenizers, `tokens`, `probe` and `sample`. Every case must end in
// a clean load (and then work) or a one-line refusal, never a TypeError, RangeError, fatal error or hang.
// The cases run in a child process (this file with --driver) so a hang is caught by a per-case timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeModel, encodeModel } from '../../engine/io/checkpoint';
import { GPT } from '../../engine/model/gpt';
import { attentionMaps, nextToken } from '../../engine/probes/probes';
import { Rng } from '../../engine/common/rng';
import { generate } from '../../engine/inference/sample';
import { KVCacheSession } from '../../engine/inference/kvCache';
import { loadNative, nativeGPTClass } from '../../engine/compute/addon';
import { InputError } from '../../engine/common/errors';
import { exitAfterDrain } from '../../engine/io/output';
import { getTokenizer, iterTokenChunks, TOKENIZER_NAMES } from '../../engine/text/tokenizers';
import { Vocabulary } from '../../engine/text/vocab';

const SEED = 20240601;
const PER_CASE_TIMEOUT_MS = 30_000; // generous: a case takes milliseconds; only a hang gets near this
const COUNTS = { header: 400, config: 350, vocab: 300, weights: 100, tokenizers: 300, tokens: 150, probe: 150, sample: 150 };

type Outcome = 'loaded' | 'rejected' | 'unclean';

function isCleanRefusal(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (e.constructor !== Error && !(e instanceof InputError)) return false; // TypeError, RangeError, … are bugs
  return e.message.length > 0 && e.message.length < 2000 && !e.message.includes('\n');
}

// ---- the driver: runs every case and reports each as one JSON line ----

function modelBytes(tokenizer: 'char' | 'cl100k_base'): Buffer {
  const tok = getTokenizer(tokenizer);
  const vocab = Vocabulary.fromTokenIds(tok.encode('To be, or not to be: that is the question. Їжак 🙂'));
  const model = GPT.init({ vocabSize: vocab.size, contextLength: 16, dim: 16, heads: 2, layers: 2, ffnMult: 2, norm: 'layernorm',
    activation: 'gelu', positions: 'learned', tieEmbeddings: true, bias: true, qkvBias: true, dropout: 0, kvHeads: 2, headDim: 8,
    qkNorm: false }, 3);
  const bytes = encodeModel(model, vocab, tokenizer, { steps: [] });
  model.dispose();
  return bytes;
}

function splitFile(bytes: Buffer): { header: Record<string, unknown>; data: Buffer } {
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>, data: bytes.subarray(8 + n) };
}

function joinFile(header: Record<string, unknown>, data: Buffer): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];

const WILD_VALUES: unknown[] = [0, -1, 1, 2, 3, 7, 1.5, 1e9, 10_000_000, 45000, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, null, true, false, '12', '',
  [], {}, [1, 2], 'layernorm', 'rmsnorm', 'sinusoidal', 'learned', 'gelu', 'relu', 0.5, 0.999, 1e-300];

function mutateHeader(rng: Rng, good: Buffer): Buffer {
  const n = Number(good.readBigUInt64LE(0));
  const b = Buffer.from(good);
  switch (rng.int(6)) {
    case 0: { // random bytes in the header
      for (let k = 1 + rng.int(4); k > 0; k--) b[8 + rng.int(n)] = rng.int(256);
      return b;
    }
    case 1: { // a printable character swapped in, often keeping the JSON valid
      b[8 + rng.int(n)] = pick(rng, [...'0123456789{}[],:"-. eE']).charCodeAt(0);
      return b;
    }
    case 2: { // the length field
      const lens = [0n, 1n, 2n, BigInt(n - 1), BigInt(n + 1), BigInt(n + 4), BigInt(good.length), 2n ** 63n, 2n ** 64n - 1n, BigInt(rng.int(1 << 30))];
      b.writeBigUInt64LE(pick(rng, lens), 0);
      return b;
    }
    case 3: // truncated anywhere
      return b.subarray(0, rng.int(good.length));
    case 4: { // a byte inserted or removed inside the header, so the data shifts
      const at = 8 + rng.int(n);
      return rng.int(2) ? Buffer.concat([b.subarray(0, at), Buffer.from([32]), b.subarray(at)]) : Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    }
    default: { // a tensor entry's fields
      const { header, data } = splitFile(good);
      const names = Object.keys(header).filter((k) => k !== '__metadata__');
      const entry = { ...(header[pick(rng, names)] as Record<string, unknown>) };
      const field = pick(rng, ['dtype', 'shape', 'data_offsets']);
      entry[field] = field === 'dtype' ? pick(rng, ['F16', 'F64', 'I32', 'BF16', null, 'f32'])
        : field === 'shape' ? pick(rng, [[], [0], [-1], [1e9, 1e9], [2 ** 40], [16, 16, 16], 'x', null, [1.5]])
          : pick(rng, [[0, 4], [-4, 0], [0, 2 ** 60], [4, 0], [1, 5], null, [0], ['0', '4']]);
      header[pick(rng, names)] = entry;
      return joinFile(header, data);
    }
  }
}

function mutateConfig(rng: Rng, good: Buffer): Buffer {
  const { header, data } = splitFile(good);
  const meta = { ...(header.__metadata__ as Record<string, string>) };
  const config = JSON.parse(meta['gptlab.config']) as Record<string, unknown>;
  const keys = [...Object.keys(config), 'extra'];
  for (let k = 1 + rng.int(3); k > 0; k--) {
    const key = pick(rng, keys);
    if (rng.int(8) === 0) delete config[key];
    else config[key] = pick(rng, WILD_VALUES);
  }
  meta['gptlab.config'] = rng.int(20) === 0 ? pick(rng, ['{', 'null', '[]', '"x"', '1e999']) : JSON.stringify(config);
  return joinFile({ ...header, __metadata__: meta }, data);
}

function mutateVocab(rng: Rng, good: Buffer, tokenizer: string): Buffer {
  const { header, data } = splitFile(good);
  const meta = { ...(header.__metadata__ as Record<string, string>) };
  const vocab = JSON.parse(meta['gptlab.vocab']) as unknown[];
  const ids: unknown[] = tokenizer === 'char'
    ? [0x110000, 0x10ffff, 0xd800, -1, 1.5, 2 ** 31, 1e20, 'a', null, [], 0, 0x1f642]
    : [100257, 100276, 100277, 200018, 2 ** 31, -1, 1.5, 1e20, 'a', null, {}, 0, 100255];
  for (let k = 1 + rng.int(3); k > 0; k--) {
    const i = rng.int(vocab.length);
    switch (rng.int(5)) {
      case 0: vocab.splice(i, 1); break;
      case 1: vocab.push(pick(rng, ids)); break;
      case 2: vocab[i] = vocab[rng.int(vocab.length)]; break; // duplicates
      default: vocab[i] = pick(rng, ids);
    }
  }
  meta['gptlab.vocab'] = JSON.stringify(vocab);
  if (rng.int(10) === 0) meta['gptlab.tokenizer'] = pick(rng, ['char', 'cl100k_base', 'o200k_base', 'gpt9', '']);
  return joinFile({ ...header, __metadata__: meta }, data);
}

function mutateWeights(rng: Rng, good: Buffer): Buffer {
  const n = Number(good.readBigUInt64LE(0));
  const b = Buffer.from(good);
  const dataStart = 8 + n, floats = (b.length - dataStart) / 4;
  if (rng.int(4) === 0) { // every weight shifted by one byte (the header length and the file grow by one)
    const shifted = Buffer.concat([b.subarray(0, dataStart), Buffer.from([rng.int(256)]), b.subarray(dataStart, b.length - 1)]);
    return shifted;
  }
  for (let k = 1 + rng.int(3); k > 0; k--) b.writeFloatLE(pick(rng, [NaN, Infinity, -Infinity, 1e30, -3e38, 1e7]), dataStart + 4 * rng.int(floats));
  return b;
}

const POOLS = ['abc xyz ', 'The quick brown fox. ', 'Їжак ґанок — є! ', '汉字かなカナ', '🙂👨‍👩‍👧‍👦🇺🇦', '\u0301\u0308', '\u200b\u200d\u202e\u2066',
  '\t\n\r\v\f', '\u0000\u0001\u001b[31m\u007f', '<|endoftext|><|fim_prefix|>', '\ud800', '\udfff', '0123456789', '!@#$%^&*()_+-=',
  '\u00a0\u2028\u2029', "'s 't 'll"];

function randomString(rng: Rng): string {
  let s = '';
  for (let k = rng.int(12); k >= 0; k--) {
    const pool = pick(rng, POOLS);
    if (rng.int(15) === 0) s += pick(rng, [...pool]).repeat(300 + rng.int(3000)); // a long run with no spaces
    else for (let j = rng.int(8); j >= 0; j--) s += pick(rng, [...pool]);
  }
  return s;
}

/** The text a tokenizer must give back: lone surrogates cannot be UTF-8, so byte-level encodings read them as U+FFFD. */
function expectedRoundTrip(tokenizer: string, s: string): string {
  return tokenizer === 'char' ? s : s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

function driver(): void {
  const rng = new Rng(SEED);
  const emit = (o: unknown): void => void process.stdout.write(JSON.stringify(o) + '\n');
  const models = { char: modelBytes('char'), cl100k_base: modelBytes('cl100k_base') };
  const loaded = (bytes: Buffer): Outcome => {
    let m: ReturnType<typeof decodeModel>;
    try {
      m = decodeModel(bytes);
    } catch (e) {
      return isCleanRefusal(e) ? 'rejected' : 'unclean';
    }
    try { // a file that loads must also work: probe, attention, sampling and display of every id
      const ctx = { model: m.model, vocab: m.vocab, tokenizer: m.tokenizer };
      nextToken(ctx, 'To be', 3);
      attentionMaps(ctx, 'or not');
      const decoder = new KVCacheSession(m.model, { decoderClass: nativeGPTClass(), addon: loadNative() });
      let ids: Int32Array;
      try {
        ids = generate(decoder, Int32Array.of(1), 6, { temperature: 1, topK: 0, topP: 1 }, new Rng(1));
      } finally {
        decoder.dispose();
      }
      m.tokenizer.decode(m.vocab.decode(ids));
      for (let i = 0; i < m.vocab.size; i++) m.vocab.display(m.tokenizer, i);
      return 'loaded';
    } catch {
      return 'unclean';
    } finally {
      m.model.dispose();
    }
  };
  let id = 0;
  const run = (category: string, fn: () => Outcome, detail = ''): void => {
    emit({ id, category, start: true });
    let outcome: Outcome;
    try {
      outcome = fn();
    } catch {
      outcome = 'unclean';
    }
    emit({ id, category, outcome, detail: outcome === 'unclean' ? detail : '' });
    id++;
  };
  for (let i = 0; i < COUNTS.header; i++) {
    const which = i % 2 ? 'char' : 'cl100k_base';
    run('header', () => loaded(mutateHeader(rng, models[which])));
  }
  for (let i = 0; i < COUNTS.config; i++) {
    const which = i % 2 ? 'char' : 'cl100k_base';
    run('config', () => loaded(mutateConfig(rng, models[which])));
  }
  for (let i = 0; i < COUNTS.vocab; i++) {
    const which = i % 2 ? 'char' : 'cl100k_base';
    run('vocab', () => loaded(mutateVocab(rng, models[which], which)));
  }
  for (let i = 0; i < COUNTS.weights; i++) {
    const which = i % 2 ? 'char' : 'cl100k_base';
    run('weights', () => {
      const r = loaded(mutateWeights(rng, models[which]));
      return r === 'loaded' ? 'unclean' : r; // every such file must be refused
    });
  }
  const contexts = (['char', 'cl100k_base'] as const).map((t) => {
    const m = decodeModel(models[t]);
    return { model: m.model, vocab: m.vocab, tokenizer: m.tokenizer };
  });
  for (let i = 0; i < COUNTS.tokenizers; i++) {
    const s = randomString(rng);
    run('tokenizers', () => {
      for (const name of TOKENIZER_NAMES) {
        const tok = getTokenizer(name);
        const ids = tok.encode(s);
        if (tok.decode(ids) !== expectedRoundTrip(name, s)) return 'unclean';
      }
      return 'loaded';
    }, JSON.stringify(s.slice(0, 80)));
  }
  for (let i = 0; i < COUNTS.tokens; i++) {
    const s = randomString(rng);
    const tok = getTokenizer(pick(rng, TOKENIZER_NAMES));
    run('tokens', () => { // what `gpt-lab tokens` prints: chunks that tile the text's bytes
      let byte = 0;
      for (const c of iterTokenChunks(tok, s)) {
        if (c.byteStart !== byte || c.start > c.end || c.end > s.length) return 'unclean';
        JSON.stringify(c);
        byte = c.byteEnd;
      }
      return byte === Buffer.byteLength(s) ? 'loaded' : 'unclean';
    }, JSON.stringify(s.slice(0, 80)));
  }
  for (let i = 0; i < COUNTS.probe; i++) {
    const s = randomString(rng) || 'x';
    const ctx = contexts[i % 2];
    run('probe', () => {
      try {
        nextToken(ctx, s, 5);
        attentionMaps(ctx, s);
        return 'loaded';
      } catch (e) {
        return isCleanRefusal(e) ? 'rejected' : 'unclean';
      }
    }, JSON.stringify(s.slice(0, 80)));
  }
  for (let i = 0; i < COUNTS.sample; i++) {
    const s = randomString(rng);
    const ctx = contexts[i % 2];
    run('sample', () => {
      let prompt = ctx.vocab.encode(ctx.tokenizer.encode(s));
      if (prompt.length === 0) prompt = Int32Array.of(1);
      const decoder = new KVCacheSession(ctx.model, { decoderClass: nativeGPTClass(), addon: loadNative() });
      let ids: Int32Array;
      try {
        ids = generate(decoder, prompt, 8, { temperature: 0.9, topK: 5, topP: 0.9 }, new Rng(i));
      } finally {
        decoder.dispose();
      }
      ctx.tokenizer.decode(ctx.vocab.decode(ids));
      return 'loaded';
    }, JSON.stringify(s.slice(0, 80)));
  }
  for (const c of contexts) c.model.dispose();
  // A few through the real command line: exit 0 or 2 with one line on stderr, never a stack trace.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-fuzz-'));
  const bin = path.resolve(__dirname, '../../../bin/gpt-lab.js');
  const cli = (args: string[]): Outcome => {
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: PER_CASE_TIMEOUT_MS, maxBuffer: 1 << 28 });
    if (r.status === 0) return 'loaded';
    const lines = r.stderr.trim().split('\n');
    return r.status === 2 && lines.length <= 2 && !/internal error| {4}at /.test(r.stderr) ? 'rejected' : 'unclean';
  };
  for (let i = 0; i < 4; i++) {
    const file = path.join(dir, `m${i}.safetensors`);
    fs.writeFileSync(file, [mutateHeader, mutateConfig, (r: Rng, b: Buffer) => mutateVocab(r, b, 'char'), mutateWeights][i](rng, models.char));
    run('cli', () => cli(['sample', file, '--tokens', '4', '--backend', 'cpu']));
  }
  const s = randomString(rng);
  // eslint-disable-next-line no-control-regex
  run('cli', () => cli(['tokens', '--text', s.replace(/\u0000/g, '') || 'x', '--json']));
  fs.rmSync(dir, { recursive: true, force: true });
}

if (process.argv.includes('--driver')) {
  driver();
  void exitAfterDrain(0); // its report is piped: every line must reach the parent before the process ends
} else {
  test(`fuzz: ${Object.values(COUNTS).reduce((a, b) => a + b, 0)} seeded cases (seed ${SEED}) end in a clean load or a one-line refusal, none hangs`, async () => {
    const child = spawn(process.execPath, [__filename, '--driver'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tally = new Map<string, { tried: number; clean: number; loaded: number }>();
    const unclean: string[] = [];
    let current = '', buffered = '', stderr = '';
    let watchdog: NodeJS.Timeout | undefined;
    let hung = '';
    const arm = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        hung = current;
        child.kill('SIGKILL');
      }, PER_CASE_TIMEOUT_MS);
    };
    arm();
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const o = JSON.parse(line) as { id: number; category: string; start?: boolean; outcome?: Outcome; detail?: string };
        arm();
        if (o.start) {
          current = `case ${o.id} (${o.category})`;
          continue;
        }
        const t = tally.get(o.category) ?? { tried: 0, clean: 0, loaded: 0 };
        t.tried++;
        if (o.outcome !== 'unclean') t.clean++;
        if (o.outcome === 'loaded') t.loaded++;
        else if (o.outcome === 'unclean') unclean.push(`case ${o.id} (${o.category}) ${o.detail ?? ''}`);
        tally.set(o.category, t);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearTimeout(watchdog);
    assert.equal(hung, '', `${hung} did not finish within ${PER_CASE_TIMEOUT_MS / 1000} s`);
    assert.equal(code, 0, `the fuzz driver died: ${stderr}`);
    const report = [...tally].map(([c, t]) => `${c}: ${t.tried} tried, ${t.clean} clean (${t.loaded} loaded)`).join('; ');
    console.log(`fuzz (seed ${SEED}): ${report}`);
    assert.deepEqual(unclean, [], `unclean cases: ${unclean.slice(0, 10).join(' | ')}`);
    const mutations = ['header', 'config', 'vocab'].reduce((n, c) => n + (tally.get(c)?.tried ?? 0), 0);
    assert.ok(mutations >= 1000, `at least 1,000 header, config and vocab mutations (ran ${mutations})`);
    for (const [c, n] of Object.entries(COUNTS)) assert.equal(tally.get(c)?.tried, n, c);
    assert.equal(tally.get('cli')?.tried, 5);
  });
}
