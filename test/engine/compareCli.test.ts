// `gpt-lab compare` as a person runs it: the table on stdout within 100 columns, --json lines, one-line errors.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatCompareTable, parseCompareArgs, TABLE_WIDTH } from '../../engine/host/compareCommand';
import { type CompareEvent, type CompareTable } from '../../engine/protocol';

const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'bin', 'gpt-lab.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-compare-'));
const corpus = path.join(dir, 'corpus.txt');
fs.writeFileSync(corpus, fs.readFileSync(path.join(ROOT, 'media', 'tinyshakespeare-sample.txt'), 'utf8').slice(0, 12000));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'compare', ...args], { encoding: 'utf8', cwd: dir, timeout: 300_000, maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectBadInput(args: string[], pattern: RegExp): void {
  const r = run(args);
  assert.equal(r.code, 2, `exit code for ${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
  assert.match(lines[0], pattern);
}

test('bad comparisons exit 2 with one line', () => {
  expectBadInput([corpus, '--variant', 'norm=rmsnorm', '--no-baseline'], /^gpt-lab: compare trains 2 to 6 variants, the baseline counting as one; got 1 \(1 --variant, no baseline\)$/);
  expectBadInput([corpus, ...['dim=40', 'dim=48', 'dim=56', 'dim=64', 'dim=72', 'dim=80'].flatMap((v) => ['--variant', v])], /got 7/);
  expectBadInput([corpus, '--variant', 'wings=2'], /variant "wings=2": unknown model switch "wings"/);
  expectBadInput([corpus, '--variant', 'tokenizer=gpt9'], /variant "tokenizer=gpt9": tokenizer must be one of/);
  expectBadInput([corpus], /compare needs at least one --variant/);
  expectBadInput([corpus, '--variant', 'norm=rmsnorm', '--seeds', '0'], /--seeds must be a whole number from 1 to 16, got "0"/);
  expectBadInput([corpus, '--variant', 'norm=rmsnorm', '--steps', '2.5'], /--steps must be a whole number/);
  expectBadInput([corpus, '--variant', 'norm=rmsnorm', '--colour', 'red'], /unknown option --colour \(usage: gpt-lab compare --help\)/);
  // The run's choices are read by train's rules and words; their errors name this command's usage.
  expectBadInput([corpus, '--variant', 'norm=rmsnorm', '--preset', 'huge'], /^gpt-lab: --preset must be auto, tiny, small or classic, got "huge" \(usage: gpt-lab compare --help\)$/);
  expectBadInput([corpus, '--variant', 'norm=rmsnorm', '--trainer', 'gpu9'], /--trainer must be .*, got "gpu9" \(usage: gpt-lab compare --help\)$/);
  expectBadInput([path.join(dir, 'missing.txt'), '--variant', 'norm=rmsnorm'], /missing\.txt/);
});

test('--help prints the usage', () => {
  const r = run(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /gpt-lab compare <file> --variant SWITCHES/);
});

test('the arguments: --variant repeats, the baseline is on unless --no-baseline', () => {
  const a = parseCompareArgs(['f.txt', '--variant', 'norm=rmsnorm', '--variant=kvHeads=1', '--seeds', '3', '--steps=40', '--json']);
  assert.deepEqual(a.variants, ['norm=rmsnorm', 'kvHeads=1']);
  assert.deepEqual([a.baseline, a.seeds, a.choices.steps, a.json, a.choices.preset], [true, 3, 40, true, 'auto']);
  assert.equal(parseCompareArgs(['f.txt', '--variant', 'a=1', '--no-baseline']).baseline, false);
});

const SMALL = ['--steps', '12', '--backend', 'wasm'];

test('--json: every run\'s events tagged with its variant, then the table', () => {
  const r = run([corpus, '--variant', 'norm=rmsnorm', ...SMALL, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const events = lines.slice(0, -1) as unknown as CompareEvent[];
  const table = lines.at(-1) as unknown as CompareTable & { event: string };
  assert.equal(table.event, 'table');
  assert.deepEqual(table.rows.map((row) => row.label), ['baseline (tiny)', 'norm=rmsnorm']);
  assert.deepEqual(events.filter((e) => e.event === 'start').map((e) => e.variant), [0, 1]);
  assert.deepEqual(events.filter((e) => e.event === 'done').map((e) => e.label), ['baseline (tiny)', 'norm=rmsnorm']);
  assert.equal(events.filter((e) => e.event === 'step').length, 24);
});

test('for people: the table fits 100 columns, says which row is the baseline, and calls seed noise "not a finding"', () => {
  const long = 'kvHeads=1,positions=rope,qkNorm=true,ffnMult=2';
  const r = run([corpus, '--variant', 'norm=layernorm', '--variant', long, '--seeds', '2', ...SMALL]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  for (const l of lines) assert.ok(l.length <= TABLE_WIDTH, `${l.length} columns: ${l}`);
  assert.match(r.stdout, /row 1 is the baseline: the tiny preset itself/);
  assert.match(r.stdout, /^ 1 {2}baseline \(tiny\) +\d+\.\dK +\d\.\d{3} ± \d\.\d{3} /m);
  assert.match(r.stdout, /^ 2 {2}norm=layernorm +\+0\.0000 ± 0\.0000 {2}p = 1\.000 {2}not a finding: within the seed noise$/m);
  assert.match(r.stdout, new RegExp(`row 3 is ${long}`), 'a label too long for its column is given in full below the table');
  assert.match(r.stderr, /run 6\/6: kvHeads=1,positions=rope,qkNorm=true,ffnMult=2, seed 1338/);
});

test('the human table of six rows with every column at its widest still fits 100 columns', () => {
  const over = (mean: number) => ({ mean, spread: 0.123456 });
  const rows = Array.from({ length: 6 }, (_, i) => ({
    label: `a-very-long-variant-label-number-${i}`, baseline: i === 0, tokenizer: i % 2 ? 'bpe:65536' : 'char',
    config: { contextLength: 4096 } as CompareTable['rows'][number]['config'], parameters: 123_456_789, steps: 99999, batchSize: 65536,
    tokensPerRun: 99999 * 65536 * 4096, runs: [],
    trainLoss: over(12.3456), valLoss: over(12.3456), bitsPerByte: over(17.8), msPerStep: over(123456.7), tokensPerSec: over(12_345_678),
    versus: i === 0 ? null : { metric: 'bitsPerByte' as const, difference: -12.3456, spread: 1.2345, p: 0.0004, finding: true },
  }));
  const table: CompareTable = { preset: 'classic', metric: 'bitsPerByte', seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
    baseline: true, reference: 0, rows, cancelled: true };
  const lines = formatCompareTable(table, '/some/where/a-file-with-a-long-name.txt');
  for (const l of lines) assert.ok(l.length <= TABLE_WIDTH, `${l.length} columns: ${l}`);
  assert.ok(lines.some((l) => /bits per byte/.test(l)));
});
