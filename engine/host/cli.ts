// gpt-lab: the engine from a terminal. Exit 0 on success, 2 on bad usage or input (one line on stderr),
// 130 when training is interrupted (the model trained so far is saved), 1 on an unexpected failure.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeBackend } from '../compute/tfjsBackend';
import { ComputePlan } from '../compute/plan';
import { BadWeightsError, loadModel, ModelFileError } from '../io/checkpoint';
import { besidePath, checkDestination, partialPath, readBounded, shown } from '../io/files';
import { escapeControls, exitAfterDrain, safeStderr, safeStdout } from '../io/output';
import { attentionMaps, evaluateText, logitLens, neighbours, nextToken, singleTokenId, type ProbeContext } from '../probes/probes';
import { Rng } from '../common/rng';
import { formatDuration, formatEarlyStop, formatEta } from '../common/format';
import { generate, validateSampling } from '../inference/sample';
import { KVCacheSession } from '../inference/kvCache';
import { InputError, UsageError } from '../common/errors';
import { decodeTextFile, MAX_TEXT_BYTES } from '../text/checks';
import { isTokenizerChoice, iterTokenChunks, TOKENIZER_CHOICES, TOKENIZER_NAMES } from '../text/tokenizers';
import { tokenizerForText } from '../text/bpe';
import { CHOICE_RULES, ChoiceError, readRunChoices, type ChoiceKey, type RawChoices, type RunChoices } from '../training/choices';
import { EXPORT_TARGETS, exportModelFile, isExportTarget } from './export';
import { runTraining } from './run';
import { COMPARE_USAGE, compareCommand } from './compareCommand';
import { UNKNOWN_ID } from '../text/vocab';
import { describeTrainingPath, type SamplingOptions, type TrainEvent } from '../protocol';
import { INTERP_PROBE_FLAGS, INTERP_SWITCHES, interpProbe, interpProbeOptions, printInterp, writePerToken, type InterpProbe } from './interp';
import { snapshotsPath } from '../io/snapshots';

const USAGE = `usage:
  gpt-lab train <file> [--preset auto|tiny|small|classic] [--tokenizer ${TOKENIZER_NAMES.join('|')}|bpe:N]
          [--steps N] [--batch B] [--context T] [--dim D] [--heads H] [--layers L] [--lr X] [--seed S]
          [--arch SWITCHES] [--eval-every K] [--out model.safetensors] [--backend auto|tensorflow|wasm|cpu]
          [--trainer auto|native|wasm|tfjs|webgpu] [--snapshots N] [--json]
          SWITCHES: key=value,... for any model switch, e.g. kvHeads=1,positions=rope,qkNorm=true,ffnMult=0
          0 (or nothing) for --steps, --batch, --context, --dim, --heads, --layers or --lr: the preset's
          (--steps: sized to the text, at most 25 passes, stopping early once validation stops improving). An existing
          --out is replaced only by a model that scores better on the same validation text; otherwise the new model
          goes beside it (model.new.safetensors) and both scores are shown.
          --snapshots N keeps N float16 snapshots of the weights in <out>.snapshots.safetensors
  gpt-lab sample <model> [--prompt TEXT] [--tokens N] [--temperature X] [--top-k K] [--top-p P] [--seed S] [--json]
  gpt-lab tokens [--encoding NAME|bpe:N] (--text TEXT | --file F) [--json]
  gpt-lab probe <model> --text TEXT [--topk K] [--attention] [--lens] [--neighbours TOKEN] [--head-roles] [--attribution]
          [--ablate L.H,...] [--ablation zero|mean] [--snapshot K] [--timeline] [--json]
          --ablate reruns the probe with those heads (layer.head from 0; L.* for a whole layer) switched off
  gpt-lab eval <model> --file F [--per-token] [--json]   (--per-token: each token's surprise and entropy, in bits)
  gpt-lab export <model> --to nanogpt|hf --out DIR [--text TRAINING_FILE] [--json]
${COMPARE_USAGE}`;

interface Parsed {
  positional: string[];
  flags: Map<string, string>;
  switches: Set<string>;
}

