// End-to-end: the real `gpt-lab` entry point, as a person runs it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeSafeTensors } from '../../engine/io/safetensors';
import { saveModel } from '../../engine/io/checkpoint';
import { GPT } from '../../engine/model/gpt';
import { Vocabulary } from '../../engine/text/vocab';

const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'bin', 'gpt-lab.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-cli-'));
const corpus = path.join(dir, 'corpus.txt');
fs.writeFileSync(corpus, fs.readFileSync(path.join(ROOT, 'media', 'tinyshakespeare-sample.txt'), 'utf8').slice(0, 20000));
const model = path.join(dir, 'model.safetensors');
const SMALL = ['--steps', '25', '--context', '16', '--dim', '32', '--heads', '2', '--layers', '1', '--batch', '4', '--eval-every', '10', '--backend', 'wasm'];

after(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: dir, timeout: 180_000, maxBuffer: 1 << 30 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectBadInput(args: string[], pattern: RegExp): void {
  const r = run(args);
  assert.equal(r.code, 2, `exit code for ${args.join(' ')}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.ok(!/internal error| {4}at /.test(r.stderr), 'no stack trace');
}

test('train --json streams step and eval events, ends with done, and writes the model', () => {
  const r = run(['train', corpus, ...SMALL, '--json', '--out', model]);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; [k: string]: unknown });
  assert.equal(events[0].event, 'start');
  assert.equal(events[0].backend, 'wasm');
  assert.equal(events.filter((e) => e.event === 'step').length, 25);
  assert.ok(events.some((e) => e.event === 'eval' && typeof e.valLoss === 'number'));
  const done = events.at(-1)!;
  assert.equal(done.event, 'done');
  assert.equal(done.out, model);
  assert.equal(done.cancelled, false);
  assert.ok(fs.statSync(model).size > 1000);
  assert.equal(r.stderr, '');
});

test('train for people prints progress, the backend and samples', () => {
  const out = path.join(dir, 'human.safetensors');
  const r = run(['train', corpus, ...SMALL, '--steps', '5', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^backend wasm/m);
  assert.match(r.stderr, /step 5\/5 \[#+\] loss \d+\.\d{4} \| \d+ tok\/s \| ETA/);
  assert.match(r.stderr, /saved .*human\.safetensors/);
  assert.match(r.stdout, /--- sample 1 ---/);
});

test('train --arch sets switches by name: multi-query, rotary, QK-norm, attention-only blocks, saved and read back', () => {
  const out = path.join(dir, 'arch.safetensors');
  const r = run(['train', corpus, ...SMALL, '--steps', '5', '--arch', 'kvHeads=1,positions=rope,qkNorm=true,ffnMult=0', '--json', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const start = JSON.parse(r.stdout.split('\n')[0]) as { event: string; trainer: string };
  assert.equal(start.event, 'start');
  const config = JSON.parse(decodeSafeTensors(fs.readFileSync(out)).metadata['gptlab.config']) as Record<string, unknown>;
  assert.deepEqual([config.heads, config.kvHeads, config.headDim, config.positions, config.qkNorm, config.ffnMult], [2, 1, 16, 'rope', true, 0]);
  const p = run(['probe', out, '--text', 'To be, or not', '--attention', '--json']);
  assert.equal(p.code, 0, p.stderr);
  assert.equal((JSON.parse(p.stdout) as { attention: { layers: number[][][][] } }).attention.layers[0].length, 2, 'one map per query head');
  assert.equal(run(['sample', out, '--prompt', 'ROMEO:', '--tokens', '20', '--json']).code, 0);
});

test('sample, probe, eval and tokens work on the trained model', () => {
  const s = run(['sample', model, '--prompt', 'ROMEO:', '--tokens', '30', '--temperature', '0.7', '--top-k', '10', '--top-p', '0.9', '--seed', '3', '--json']);
  assert.equal(s.code, 0, s.stderr);
  const sample = JSON.parse(s.stdout) as { text: string; tokens: number };
  assert.equal(sample.tokens, 30);
  assert.equal([...sample.text].length, 30); // char model: one character per token
  assert.deepEqual(run(['sample', model, '--prompt', 'ROMEO:', '--tokens', '30', '--seed', '3', '--json']).stdout,
    run(['sample', model, '--prompt', 'ROMEO:', '--tokens', '30', '--seed', '3', '--json']).stdout, 'same seed, same text');

  const p = run(['probe', model, '--text', 'To be, or not', '--topk', '4', '--attention', '--lens', '--neighbours', 'e', '--json']);
  assert.equal(p.code, 0, p.stderr);
  const probe = JSON.parse(p.stdout) as {
    next: { top: { prob: number }[] }; attention: { layers: number[][][][] }; lens: { layers: unknown[][] }; neighbours: { nearest: { cosine: number }[] };
  };
  assert.equal(probe.next.top.length, 4);
  assert.ok(probe.next.top[0].prob >= probe.next.top[3].prob);
  assert.equal(probe.attention.layers.length, 1); // [N][H][T][T]
  assert.equal(probe.attention.layers[0].length, 2);
  assert.equal(probe.attention.layers[0][0].length, 13);
  assert.equal(probe.lens.layers.length, 2); // embeddings + 1 block
  assert.equal(probe.neighbours.nearest.length, 4);
  const human = run(['probe', model, '--text', 'To be', '--attention', '--lens']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /next token after 5 tokens:/);

  const e = run(['eval', model, '--file', corpus, '--json']);
  assert.equal(e.code, 0, e.stderr);
  const ev = JSON.parse(e.stdout) as { loss: number; perplexity: number; bitsPerByte: number; tokens: number };
  assert.ok(ev.loss > 0 && ev.loss < 5);
  assert.ok(Math.abs(ev.perplexity - Math.exp(ev.loss)) < 1e-9);
  assert.equal(ev.tokens, 20000 - 1);
  assert.ok(Math.abs(ev.bitsPerByte - (ev.loss * ev.tokens) / Math.LN2 / Buffer.byteLength(fs.readFileSync(corpus))) < 1e-9);

  const t = run(['tokens', '--encoding', 'cl100k_base', '--text', 'Hello, world', '--json']);
  assert.equal(t.code, 0);
  const tok = JSON.parse(t.stdout) as { count: number; tokens: { id: number; text: string }[] };
  assert.deepEqual(tok.tokens.map((x) => x.id), [9906, 11, 1917]);
  assert.deepEqual(tok.tokens.map((x) => x.text), ['Hello', ',', ' world']);
  const tf = run(['tokens', '--file', corpus]);
  assert.equal(tf.code, 0);
  assert.match(tf.stdout, /^\d+ tokens \(o200k_base\), 20000 characters/);
});

test('bad usage and bad input exit 2 with one line and no stack trace', () => {
  const empty = path.join(dir, 'empty.txt'), binary = path.join(dir, 'image.bin'), short = path.join(dir, 'short.txt');
  const corrupt = path.join(dir, 'corrupt.safetensors');
  fs.writeFileSync(empty, '');
  fs.writeFileSync(binary, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13, 0, 1]));
  fs.writeFileSync(short, 'too short');
  fs.writeFileSync(corrupt, fs.readFileSync(model).subarray(0, 300));
  expectBadInput(['train', empty], /empty\.txt is empty: there is nothing to train on/);
  expectBadInput(['train', binary], /image\.bin looks binary/);
  expectBadInput(['train', path.join(dir, 'nope.txt')], /nope\.txt does not exist/);
  const huge = path.join(dir, 'huge.txt');
  fs.closeSync(fs.openSync(huge, 'w'));
  fs.truncateSync(huge, 65 * 1024 * 1024); // sparse: no time spent writing it
  expectBadInput(['train', huge], /huge\.txt is 65 MB; the limit is 64 MB/);
  expectBadInput(['train', dir], /is a folder, not a file/);
  expectBadInput(['train', short, '--context', '64', '--backend', 'wasm'], /the text has 9 tokens but the context is 64/);
  expectBadInput(['train', corpus, '--backend', 'tensorflow'], /backend "tensorflow" is not available/);
  expectBadInput(['train', corpus, '--steps', 'many'], /--steps must be a number/);
  expectBadInput(['train', corpus, '--preset', 'huge'], /--preset must be auto, tiny, small or classic/);
  expectBadInput(['train', corpus, '--dim', '30', '--heads', '4'], /the model: dim 30 is not divisible by heads 4; set headDim/);
  expectBadInput(['train', corpus, '--arch', 'kvHeads=3'], /the model: heads 4 is not a multiple of kvHeads 3/);
  expectBadInput(['train', corpus, '--arch', 'positions=alibi'], /--arch: positions must be learned, sinusoidal, rope, none, got "alibi"/);
  expectBadInput(['train', corpus, '--arch', 'kvheads=1'], /--arch: unknown model switch "kvheads"; the switches are/);
  expectBadInput(['train', corpus, '--out', corpus], /corpus\.txt is the same file as an input \(the text it trains on/);
  expectBadInput(['train', corpus, '--bogus', '1'], /unknown option --bogus/);
  expectBadInput(['sample', corrupt], /corrupt\.safetensors is not a valid GPT Lab model/);
  expectBadInput(['sample', model, '--top-p', '1.5'], /--top-p must be at most 1/);
  expectBadInput(['probe', model], /probe needs --text/);
  expectBadInput(['probe', model, '--text', 'x', '--neighbours', 'hello there'], /is \d+ tokens in char; give exactly one/);
  expectBadInput(['eval', model, '--file', empty], /is empty/);
  expectBadInput(['tokens'], /give exactly one of --text or --file/);
  expectBadInput(['tokens', '--encoding', 'gpt9', '--text', 'a'], /--encoding must be one of/);
  expectBadInput(['frobnicate'], /unknown command "frobnicate"/);
  assert.equal(fs.readFileSync(short, 'utf8'), 'too short', 'input files are never modified');
});

test('a learning rate that makes the loss NaN stops training with a clear message, never saves broken weights and never replaces a good model', () => {
  const out = path.join(dir, 'nan.safetensors');
  const r = run(['train', corpus, ...SMALL, '--lr', '1e30', '--json', '--out', out]);
  assert.equal(r.code, 2);
  const done = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { error: string; out: string | null };
  assert.match(done.error, /the loss became .* learning rate 1e\+30 is probably too high/);
  if (done.out === null) assert.match(r.stderr, /the model was not saved: its weights are broken/);
  else assert.equal(run(['eval', done.out, '--file', corpus, '--json']).code, 0, 'a saved model holds finite, usable weights');
  // an earlier good model at the same --out is never replaced by a failed run
  const good = path.join(dir, 'good.safetensors');
  fs.copyFileSync(model, good);
  const before = fs.readFileSync(good);
  const again = run(['train', corpus, ...SMALL, '--lr', '1e30', '--out', good]);
  assert.equal(again.code, 2);
  assert.deepEqual(fs.readFileSync(good), before, 'the good model is untouched');
  for (const f of fs.readdirSync(dir).filter((n) => n.startsWith('good.failed'))) {
    assert.equal(run(['eval', path.join(dir, f), '--file', corpus]).code, 0, 'a failed run saved beside holds finite weights');
  }
});

test('Ctrl-C stops training cleanly, saves the model so far and exits 130', async () => {
  const out = path.join(dir, 'interrupted.safetensors');
  const child = spawn(process.execPath, [BIN, 'train', corpus, ...SMALL, '--steps', '100000', '--json', '--out', out], { cwd: dir });
  let stdout = '', interrupted = false;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (!interrupted && /"event":"step","step":3,/.test(stdout)) {
      interrupted = true; // a second Ctrl-C would end the process at once, as a person expects
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 130);
  const done = JSON.parse(stdout.trim().split('\n').at(-1)!) as { event: string; cancelled: boolean; step: number };
  assert.equal(done.event, 'done');
  assert.equal(done.cancelled, true);
  assert.ok(done.step >= 3 && done.step < 100000);
  assert.ok(fs.existsSync(out));
});

function lastLine(stderr: string): string {
  return stderr.trim().split('\n').at(-1) ?? '';
}

test('the model never overwrites the training text: symlinks, hard links and other paths are compared as files', () => {
  const text = path.join(dir, 'precious.txt');
  fs.copyFileSync(corpus, text);
  const before = fs.readFileSync(text);
  const sym = path.join(dir, 'sym.safetensors'), hard = path.join(dir, 'hard.safetensors');
  fs.symlinkSync(text, sym);
  fs.linkSync(text, hard);
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
  for (const out of [sym, hard, path.join(dir, 'sub', '..', 'precious.txt'), './precious.txt']) {
    expectBadInput(['train', text, ...SMALL, '--out', out], /is the same file as (.*precious\.txt|an input \(the text it trains on.*\)); the model would overwrite it/);
  }
  assert.deepEqual(fs.readFileSync(text), before);
});

test('an unusable --out is refused before training, with one line', () => {
  const cases: [string, RegExp][] = [
    [path.join(dir, 'no-such-folder', 'm.safetensors'), /the folder .*no-such-folder for .* does not exist/],
    [dir, /is a folder; give a file name/],
    ['/dev/null', /exists and is not a regular file/],
    ['', /--out is empty/],
    [path.join(dir, 'x'.repeat(256)), /the file name is longer than 255 bytes/],
  ];
  for (const [out, pattern] of cases) {
    const r = run(['train', corpus, ...SMALL, '--json', '--out', out]);
    assert.equal(r.code, 2, `${out}: ${r.stderr}`);
    assert.equal(r.stdout, '', 'refused before training started');
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  assert.ok(fs.statSync('/dev/null').isCharacterDevice(), '/dev/null is still a device');
  // a read-only folder (root bypasses permissions, so an immutable one where chattr works)
  const locked = path.join(dir, 'locked');
  fs.mkdirSync(locked);
  let lockedUp = false;
  if (process.getuid?.() !== 0) {
    fs.chmodSync(locked, 0o555);
    lockedUp = true;
  } else {
    lockedUp = spawnSync('chattr', ['+i', locked]).status === 0;
  }
  if (lockedUp) {
    const r = run(['train', corpus, ...SMALL, '--json', '--out', path.join(locked, 'm.safetensors')]);
    spawnSync('chattr', ['-i', locked]);
    fs.chmodSync(locked, 0o755);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cannot write .*m\.safetensors: permission denied|read-only/);
    assert.equal(r.stdout, '');
  }
  // a long name that is valid still saves: the temporary file's name is bounded
  const long = path.join(dir, `${'y'.repeat(240)}.safetensors`);
  const ok = run(['train', corpus, ...SMALL, '--steps', '2', '--json', '--out', long]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(fs.statSync(long).size > 1000);
});

test('a closed or full stdout never stops training or the save (| head -1, 2>&1 | head, > /dev/full)', () => {
  for (const [label, shell] of [
    ['head', `"${process.execPath}" "${BIN}" train corpus.txt ${SMALL.join(' ')} --json --out piped.safetensors | head -1 > /dev/null; echo "\${PIPESTATUS[0]}"`],
    ['both', `"${process.execPath}" "${BIN}" train corpus.txt ${SMALL.join(' ')} --out both.safetensors 2>&1 | head -1 > /dev/null; echo "\${PIPESTATUS[0]}"`],
    ['full', `"${process.execPath}" "${BIN}" train corpus.txt ${SMALL.join(' ')} --out full.safetensors > /dev/full 2> /dev/full; echo $?`],
  ]) {
    const out = path.join(dir, `${label === 'head' ? 'piped' : label}.safetensors`);
    const r = spawnSync('bash', ['-c', shell], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
    assert.equal(r.stdout.trim(), '0', `${label}: exit status ${r.stdout} ${r.stderr}`);
    assert.ok(fs.statSync(out).size > 1000, `${label}: the model was saved`);
    assert.equal(run(['eval', out, '--file', corpus]).code, 0);
  }
});

test('if the destination fails at the last moment, the model is saved to a fallback file, the message says where, exit 2', async () => {
  const vanishing = path.join(dir, 'vanishing');
  fs.mkdirSync(vanishing);
  const out = path.join(vanishing, 'm.safetensors');
  const child = spawn(process.execPath, [BIN, 'train', corpus, ...SMALL, '--steps', '100000', '--json', '--out', out], { cwd: dir });
  let stdout = '', stderr = '', interrupted = false;
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (!interrupted && /"event":"step","step":3,/.test(stdout)) {
      interrupted = true;
      fs.rmSync(vanishing, { recursive: true }); // the folder goes away during the run
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 2, stderr);
  const fallback = /saved the model to (\S+\.safetensors) instead/.exec(stderr)?.[1];
  assert.ok(fallback, stderr);
  assert.equal(stderr.trim().split('\n').length, 1);
  const done = JSON.parse(stdout.trim().split('\n').at(-1)!) as { out: string };
  assert.equal(done.out, fallback);
  assert.equal(run(['eval', fallback, '--file', corpus]).code, 0);
  fs.rmSync(fallback);
});

test('temporary files left by a killed run are removed at the next save to that place', () => {
  const out = path.join(dir, 'tidy.safetensors');
  const stale = path.join(dir, '.tidy.safetensors.gptlab-999999999-1.tmp'); // no such process
  fs.writeFileSync(stale, 'partial');
  const r = run(['train', corpus, ...SMALL, '--steps', '2', '--json', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!fs.existsSync(stale), 'the stale temporary file is gone');
  assert.deepEqual(fs.readdirSync(dir).filter((n) => n.startsWith('.tidy')), []);
});

test('inputs whose size stat does not know (devices, pipes fed forever) are capped while reading', () => {
  expectBadInput(['train', '/dev/zero'], /\/dev\/zero is larger than 64 MB/);
  const r = spawnSync('bash', ['-c', `yes "to be or not to be" | "${process.execPath}" "${BIN}" train /dev/stdin ${SMALL.join(' ')}`],
    { cwd: dir, encoding: 'utf8', timeout: 180_000 });
  assert.match(r.stderr, /\/dev\/stdin is larger than 64 MB/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('models too large for the machine are refused up front with the figure', () => {
  for (const args of [['--dim', '4096', '--layers', '64'], ['--dim', '2048', '--layers', '24'], ['--batch', '4096', '--context', '1024', '--trainer', 'tfjs']]) {
    const r = run(['train', corpus, '--backend', 'wasm', ...args, '--json']);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(lastLine(r.stderr), /^gpt-lab: training this model .* needs about [\d.]+ [GM]B of (WebAssembly )?memory .* but (this machine has|the wasm backend is limited to)/);
    assert.equal(r.stdout, '');
  }
});

test('model files whose config implies enormous allocations are refused before allocating', () => {
  const good = fs.readFileSync(model);
  const headerLength = Number(good.readBigUInt64LE(0));
  const header = JSON.parse(good.subarray(8, 8 + headerLength).toString('utf8')) as { __metadata__: Record<string, string> };
  const rewrite = (name: string, change: (c: Record<string, unknown>) => void): string => {
    const config = JSON.parse(header.__metadata__['gptlab.config']) as Record<string, unknown>;
    change(config);
    const h = Buffer.from(JSON.stringify({ ...header, __metadata__: { ...header.__metadata__, 'gptlab.config': JSON.stringify(config) } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    const file = path.join(dir, name);
    fs.writeFileSync(file, Buffer.concat([len, h, good.subarray(8 + headerLength)]));
    return file;
  };
  expectBadInput(['sample', rewrite('layers.safetensors', (c) => { c.layers = 10_000_000; })], /layers is 10000000, beyond this engine's limit|the config implies/);
  expectBadInput(['sample', rewrite('layers2.safetensors', (c) => { c.layers = 4000; })], /the config implies [\d,]+ weights .* but the file holds/);
  expectBadInput(['sample', rewrite('sinus.safetensors', (c) => { c.positions = 'sinusoidal'; c.contextLength = 45000; })],
    /cannot be loaded: running this model needs about .* memory|the config implies/);
});

test('every subcommand has --help; usage errors are one line that names the help; control characters in messages are escaped', () => {
  for (const cmd of ['train', 'sample', 'tokens', 'probe', 'eval']) {
    const r = run([cmd, '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^usage:\\n  gpt-lab ${cmd} `));
  }
  const r = run(['train', corpus, '--bogus', '1']);
  assert.equal(r.code, 2);
  assert.deepEqual(r.stderr.trim().split('\n'), ['gpt-lab: unknown option --bogus (usage: gpt-lab train --help)']);
  expectBadInput(['sample', model, '--top-p', '0'], /--top-p must be in \(0, 1\], got 0/);
  const weird = run(['train', 'no\nsuch\x1b[31mfile.txt']);
  assert.equal(weird.code, 2);
  assert.deepEqual(weird.stderr.trim().split('\n'), ['gpt-lab: no\\nsuch\\u001b[31mfile.txt does not exist']);
  const env = spawnSync(process.execPath, [BIN, 'tokens', '--text', 'a'], { encoding: 'utf8', env: { ...process.env, GPTLAB_NATIVE: 'maybe' } });
  assert.equal(env.status, 2);
  assert.match(env.stderr, /^gpt-lab: GPTLAB_NATIVE=maybe is not a valid value; it takes 0 or 1\n$/);
});

