// The engine process: trains and probes off the extension host's thread. A crash or out-of-memory here ends only
// this process; the client sees it and reports it. Requests are served between training steps, so probes and
// hovers get answers while a run goes on (from the active model, which a run replaces only when it ends, and only
// with a better model). Every request can be cancelled; long ones (comparing tokenizers on a large file, learning a
// BPE, sampling) check their signal between slices of work, so a hover waiting behind them is answered soon.
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { ComputePlan } from '../compute/plan';
import { decodeModel, encodeModel, loadModel, saveModel } from '../io/checkpoint';
import { checkDestination } from '../io/files';
import { isEngineRequest, MAX_SAMPLE_TOKENS, type EngineReply, type EngineRequest, type Method, type ModelSummary,
  type ParamsOf, type ResultOf } from '../protocol/engine';
import { analogy, comparedTokenizers, compareTokenizers, DISPLAY_CHARS, embeddingPca, logitLens, nextToken, perTokenLoss,
  textNeighbours, type ProbeContext } from '../probes/probes';
import { attentionLayers, attentionMap, attentionProbe, attentionRows, AttentionStore, type TextAttention } from '../probes/attention';
import { KVCacheSession } from '../inference/kvCache';
import { Rng } from '../common/rng';
import { completeWords, generate, validateSampling, WordModeCompletion } from '../inference/sample';
import { checkText } from '../text/checks';
import { countTokensAsync, isTokenizerName, type Tokenizer } from '../text/tokenizers';
import { bpeReplay, tokenizerForText } from '../text/bpe';
import { readRunChoices } from '../training/choices';
import { runTraining } from './run';
import { compareForEngine } from '../training/compare';
import { type AttentionHead, type History } from '../protocol';
import { InterpState, interpHandlers } from './interpMethods';

interface Loaded extends ProbeContext {
  history: (History & { partial?: boolean }) | null;
  file: string | null;
  /** The KV-cache decoder and its copy of the weights (a model here never changes), made on first use. */
  decoder?: KVCacheSession;
  /** Its snapshots, the model at the snapshot last probed, its training text for copy checks (interpMethods.ts). */
  interp?: InterpState;
}

// A background engine (the one that trains) runs at the lowest priority (nice 19, idle class on Windows); threads it
// starts later (the native pool) inherit that. A run then has every core the editor leaves free, and a hover or a
// completion served by the other engine takes them back at once (at nice 10 a classic hover's p95 was 29 ms, at 19
// 23 ms, while classic trained).
if (process.env.GPTLAB_BACKGROUND === '1') os.setPriority(os.constants.priority.PRIORITY_LOW);

/** Longest a `sample` request holds the engine; a completion that needs longer comes back shorter. */
const SAMPLE_BUDGET_MS = 2000;

let loaded: Loaded | null = null;
/** The compute plan made by `init`; a request that comes first (say, to a restarted engine) gets the automatic one. */
let plan: Promise<ComputePlan> | null = null;
/** Every request from the moment it arrives until it is answered (a cancel that comes while one waits counts). */
const running = new Map<number, { method: Method; controller: AbortController }>();

function send(reply: EngineReply): void {
  process.send?.(reply);
}

function summary(m: Loaded): ModelSummary {
  return { config: m.model.config, tokenizer: m.tokenizer.name, parameters: m.model.parameterCount, file: m.file,
    best: m.history?.best ?? null, partial: m.history?.partial === true };
}

/** The last BPE learned for a file in the tokens panel: asking again for the same file and size learns nothing. */
let lastLearned: { key: string; tokenizer: Tokenizer } | null = null;

async function learnedForFile(name: string, file: string, signal: AbortSignal): Promise<Tokenizer> {
  const key = `${name}\u0000${file.length}\u0000${file}`;
  if (lastLearned?.key !== key) lastLearned = { key, tokenizer: await tokenizerForText(name, file, signal) };
  return lastLearned.tokenizer;
}

/** Token counts of recent long texts (the tokens panel asks about the same file again and again), by tokenizer and text. */
const recentCounts = new Map<string, number>();
const RECENT_COUNTS = 64;

