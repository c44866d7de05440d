// The engine process: trains and probes off the extension host's thread. A crash or out-of-memory here ends only
// this process; the client sees it and reports it.
import { selectBackend } from './backend';
import { saveModel, loadModel } from './checkpoint';
import type { EngineReply, EngineRequest, ModelSummary, ParamsOf, ResultOf, Method } from './protocol';
import { attentionMaps, embeddingPca, evaluateText, logitLens, neighbours, nextToken, perTokenLoss, singleTokenId,
  type ProbeContext } from './probes';
import { Rng } from './rng';
import { generate, validateSampling } from './sample';
import { checkText } from './text';
import { getTokenizer, tokenChunks } from './tokenizers';
import { trainOnText } from './train';

interface Loaded extends ProbeContext {
  history: unknown;
  file: string | null;
}

let loaded: Loaded | null = null;
const running = new Map<number, AbortController>();

function send(reply: EngineReply): void {
  process.send?.(reply);
}

function summary(m: Loaded): ModelSummary {
  return { config: m.model.config, tokenizer: m.tokenizer.name, parameters: m.model.parameterCount, file: m.file };
}

function requireModel(): Loaded {
  if (!loaded) throw new Error('no model is loaded: train one or open a model file first');
  return loaded;
}

function replace(next: Loaded): void {
  loaded?.model.dispose();
  loaded = next;
}

type Handlers = { [M in Method]: (params: ParamsOf<M>, id: number) => Promise<ResultOf<M>> | ResultOf<M> };

const handlers: Handlers = {
  init: (p) => selectBackend(p.backend, { native: p.native }),
  async train(p, id) {
    const controller = new AbortController();
    running.set(id, controller);
    try {
      const result = await trainOnText({ text: checkText(p.text, p.label), tokenizer: p.tokenizer, model: p.model, settings: p.settings,
        signal: controller.signal, onEvent: (event) => send({ kind: 'event', id, event }) });
      const next: Loaded = { model: result.model, vocab: result.vocab, tokenizer: result.tokenizer, history: result.history, file: null };
      if (p.out) {
        saveModel(p.out, next.model, next.vocab, next.tokenizer.name, next.history);
        next.file = p.out;
      }
      replace(next);
      return { summary: summary(next), cancelled: result.cancelled, error: result.error, steps: result.history.steps.length };
    } finally {
      running.delete(id);
    }
  },
  cancel: (p) => {
    const c = running.get(p.requestId);
    c?.abort();
    return { cancelled: c !== undefined };
  },
  load: (p) => {
    const m = loadModel(p.file);
    const next: Loaded = { ...m, file: p.file };
    replace(next);
    return summary(next);
  },
  save: (p) => {
    const m = requireModel();
    saveModel(p.file, m.model, m.vocab, m.tokenizer.name, m.history);
    m.file = p.file;
    return summary(m);
  },
  tokenize: (p) => {
    const tokens = tokenChunks(getTokenizer(p.encoding), p.text);
    return { count: tokens.length, tokens };
  },
  sample: (p) => {
    const m = requireModel();
    let prompt = m.vocab.encode(m.tokenizer.encode(p.prompt));
    if (prompt.length === 0) prompt = Int32Array.of(1);
    const ids = generate(m.model, prompt, p.tokens, validateSampling(p.sampling), new Rng(p.seed));
    return { text: m.tokenizer.decode(m.vocab.decode(ids)) };
  },
  nextToken: (p) => nextToken(requireModel(), p.text, p.k, p.sampling),
  attention: (p) => attentionMaps(requireModel(), p.text),
  lens: (p) => logitLens(requireModel(), p.text, p.k),
  neighbours: (p) => {
    const m = requireModel();
    const id = singleTokenId(m, p.token);
    return { id, nearest: neighbours(m, id, p.k) };
  },
  projection: () => embeddingPca(requireModel()),
  tokenLoss: (p) => perTokenLoss(requireModel(), p.text),
  evaluate: (p) => evaluateText(requireModel(), p.text),
  crash: () => process.abort(),
};

async function dispatch(req: EngineRequest): Promise<void> {
  try {
    const handler = handlers[req.method] as (params: unknown, id: number) => unknown;
    const result = await handler(req.params, req.id);
    send({ kind: 'result', id: req.id, result });
  } catch (e) {
    send({ kind: 'error', id: req.id, message: e instanceof Error ? e.message : String(e) });
  }
}

process.on('message', (msg: EngineRequest) => void dispatch(msg));
process.on('disconnect', () => process.exit(0)); // the host went away: nothing left to serve
