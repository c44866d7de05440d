// `gpt-lab export <model> --to nanogpt --out DIR`: a folder that nanoGPT's train.py resumes from, on one GPU or under
// torchrun on many.
//   ckpt.pt          torch.save of nanoGPT's checkpoint dict: model (nanoGPT's state_dict names; lm_head.weight shares
//                    wte's storage, which is how a tie is saved), optimizer, model_args, iter_num, best_val_loss, config
//   train.bin        the training text's model ids, uint16 (uint32 when the vocabulary passes 65,536), split as GPT
//   val.bin          Lab split it: the first 90% of the tokens train, the rest validate
//   meta.pkl         vocab_size, itos/stoi (nanoGPT's sample.py reads them), and the tokenizer for gptlab_tokenizer.py
//   gptlab_tokenizer.py, train_gptlab.py (the config for train.py), gptlab_export.json (what was written, the split)
//   nanogpt_lm_head_bias.py  for models with an output bias (bias=true): the three-line patch nanoGPT needs
// The optimizer state starts fresh: GPT Lab's trainers keep AdamW's moments in native memory for the run and the model
// file does not hold them, so ckpt.pt carries nanoGPT's two parameter groups with an empty state, which
// optimizer.load_state_dict accepts; AdamW then starts its moments (and bias correction) at the first resumed step.
import * as path from 'node:path';
import type { GPTConfig } from '../model/config';
import type { GPT } from '../model/gpt';
import { InputError } from '../common/errors';
import { BpeTokenizer, GPT2_SPLIT_PATTERN } from '../text/bpe';
import type { Tokenizer } from '../text/tokenizers';
import type { Vocabulary } from '../text/vocab';
import { Dataset } from '../training/train';
import { ExportFolder } from './folder';
import { gpt2Problem } from './gpt2';
import { lmHeadBiasPatch, TOKENIZER_SHIM } from './nanogptPython';
import { PyDict, PyFloat, PyTuple, pickle, type PyValue } from './pickle';
import { TorchDict, TorchTensor, torchSave } from './torchSave';

/** What an export reads: a loaded model file. */
export interface ExportSource {
  model: GPT;
  vocab: Vocabulary;
  tokenizer: Tokenizer;
  history: unknown;
  /** The model file's name, for the record. */
  file: string;
}

export interface ExportResult {
  files: string[];
  /** For people: what to do next, and what differs. */
  notes: string[];
}

const NANOGPT_FILES = ['ckpt.pt', 'train.bin', 'val.bin', 'meta.pkl', 'gptlab_tokenizer.py', 'train_gptlab.py', 'gptlab_export.json',
  'nanogpt_lm_head_bias.py'];

/** The run's settings and progress as the model file's history records them (absent fields: GPT Lab's defaults). */
interface RunRecord {
  steps: number; // updates that made the saved weights
  bestValLoss: number | null;
  settings: { batchSize: number; learningRate: number; minLearningRate: number; warmupSteps: number; steps: number;
    weightDecay: number; beta1: number; beta2: number; eps: number; gradClip: number; evalBatches: number };
}

