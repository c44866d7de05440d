// gpt-lab export: torch.save written from Node and read by PyTorch; the nanoGPT round trip (export, resume training
// in nanoGPT's train.py for a few steps, convert back, and `gpt-lab eval` agrees with PyTorch's loss to 1e-4); the
// Hugging Face GPT-2 folder read by a loader written from GPT-2's documented names; refusals and folder safety.
// The PyTorch parts skip when /usr/bin/python3 cannot import torch (GPTLAB_REQUIRE_TORCH=1 makes that a failure).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import { gpt2Problem } from '../../engine/export/gpt2';
import { PyDict, PyFloat, PyTuple } from '../../engine/export/pickle';
import { TorchDict, TorchTensor, torchSave } from '../../engine/export/torchSave';
import { loadModel, saveModel } from '../../engine/io/checkpoint';
import { applyModelOverrides, PRESETS, type GPTConfig, type ModelShape } from '../../engine/model/config';
import { evaluateText } from '../../engine/probes/probes';
import { trainOnText } from '../../engine/training/train';
import { PYTHON, REFERENCE_DIR, ROOT, torchAvailable } from '../helpers/reference';
import { testPlan } from '../helpers/plan';

const torch = torchAvailable();
if (!torch.ok && process.env.GPTLAB_REQUIRE_TORCH === '1') throw new Error(`PyTorch is required: ${torch.reason}`);
const NO_TORCH: string | false = torch.ok ? false : `PyTorch is not available: ${torch.reason}`;
const hasRegex = spawnSync(PYTHON, ['-c', 'import regex'], { encoding: 'utf8' }).status === 0;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-export-'));
const CORPUS = fs.readFileSync(path.join(ROOT, 'media', 'tinyshakespeare-sample.txt'), 'utf8').slice(0, 24000);
const corpusFile = path.join(dir, 'corpus.txt');
fs.writeFileSync(corpusFile, CORPUS);
const EVAL_TEXT = CORPUS.slice(20000, 23000);
const evalFile = path.join(dir, 'eval.txt');
fs.writeFileSync(evalFile, EVAL_TEXT);
const BIN = path.join(ROOT, 'bin', 'gpt-lab.js');

