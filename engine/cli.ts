// gpt-lab: the engine from a terminal. Exit 0 on success, 2 on bad usage or input (one line on stderr),
// 130 when training is interrupted (the model trained so far is saved), 1 on an unexpected failure.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeBackend, isBackendRequest, selectBackend, type BackendReport } from './backend';
import { isPresetName, resolveTrainSettings, type TrainChoices } from './config';
import { loadModel, ModelFileError, saveModel } from './checkpoint';
import { attentionMaps, evaluateText, logitLens, neighbours, nextToken, singleTokenId, type ProbeContext } from './probes';
import { Rng } from './rng';
import { generate, validateSampling, type SamplingOptions } from './sample';
import { decodeTextFile, InputError, MAX_TEXT_BYTES } from './text';
import { getTokenizer, isTokenizerName, textSize, tokenChunks, TOKENIZER_NAMES } from './tokenizers';
import { trainOnText, type TrainEvent } from './train';
import { UNKNOWN_ID } from './vocab';

const USAGE = `usage:
  gpt-lab train <file> [--preset auto|tiny|small|classic] [--tokenizer ${TOKENIZER_NAMES.join('|')}]
          [--steps N] [--batch B] [--context T] [--dim D] [--heads H] [--layers L] [--lr X] [--seed S]
          [--eval-every K] [--out model.safetensors] [--backend auto|tensorflow|wasm|cpu] [--json]
  gpt-lab sample <model> [--prompt TEXT] [--tokens N] [--temperature X] [--top-k K] [--top-p P] [--seed S] [--json]
  gpt-lab tokens [--encoding NAME] (--text TEXT | --file F) [--json]
  gpt-lab probe <model> --text TEXT [--topk K] [--attention] [--lens] [--neighbours TOKEN] [--json]
  gpt-lab eval <model> --file F [--json]`;

class UsageError extends Error {}

interface Parsed {
  positional: string[];
  flags: Map<string, string>;
  switches: Set<string>;
}

const SWITCHES = new Set(['json', 'attention', 'lens', 'help']);

function parseArgs(argv: string[], allowed: string[]): Parsed {
  const out: Parsed = { positional: [], flags: new Map(), switches: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      out.positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq === -1 ? undefined : eq);
    if (!allowed.includes(name)) throw new UsageError(`unknown option --${name}`);
    if (SWITCHES.has(name)) {
      out.switches.add(name);
    } else if (eq !== -1) {
      out.flags.set(name, a.slice(eq + 1));
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      out.flags.set(name, argv[++i]);
    }
  }
  return out;
}

function numberFlag(p: Parsed, name: string, opts: { int?: boolean; min?: number; max?: number } = {}): number | undefined {
  const raw = p.flags.get(name);
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got "${raw}"`);
  if (opts.int && !Number.isInteger(v)) throw new UsageError(`--${name} must be a whole number, got "${raw}"`);
  if (opts.min !== undefined && v < opts.min) throw new UsageError(`--${name} must be at least ${opts.min}, got ${raw}`);
  if (opts.max !== undefined && v > opts.max) throw new UsageError(`--${name} must be at most ${opts.max}, got ${raw}`);
  return v;
}

function onePositional(p: Parsed, what: string): string {
  if (p.positional.length !== 1) throw new UsageError(`expected one ${what}, got ${p.positional.length}`);
  return p.positional[0];
}

function readText(file: string): string {
  let bytes: Buffer;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_TEXT_BYTES) throw new InputError(`${file} is ${(size / 1048576).toFixed(1)} MB; the limit is ${MAX_TEXT_BYTES / 1048576} MB`);
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof InputError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? `${file} does not exist` : code === 'EISDIR' ? `${file} is a folder, not a file` : `cannot read ${file}: ${code ?? String(e)}`);
  }
  return decodeTextFile(bytes, file);
}

async function backendFrom(p: Parsed): Promise<BackendReport> {
  const name = p.flags.get('backend') ?? 'auto';
  if (!isBackendRequest(name)) throw new UsageError(`--backend must be auto, tensorflow, wasm or cpu, got "${name}"`);
  let report: BackendReport;
  try {
    report = await selectBackend(name);
  } catch (e) {
    throw new InputError(e instanceof Error ? e.message : String(e));
  }
  return report;
}

const print = (line: string): void => void process.stdout.write(line + '\n');
const json = (obj: unknown): void => print(JSON.stringify(obj));

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Progress for people: a redrawn bar on a terminal, a line every 10% otherwise. */
function humanProgress(backend: string): (e: TrainEvent) => void {
  const tty = process.stderr.isTTY;
  let lastDecile = -1;
  return (e) => {
    if (e.event === 'start') {
      process.stderr.write(`backend ${backend}\ntraining: ${e.trainer}\nmodel: ${(e.parameters / 1e6).toFixed(2)}M parameters, vocabulary ${e.vocabSize} of ${e.tokenizer}'s ${e.tokenizerVocab} ids; ` +
        `${e.trainTokens} training and ${e.valTokens} validation tokens\n`);
    } else if (e.event === 'step') {
      const width = 24, filled = Math.round((e.step / e.steps) * width);
      const line = `step ${e.step}/${e.steps} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] loss ${e.loss.toFixed(4)} | ` +
        `${Math.round(e.tokensPerSec)} tok/s | ETA ${duration(e.etaMs)}`;
      const decile = Math.floor((e.step / e.steps) * 10);
      if (tty) process.stderr.write(`\r${line}\x1b[K`);
      else if (decile !== lastDecile) process.stderr.write(line + '\n');
      lastDecile = decile;
    } else if (e.event === 'eval') {
      process.stderr.write(`${tty ? '\r\x1b[K' : ''}eval at step ${e.step}: train ${e.trainLoss.toFixed(4)}, val ${e.valLoss === null ? 'n/a' : e.valLoss.toFixed(4)}\n`);
    } else if (e.event === 'sample') {
      process.stderr.write(`${tty ? '\r\x1b[K' : ''}sample at step ${e.step}:\n${e.text}\n---\n`);
    } else if (e.event === 'warning') {
      process.stderr.write(`${tty ? '\r\x1b[K' : ''}warning: ${e.message}\n`);
    } else {
      process.stderr.write(`${tty ? '\n' : ''}${e.cancelled ? 'cancelled' : e.error ? 'stopped' : 'done'} after ${e.step} steps in ${duration(e.elapsedMs)}` +
        `${e.loss === null ? '' : `, loss ${e.loss.toFixed(4)}`}${e.valLoss === null ? '' : `, val ${e.valLoss.toFixed(4)}`}\n`);
    }
  };
}