function runRecord(history: unknown): RunRecord {
  const h = (typeof history === 'object' && history !== null ? history : {}) as {
    steps?: unknown[]; evals?: { valLoss?: unknown }[]; best?: { step?: unknown; valLoss?: unknown } | null; settings?: Record<string, unknown>;
  };
  const num = (v: unknown, fallback: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
  const s = h.settings ?? {};
  const trained = Array.isArray(h.steps) ? h.steps.length : 0;
  const best = h.best && typeof h.best.valLoss === 'number' ? { step: num(h.best.step, trained), valLoss: h.best.valLoss } : null;
  const lastVal = Array.isArray(h.evals) && h.evals.length ? h.evals[h.evals.length - 1].valLoss : undefined;
  // Training keeps the best validation weights when the run ended worse: those are the weights in the file.
  const restored = best !== null && typeof lastVal === 'number' && best.valLoss < lastVal;
  return {
    steps: restored ? best.step : trained,
    bestValLoss: best ? best.valLoss : null,
    settings: {
      batchSize: num(s.batchSize, 12), learningRate: num(s.learningRate, 1e-3), minLearningRate: num(s.minLearningRate, 1e-4),
      warmupSteps: num(s.warmupSteps, 100), steps: num(s.steps, trained), weightDecay: num(s.weightDecay, 0.01),
      beta1: num(s.beta1, 0.9), beta2: num(s.beta2, 0.999), eps: num(s.eps, 1e-8), gradClip: num(s.gradClip, 1), evalBatches: num(s.evalBatches, 8),
    },
  };
}

/** nanoGPT's state_dict for a config: names in its module order, each with its tensor (zeros for a bias GPT Lab's model lacks). */
function nanoGptState(model: GPT): { names: string[]; tensors: Map<string, { shape: number[]; data: Float32Array }>; nanoBias: boolean; headBias: boolean } {
  const c = model.config;
  const ours = model.toTensors();
  const nanoBias = c.bias || c.qkvBias; // nanoGPT's one bias switch: a missing bias is a zero one, the same function
  const headBias = c.bias; // lm_head.bias: nanoGPT needs the patch for it
  const names: string[] = ['transformer.wte.weight', 'transformer.wpe.weight'];
  for (let i = 0; i < c.layers; i++) {
    const h = `transformer.h.${i}`;
    for (const part of ['ln_1', 'attn.c_attn', 'attn.c_proj', 'ln_2', 'mlp.c_fc', 'mlp.c_proj']) {
      names.push(`${h}.${part}.weight`);
      if (nanoBias) names.push(`${h}.${part}.bias`);
    }
  }
  names.push('transformer.ln_f.weight');
  if (nanoBias) names.push('transformer.ln_f.bias');
  names.push('lm_head.weight');
  if (headBias) names.push('lm_head.bias');
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const name of names) {
    const t = ours.get(name === 'lm_head.weight' ? 'transformer.wte.weight' : name); // tied: wte is lm_head
    if (t) tensors.set(name, { shape: t.shape, data: t.data });
    else if (name.endsWith('.bias')) {
      const weight = ours.get(name.replace(/\.bias$/, '.weight'))!;
      const width = weight.shape[0]; // [out, in] for linears, [D] for norms
      tensors.set(name, { shape: [width], data: new Float32Array(width) });
    } else throw new Error(`the model has no tensor ${name}`);
  }
  return { names, tensors, nanoBias, headBias };
}

/** nanoGPT's configure_optimizers groups: tensors of 2+ dimensions decay, the rest do not (lm_head.weight is wte). */
function optimizerState(names: string[], tensors: Map<string, { shape: number[] }>, run: RunRecord): PyDict {
  const params = names.filter((n) => n !== 'lm_head.weight');
  const decay = params.filter((n) => tensors.get(n)!.shape.length >= 2).length;
  const s = run.settings;
  const group = (weightDecay: number, ids: number[]): PyDict => new PyDict([
    ['lr', new PyFloat(s.minLearningRate)], ['betas', new PyTuple([new PyFloat(s.beta1), new PyFloat(s.beta2)])],
    ['eps', new PyFloat(s.eps)], ['weight_decay', new PyFloat(weightDecay)], ['amsgrad', false], ['maximize', false],
    ['foreach', null], ['capturable', false], ['params', ids],
  ]);
  const ids = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
  return new PyDict([
    ['state', new PyDict([])], // fresh: see the note at the top of this file
    ['param_groups', [group(s.weightDecay, ids(0, decay)), group(0, ids(decay, params.length))]],
  ]);
}

/** One setting of nanoGPT's train.py: floats stay floats (its configurator checks an override's type against them). */
type Setting = [key: string, value: string | number | boolean, kind?: 'float', note?: string];

