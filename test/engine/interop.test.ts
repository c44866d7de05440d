// Model files cross between the engine and PyTorch: an engine-trained model evaluates to the same loss in
// test/reference/eval_model.py, and a PyTorch-initialised model (test/reference/torch_init_model.py) loads in the
// engine and evaluates to the same loss. Skips when /usr/bin/python3 cannot import torch (GPTLAB_REQUIRE_TORCH=1
// turns that into a failure, as `npm run test:reference` does).
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '@tensorflow/tfjs'; // registers the gradients
import { loadModel, saveModel } from '../../engine/io/checkpoint';
import type { ModelShape, TrainSettings } from '../../engine/model/config';
import { evaluateText } from '../../engine/probes/probes';
import { getTokenizer } from '../../engine/text/tokenizers';
import { trainOnText } from '../../engine/training/train';
import { Vocabulary } from '../../engine/text/vocab';
import { engineModes, formatMeasurements, runPythonJson, torchAvailable, useMode, type Measurement } from '../helpers/reference';
import { testPlan } from '../helpers/plan';

const TOL_LOSS = 1e-4; // absolute, nats per token

const torch = torchAvailable();
const SKIP: string | false = torch.ok ? false : `PyTorch is not available: ${torch.reason}`;
if (SKIP && process.env.GPTLAB_REQUIRE_TORCH === '1') throw new Error(`GPTLAB_REQUIRE_TORCH=1 but ${SKIP}`);

// Public-domain text (Shakespeare, Sonnet 18 and Hamlet III.1), with a held-out part for evaluation.
const TRAIN_TEXT = `Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date;
Sometime too hot the eye of heaven shines,
And often is his gold complexion dimm'd;
And every fair from fair sometime declines,
By chance or nature's changing course untrimm'd;
But thy eternal summer shall not fade,
Nor lose possession of that fair thou ow'st;
Nor shall death brag thou wander'st in his shade,
When in eternal lines to time thou grow'st:
So long as men can breathe or eyes can see,
So long lives this, and this gives life to thee.
To be, or not to be, that is the question:
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune,
Or to take arms against a sea of troubles
And by opposing end them. To die: to sleep;
No more; and by a sleep to say we end
The heart-ache and the thousand natural shocks
That flesh is heir to, 'tis a consummation
Devoutly to be wish'd. To die, to sleep;
To sleep: perchance to dream: ay, there's the rub;
For in that sleep of death what dreams may come
When we have shuffled off this mortal coil,
Must give us pause: there's the respect
That makes calamity of so long life;
`;
// Mostly seen characters and words, some unseen ones (they map to the unknown token 0).
const EVAL_TEXT = `For who would bear the whips and scorns of time,
The oppressor's wrong, the proud man's contumely,
The pangs of despised love, the law's delay,
The insolence of office and the spurns
That patient merit of the unworthy takes,
When he himself might his quietus make
With a bare bodkin? who would fardels bear,
To grunt and sweat under a weary life,
`;

const SHAPE: ModelShape = {
  contextLength: 16, dim: 32, heads: 4, layers: 2, ffnMult: 4, norm: 'layernorm', activation: 'gelu',
  positions: 'learned', tieEmbeddings: true, bias: true, qkvBias: true, dropout: 0, kvHeads: 4, headDim: 8, qkNorm: false,
};

/** The new attention switches together: grouped queries, rotary positions, QK-norm, heads wider than D/H, no MLP. */
const SWITCHED: ModelShape = { ...SHAPE, kvHeads: 2, positions: 'rope', qkNorm: true, headDim: 12, ffnMult: 0 };

const SETTINGS: TrainSettings = {
  steps: 30, batchSize: 8, learningRate: 3e-3, minLearningRate: 3e-4, warmupSteps: 5, weightDecay: 0.01,
  beta1: 0.9, beta2: 0.999, eps: 1e-8, gradClip: 1, evalEvery: 0, evalBatches: 1, sampleEvery: 0, seed: 7,
};

const measured: Measurement[] = [];
let tmp = '';

before(() => {
  if (!SKIP) tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-interop-'));
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  if (measured.length) console.log(`\ninterop: |engine eval loss - PyTorch eval loss|\n${formatMeasurements(measured)}\n`);
});

/** eval_model.py on a model file and the model ids of a text. */
function torchEval(modelFile: string, ids: Int32Array, writeCheck = false): { loss: number; tokens: number } {
  const idsFile = path.join(tmp, `${path.basename(modelFile)}.ids.json`);
  fs.writeFileSync(idsFile, JSON.stringify(Array.from(ids)));
  const out = runPythonJson('eval_model.py', [modelFile, idsFile, ...(writeCheck ? ['--write-check'] : [])]) as
    { loss: number; tokens: number; writeCheck?: boolean };
  if (writeCheck) assert.equal(out.writeCheck, true);
  return out;
}