async function train(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['preset', 'tokenizer', 'steps', 'batch', 'context', 'dim', 'heads', 'layers', 'lr', 'seed',
    'eval-every', 'out', 'backend', 'json']);
  const file = onePositional(p, 'text file');
  const presetName = p.flags.get('preset') ?? 'tiny';
  if (presetName !== 'auto' && !isPresetName(presetName)) throw new UsageError(`--preset must be auto, tiny, small or classic, got "${presetName}"`);
  const tokenizerFlag = p.flags.get('tokenizer');
  if (tokenizerFlag !== undefined && !isTokenizerName(tokenizerFlag)) {
    throw new UsageError(`--tokenizer must be one of ${TOKENIZER_NAMES.join(', ')}, got "${tokenizerFlag}"`);
  }
  const choices: TrainChoices = {
    preset: presetName,
    tokenizer: tokenizerFlag,
    contextLength: numberFlag(p, 'context', { int: true, min: 1, max: 4096 }),
    dim: numberFlag(p, 'dim', { int: true, min: 1, max: 8192 }),
    heads: numberFlag(p, 'heads', { int: true, min: 1 }),
    layers: numberFlag(p, 'layers', { int: true, min: 1, max: 256 }),
    steps: numberFlag(p, 'steps', { int: true, min: 1 }),
    batchSize: numberFlag(p, 'batch', { int: true, min: 1, max: 65536 }),
    learningRate: numberFlag(p, 'lr', { min: 0 }),
    evalEvery: numberFlag(p, 'eval-every', { int: true, min: 0 }),
    seed: numberFlag(p, 'seed', { int: true }),
  };
  const out = p.flags.get('out') ?? `${path.basename(file).replace(/\.[^.]*$/, '') || 'model'}.safetensors`;
  if (path.resolve(out) === path.resolve(file)) throw new UsageError('--out must not be the training file itself');
  const asJson = p.switches.has('json');
  const text = readText(file);
  const { preset: resolvedPreset, tokenizer, model, settings } = resolveTrainSettings(choices, textSize(text));
  if (model.dim % model.heads !== 0) throw new UsageError(`--dim ${model.dim} must be divisible by --heads ${model.heads}`);
  const backend = await backendFrom(p);

  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  const progress = asJson ? null : humanProgress(describeBackend(backend));
  let finished: Extract<TrainEvent, { event: 'done' }> | null = null;
  const result = await trainOnText({
    text, tokenizer, model, settings, signal: controller.signal,
    onEvent: (e) => {
      if (e.event === 'done') finished = e; // reported below, once the model is saved
      else if (progress) progress(e);
      else json(e.event === 'start' ? { ...e, backend: backend.name, backendDetail: describeBackend(backend) } : e);
    },
  });
  process.removeListener('SIGINT', onSigint);
  const history = { ...result.history, preset: resolvedPreset, tokenizer, settings, backend: describeBackend(backend), finished: new Date().toISOString() };
  saveModel(out, result.model, result.vocab, tokenizer, history);
  if (finished === null) throw new Error('training ended without a done event');
  if (asJson) {
    json({ ...(finished as object), out });
  } else {
    progress?.(finished);
    if (result.error) process.stderr.write(`error: ${result.error}\n`);
    process.stderr.write(`saved ${out}\n`);
    if (!result.cancelled && !result.error) {
      const ctx = { model: result.model, vocab: result.vocab, tokenizer: result.tokenizer };
      for (let i = 0; i < 2; i++) {
        const prompt = Int32Array.of(result.vocab.modelId(result.tokenizer.encode('\n')[0]) || 1);
        const ids = generate(ctx.model, prompt, 160, { temperature: 0.8, topK: 0, topP: 1 }, new Rng(settings.seed + i));
        print(`--- sample ${i + 1} ---\n${result.tokenizer.decode(result.vocab.decode(ids))}`);
      }
    }
  }
  result.model.dispose();
  if (result.error) return 2;
  return result.cancelled ? 130 : 0;
}

