// The engine process: trains and probes off the extension host's thread. A crash or out-of-memory here ends only
// this process; the client sees it and reports it. Requests are served between training steps, so probes and
// hovers get answers while a run goes on (from the active model, which a run replaces only when it ends).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../compute/tfjsBackend';
import { BadWeightsError, saveModel, loadModel } from '../io/checkpoint';
import { partialPath, resolveTrainSettings } from '../model/config';
import { isEngineRequest, type EngineReply, type EngineRequest, type Method, type ModelSummary, type ParamsOf,
  type ResultOf } from '../protocol/engine';
import { analogy, attentionMaps, compareTokenizers, embeddingPca, evaluateText, logitLens, neighbours, nextToken,
  perTokenLoss, singleTokenId, type ProbeContext } from '../probes/probes';
import { KVCacheSession } from '../inference/kvCache';
import { nativeGPTClass } from '../compute/addon';
import { loadWasmTrainer } from '../compute/wasm';
import { Rng } from '../common/rng';
import { generate, validateSampling } from '../inference/sample';
import { checkText } from '../text/checks';
import { bpeVocabSize, getTokenizer, textSize, tokenChunks, type Tokenizer } from '../text/tokenizers';
import { bpeReplay, learnedTokenizers, tokenizerForText } from '../text/bpe';
import { trainOnText } from '../training/train';
import { compareForEngine } from '../training/compare';
import { type History } from '../protocol';

interface Loaded extends ProbeContext {
  history: (History & { partial?: boolean }) | null;
  file: string | null;
  /** The KV-cache decoder and its copy of the weights (a model here never changes), made on first use. */
  decoder?: KVCacheSession;
}

// A background engine (the one that trains) runs at the lowest priority (nice 19, idle class on Windows); threads it
// starts later (the native pool) inherit that. A run then has every core the editor leaves free, and a hover or a
// completion served by the other engine takes them back at once (at nice 10 a classic hover's p95 was 29 ms, at 19
// 23 ms, while classic trained).
if (process.env.GPTLAB_BACKGROUND === '1') os.setPriority(os.constants.priority.PRIORITY_LOW);

let loaded: Loaded | null = null;
/** The backend chosen by `init`; a request that comes first (say, to a restarted engine) gets the automatic choice. */
let backend: Promise<unknown> | null = null;
/** Training requests from the moment they arrive (so a cancel that comes while one waits for the backend counts). */
const running = new Map<number, AbortController>();

function send(reply: EngineReply): void {
  process.send?.(reply);
}

function summary(m: Loaded): ModelSummary {
  return { config: m.model.config, tokenizer: m.tokenizer.name, parameters: m.model.parameterCount, file: m.file,
    best: m.history?.best ?? null, partial: m.history?.partial === true };
}

/** A tokenizer by name: a fixed one, or the active model's learned one (a bpe:N name means that model's merges). */
function tokenizerNamed(name: string): Tokenizer {
  if (bpeVocabSize(name) !== null && loaded?.tokenizer.name === name) return loaded.tokenizer;
  return getTokenizer(name);
}

/** The last BPE learned for a file in the tokens panel: asking again for the same file and size learns nothing. */
let lastLearned: { key: string; tokenizer: Tokenizer } | null = null;

async function learnedForFile(name: string, file: string): Promise<Tokenizer> {
  const key = `${name}\u0000${file.length}\u0000${file}`;
  if (lastLearned?.key !== key) lastLearned = { key, tokenizer: await tokenizerForText(name, file) };
  return lastLearned.tokenizer;
}

function requireModel(): Loaded {
  if (!loaded) throw new Error('no model is loaded: train one or open a model file first');
  return loaded;
}

/** Without the addon (the universal VSIX), the wasm build's NativeGPT decodes and scores windows: loads it (once). */
async function decoderClassReady(): Promise<void> {
  if (!nativeGPTClass()) await loadWasmTrainer();
}

function decoderOf(m: Loaded): KVCacheSession {
  return (m.decoder ??= new KVCacheSession(m.model));
}

function replace(next: Loaded): void {
  loaded?.decoder?.dispose();
  loaded?.model.dispose();
  loaded = next;
  void decoderClassReady(); // now rather than in the first hover
}

type Handlers = { [M in Method]: (params: ParamsOf<M>, id: number) => Promise<ResultOf<M>> | ResultOf<M> };

