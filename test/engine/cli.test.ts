// End-to-end: the real `gpt-lab` entry point, as a person runs it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'bin', 'gpt-lab.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-cli-'));
const corpus = path.join(dir, 'corpus.txt');
fs.writeFileSync(corpus, fs.readFileSync(path.join(ROOT, 'media', 'tinyshakespeare-sample.txt'), 'utf8').slice(0, 20000));
const model = path.join(dir, 'model.safetensors');
const SMALL = ['--steps', '25', '--context', '16', '--dim', '32', '--heads', '2', '--layers', '1', '--batch', '4', '--eval-every', '10', '--backend', 'wasm'];

after(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: dir, timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectBadInput(args: string[], pattern: RegExp): void {
  const r = run(args);
  assert.equal(r.code, 2, `exit code for ${args.join(' ')}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
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
  expectBadInput(['train', huge], /huge\.txt is 65\.0 MB; the limit is 64 MB/);
  expectBadInput(['train', dir], /is a folder, not a file/);
  expectBadInput(['train', short, '--context', '64', '--backend', 'wasm'], /the text has 9 tokens but the context is 64/);
  expectBadInput(['train', corpus, '--backend', 'tensorflow'], /backend "tensorflow" is not available/);
  expectBadInput(['train', corpus, '--steps', 'many'], /--steps must be a number/);
  expectBadInput(['train', corpus, '--preset', 'huge'], /--preset must be tiny, small or classic/);
  expectBadInput(['train', corpus, '--dim', '30', '--heads', '4'], /--dim 30 must be divisible by --heads 4/);
  expectBadInput(['train', corpus, '--out', corpus], /--out must not be the training file itself/);
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

test('a learning rate that makes the loss NaN stops training with a clear message and keeps a usable model', () => {
  const out = path.join(dir, 'nan.safetensors');
  const r = run(['train', corpus, ...SMALL, '--lr', '1e30', '--json', '--out', out]);
  assert.equal(r.code, 2);
  const done = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { error: string };
  assert.match(done.error, /the loss became .* learning rate 1e\+30 is probably too high/);
  assert.equal(run(['eval', out, '--file', corpus, '--json']).code, 0, 'the saved model holds the last good weights');
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