test('eval of a model with non-finite weights is exit 2 with one line', () => {
  const good = fs.readFileSync(model);
  const bad = Buffer.from(good);
  bad.writeFloatLE(Infinity, bad.length - 8);
  const file = path.join(dir, 'inf.safetensors');
  fs.writeFileSync(file, bad);
  expectBadInput(['eval', file, '--file', corpus], /inf\.safetensors is not a valid GPT Lab model: its weights are damaged: tensor .* holds Infinity/);
});

test('probe --attention on a long context is bounded and says what was cut; tokens streams large files', async () => {
  const vocab = new Vocabulary([null, ...Array.from({ length: 26 }, (_, i) => 97 + i)]);
  const long = GPT.init({ vocabSize: 27, contextLength: 2048, dim: 8, heads: 2, layers: 2, ffnMult: 1, norm: 'layernorm', activation: 'relu',
    positions: 'learned', tieEmbeddings: true, bias: false, qkvBias: false, dropout: 0, kvHeads: 2, headDim: 4, qkNorm: false }, 1);
  const file = path.join(dir, 'long.safetensors');
  saveModel(file, long, vocab, 'char', null);
  long.dispose();
  const text = 'abcdefghij'.repeat(200); // 2000 tokens: 2 x 2 x 2000^2 weights would be 16M
  const r = run(['probe', file, '--text', text, '--attention', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout) as { attention: { tokens: unknown[]; cropped: number; limitedTo: number; layers: number[][][][] } };
  assert.equal(p.attention.limitedTo, 1024);
  assert.equal(p.attention.tokens.length, 1024);
  assert.equal(p.attention.cropped, 2000 - 1024);
  assert.equal(p.attention.layers[0][0].length, 1024);
  const human = run(['probe', file, '--text', text, '--attention']);
  assert.match(human.stdout, /attention is shown for the last 1024 tokens only/);

  // 11 MB: JSON.stringify of all its tokens at once failed with "Invalid string length"
  const big = path.join(dir, 'big.txt');
  fs.writeFileSync(big, 'To be, or not to be: that is the question. '.repeat(256_000));
  const child = spawn(process.execPath, [BIN, 'tokens', '--encoding', 'char', '--file', big, '--json'], { cwd: dir });
  let bytes = 0, tail = '', head = '';
  child.stdout.on('data', (d: Buffer) => {
    bytes += d.length;
    if (head.length < 200) head += d.toString();
    tail = (tail + d.toString()).slice(-300);
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
  assert.match(head, /^\{"encoding":"char","count":11008000,"characters":11008000,/);
  assert.match(tail, /"byteEnd":11008000\}\]\}\n$/);
  assert.ok(bytes > 11008000 * 50);
  fs.rmSync(big);
});

test('Ctrl-C while a long text is tokenized ends the process before training starts', async () => {
  const big = path.join(dir, 'long-run.txt');
  fs.writeFileSync(big, 'x'.repeat(40_000_000));
  const child = spawn(process.execPath, [BIN, 'train', big, '--tokenizer', 'o200k_base', '--json', '--out', path.join(dir, 'never.safetensors')], { cwd: dir });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  setTimeout(() => child.kill('SIGINT'), 3000);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  assert.ok(signal === 'SIGINT' || code === 130, `ended by Ctrl-C (code ${code}, signal ${signal})`);
  assert.ok(!stdout.includes('"event":"start"'), 'training never started');
  assert.ok(!fs.existsSync(path.join(dir, 'never.safetensors')));
  fs.rmSync(big);
});

test('no network at run time: the CLI trains, samples, probes and tokenizes under unshare -n', (t) => {
  const variants = [['-rn'], ['-n']];
  const works = variants.find((v) => spawnSync('unshare', [...v, 'true']).status === 0);
  if (!works) {
    t.skip('unshare -n is not permitted here (no user namespaces and not root)');
    return;
  }
  const offline = (args: string[]): ReturnType<typeof spawnSync> =>
    spawnSync('unshare', [...works, process.execPath, BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
  const netCheck = spawnSync('unshare', [...works, 'cat', '/proc/net/dev'], { encoding: 'utf8' });
  assert.ok(!/eth|ens|wlan/.test(String(netCheck.stdout)), 'the namespace has no network interfaces');
  const out = path.join(dir, 'offline.safetensors');
  for (const args of [['train', corpus, ...SMALL, '--steps', '5', '--out', out], ['sample', out, '--tokens', '5'],
    ['probe', out, '--text', 'To be', '--attention'], ['tokens', '--encoding', 'o200k_base', '--text', 'hello'], ['eval', out, '--file', corpus]]) {
    const r = offline(args);
    assert.equal(r.status, 0, `${args[0]}: ${String(r.stderr)}`);
  }
});