const pyLiteral = (v: string | number | boolean, kind?: 'float'): string =>
  typeof v === 'boolean' ? (v ? 'True' : 'False') : typeof v === 'string' ? `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
    : kind === 'float' && Number.isInteger(v) ? `${v}.0` : String(v);

/** UTF-8 text of a token for itos: whole characters, U+FFFD for bytes that are only part of one. */
const decodeLoose = (bytes: Uint8Array): string => new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);

/**
 * meta.pkl: nanoGPT's vocab_size, itos and stoi (sample.py reads them: exact for char models; for others, stoi holds
 * the tokens that are whole characters), and what gptlab_tokenizer.py needs to encode and decode exactly.
 */
export function tokenizerMetaPickle(vocab: Vocabulary, tok: Tokenizer, data: { dtype: string; split: PyValue } | null): Buffer {
  const V = vocab.size;
  const itos: [number, PyValue][] = [], stoi: [string, PyValue][] = [], bytesHex: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < V; i++) {
    const t = vocab.toTokenizer[i];
    const bytes = t === null ? new Uint8Array(0) : tok.tokenBytes(t);
    bytesHex.push(Buffer.from(bytes).toString('hex'));
    const text = t === null ? '\ufffd' : tok.name === 'char' ? String.fromCodePoint(t) : decodeLoose(bytes);
    itos.push([i, text]);
    if (t !== null && !seen.has(text) && !text.includes('\ufffd')) {
      seen.add(text);
      stoi.push([text, i]);
    }
  }
  const entries: [string, PyValue][] = [
    ['vocab_size', V], ['itos', new PyDict(itos)], ['stoi', new PyDict(stoi)],
    ['gptlab_tokenizer', tok.name], ['gptlab_tokenizer_ids', vocab.toTokenizer.map((t) => t)], ['gptlab_token_bytes', bytesHex],
  ];
  if (data) entries.push(['gptlab_dtype', data.dtype], ['gptlab_split', data.split]);
  if (tok instanceof BpeTokenizer) entries.push(['gptlab_bpe_pattern', GPT2_SPLIT_PATTERN], ['gptlab_bpe_merges', Array.from(tok.merges)]);
  return pickle(new PyDict(entries));
}

/**
 * Writes the nanoGPT folder. `text` is the training text (train.bin and val.bin are made from it, split as GPT Lab
 * split it); without it the checkpoint and tokenizer files are written and the notes say the data is missing.
 */
export function exportNanoGpt(src: ExportSource, out: string, text: string | null): ExportResult {
  const c: GPTConfig = src.model.config;
  const problem = gpt2Problem(c, 'nanogpt');
  if (problem) throw new InputError(`cannot export to nanoGPT, whose GPT is GPT-2's architecture: ${problem}`);
  const folder = ExportFolder.prepare(out, NANOGPT_FILES);
  const run = runRecord(src.history);
  const { names, tensors, nanoBias, headBias } = nanoGptState(src.model);

  // ckpt.pt
  const storages = new Map<string, Float32Array>();
  const stateEntries: [string, TorchTensor][] = names.map((name) => {
    const key = name === 'lm_head.weight' ? '0' : String(storages.size); // wte is storage 0: lm_head.weight shares it
    if (name !== 'lm_head.weight') storages.set(key, tensors.get(name)!.data);
    return [name, new TorchTensor(key, tensors.get(name)!.shape)];
  });
  const modelArgs: [string, PyValue][] = [['n_layer', c.layers], ['n_head', c.heads], ['n_embd', c.dim], ['block_size', c.contextLength],
    ['bias', nanoBias], ['vocab_size', c.vocabSize], ['dropout', new PyFloat(c.dropout)]];
  if (headBias) modelArgs.push(['lm_head_bias', true]); // read by the patched nanoGPT only
  const dirName = path.basename(path.resolve(out));
  const s = run.settings;
  const settings: Setting[] = [
    ['init_from', 'resume'],
    ['out_dir', dirName, undefined, 'ckpt.pt is read from, and written to, this folder (relative to where train.py runs)'],
    ['dataset', `../${dirName}`, undefined, 'train.py reads data/<dataset>/train.bin: this folder again'],
    ['batch_size', s.batchSize],
    ['block_size', c.contextLength],
    ['gradient_accumulation_steps', 8, undefined, 'must divide by the GPU count under torchrun; one step = 8 micro-batches of batch_size'],
    ['n_layer', c.layers], ['n_head', c.heads], ['n_embd', c.dim], ['dropout', c.dropout, 'float'], ['bias', nanoBias],
    ['learning_rate', s.learningRate, 'float'], ['min_lr', s.minLearningRate, 'float'], ['warmup_iters', s.warmupSteps],
    ['lr_decay_iters', Math.max(s.steps, s.warmupSteps + 1), undefined, 'GPT Lab\'s schedule: resumed steps continue at min_lr'],
    ['max_iters', run.steps + Math.max(1, s.steps), undefined, 'as many steps again as GPT Lab trained'],
    ['weight_decay', s.weightDecay, 'float', 'nanoGPT decays matrices only; GPT Lab decayed every parameter'],
    ['beta1', s.beta1, 'float'], ['beta2', s.beta2, 'float'], ['grad_clip', s.gradClip, 'float'],
    ['eval_interval', Math.max(1, Math.round(Math.max(1, s.steps) / 8))], ['eval_iters', s.evalBatches],
  ];
  const pyConfig = new PyDict(settings.map(([k, v, kind]): [string, PyValue] => [k, kind === 'float' ? new PyFloat(v as number) : v]));
  const checkpoint = new TorchDict([
    ['model', new TorchDict(stateEntries, true)],
    ['optimizer', optimizerState(names, tensors, run)],
    ['model_args', new PyDict(modelArgs)],
    ['iter_num', run.steps],
    ['best_val_loss', new PyFloat(run.bestValLoss ?? 1e9)],
    ['config', pyConfig],
  ]);

  // train.bin / val.bin: the same split as training (Dataset), model ids as nanoGPT's memmap reads them
  const dtype = c.vocabSize <= 65536 ? 'uint16' : 'uint32';
  let split: PyValue = null;
  const notes: string[] = [];
  let data: { train: Int32Array; val: Int32Array } | null = null;
  if (text !== null) {
    const ids = src.vocab.encode(src.tokenizer.encode(text));
    data = new Dataset(ids, c.contextLength);
    if (!(data as Dataset).hasValidation) notes.push('the text is too short for a validation split: val.bin is empty, and train.py needs one longer than block_size');
    split = new PyDict([['tokens', ids.length], ['train_tokens', data.train.length], ['val_tokens', data.val.length],
      ['rule', 'the first tokens train; the last 10% (floor) validate, when that is at least block_size + 1 tokens']]);
  } else {
    notes.push('no --text: train.bin and val.bin were not written; give the training file to make them');
  }

  folder.write('ckpt.pt', torchSave(checkpoint, storages, 'ckpt'));
  if (data) {
    const bin = (a: Int32Array): Buffer => {
      const typed = dtype === 'uint16' ? Uint16Array.from(a) : Uint32Array.from(a);
      return Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength); // little-endian, as numpy's memmap reads on x86 and arm
    };
    folder.write('train.bin', bin(data.train));
    folder.write('val.bin', bin(data.val));
  }
  folder.write('meta.pkl', tokenizerMetaPickle(src.vocab, src.tokenizer, { dtype, split }));
  folder.write('gptlab_tokenizer.py', TOKENIZER_SHIM);
  folder.write('train_gptlab.py', `# nanoGPT config written by gpt-lab export from ${path.basename(src.file)}: resume where GPT Lab stopped.\n` +
    `# Put this folder in your nanoGPT checkout, then from the checkout:\n` +
    `#   python train.py ${dirName}/train_gptlab.py                                   (one GPU; add --device=cpu --compile=False without one)\n` +
    `#   torchrun --standalone --nproc_per_node=8 train.py ${dirName}/train_gptlab.py  (8 GPUs)\n` +
    (dtype === 'uint32' ? '# train.bin holds uint32 ids: change np.uint16 to np.uint32 in train.py\'s get_batch (its two np.memmap lines).\n' : '') +
    `${settings.map(([k, v, kind, note]) => `${k} = ${pyLiteral(v, kind)}${note ? ` # ${note}` : ''}`).join('\n')}\n`);
  if (headBias) folder.write('nanogpt_lm_head_bias.py', lmHeadBiasPatch());
  folder.write('gptlab_export.json', JSON.stringify({
    from: path.basename(src.file), to: 'nanogpt', tokenizer: src.tokenizer.name, vocabSize: c.vocabSize, dtype,
    split: data ? { tokens: data.train.length + data.val.length, trainTokens: data.train.length, valTokens: data.val.length } : null,
    iterNum: run.steps, optimizer: 'fresh (empty AdamW state)', lmHeadBias: headBias, files: folder.written.map((f) => path.basename(f)),
  }, null, 2) + '\n');

  if (headBias) notes.push(`the model has an output bias (bias=true): run \`python ${dirName}/nanogpt_lm_head_bias.py\` in the nanoGPT checkout first`);
  if (dtype === 'uint32') notes.push('train.bin and val.bin are uint32: nanoGPT\'s get_batch reads uint16; change its two np.memmap dtypes to np.uint32');
  notes.push('the optimizer starts fresh (AdamW\'s moments are not kept in the model file)');
  notes.push(`then, from the nanoGPT checkout with this folder in it: torchrun --standalone --nproc_per_node=8 train.py ${dirName}/train_gptlab.py`);
  return { files: folder.written, notes };
}