function loadContext(file: string): ProbeContext {
  const { model, vocab, tokenizer } = loadModel(file);
  return { model, vocab, tokenizer };
}

async function sample(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['prompt', 'tokens', 'temperature', 'top-k', 'top-p', 'seed', 'json', 'backend']);
  const file = onePositional(p, 'model file');
  const sampling: SamplingOptions = validateSampling({
    temperature: numberFlag(p, 'temperature', { min: 0 }) ?? 0.8,
    topK: numberFlag(p, 'top-k', { int: true, min: 0 }) ?? 0,
    topP: numberFlag(p, 'top-p', { min: 0, max: 1 }) ?? 1,
  });
  const count = numberFlag(p, 'tokens', { int: true, min: 1, max: 100000 }) ?? 200;
  const seed = numberFlag(p, 'seed', { int: true }) ?? 1337;
  await backendFrom(p);
  const ctx = loadContext(file);
  const promptText = p.flags.get('prompt') ?? '\n';
  let prompt = ctx.vocab.encode(ctx.tokenizer.encode(promptText));
  const unknown = prompt.reduce((n, id) => n + (id === UNKNOWN_ID ? 1 : 0), 0);
  if (prompt.length === 0) prompt = Int32Array.of(1);
  const ids = generate(ctx.model, prompt, count, sampling, new Rng(seed));
  const text = ctx.tokenizer.decode(ctx.vocab.decode(ids));
  if (p.switches.has('json')) json({ prompt: promptText, text, tokens: ids.length, unknownPromptTokens: unknown, sampling, seed });
  else {
    if (unknown > 0) process.stderr.write(`note: ${unknown} prompt token(s) never occurred in training and read as <unk>\n`);
    print(promptText + text);
  }
  ctx.model.dispose();
  return 0;
}

function tokens(argv: string[]): number {
  const p = parseArgs(argv, ['encoding', 'text', 'file', 'json']);
  if (p.positional.length) throw new UsageError(`unexpected argument "${p.positional[0]}"`);
  const encoding = p.flags.get('encoding') ?? 'o200k_base';
  if (!isTokenizerName(encoding)) throw new UsageError(`--encoding must be one of ${TOKENIZER_NAMES.join(', ')}, got "${encoding}"`);
  const hasText = p.flags.has('text'), hasFile = p.flags.has('file');
  if (hasText === hasFile) throw new UsageError('give exactly one of --text or --file');
  const text = hasText ? p.flags.get('text')! : readText(p.flags.get('file')!);
  const chunks = tokenChunks(getTokenizer(encoding), text);
  if (p.switches.has('json')) {
    json({ encoding, count: chunks.length, characters: [...text].length, bytes: Buffer.byteLength(text), tokens: chunks });
  } else {
    const lines = [`${chunks.length} tokens (${encoding}), ${[...text].length} characters, ${Buffer.byteLength(text)} bytes`];
    for (const c of chunks) lines.push(`${String(c.id).padStart(7)}  ${JSON.stringify(c.text)}`);
    print(lines.join('\n'));
  }
  return 0;
}