const SWITCHES = new Set(['json', 'attention', 'lens', 'help', ...INTERP_SWITCHES]);

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

function usage<R>(what: string, f: () => R): R {
  try {
    return f();
  } catch (e) {
    throw new UsageError(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function onePositional(p: Parsed, what: string): string {
  if (p.positional.length !== 1) throw new UsageError(`expected one ${what}, got ${p.positional.length}`);
  return p.positional[0];
}

/** Every text input goes through the one bounded reader (files.ts): pipes and devices are capped while reading. */
function readText(file: string): string {
  return decodeTextFile(readBounded(file, MAX_TEXT_BYTES, 'the limit'), shown(file));
}

// All output goes through safe streams (output.ts): a closed pipe or a full disk never stops training or a save.
const print = (line: string): void => void safeStdout().write(line + '\n');
const stderrWrite = (text: string): void => void safeStderr().write(text);
const json = (obj: unknown): void => print(JSON.stringify(obj));

/** Progress for people: a redrawn bar on a terminal, a line every 10% otherwise. */
function humanProgress(backend: string): (e: TrainEvent) => void {
  const tty = safeStderr().isTTY;
  let lastDecile = -1;
  return (e) => {
    if (e.event === 'start') {
      stderrWrite(`backend ${backend}\ntraining: ${describeTrainingPath(e.training)}\nmodel: ${(e.parameters / 1e6).toFixed(2)}M parameters, vocabulary ${e.vocabSize} of ${e.tokenizer}'s ${e.tokenizerVocab} ids; ` +
        `${e.trainTokens} training and ${e.valTokens} validation tokens\n`);
    } else if (e.event === 'step') {
      const width = 24, filled = Math.round((e.step / e.steps) * width);
      const line = `step ${e.step}/${e.steps} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] loss ${e.loss.toFixed(4)} | ` +
        `${Math.round(e.tokensPerSec)} tok/s | ETA ${formatEta(e.etaMs, e.etaRangeMs)}`;
      const decile = Math.floor((e.step / e.steps) * 10);
      if (tty) stderrWrite(`\r${line}\x1b[K`);
      else if (decile !== lastDecile) stderrWrite(line + '\n');
      lastDecile = decile;
    } else if (e.event === 'eval') {
      stderrWrite(`${tty ? '\r\x1b[K' : ''}eval at step ${e.step}: train ${e.trainLoss.toFixed(4)}, val ${e.valLoss === null ? 'n/a' : e.valLoss.toFixed(4)}\n`);
    } else if (e.event === 'sample') {
      stderrWrite(`${tty ? '\r\x1b[K' : ''}sample at step ${e.step}:\n${e.text}\n---\n`);
    } else if (e.event === 'warning') {
      stderrWrite(`${tty ? '\r\x1b[K' : ''}warning: ${e.message}\n`);
    } else if (e.event === 'checkpoint') {
      // Quiet: the done line says which weights were kept.
    } else {
      stderrWrite(`${tty ? '\n' : ''}${e.cancelled ? 'cancelled' : e.error ? 'stopped' : 'done'} after ${e.step} steps in ${formatDuration(e.elapsedMs)}` +
        `${e.loss === null ? '' : `, loss ${e.loss.toFixed(4)}`}${e.valLoss === null ? '' : `, val ${e.valLoss.toFixed(4)}`}\n` +
        (e.stoppedEarly ? `${formatEarlyStop(e.stoppedEarly)}\n` : '') +
        (e.restoredBest && e.best ? `kept the best model, from step ${e.best.step} (val ${e.best.valLoss.toFixed(4)})\n` : ''));
    }
  };
}

/** The run's flags, by choice (training/choices.ts reads and checks them, as it does the editor's settings). */
function rawChoices(p: Parsed): RawChoices {
  const raw: RawChoices = {};
  for (const key of Object.keys(CHOICE_RULES) as ChoiceKey[]) {
    const flag = CHOICE_RULES[key].flag;
    if (flag !== undefined) raw[key] = p.flags.get(flag);
  }
  return raw;
}


/** The engine's compute plan for this command: the backend asked for (a backend that cannot load is bad input). */
async function planFor(run: Pick<RunChoices, 'backend' | 'trainer'>): Promise<ComputePlan> {
  try {
    return await ComputePlan.create({ backend: run.backend, trainer: run.trainer });
  } catch (e) {
    throw new InputError(e instanceof Error ? e.message : String(e));
  }
}

/** The plan of a command that only reads models (sample, probe, eval, export): its --backend, checked like train's. */
async function readerPlan(p: Parsed): Promise<ComputePlan> {
  return planFor(readRunChoices({ backend: p.flags.get('backend') }, 'flag'));
}

async function train(argv: string[]): Promise<number> {
  const p = parseArgs(argv, [...Object.values(CHOICE_RULES).flatMap((r) => (r.flag ? [r.flag] : [])), 'out', 'snapshots', 'json']);
  const run = readRunChoices(rawChoices(p), 'flag');
  const snapshots = numberFlag(p, 'snapshots', { int: true, min: 2, max: 64 });
  const file = onePositional(p, 'text file');
  const outFlag = p.flags.get('out');
  if (outFlag !== undefined && outFlag.trim() === '') throw new UsageError('--out is empty: give a file name');
  const out = outFlag ?? `${path.basename(file).replace(/\.[^.]*$/, '') || 'model'}.safetensors`;
  checkDestination(out, [file]); // before any work: a run is never lost to an --out that cannot be written
  const asJson = p.switches.has('json');
  const text = readText(file);
  const plan = await planFor(run);

  // Ctrl-C: the first stops training and saves what was trained; a second, before the save starts, quits without
  // saving. Until training starts (tokenizing, building the model) there is nothing to save and Ctrl-C quits at once.
  const controller = new AbortController();
  let saveStarted = false;
  const onSigint = (): void => {
    if (saveStarted) return; // the save always finishes
    if (!controller.signal.aborted) {
      controller.abort();
      if (!asJson) stderrWrite(`${safeStderr().isTTY ? '\r\x1b[K' : ''}stopping; the model trained so far will be saved (Ctrl-C again to quit without saving)\n`);
      return;
    }
    stderrWrite('gpt-lab: stopped without saving the model\n');
    void exitAfterDrain(130);
  };
  const progress = asJson ? null : humanProgress(describeBackend(plan.backend));
  let finished: Extract<TrainEvent, { event: 'done' }> | null = null;
  const outcome = await runTraining({
    text, choices: run.choices, plan, out, beside: (why) => besidePath(out, why), inputs: [file], checkpoint: partialPath(out),
    snapshots, signal: controller.signal,
    onEvent: (e) => {
      if (e.event === 'start') process.on('SIGINT', onSigint);
      if (e.event === 'done') {
        finished = e; // reported below, once the model is saved
        saveStarted = true;
      } else if (progress) progress(e);
      else json(e.event === 'start' ? { ...e, trainer: describeTrainingPath(e.training), backend: plan.backend.name, backendDetail: describeBackend(plan.backend) } : e);
    },
  });
  process.removeListener('SIGINT', onSigint);
  const { result } = outcome;
  if (finished === null) throw new Error('training ended without a done event');
  const comparison = outcome.comparison && { bytes: outcome.comparison.bytes, new: outcome.comparison.new, previous: outcome.comparison.previous };
  const snapshotsFile = outcome.snapshots && outcome.saved ? snapshotsPath(outcome.saved) : null;
  if (asJson) {
    json({ ...(finished as object), out: outcome.saved, kept: outcome.kept, comparison, ...(snapshotsFile ? { snapshots: snapshotsFile } : {}) });
    for (const n of outcome.notes) stderrWrite(`gpt-lab: ${escapeControls(n)}\n`);
  } else {
    progress?.(finished);
    if (result.error) stderrWrite(`error: ${result.error}\n`);
    for (const n of outcome.notes) stderrWrite(`gpt-lab: ${escapeControls(n)}\n`);
    if (outcome.saved) stderrWrite(`saved ${shown(outcome.saved)}\n`);
    if (snapshotsFile && fs.existsSync(snapshotsFile)) stderrWrite(`saved ${outcome.snapshots!.snapshots.length} snapshots in ${shown(snapshotsFile)}\n`);
    if (!result.cancelled && !result.error && outcome.saved) {
      const decoder = new KVCacheSession(result.model, plan);
      try {
        for (let i = 0; i < 2; i++) {
          const prompt = Int32Array.of(result.vocab.modelId(result.tokenizer.encode('\n')[0]) || 1);
          const ids = generate(decoder, prompt, 160, { temperature: 0.8, topK: 0, topP: 1 }, new Rng(outcome.settings.seed + i));
          print(`--- sample ${i + 1} ---\n${result.tokenizer.decode(result.vocab.decode(ids))}`);
        }
      } finally {
        decoder.dispose();
      }
    }
  }
  result.model.dispose();
  if (result.error || outcome.saveProblem) return 2;
  return result.cancelled ? 130 : 0;
}

function loadContext(file: string, plan: ComputePlan): ProbeContext {
  const { model, vocab, tokenizer } = loadModel(file, { matmul: plan.matmul });
  return { model, vocab, tokenizer };
}

async function sample(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['prompt', 'tokens', 'temperature', 'top-k', 'top-p', 'seed', 'json', 'backend']);
  const file = onePositional(p, 'model file');
  let sampling: SamplingOptions;
  try {
    sampling = validateSampling({
      temperature: numberFlag(p, 'temperature', { min: 0 }) ?? 0.8,
      topK: numberFlag(p, 'top-k', { int: true, min: 0 }) ?? 0,
      topP: numberFlag(p, 'top-p', { min: 0, max: 1 }) ?? 1,
    });
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--${e instanceof Error ? e.message : String(e)}`); // "top-p must be in (0, 1], got 0"
  }
  const count = numberFlag(p, 'tokens', { int: true, min: 1, max: 100000 }) ?? 200;
  const seed = numberFlag(p, 'seed', { int: true }) ?? 1337;
  const plan = await readerPlan(p);
  const ctx = loadContext(file, plan);
  const promptText = p.flags.get('prompt') ?? '\n';
  let prompt = ctx.vocab.encode(ctx.tokenizer.encode(promptText));
  const unknown = prompt.reduce((n, id) => n + (id === UNKNOWN_ID ? 1 : 0), 0);
  if (prompt.length === 0) prompt = Int32Array.of(1);
  const decoder = new KVCacheSession(ctx.model, plan);
  let ids: Int32Array;
  try {
    ids = generate(decoder, prompt, count, sampling, new Rng(seed));
  } finally {
    decoder.dispose();
  }
  const text = ctx.tokenizer.decode(ctx.vocab.decode(ids));
  if (p.switches.has('json')) json({ prompt: promptText, text, tokens: ids.length, unknownPromptTokens: unknown, sampling, seed });
  else {
    if (unknown > 0) stderrWrite(`note: ${unknown} prompt token(s) never occurred in training and read as <unk>\n`);
    // The header goes to stderr, so stdout stays the text alone (for pipes) while a terminal shows where it starts.
    stderrWrite(`--- ${ids.length} tokens sampled from ${path.basename(file)} (temperature ${sampling.temperature}, ` +
      `top-k ${sampling.topK || 'off'}, top-p ${sampling.topP}, seed ${seed}) after the prompt ${JSON.stringify(promptText)} ---\n`);
    print(promptText + text);
  }
  ctx.model.dispose();
  return 0;
}

async function tokens(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['encoding', 'text', 'file', 'json']);
  if (p.positional.length) throw new UsageError(`unexpected argument "${p.positional[0]}"`);
  const encoding = p.flags.get('encoding') ?? 'o200k_base';
  if (!isTokenizerChoice(encoding)) throw new UsageError(`--encoding must be one of ${TOKENIZER_CHOICES}, got "${encoding}"`);
  const hasText = p.flags.has('text'), hasFile = p.flags.has('file');
  if (hasText === hasFile) throw new UsageError('give exactly one of --text or --file');
  const text = hasText ? p.flags.get('text')! : readText(p.flags.get('file')!);
  // Streamed: a 60 MB file has millions of tokens, more than one string or one array of objects can hold.
  const tok = await tokenizerForText(encoding, text); // bpe:N is learned from the text it tokenizes
  const ids = tok.encode(text);
  let characters = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff || i === 0 || text.charCodeAt(i - 1) < 0xd800 || text.charCodeAt(i - 1) > 0xdbff) characters++;
  }
  const out = safeStdout();
  const asJson = p.switches.has('json');
  let buffer = asJson
    ? `{"encoding":${JSON.stringify(tok.name)},"count":${ids.length},"characters":${characters},"bytes":${Buffer.byteLength(text)},"tokens":[`
    : `${ids.length} tokens (${tok.name}), ${characters} characters, ${Buffer.byteLength(text)} bytes\n`;
  let first = true;
  for (const c of iterTokenChunks(tok, text, ids)) {
    buffer += asJson ? `${first ? '' : ','}${JSON.stringify(c)}` : `${String(c.id).padStart(7)}  ${JSON.stringify(c.text)}\n`;
    first = false;
    if (buffer.length >= 1 << 16) {
      await out.writeAsync(buffer);
      buffer = '';
      if (out.closed) return 0; // the reader has gone (`| head`): nothing more to say
    }
  }
  await out.writeAsync(asJson ? `${buffer}]}\n` : buffer);
  return 0;
}

async function probe(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['text', 'topk', 'attention', 'lens', 'neighbours', 'json', 'backend', ...INTERP_PROBE_FLAGS]);
  const file = onePositional(p, 'model file');
  const text = p.flags.get('text');
  if (text === undefined || text === '') throw new UsageError('probe needs --text');
  const k = numberFlag(p, 'topk', { int: true, min: 1, max: 1000 }) ?? 10;
  const interpOptions = usage('probe', () => interpProbeOptions(p.flags, p.switches));
  const loaded = loadContext(file, await readerPlan(p));
  let interp: InterpProbe;
  try {
    interp = interpProbe(loaded, file, text, interpOptions); // the model at a snapshot, heads ablated, and their results
  } catch (e) {
    loaded.model.dispose();
    throw e;
  }
  const ctx = interp.ctx;
  try {
    const result: Record<string, unknown> = { next: nextToken(ctx, text, k), ...interp.results };
    if (p.switches.has('attention')) {
      // N x H x T x T weights: bounded, so a long context cannot outgrow memory or a string; the output says what was cut.
      const { heads, layers } = ctx.model.config;
      const limit = Math.max(1, Math.floor(Math.sqrt(MAX_ATTENTION_WEIGHTS / (heads * layers))));
      const tail = tailTokens(ctx, text, limit);
      const maps = attentionMaps(ctx, tail.text);
      result.attention = tail.dropped > 0 ? { ...maps, cropped: maps.cropped + tail.dropped, limitedTo: limit } : maps;
      if (tail.dropped > 0 && !p.switches.has('json')) {
        print(`(attention is shown for the last ${maps.tokens.length} tokens only: ${layers} layers x ${heads} heads x ${limit}^2 weights is the most this prints)`);
      }
    }
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
    if (p.switches.has('json')) await streamJson(result);
    else {
      printProbe(result);
      printInterp(result, print);
    }
  } finally {
    interp.dispose();
    loaded.model.dispose();
  }
  return 0;
}

/** Most attention weights `probe --attention` returns (N x H x T x T); longer texts keep their last tokens. */
const MAX_ATTENTION_WEIGHTS = 1 << 22;

/** The end of a text that holds at most `limit` of the model's tokens, and how many tokens were dropped. */
function tailTokens(ctx: ProbeContext, text: string, limit: number): { text: string; dropped: number } {
  const starts: number[] = [];
  for (const c of iterTokenChunks(ctx.tokenizer, text)) starts.push(c.start);
  if (starts.length <= limit) return { text, dropped: 0 };
  for (let i = starts.length - limit; i < starts.length; i++) {
    const tail = text.slice(starts[i]);
    if (ctx.tokenizer.encode(tail).length <= limit) return { text: tail, dropped: starts.length - ctx.tokenizer.encode(tail).length };
  }
  return { text: text.slice(starts[starts.length - 1]), dropped: starts.length - 1 };
}

/** Writes one JSON object a member at a time (attention layer by layer), waiting for the reader between pieces. */
async function streamJson(obj: Record<string, unknown>): Promise<void> {
  const out = safeStdout();
  let first = true;
  await out.writeAsync('{');
  for (const [key, value] of Object.entries(obj)) {
    await out.writeAsync(`${first ? '' : ','}${JSON.stringify(key)}:`);
    first = false;
    const layers = key === 'attention' ? (value as { layers?: unknown[] }).layers : undefined;
    if (Array.isArray(layers)) {
      const rest = { ...(value as Record<string, unknown>) };
      delete rest.layers;
      await out.writeAsync(`${JSON.stringify(rest).slice(0, -1)}${Object.keys(rest).length ? ',' : ''}"layers":[`);
      for (let i = 0; i < layers.length; i++) await out.writeAsync(`${i ? ',' : ''}${JSON.stringify(layers[i])}`);
      await out.writeAsync(']}');
    } else {
      await out.writeAsync(JSON.stringify(value));
    }
  }
  await out.writeAsync('}\n');
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
  const p = parseArgs(argv, ['file', 'json', 'backend', 'per-token']);
  const modelFile = onePositional(p, 'model file');
  const file = p.flags.get('file');
  if (!file) throw new UsageError('eval needs --file');
  const text = readText(file);
  const plan = await readerPlan(p);
  const ctx = loadContext(modelFile, plan);
  let r: ReturnType<typeof evaluateText>;
  try {
    r = evaluateText(ctx, text);
    if (p.switches.has('per-token') && Number.isFinite(r.loss)) await writePerToken(ctx, plan, text, p.switches.has('json'));
  } catch (e) {
    throw new InputError(e instanceof Error ? e.message : String(e));
  } finally {
    ctx.model.dispose();
  }
  if (!Number.isFinite(r.loss)) throw new InputError(`${shown(modelFile)} gives a loss of ${String(r.loss)} on this text: the model's weights are broken`);
  if (p.switches.has('json')) json({ loss: r.loss, perplexity: r.perplexity, bitsPerByte: r.bitsPerByte, tokens: r.tokens, unknownTokens: r.unknown });
  else print(`loss ${r.loss.toFixed(4)} nats/token, perplexity ${r.perplexity.toFixed(2)}, ${r.bitsPerByte.toFixed(4)} bits/byte over ${r.tokens} tokens` +
    (r.unknown ? ` (${r.unknown} never seen in training)` : ''));
  return 0;
}

/** `export`: the model for nanoGPT (with the training text's train.bin and val.bin) or Hugging Face (engine/host/export.ts). */
async function exportCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ['to', 'out', 'text', 'json', 'backend']);
  const modelFile = onePositional(p, 'model file');
  const target = p.flags.get('to');
  if (target === undefined || !isExportTarget(target)) throw new UsageError(`--to must be ${EXPORT_TARGETS.join(' or ')}, got "${target ?? ''}"`);
  const out = p.flags.get('out');
  if (!out) throw new UsageError('export needs --out DIR, the folder to write');
  const textFile = p.flags.get('text');
  if (textFile !== undefined && target !== 'nanogpt') throw new UsageError('--text is for --to nanogpt (its train.bin and val.bin)');
  await readerPlan(p);
  const r = exportModelFile(modelFile, target, out, textFile === undefined ? null : readText(textFile));
  if (p.switches.has('json')) json({ to: target, out, files: r.files, notes: r.notes });
  else {
    for (const f of r.files) print(`wrote ${shown(f)}`);
    for (const n of r.notes) stderrWrite(`note: ${escapeControls(n)}\n`);
  }
  return 0;
}

/** The usage lines of one command. */
function commandUsage(command: string): string {
  const lines = USAGE.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`  gpt-lab ${command} `) || l === `  gpt-lab ${command}`);
  if (start < 0) return USAGE;
  let end = start + 1;
  while (end < lines.length && !lines[end].startsWith('  gpt-lab ')) end++;
  return `usage:\n${lines.slice(start, end).join('\n')}`;
}