const handlers: Handlers = {
  init: (p) => (backend = selectBackend(p.backend, { native: p.native })),
  async train(p, id) {
    const controller = running.get(id) ?? new AbortController();
    const text = checkText(p.text, p.label);
    let size: ReturnType<typeof textSize>;
    try {
      size = textSize(text, await learnedTokenizers([p.choices.tokenizer], text, controller.signal)); // bpe:N learns here
    } catch (e) {
      if (controller.signal.aborted) return { summary: null, cancelled: true, error: null, steps: 0 };
      throw e;
    }
    const plan = resolveTrainSettings(p.choices, size);
    const meta = { preset: plan.preset, tokenizer: plan.tokenizer, settings: plan.settings, source: p.label };
    const checkpoint = p.out ? partialPath(p.out) : null;
    const saveCheckpoint = (m: ProbeContext, best: { step: number; valLoss: number }): void => {
      try {
        saveModel(checkpoint!, m.model, m.vocab, m.tokenizer, { steps: [], evals: [], best, ...meta, partial: true });
      } catch (e) {
        if (!(e instanceof BadWeightsError)) throw e; // weights that cannot be right are not worth a checkpoint
      }
    };
    let result;
    try {
      result = await trainOnText({ text, tokenizer: plan.tokenizer, learnedTokenizer: size.tokenizerOf(plan.tokenizer), tokenIds: size.idsOf(plan.tokenizer), model: plan.model, settings: plan.settings, plan: plan.sizing,
        trainer: p.trainer, signal: controller.signal, onEvent: (event) => send({ type: 'event', id, params: event }),
        onCheckpoint: checkpoint ? saveCheckpoint : undefined });
    } catch (e) {
      if (controller.signal.aborted) return { summary: null, cancelled: true, error: null, steps: 0 }; // before the first step
      throw e;
    }
    const history = { ...result.history, ...meta, partial: false, finished: new Date().toISOString() };
    const next: Loaded = { model: result.model, vocab: result.vocab, tokenizer: result.tokenizer, history, file: null };
    if (result.error) {
      // A run that failed never replaces the active model or a saved one; its checkpoint is not worth keeping.
      result.model.dispose();
      if (checkpoint) fs.rmSync(checkpoint, { force: true });
      return { summary: null, cancelled: false, error: result.error, steps: result.history.steps.length };
    }
    if (p.out) {
      saveModel(p.out, next.model, next.vocab, next.tokenizer, history);
      next.file = p.out;
      if (checkpoint) fs.rmSync(checkpoint, { force: true });
    }
    replace(next);
    return { summary: summary(next), cancelled: result.cancelled, error: null, steps: result.history.steps.length };
  },
  cancel: (p) => {
    const c = running.get(p.requestId);
    c?.abort();
    return { cancelled: c !== undefined };
  },
  load: (p) => {
    const m = loadModel(p.file);
    const next: Loaded = { model: m.model, vocab: m.vocab, tokenizer: m.tokenizer, history: m.history as Loaded['history'], file: p.file };
    replace(next);
    return summary(next);
  },
  save: (p) => {
    const m = requireModel();
    saveModel(p.file, m.model, m.vocab, m.tokenizer, m.history);
    m.file = p.file;
    return summary(m);
  },
  model: () => (loaded ? summary(loaded) : null),
  status: () => {
    const m = process.memoryUsage();
    return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, tensors: tf.memory().numTensors, training: running.size > 0 };
  },
  tokenize: (p) => {
    const tokens = tokenChunks(tokenizerNamed(p.encoding), p.text);
    return { count: tokens.length, tokens };
  },
  tokenLoss: async (p) => {
    await decoderClassReady();
    const m = requireModel();
    // The native model scores all the windows in one pass, each weight read once; without it, the tfjs model does.
    const decoder = decoderOf(m);
    return perTokenLoss(decoder.path === 'native' ? { ...m, scoreWindows: (inputs, targets, B, T) => decoder.rowLosses(inputs, targets, B, T) } : m,
      p.text, p.from);
  },
  compareTokenizers: async (p) => compareTokenizers(loaded, p.selection, p.file,
    p.bpeVocabSize === undefined ? [] : [await learnedForFile(`bpe:${p.bpeVocabSize}`, p.file)]),
  bpeReplay: (p) => bpeReplay(p.text, p.vocabSize),
  sample: async (p) => {
    await decoderClassReady();
    const m = requireModel();
    let prompt = m.vocab.encode(m.tokenizer.encode(p.prompt));
    if (prompt.length === 0) prompt = Int32Array.of(1);
    const ids: number[] = [];
    const decode = (): string => m.tokenizer.decode(m.vocab.decode(Int32Array.from(ids)));
    generate(m.model, prompt, p.tokens, validateSampling(p.sampling), new Rng(p.seed), (id) => {
      ids.push(id);
      // Only a token that can hold a newline needs the (whole, so characters split across tokens stay whole) decode.
      return !(p.stopAtNewline && m.vocab.display(m.tokenizer, id).includes('\n') && decode().includes('\n'));
    }, decoderOf(m));
    const text = decode();
    return { text: p.stopAtNewline && text.includes('\n') ? text.slice(0, text.indexOf('\n')) : text };
  },
  nextToken: (p) => nextToken(requireModel(), p.text, p.k, p.sampling ? validateSampling(p.sampling) : undefined),
  attention: (p) => attentionMaps(requireModel(), p.text),
  lens: (p) => logitLens(requireModel(), p.text, p.k),
  neighbours: (p) => {
    const m = requireModel();
    const id = singleTokenId(m, p.token);
    return { id, nearest: neighbours(m, id, p.k) };
  },
  analogy: (p) => analogy(requireModel(), p.a, p.b, p.c, p.k),
  projection: () => embeddingPca(requireModel()),
  evaluate: (p) => evaluateText(requireModel(), p.text),
  compare: (p, id) => compareForEngine(p, running.get(id)?.signal, (event) => send({ type: 'event', id, params: event })),
};

async function dispatch(req: EngineRequest): Promise<void> {
  if (req.type === 'train' || req.type === 'compare') running.set(req.id, new AbortController());
  try {
    if (req.type !== 'init' && req.type !== 'cancel') await (backend ??= selectBackend('auto'));
    const handler = handlers[req.type] as (params: unknown, id: number) => unknown;
    const result = await handler(req.params, req.id);
    send({ type: 'result', id: req.id, params: result });
  } catch (e) {
    send({ type: 'error', id: req.id, params: { message: e instanceof Error ? e.message : String(e) } });
  } finally {
    running.delete(req.id);
  }
}

process.on('message', (msg: unknown) => {
  if (isEngineRequest(msg)) void dispatch(msg);
});
process.on('disconnect', () => process.exit(0)); // the host went away: nothing left to serve