/** A text's token count, counted in slices that let other requests in (and `signal` stop it), then remembered. */
async function countedTokens(tok: Tokenizer, text: string, signal: AbortSignal): Promise<number> {
  if (!isTokenizerName(tok.name)) return countTokensAsync(tok, text, signal); // a learned BPE: its name does not say which
  const key = `${tok.name}\u0000${text.length}\u0000${createHash('sha256').update(text).digest('hex')}`;
  let n = recentCounts.get(key);
  if (n === undefined) {
    n = await countTokensAsync(tok, text, signal);
    if (recentCounts.size >= RECENT_COUNTS) recentCounts.delete(recentCounts.keys().next().value!);
    recentCounts.set(key, n);
  }
  return n;
}

function requireModel(): Loaded {
  if (!loaded) throw new Error('no model is loaded: train one or open a model file first');
  return loaded;
}

function interpOf(m: Loaded): InterpState {
  return (m.interp ??= new InterpState(m, null));
}

/** The active model, or the model as it was at one of its snapshots. */
function modelAt(p: { snapshot?: number }): ProbeContext {
  return interpOf(requireModel()).context(p);
}

function decoderOf(m: Loaded, compute: ComputePlan): KVCacheSession {
  return (m.decoder ??= new KVCacheSession(m.model, compute));
}

/**
 * The attention of the last text (and snapshot) a panel probed, kept for its next map or row: the compiled decoder's
 * forward pass for the active model when it has one, the tfjs model's for a snapshot.
 */
const attentionStore = new AttentionStore();

function attentionOf(p: { text: string; snapshot?: number }, compute: ComputePlan, upTo?: number): TextAttention {
  if (p.snapshot !== undefined) return attentionStore.of(modelAt(p), p.text, undefined, upTo);
  const m = requireModel();
  const decoder = decoderOf(m, compute);
  return attentionStore.of(m, p.text, decoder.path === 'native' ? (ids, layers) => decoder.attention(ids, layers) : undefined, upTo);
}

/**
 * An `attention` request as the model can answer it: its open maps, less those of layers or heads the model does not
 * have (a panel's open map may be an earlier model's; none left: layer 0, head 0), and the layers to run: all, or the
 * first `layers` (at most N), and at least those of its open maps.
 */
function attentionRequest(p: ParamsOf<'attention'>, ctx: ProbeContext): { open: { layer: number; head: AttentionHead }[]; upTo?: number } {
  const { layers: N, heads: H } = ctx.model.config;
  const fits = p.open?.filter((m) => Number.isInteger(m.layer) && m.layer >= 0 && m.layer < N &&
    (m.head === 'mean' || (Number.isInteger(m.head) && m.head >= 0 && m.head < H)));
  const open = fits?.length ? fits : [{ layer: 0, head: 0 }];
  if (p.layers === undefined) return { open };
  if (!(Number.isInteger(p.layers) && p.layers >= 1)) throw new Error(`layers must be a whole number from 1, not ${String(p.layers)}`);
  return { open, upTo: Math.min(N, Math.max(p.layers, ...open.map((m) => m.layer + 1))) };
}

function replace(next: Loaded): void {
  attentionStore.clear();
  loaded?.decoder?.dispose();
  loaded?.interp?.dispose();
  loaded?.model.dispose();
  loaded = next;
}

interface RequestContext {
  id: number;
  signal: AbortSignal;
  compute: ComputePlan;
}

/** Live tfjs tensors; none while the backend is still starting (tfjs cannot count before it is ready). */
function liveTensors(): number {
  try {
    return tf.memory().numTensors;
  } catch {
    return 0;
  }
}

/** Answered at once, before the compute plan is ready: stopping a request, and "are you there". */
type Immediate = 'cancel' | 'status';
type Handlers<Ms extends Method, C> = { [M in Ms]: (params: ParamsOf<M>, ctx: C) => Promise<ResultOf<M>> | ResultOf<M> };

const immediate: Handlers<Immediate, unknown> = {
  cancel: (p) => {
    const r = running.get(p.requestId);
    r?.controller.abort();
    return { cancelled: r !== undefined };
  },
  status: () => {
    const m = process.memoryUsage();
    return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, tensors: plan === null ? 0 : liveTensors(),
      busy: [...running.values()].map((r) => r.method).filter((method) => method !== 'status') };
  },
};