const COMMANDS = ['train', 'sample', 'tokens', 'probe', 'eval', 'export', 'compare'];

/**
 * GPTLAB_* settings a person may set, and the values each takes. A value outside them is an error, not silently
 * ignored (GPTLAB_NATIVE=no would otherwise leave native code on).
 */
const ENVIRONMENT: Record<string, { values: string; ok: (v: string) => boolean }> = {
  GPTLAB_NATIVE: { values: '0 or 1', ok: (v) => v === '0' || v === '1' },
  GPTLAB_THREADS: { values: 'a whole number from 1 to 1024', ok: (v) => /^[1-9]\d{0,3}$/.test(v) && Number(v) <= 1024 },
  GPTLAB_ISA: { values: 'avx512, avx2 or generic', ok: (v) => v === 'avx512' || v === 'avx2' || v === 'generic' },
  GPTLAB_ADAPTIVE: { values: '0 or 1', ok: (v) => v === '0' || v === '1' },
  GPTLAB_NATIVE_PATH: { values: 'the path of an existing file', ok: (v) => v !== '' && fs.existsSync(v) },
};

function checkEnvironment(): void {
  for (const [name, rule] of Object.entries(ENVIRONMENT)) {
    const v = process.env[name];
    if (v !== undefined && !rule.ok(v)) throw new InputError(`${name}=${escapeControls(v.slice(0, 80))} is not a valid value; it takes ${rule.values}`);
  }
}

