// The interpretability commands as a person runs them: train --snapshots, probe --head-roles / --attribution /
// --ablate / --snapshot / --timeline, eval --per-token; and bad flags as one line with exit 2.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'bin', 'gpt-lab.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-interp-cli-'));
const corpus = path.join(dir, 'corpus.txt');
const model = path.join(dir, 'model.safetensors');
const plain = path.join(dir, 'plain.safetensors');
const SMALL = ['--steps', '40', '--context', '16', '--dim', '32', '--heads', '2', '--layers', '2', '--batch', '4', '--eval-every', '20', '--backend', 'wasm'];
const TEXT = 'First Citizen:\nBefore we proceed';

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: dir, timeout: 300_000, maxBuffer: 1 << 30 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectBadInput(args: string[], pattern: RegExp): void {
  const r = run(args);
  assert.equal(r.code, 2, `exit code for ${args.join(' ')}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
  assert.match(lines[0], pattern);
}

before(() => {
  fs.writeFileSync(corpus, fs.readFileSync(path.join(ROOT, 'media', 'tinyshakespeare-sample.txt'), 'utf8').slice(0, 20000));
  const r = run(['train', corpus, ...SMALL, '--snapshots', '3', '--json', '--out', model]);
  assert.equal(r.code, 0, r.stderr);
  const done = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { event: string; out: string; snapshots: string };
  assert.equal(done.event, 'done');
  assert.equal(done.snapshots, path.join(dir, 'model.snapshots.safetensors'));
  assert.ok(fs.existsSync(done.snapshots));
  assert.equal(run(['train', corpus, ...SMALL, '--steps', '5', '--json', '--out', plain]).code, 0);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function probeJson(args: string[]): Record<string, unknown> {
  const r = run(['probe', model, '--text', TEXT, ...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

test('probe --head-roles --json prints every head\'s four scores, on the induction test and on the text', () => {
  const r = probeJson(['--head-roles']).headRoles as { random: Record<string, number[][]>; text: { scores: Record<string, number[][]> } };
  for (const role of ['previousToken', 'induction', 'duplicateToken', 'firstToken']) {
    assert.equal(r.random[role].length, 2);
    assert.equal(r.random[role][0].length, 2);
    assert.equal(r.text.scores[role].length, 2);
  }
  const human = run(['probe', model, '--text', TEXT, '--head-roles']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /head roles on 8 random sequences of 8 tokens, each repeated/);
});

test('probe --attribution prints the last position\'s top token, each component\'s contribution, and their sum (the logit)', () => {
  const r = probeJson(['--attribution']);
  const a = r.attribution as { token: { id: number }; logit: number; sum: number; components: { label: string; contribution: number }[] };
  const next = r.next as { top: { id: number; logit: number }[] };
  assert.equal(a.token.id, next.top[0].id);
  assert.ok(Math.abs(a.logit - next.top[0].logit) < 1e-5);
  assert.ok(Math.abs(a.sum - a.logit) < 1e-4);
  assert.deepEqual(a.components.slice(0, 4).map((c) => c.label), ['embeddings', 'L0H0', 'L0H1', 'L0 attention bias']);
  const human = run(['probe', model, '--text', TEXT, '--attribution']);
  assert.match(human.stdout, /sum of all \d+ components -?\d+\.\d{6}; the logit -?\d+\.\d{6}/);
});

test('probe --ablate reruns the probe with those heads zeroed (or replaced by their means)', () => {
  const intact = probeJson([]).next as { top: { id: number; prob: number }[] };
  const r = probeJson(['--ablate', '0.0,1.*']);
  const ab = r.ablation as { heads: unknown[]; mode: string; loss: { before: number; after: number }; next: { after: { id: number; prob: number }[] } };
  assert.deepEqual(ab.heads, [{ layer: 0, head: 0 }, { layer: 1, head: 0 }, { layer: 1, head: 1 }]);
  assert.equal(ab.mode, 'zero');
  assert.notEqual(ab.loss.after, ab.loss.before);
  const next = r.next as { top: { id: number; prob: number }[] };
  assert.ok(Math.abs(next.top[0].prob - ab.next.after[0].prob) < 1e-9, 'the probe ran ablated');
  assert.notEqual(next.top[0].prob, intact.top[0].prob);
  assert.equal((probeJson(['--ablate', '0.1', '--ablation', 'mean']).ablation as { mode: string }).mode, 'mean');
});

test('probe --snapshot K runs at a snapshot; --timeline lists the snapshots and head roles through the run', () => {
  const r = probeJson(['--snapshot', '0', '--timeline', '--head-roles']);
  const tl = r.timeline as { snapshots: { index: number; step: number }[]; points: { step: number; roles: { induction: number[][] } }[] };
  assert.deepEqual(tl.snapshots.map((s) => s.step)[0], 0);
  assert.equal(tl.snapshots.length, 3);
  assert.equal(tl.snapshots.at(-1)!.step, 40);
  assert.ok(tl.points.length >= 3);
  assert.deepEqual(r.snapshot, { index: 0, step: 0, loss: (r.snapshot as { loss: number }).loss });
  const atInit = (r.next as { top: { prob: number }[] }).top[0].prob;
  const trained = (probeJson([]).next as { top: { prob: number }[] }).top[0].prob;
  assert.notEqual(atInit, trained, 'the initial weights predict otherwise');
});

test('eval --per-token --json writes each token with its surprise and entropy in bits, then the summary', () => {
  const text = path.join(dir, 'held.txt');
  fs.writeFileSync(text, 'First Citizen:\nWe are accounted poor citizens.\n');
  const r = run(['eval', model, '--file', text, '--per-token', '--json', '--backend', 'wasm']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const summary = lines.pop()!;
  assert.equal(lines.length, 47);
  assert.equal(lines[0].surprise, null);
  assert.equal(lines[0].entropy, null);
  for (const l of lines.slice(1)) assert.ok(typeof l.surprise === 'number' && typeof l.entropy === 'number' && l.entropy >= 0);
  assert.equal(lines.map((l) => l.text).join(''), 'First Citizen:\nWe are accounted poor citizens.\n');
  assert.equal(summary.tokens, 46);
  const human = run(['eval', model, '--file', text, '--per-token']);
  assert.match(human.stdout, /surprise\s+entropy\s+\(bits\)/);
  assert.match(human.stdout, /^loss \d+\.\d{4} nats\/token/m);
});

test('bad interpretability flags are one line and exit 2', () => {
  expectBadInput(['probe', model, '--text', TEXT, '--ablate', '2.0'], /head 2\.0: the model has layers 0 to 1/);
  expectBadInput(['probe', model, '--text', TEXT, '--ablate', 'x'], /"x" is not a head/);
  expectBadInput(['probe', model, '--text', TEXT, '--ablate', '0.0', '--ablation', 'max'], /--ablation must be zero or mean/);
  expectBadInput(['probe', model, '--text', TEXT, '--snapshot', 'last'], /--snapshot must be a snapshot's index/);
  expectBadInput(['probe', model, '--text', TEXT, '--snapshot', '7'], /there is no snapshot 7; this model has 3/);
  expectBadInput(['probe', plain, '--text', TEXT, '--timeline'], /has no snapshots beside it/);
  expectBadInput(['train', corpus, ...SMALL, '--snapshots', '1'], /--snapshots must be at least 2/);
});