const handlers: Handlers<Exclude<Method, Immediate>, RequestContext> = {
  init: (_p, ctx) => ctx.compute.backend,
  async train(p, ctx) {
    const text = checkText(p.text, p.label);
    const { choices } = readRunChoices(p.settings, 'setting');
    const stopped = { summary: null, cancelled: true, error: null, steps: 0, kept: 'previous' as const, comparison: null, notes: [], saveProblem: null };
    let outcome: Awaited<ReturnType<typeof runTraining>>;
    try {
      outcome = await runTraining({ text, choices, plan: ctx.compute, out: p.out, beside: () => p.beside, inputs: p.inputs,
        checkpoint: p.checkpoint, snapshots: p.snapshots, signal: ctx.signal, onEvent: (event) => send({ type: 'event', id: ctx.id, params: event }) });
    } catch (e) {
      if (ctx.signal.aborted) return stopped; // before the first step (learning a BPE, reading the text)
      throw e;
    }
    const { result } = outcome;
    const next: Loaded = { model: result.model, vocab: result.vocab, tokenizer: result.tokenizer,
      history: result.history, file: outcome.saved };
    next.interp = new InterpState(next, outcome.snapshots, text);
    const made = summary(next);
    // This engine keeps the new model only when it is the document's model now (or exists nowhere else).
    if (outcome.kept === 'new' || outcome.saved === null) replace(next);
    else result.model.dispose();
    return { summary: made, cancelled: result.cancelled, error: result.error, steps: result.history.steps.length, kept: outcome.kept,
      comparison: outcome.comparison && { bytes: outcome.comparison.bytes, new: outcome.comparison.new, previous: outcome.comparison.previous },
      notes: outcome.notes, saveProblem: outcome.saveProblem };
  },
  load: (p, ctx) => {
    const options = { matmul: ctx.compute.matmul };
    const m = 'file' in p ? loadModel(p.file, options) : decodeModel(p.bytes, options);
    const next: Loaded = { model: m.model, vocab: m.vocab, tokenizer: m.tokenizer, history: m.history as Loaded['history'],
      file: 'file' in p ? p.file : null };
    next.interp = 'file' in p ? InterpState.forFile(next, p.file) : new InterpState(next, null);
    replace(next);
    return summary(next);
  },
  modelBytes: () => {
    const m = requireModel();
    return encodeModel(m.model, m.vocab, m.tokenizer, m.history);
  },
  save: (p) => {
    const m = requireModel();
    checkDestination(p.file, p.inputs); // as --out: never a training text, never a device, pipe or folder
    saveModel(p.file, m.model, m.vocab, m.tokenizer, m.history);
    interpOf(m).saveBeside(p.file);
    m.file = p.file;
    return summary(m);
  },
  tokenLoss: (p, ctx) => {
    if (p.snapshot !== undefined) return perTokenLoss(modelAt(p), p.text, p.from);
    const m = requireModel();
    // A compiled decoder scores all the windows in one pass, each weight read once; without one, the tfjs model does.
    const decoder = decoderOf(m, ctx.compute);
    return perTokenLoss(decoder.path === 'native' ? { ...m, scoreWindows: (inputs, targets, B, T) => decoder.rowScores(inputs, targets, B, T) } : m,
      p.text, p.from);
  },
  compareTokenizers: async (p, ctx) => {
    const learned = p.bpeVocabSize === undefined ? [] : [await learnedForFile(`bpe:${p.bpeVocabSize}`, p.file, ctx.signal)];
    const counts = new Map<Tokenizer, Map<string, number>>();
    for (const tok of comparedTokenizers(loaded, learned)) {
      const mine = new Map<string, number>();
      for (const text of p.selection.length > DISPLAY_CHARS ? [p.file, p.selection] : [p.file]) {
        mine.set(text, await countedTokens(tok, text, ctx.signal));
      }
      counts.set(tok, mine);
    }
    return compareTokenizers(loaded, p.selection, p.file, learned, (tok, text) => counts.get(tok)?.get(text) ?? tok.encode(text).length);
  },
  bpeReplay: (p, ctx) => bpeReplay(p.text, p.vocabSize, ctx.signal),
  sample: (p, ctx) => {
    const m = requireModel();
    if (!Number.isInteger(p.tokens) || p.tokens < 1) throw new Error(`tokens must be a whole number of at least 1, got ${p.tokens}`);
    let prompt = m.vocab.encode(m.tokenizer.encode(p.prompt));
    if (prompt.length === 0) prompt = Int32Array.of(1);
    const ids: number[] = [];
    const decode = (): string => m.tokenizer.decode(m.vocab.decode(Int32Array.from(ids)));
    const until = performance.now() + SAMPLE_BUDGET_MS;
    const count = Math.min(p.tokens, MAX_SAMPLE_TOKENS);
    if (p.wordMode) {
      const words = new WordModeCompletion(p.prompt, p.wordMode.minProbability, p.stopAtNewline ?? true);
      const decodeIds = (all: readonly number[]): string => m.tokenizer.decode(m.vocab.decode(Int32Array.from(all)));
      return { text: completeWords(decoderOf(m, ctx.compute), prompt, count, decodeIds, words, () => performance.now() <= until) };
    }
    generate(decoderOf(m, ctx.compute), prompt, count, validateSampling(p.sampling), new Rng(p.seed), (id) => {
      ids.push(id);
      if (performance.now() > until) return false;
      // Only a token that can hold a newline needs the (whole, so characters split across tokens stay whole) decode.
      return !(p.stopAtNewline && m.vocab.display(m.tokenizer, id).includes('\n') && decode().includes('\n'));
    });
    const text = decode();
    return { text: p.stopAtNewline && text.includes('\n') ? text.slice(0, text.indexOf('\n')) : text };
  },
  nextToken: (p) => nextToken(modelAt(p), p.text, p.k, p.sampling ? validateSampling(p.sampling) : undefined),
  attention: (p, ctx) => {
    const { open, upTo } = attentionRequest(p, p.snapshot !== undefined ? modelAt(p) : requireModel());
    return attentionProbe(attentionOf(p, ctx.compute, upTo), p.thumbnail, open);
  },
  attentionLayers: (p, ctx) => attentionLayers(attentionOf(p, ctx.compute), p.from, p.thumbnail),
  attentionMap: (p, ctx) => attentionMap(attentionOf(p, ctx.compute), p.layer, p.head),
  attentionRows: (p, ctx) => attentionRows(attentionOf(p, ctx.compute), p.layer, p.query),
  lens: (p) => logitLens(modelAt(p), p.text, p.k),
  neighbours: (p) => textNeighbours(requireModel(), p.token, p.k),
  analogy: (p) => analogy(requireModel(), p.a, p.b, p.c, p.k),
  projection: (p) => embeddingPca(modelAt(p)),
  ...interpHandlers(() => interpOf(requireModel())),
  compare: (p, ctx) => compareForEngine(p, ctx.compute, ctx.signal, (event) => send({ type: 'event', id: ctx.id, params: event })),
};

/** The plan `init` asks for (its settings checked as the CLI's flags are); any other first request gets auto. */
function planFor(req: EngineRequest): Promise<ComputePlan> {
  if (req.type === 'init') {
    const { backend, trainer } = readRunChoices({ backend: req.params.backend, trainer: req.params.trainer }, 'setting');
    return (plan = ComputePlan.create({ backend, trainer }));
  }
  return (plan ??= ComputePlan.create({ backend: 'auto', trainer: 'auto' }));
}

async function dispatch(req: EngineRequest): Promise<void> {
  const controller = new AbortController();
  running.set(req.id, { method: req.type, controller });
  try {
    let result: unknown;
    if (req.type === 'cancel' || req.type === 'status') {
      result = (immediate[req.type] as (params: unknown, ctx: unknown) => unknown)(req.params, null);
    } else {
      const compute = await planFor(req);
      const handler = handlers[req.type] as (params: unknown, ctx: RequestContext) => unknown;
      result = await handler(req.params, { id: req.id, signal: controller.signal, compute });
    }
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
process.on('disconnect', () => process.exit(0)); // the host went away: nothing left to serve, and no one to write to