/** One line, control characters escaped, and no longer than a screen's worth. */
function oneLine(message: string): string {
  const s = escapeControls(message);
  return s.length > 600 ? `${s.slice(0, 400)}…${s.slice(-150)}` : s;
}

/** Errors that mean "not enough memory" whatever part of the engine hit them. */
function isOutOfMemory(e: unknown): boolean {
  return e instanceof RangeError && /Array buffer allocation failed|Invalid typed array length|Invalid array length|Invalid string length|allocation|out of memory/i.test(e.message);
}

export async function main(argv: string[]): Promise<number> {
  // stdout and stderr are written only through safe streams (output.ts): a reader that goes away is not an error,
  // and never ends a run before its model is saved.
  safeStdout();
  safeStderr();
  const [command, ...rest] = argv;
  try {
    if (command !== undefined && COMMANDS.includes(command) && (rest.includes('--help') || rest.includes('-h'))) {
      print(commandUsage(command));
      return 0;
    }
    checkEnvironment();
    switch (command) {
      case 'train': return await train(rest);
      case 'sample': return await sample(rest);
      case 'tokens': return await tokens(rest);
      case 'probe': return await probe(rest);
      case 'eval': return await evaluate(rest);
      case 'export': return await exportCommand(rest);
      case 'compare': return await compareCommand(rest);
      case undefined: case '--help': case '-h': case 'help':
        print(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof ChoiceError) { // a flag's value, read by the rules every host shares
      const known = command !== undefined && COMMANDS.includes(command);
      stderrWrite(`gpt-lab: ${oneLine(e.message)} (usage: gpt-lab ${known ? `${command} ` : ''}--help)\n`); // one line, as every error
      return 2;
    }
    if (e instanceof InputError || e instanceof ModelFileError || e instanceof BadWeightsError) {
      stderrWrite(`gpt-lab: ${oneLine(e.message)}\n`);
      return 2;
    }
    if (isOutOfMemory(e)) {
      stderrWrite(`gpt-lab: not enough memory for this (${oneLine((e as Error).message)}); try a smaller model, batch, context or input\n`);
      return 2;
    }
    // A bug: one line, never a stack trace.
    stderrWrite(`gpt-lab: internal error: ${oneLine(e instanceof Error ? e.message : String(e))}\n`);
    return 1;
  }
}