before(async () => {
  await selectBackend('wasm');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd = dir, env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', cwd, timeout: 300_000, maxBuffer: 1 << 28, env: { ...process.env, ...env } });
}

function cli(args: string[]): SpawnSyncReturns<string> {
  return run(process.execPath, [BIN, ...args]);
}

function python(script: string, args: string[], cwd = dir, env: Record<string, string> = {}): Record<string, unknown> {
  const r = run(PYTHON, [script, ...args], cwd, env);
  assert.equal(r.status, 0, `${path.basename(script)} ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

/** Trains a small model of `shape` on the corpus and saves it; 40 steps, so nanoGPT resumes at iter 40. */
async function trainedModel(name: string, shape: Partial<ModelShape>, tokenizer = 'char'): Promise<string> {
  const r = await trainOnText({ compute: await testPlan('tfjs'), text: CORPUS, tokenizer,
    model: applyModelOverrides(PRESETS.tiny.model, { contextLength: 16, dim: 32, heads: 2, layers: 2, ...shape }),
    settings: { ...PRESETS.tiny.train, steps: 40, batchSize: 4, warmupSteps: 4, evalEvery: 20, evalBatches: 2, sampleEvery: 0, seed: 5 } });
  const file = path.join(dir, `${name}.safetensors`);
  saveModel(file, r.model, r.vocab, r.tokenizer, { ...r.history, settings: { steps: 40, batchSize: 4, learningRate: 3e-3,
    minLearningRate: 3e-4, warmupSteps: 4, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, gradClip: 1, evalBatches: 2 } });
  r.model.dispose();
  return file;
}

/** The engine's model ids of a text, as JSON for the Python side. */
function idsFile(modelFile: string, text: string, name: string): string {
  const m = loadModel(modelFile);
  const file = path.join(dir, `${name}.ids.json`);
  fs.writeFileSync(file, JSON.stringify(Array.from(m.vocab.encode(m.tokenizer.encode(text)))));
  m.model.dispose();
  return file;
}

function engineLoss(modelFile: string, text: string): number {
  const m = loadModel(modelFile);
  try {
    return evaluateText(m, text).loss;
  } finally {
    m.model.dispose();
  }
}

/** A nanoGPT checkout: the fixture's model.py and train.py, and the data/ folder its dataset paths go through. */
function nanoGptCheckout(name: string): string {
  const root = path.join(dir, name);
  fs.mkdirSync(path.join(root, 'data'), { recursive: true });
  for (const f of ['model.py', 'train.py']) fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'nanogpt', f), path.join(root, f));
  return root;
}

test('torch.save from Node: torch.load (and, on PyTorch 2, its weights_only loader) reads every value, and tied tensors share one storage', { skip: NO_TORCH }, () => {
  const file = path.join(dir, 'values.pt');
  const storages = new Map([['0', Float32Array.from([1, 2, 3, 4, 5, 6])], ['1', Float32Array.from([-0.5])]]);
  fs.writeFileSync(file, torchSave(new TorchDict([
    ['model', new TorchDict([['a.weight', new TorchTensor('0', [2, 3])], ['b.weight', new TorchTensor('0', [2, 3])], ['s', new TorchTensor('1', [])]], true)],
    ['ints', [0, 255, 256, 65535, 65536, -1, -70000, 2 ** 31, 2 ** 40, -(2 ** 40)]],
    ['floats', new PyTuple([new PyFloat(0.1), new PyFloat(1e9), new PyFloat(-0)])],
    ['text', 'ascii ü 🙂 \ud800 lone'], ['flags', [true, false, null]], [7, new PyDict([['k', 'v']])],
  ]), storages, 'values'));
  const r = run(PYTHON, ['-c', `
import torch, json, zipfile, sys
z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None
assert all(i.header_offset >= 0 for i in z.infolist())
# torch.load(weights_only=True), the default from PyTorch 2.6, reads floats (BINFLOAT) from 2.0 on; 1.13's could not
for weights_only in (False, True) if int(torch.__version__.split('.')[0]) >= 2 else (False,):
    d = torch.load(sys.argv[1], weights_only=weights_only)
    m = d['model']
    assert type(m).__name__ == 'OrderedDict' and list(m) == ['a.weight', 'b.weight', 's']
    assert m['a.weight'].tolist() == [[1, 2, 3], [4, 5, 6]] and m['a.weight'].dtype == torch.float32
    assert m['a.weight'].storage().data_ptr() == m['b.weight'].storage().data_ptr()
    assert m['s'].shape == () and m['s'].item() == -0.5
    assert d['ints'] == [0, 255, 256, 65535, 65536, -1, -70000, 2**31, 2**40, -2**40]
    assert d['floats'] == (0.1, 1e9, -0.0) and d['text'] == 'ascii ü 🙂 \\ud800 lone' and d['flags'] == [True, False, None]
    assert d[7] == {'k': 'v'}
print('ok')`, file]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ok');
});

test('nanoGPT round trip: export, resume in nanoGPT\'s train.py (patched for the output bias), convert back, and eval agrees to 1e-4', { skip: NO_TORCH, timeout: 600_000 }, async (t) => {
  const model = await trainedModel('tiny', {}); // the tiny preset's switches: bias=true, so lm_head.bias needs the patch
  const root = nanoGptCheckout('nanogpt-patched');
  const exp = path.join(root, 'exp');
  const e = cli(['export', model, '--to', 'nanogpt', '--out', exp, '--text', corpusFile]);
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stderr, /nanogpt_lm_head_bias\.py/);
  const record = JSON.parse(fs.readFileSync(path.join(exp, 'gptlab_export.json'), 'utf8')) as { iterNum: number; dtype: string; split: { trainTokens: number; valTokens: number } };
  assert.equal(record.iterNum, 40);
  assert.equal(record.dtype, 'uint16');
  assert.deepEqual(record.split, { tokens: 24000, trainTokens: 21600, valTokens: 2400 });
  assert.equal(fs.statSync(path.join(exp, 'train.bin')).size, 2 * 21600);

  // Stock nanoGPT refuses the output bias out loud; the patch is three lines and idempotent.
  const ids = idsFile(model, EVAL_TEXT, 'tiny');
  const stock = run(PYTHON, [path.join(REFERENCE_DIR, 'nanogpt_eval.py'), path.join(exp, 'ckpt.pt'), ids]);
  assert.notEqual(stock.status, 0);
  assert.match(stock.stderr, /lm_head_bias|lm_head\.bias/);
  for (let i = 0; i < 2; i++) assert.equal(run(PYTHON, [path.join(exp, 'nanogpt_lm_head_bias.py'), root]).status, 0);
  const patched = { PATCHED_NANOGPT: root };

  // The export is exact: nanoGPT's GPT computes the engine's loss.
  const before = python(path.join(REFERENCE_DIR, 'nanogpt_eval.py'), [path.join(exp, 'ckpt.pt'), ids], dir, patched) as { loss: number };
  const engineBefore = engineLoss(model, EVAL_TEXT);
  t.diagnostic(`exported: engine ${engineBefore.toFixed(6)} nanoGPT ${before.loss.toFixed(6)} |diff| ${Math.abs(engineBefore - before.loss).toExponential(2)}`);
  assert.ok(Math.abs(engineBefore - before.loss) < 1e-5);

  // train.py resumes at iter 40 (fresh AdamW state), checkpoints at 44 after four steps.
  const train = run(PYTHON, ['train.py', 'exp/train_gptlab.py', '--eval_interval=4', '--max_iters=44', '--eval_iters=2', '--gradient_accumulation_steps=1'], root);
  assert.equal(train.status, 0, train.stderr);
  assert.match(train.stdout, /iter 43: loss/);

  // Back into a GPT Lab model file, and `gpt-lab eval` against PyTorch on the same text.
  const back = path.join(dir, 'tiny-back.safetensors');
  const converted = python(path.join(REFERENCE_DIR, 'nanogpt_to_gptlab.py'), [path.join(exp, 'ckpt.pt'), model, back]) as { iter_num: number };
  assert.equal(converted.iter_num, 44);
  const torchAfter = python(path.join(REFERENCE_DIR, 'nanogpt_eval.py'), [path.join(exp, 'ckpt.pt'), idsFile(back, EVAL_TEXT, 'tiny-back')], dir, patched) as { loss: number };
  const ev = cli(['eval', back, '--file', evalFile, '--json']);
  assert.equal(ev.status, 0, ev.stderr);
  const engineAfter = (JSON.parse(ev.stdout) as { loss: number }).loss;
  t.diagnostic(`after 4 nanoGPT steps: gpt-lab eval ${engineAfter.toFixed(6)} PyTorch ${torchAfter.loss.toFixed(6)} |diff| ${Math.abs(engineAfter - torchAfter.loss).toExponential(2)}`);
  assert.ok(Math.abs(engineAfter - torchAfter.loss) < 1e-4);
  assert.ok(Math.abs(engineAfter - engineBefore) > 1e-4, 'nanoGPT trained the weights');

  // The char vocabulary's meta.pkl is nanoGPT's (stoi/itos), and the shim encodes and decodes as the engine.
  const shim = run(PYTHON, ['-c', `
import json, pickle, sys
sys.path.insert(0, sys.argv[1])
from gptlab_tokenizer import load
meta = pickle.load(open(sys.argv[1] + '/meta.pkl', 'rb'))
tok = load(sys.argv[1] + '/meta.pkl')
text = open(sys.argv[2], encoding='utf-8').read()
ids = tok.encode(text)
assert tok.decode(ids) == text
assert ''.join(meta['itos'][i] for i in ids) == text and [meta['stoi'][c] for c in text] == ids
print(json.dumps({'ids': ids, 'vocab_size': meta['vocab_size']}))`, exp, evalFile]);
  assert.equal(shim.status, 0, shim.stderr);
  const shimOut = JSON.parse(shim.stdout) as { ids: number[]; vocab_size: number };
  assert.deepEqual(shimOut.ids, JSON.parse(fs.readFileSync(ids, 'utf8')));
});

test('stock nanoGPT takes a bias=false model as it is, and a learned BPE travels in meta.pkl', { skip: NO_TORCH, timeout: 300_000 }, async (t) => {
  const model = await trainedModel('plain', { bias: false, qkvBias: false }, 'bpe:320');
  const root = nanoGptCheckout('nanogpt-stock');
  const exp = path.join(root, 'exp');
  const e = cli(['export', model, '--to', 'nanogpt', '--out', exp, '--text', corpusFile, '--json']);
  assert.equal(e.status, 0, e.stderr);
  const files = (JSON.parse(e.stdout) as { files: string[] }).files.map((f) => path.basename(f));
  assert.ok(!files.includes('nanogpt_lm_head_bias.py'));
  const ids = idsFile(model, EVAL_TEXT, 'plain');
  const torchLoss = python(path.join(REFERENCE_DIR, 'nanogpt_eval.py'), [path.join(exp, 'ckpt.pt'), ids]) as { loss: number };
  const engine = engineLoss(model, EVAL_TEXT);
  t.diagnostic(`bias=false, bpe:320: engine ${engine.toFixed(6)} nanoGPT ${torchLoss.loss.toFixed(6)}`);
  assert.ok(Math.abs(engine - torchLoss.loss) < 1e-5);
  const train = run(PYTHON, ['train.py', 'exp/train_gptlab.py', '--eval_interval=4', '--max_iters=41', '--eval_iters=1', '--gradient_accumulation_steps=1'], root);
  assert.equal(train.status, 0, train.stderr);
  if (!hasRegex) return t.diagnostic('python3-regex is not installed: the BPE shim\'s encoding is not checked');
  const shim = run(PYTHON, ['-c', `
import json, sys
sys.path.insert(0, sys.argv[1])
from gptlab_tokenizer import load
tok = load(sys.argv[1] + '/meta.pkl')
text = open(sys.argv[2], encoding='utf-8').read()
ids = tok.encode(text)
assert tok.decode(ids) == text
print(json.dumps(ids))`, exp, evalFile]);
  assert.equal(shim.status, 0, shim.stderr);
  assert.deepEqual(JSON.parse(shim.stdout), JSON.parse(fs.readFileSync(ids, 'utf8')));
});

test('Hugging Face GPT-2: the loss from GPT-2\'s names and Conv1D layouts is the engine\'s, and the BPE tokenizer gives its ids', { skip: NO_TORCH, timeout: 300_000 }, async (t) => {
  const model = await trainedModel('hf', { bias: false, qkvBias: true, ffnMult: 2 }, 'bpe:300');
  const out = path.join(dir, 'hf');
  const e = cli(['export', model, '--to', 'hf', '--out', out]);
  assert.equal(e.status, 0, e.stderr);
  for (const f of ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt', 'tokenizer.json', 'tokenizer_config.json']) {
    assert.ok(fs.existsSync(path.join(out, f)), f);
  }
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.n_inner, 64);
  assert.equal(config.vocab_size, 301);
  const ids = idsFile(model, EVAL_TEXT, 'hf');
  const hf = python(path.join(REFERENCE_DIR, 'hf_gpt2_check.py'), [out, ids, evalFile]) as { loss: number; ids: number[] | null };
  const engine = engineLoss(model, EVAL_TEXT);
  t.diagnostic(`hf: engine ${engine.toFixed(6)} GPT-2 loader ${hf.loss.toFixed(6)} |diff| ${Math.abs(engine - hf.loss).toExponential(2)}`);
  assert.ok(Math.abs(engine - hf.loss) < 1e-5);
  if (hf.ids === null) t.diagnostic('python3-regex is not installed: the tokenizer files are not checked');
  else assert.deepEqual(hf.ids, JSON.parse(fs.readFileSync(ids, 'utf8')));

  // A char model has no Hugging Face tokenizer with its compacted ids: the shim goes instead, and the output says so.
  const charModel = await trainedModel('hf-char', { bias: false, qkvBias: false });
  const charOut = path.join(dir, 'hf-char');
  const c = cli(['export', charModel, '--to', 'hf', '--out', charOut]);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stderr, /no Hugging Face tokenizer: char/);
  assert.ok(fs.existsSync(path.join(charOut, 'gptlab_tokenizer.py')) && !fs.existsSync(path.join(charOut, 'tokenizer.json')));
  const charHf = python(path.join(REFERENCE_DIR, 'hf_gpt2_check.py'), [charOut, idsFile(charModel, EVAL_TEXT, 'hf-char')]) as { loss: number };
  assert.ok(Math.abs(engineLoss(charModel, EVAL_TEXT) - charHf.loss) < 1e-5);
});

test('switches GPT-2 cannot hold are refused with one line naming each, whatever the switch', async () => {
  const base: GPTConfig = { ...PRESETS.tiny.model, vocabSize: 10 };
  assert.equal(gpt2Problem({ ...base, bias: false }, 'hf'), null);
  assert.equal(gpt2Problem(base, 'nanogpt'), null); // the output bias goes with the patch
  assert.match(gpt2Problem(base, 'hf')!, /^bias=true \(it puts a bias on the output layer/);
  assert.equal(gpt2Problem({ ...base, bias: false, ffnMult: 2 }, 'hf'), null);
  assert.match(gpt2Problem({ ...base, ffnMult: 2 }, 'nanogpt')!, /^ffnMult=2 /);
  const classic: GPTConfig = { ...PRESETS.classic.model, vocabSize: 10 };
  assert.match(gpt2Problem(classic, 'nanogpt')!, /^activation=relu \(.*\); tieEmbeddings=false \(/);
  assert.match(gpt2Problem({ ...base, norm: 'rmsnorm', positions: 'sinusoidal' }, 'nanogpt')!, /^norm=rmsnorm .*; positions=sinusoidal /);
  // Switches from elsewhere: at their GPT-2 values they pass; otherwise, and for any switch no rule knows, refused.
  const more = (extra: Record<string, unknown>): GPTConfig => ({ ...base, ...extra });
  assert.equal(gpt2Problem(more({ kvHeads: base.heads, headDim: base.dim / base.heads, qkNorm: false }), 'nanogpt'), null);
  assert.match(gpt2Problem({ ...base, bias: false, ffnMult: 0 }, 'hf')!, /^ffnMult=0 /);
  assert.match(gpt2Problem(more({ kvHeads: 1 }), 'nanogpt')!, /^kvHeads=1 /);
  assert.match(gpt2Problem(more({ positions: 'rope' }), 'hf')!, /positions=rope/);
  assert.match(gpt2Problem(more({ someNewSwitch: 'x' }), 'hf')!, /someNewSwitch=x \(no GPT-2 equivalent is known to this export\)/);

  // Through the command line: one line on stderr, exit 2, nothing written.
  const r = await trainOnText({ compute: await testPlan('tfjs'), text: CORPUS.slice(0, 3000), tokenizer: 'char',
    model: applyModelOverrides(PRESETS.classic.model, { contextLength: 8, dim: 16, heads: 2, layers: 1 }),
    settings: { ...PRESETS.classic.train, steps: 2, batchSize: 2, evalEvery: 0, evalBatches: 1, sampleEvery: 0, seed: 1 } });
  const file = path.join(dir, 'classic.safetensors');
  saveModel(file, r.model, r.vocab, r.tokenizer, r.history);
  r.model.dispose();
  const out = path.join(dir, 'refused');
  const x = cli(['export', file, '--to', 'nanogpt', '--out', out]);
  assert.equal(x.status, 2);
  assert.equal(x.stderr.trim().split('\n').length, 1);
  assert.match(x.stderr, /^gpt-lab: cannot export to nanoGPT, whose GPT is GPT-2's architecture: activation=relu .*tieEmbeddings=false/);
  assert.ok(!fs.existsSync(out));
});

test('export never replaces a file, and its usage errors are one line', async () => {
  const model = await trainedModel('safety', { bias: false, qkvBias: false });
  const out = path.join(dir, 'occupied');
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(out, 'ckpt.pt'), 'a nanoGPT run of mine');
  const r = cli(['export', model, '--to', 'nanogpt', '--out', out]);
  assert.equal(r.status, 2);
  assert.match(r.stderr.trim(), /^gpt-lab: .*occupied\/ckpt\.pt already exists; export into an empty folder/);
  assert.equal(fs.readFileSync(path.join(out, 'ckpt.pt'), 'utf8'), 'a nanoGPT run of mine');
  assert.deepEqual(fs.readdirSync(out), ['ckpt.pt']);
  const cases: [string[], RegExp][] = [
    [['export', model, '--to', 'onnx', '--out', out], /--to must be nanogpt or hf, got "onnx"/],
    [['export', model, '--to', 'hf'], /export needs --out DIR/],
    [['export', model, '--to', 'hf', '--out', path.join(dir, 'x'), '--text', corpusFile], /--text is for --to nanogpt/],
    [['export', corpusFile, '--to', 'hf', '--out', path.join(dir, 'y')], /is not a valid GPT Lab model/],
    [['export', model, '--to', 'hf', '--out', corpusFile], /exists and is not a folder/],
  ];
  for (const [args, pattern] of cases) {
    const x = cli(args);
    assert.equal(x.status, 2, args.join(' '));
    assert.equal(x.stderr.trim().split('\n').length, 1, x.stderr);
    assert.match(x.stderr, pattern);
  }
});