/** evaluateText on every engine mode against eval_model.py on the same file (one model alive at a time). */
async function compareEval(t: { diagnostic(msg: string): void }, label: string, file: string, writeCheck: boolean): Promise<void> {
  const probe = loadModel(file);
  const ids = probe.vocab.encode(probe.tokenizer.encode(EVAL_TEXT));
  probe.model.dispose();
  const ref = torchEval(file, ids, writeCheck);
  assert.equal(ref.tokens, ids.length - 1);
  for (const mode of engineModes()) {
    await useMode(mode);
    const ctx = loadModel(file);
    try {
      const r = evaluateText(ctx, EVAL_TEXT);
      assert.equal(r.tokens, ref.tokens);
      const err = Math.abs(r.loss - ref.loss);
      measured.push({ check: 'eval loss abs', variant: label, mode: mode.label, value: err, limit: TOL_LOSS });
      t.diagnostic(`${label} ${mode.label}: engine ${r.loss.toFixed(6)} torch ${ref.loss.toFixed(6)} |diff| ${err.toExponential(2)} over ${r.tokens} tokens (${r.unknown} unknown)`);
      assert.ok(err <= TOL_LOSS, `${label} on ${mode.label}: engine loss ${r.loss} vs PyTorch ${ref.loss}`);
    } finally {
      ctx.model.dispose();
    }
  }
}

describe('engine <-> PyTorch model files', { skip: SKIP }, () => {
  for (const [tokenizer, shape, label] of [['char', SHAPE, 'char'], ['o200k_base', SHAPE, 'o200k_base'],
    ['char', SWITCHED, 'char, GQA + RoPE + QK-norm + attention-only']] as const) {
    test(`engine-trained model (${label}) evaluates the same in PyTorch`, async (t) => {
      await useMode({ label: 'wasm', backend: 'wasm', native: false });
      const r = await trainOnText({ compute: await testPlan(), text: TRAIN_TEXT, tokenizer, model: shape, settings: SETTINGS });
      const file = path.join(tmp, `trained-${tokenizer}${shape === SHAPE ? '' : '-switched'}.safetensors`);
      try {
        assert.equal(r.error, null);
        assert.equal(r.history.steps.length, SETTINGS.steps);
        const first = r.history.steps[0].loss, last = r.history.steps[SETTINGS.steps - 1].loss;
        t.diagnostic(`${tokenizer}: V=${r.vocab.size}, loss ${first.toFixed(3)} -> ${last.toFixed(3)} in ${SETTINGS.steps} steps`);
        assert.ok(last < first, 'training lowered the loss');
        saveModel(file, r.model, r.vocab, r.tokenizer.name, r.history);
      } finally {
        r.model.dispose();
      }
      await compareEval(t, `trained ${label}`, file, tokenizer === 'char');
    });
  }

  test('PyTorch-initialised model loads in the engine and evaluates the same', async (t) => {
    for (const [tokenizer, seed, shape] of [['char', 3, SHAPE], ['o200k_base', 4, SHAPE], ['char', 5, { ...SWITCHED, kvHeads: 1, positions: 'none' }]] as const) {
      const tok = getTokenizer(tokenizer);
      const vocab = Vocabulary.fromTokenIds(tok.encode(TRAIN_TEXT));
      const file = path.join(tmp, `torch-init-${tokenizer}-${seed}.safetensors`);
      const config = { ...shape, tieEmbeddings: tokenizer !== 'char', activation: tokenizer === 'char' ? 'relu' : 'gelu' };
      runPythonJson('torch_init_model.py', [file, '--config', JSON.stringify(config), '--vocab', JSON.stringify(vocab.toTokenizer),
        '--tokenizer', tokenizer, '--seed', String(seed)]);
      const m = loadModel(file);
      try {
        assert.equal(m.tokenizer.name, tokenizer);
        assert.deepEqual(m.vocab.toTokenizer, vocab.toTokenizer);
        assert.equal(m.model.config.vocabSize, vocab.size);
        assert.equal(m.model.config.tieEmbeddings, config.tieEmbeddings);
        assert.deepEqual([m.model.config.kvHeads, m.model.config.headDim, m.model.config.positions], [config.kvHeads, config.headDim, config.positions]);
      } finally {
        m.model.dispose();
      }
      await compareEval(t, `torch-init ${tokenizer}${shape === SHAPE ? '' : ' MQA + NoPE + QK-norm + attention-only'}`, file, false);
    }
  });
});