async function probe(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['text', 'topk', 'attention', 'lens', 'neighbours', 'json', 'backend']);
  const file = onePositional(p, 'model file');
  const text = p.flags.get('text');
  if (text === undefined || text === '') throw new UsageError('probe needs --text');
  const k = numberFlag(p, 'topk', { int: true, min: 1, max: 1000 }) ?? 10;
  await backendFrom(p);
  const ctx = loadContext(file);
  try {
    const result: Record<string, unknown> = { next: nextToken(ctx, text, k) };
    if (p.switches.has('attention')) result.attention = attentionMaps(ctx, text);
    if (p.switches.has('lens')) result.lens = logitLens(ctx, text, Math.min(k, 5));
    const word = p.flags.get('neighbours');
    if (word !== undefined) {
      let id: number;
      try {
        id = singleTokenId(ctx, word);
      } catch (e) {
        throw new InputError(e instanceof Error ? e.message : String(e));
      }
      result.neighbours = { token: word, id, nearest: neighbours(ctx, id, k) };
    }
    if (p.switches.has('json')) json(result);
    else printProbe(result);
  } finally {
    ctx.model.dispose();
  }
  return 0;
}

function printProbe(r: Record<string, unknown>): void {
  const next = r.next as ReturnType<typeof nextToken>;
  if (next.cropped) print(`(the first ${next.cropped} tokens fall outside the context and were dropped)`);
  print(`next token after ${next.tokens.length} tokens:`);
  for (const t of next.top) print(`  ${(100 * t.prob).toFixed(2).padStart(6)}%  logit ${t.logit.toFixed(3).padStart(8)}  ${JSON.stringify(t.text)}`);
  const att = r.attention as ReturnType<typeof attentionMaps> | undefined;
  if (att) {
    print(`attention: ${att.layers.length} layers x ${att.layers[0]?.length ?? 0} heads over ${att.tokens.length} tokens; last token attends to:`);
    att.layers.forEach((heads, l) => heads.forEach((rows, h) => {
      const row = rows[rows.length - 1];
      const best = row.map((w, i) => [w, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 3);
      print(`  L${l}H${h}: ${best.map(([w, i]) => `${JSON.stringify(att.tokens[i].text)} ${w.toFixed(2)}`).join(', ')}`);
    }));
  }
  const lens = r.lens as ReturnType<typeof logitLens> | undefined;
  if (lens) {
    print('logit lens at the last position (layer: top tokens):');
    lens.layers.forEach((positions, l) => {
      const top = positions[positions.length - 1].top;
      print(`  ${l === 0 ? 'embed' : `L${l - 1}`.padEnd(5)} ${top.map((t) => `${JSON.stringify(t.text)} ${(100 * t.prob).toFixed(1)}%`).join(', ')}`);
    });
  }
  const nb = r.neighbours as { token: string; nearest: ReturnType<typeof neighbours> } | undefined;
  if (nb) {
    print(`nearest to ${JSON.stringify(nb.token)} in the embedding (cosine):`);
    for (const n of nb.nearest) print(`  ${n.cosine.toFixed(4)}  ${JSON.stringify(n.text)}`);
  }
}

async function evaluate(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['file', 'json', 'backend']);
  const modelFile = onePositional(p, 'model file');
  const file = p.flags.get('file');
  if (!file) throw new UsageError('eval needs --file');
  const text = readText(file);
  await backendFrom(p);
  const ctx = loadContext(modelFile);
  let r: ReturnType<typeof evaluateText>;
  try {
    r = evaluateText(ctx, text);
  } catch (e) {
    throw new InputError(e instanceof Error ? e.message : String(e));
  } finally {
    ctx.model.dispose();
  }
  if (p.switches.has('json')) json({ loss: r.loss, perplexity: r.perplexity, bitsPerByte: r.bitsPerByte, tokens: r.tokens, unknownTokens: r.unknown });
  else print(`loss ${r.loss.toFixed(4)} nats/token, perplexity ${r.perplexity.toFixed(2)}, ${r.bitsPerByte.toFixed(4)} bits/byte over ${r.tokens} tokens` +
    (r.unknown ? ` (${r.unknown} never seen in training)` : ''));
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  // `gpt-lab tokens --file big.txt | head` closes the pipe early: that is not an error
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'train': return await train(rest);
      case 'sample': return await sample(rest);
      case 'tokens': return tokens(rest);
      case 'probe': return await probe(rest);
      case 'eval': return await evaluate(rest);
      case undefined: case '--help': case '-h': case 'help':
        print(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`gpt-lab: ${e.message}\n${USAGE.split('\n').find((l) => l.includes(`gpt-lab ${command ?? ''}`)) ?? ''}\n`);
      return 2;
    }
    if (e instanceof InputError || e instanceof ModelFileError) {
      process.stderr.write(`gpt-lab: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`gpt-lab: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    return 1;
  }
}
