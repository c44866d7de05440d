// `gpt-lab compare`: the baseline and each --variant trained on one file (engine/training/compare.ts), progress on
// stderr, then the table on stdout, at most 100 columns wide. With --json, stdout is one JSON object per line: every
// run's training events tagged with its variant and seed, then {"event":"table",...}.
import * as path from 'node:path';
import { describeBackend } from '../compute/tfjsBackend';
import { ComputePlan } from '../compute/plan';
import type { TrainChoices } from '../model/config';
import { InputError, UsageError } from '../common/errors';
import { readBounded, shown } from '../io/files';
import { escapeControls, safeStderr, safeStdout } from '../io/output';
import { decodeTextFile, MAX_TEXT_BYTES } from '../text/checks';
import { readRunChoices, type RunChoices } from '../training/choices';
import { compareOnText, FINDING_P, MAX_SEEDS, MAX_VARIANTS } from '../training/compare';
import { type CompareEvent, type CompareTable, type OverSeeds, describeTrainingPath } from '../protocol';

export const COMPARE_USAGE = `  gpt-lab compare <file> --variant SWITCHES [--variant SWITCHES ...] [--no-baseline] [--steps N] [--seeds K]
          [--seed S] [--preset auto|tiny|small|classic] [--tokenizer NAME|bpe:N] [--trainer auto|native|wasm|tfjs|webgpu]
          [--backend auto|tensorflow|wasm|cpu] [--json]
          SWITCHES: key=value,... of model switches, and tokenizer=NAME; 2 to ${MAX_VARIANTS} runs with the baseline`;

interface CompareArgs {
  file: string;
  variants: string[];
  baseline: boolean;
  seeds: number;
  choices: TrainChoices;
  backend: RunChoices['backend'];
  trainer: RunChoices['trainer'];
  json: boolean;
}

const VALUED = ['variant', 'steps', 'seeds', 'seed', 'preset', 'tokenizer', 'trainer', 'backend'];
const SWITCHES = ['json', 'no-baseline'];

function wholeNumber(name: string, raw: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (raw === undefined) return undefined;
  const v = /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new UsageError(`--${name} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'}, got "${raw}"`);
  }
  return v;
}

/** The command line of `compare`: --variant repeats, each one run. */
export function parseCompareArgs(argv: readonly string[]): CompareArgs {
  const positional: string[] = [], variants: string[] = [];
  const flags = new Map<string, string>(), switches = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq === -1 ? undefined : eq);
    if (SWITCHES.includes(name)) {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      switches.add(name);
      continue;
    }
    if (!VALUED.includes(name)) throw new UsageError(`unknown option --${name}`);
    let value: string;
    if (eq !== -1) value = a.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i];
    else throw new UsageError(`--${name} needs a value`);
    if (name === 'variant') variants.push(value);
    else if (flags.has(name)) throw new UsageError(`--${name} is given twice`);
    else flags.set(name, value);
  }
  if (positional.length !== 1) throw new UsageError(`expected one text file, got ${positional.length}`);
  // The run's choices are read by the rules (and with the words) of `gpt-lab train`'s flags.
  const run = readRunChoices({ preset: flags.get('preset'), tokenizer: flags.get('tokenizer'), steps: flags.get('steps'), seed: flags.get('seed'),
    trainer: flags.get('trainer'), backend: flags.get('backend') }, 'flag');
  if (variants.length === 0) throw new UsageError(`compare needs at least one --variant, e.g. --variant norm=rmsnorm`);
  return {
    file: positional[0], variants, baseline: !switches.has('no-baseline'), json: switches.has('json'), trainer: run.trainer, backend: run.backend,
    seeds: wholeNumber('seeds', flags.get('seeds'), 1, MAX_SEEDS) ?? 1, choices: run.choices,
  };
}

// ------------------------------------------------------------------ the table for people

/** Widest line of the human table. */
export const TABLE_WIDTH = 100;
const LABEL_WIDTH = 22;

function parameters(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(1)}K`;
}

/** A mean with its spread over seeds: "1.612 ± 0.004" with several seeds, "1.6123" with one. */
function overSeeds(x: OverSeeds | null): string {
  if (!x) return 'n/a';
  return x.spread === null ? x.mean.toFixed(4) : `${x.mean.toFixed(3)} ± ${x.spread.toFixed(3)}`;
}

/** Tokens per second in at most 7 characters: 59,871, then 123k, then 12M. */
function rate(n: number): string {
  return n < 1e5 ? Math.round(n).toLocaleString('en-US') : n < 1e8 ? `${Math.round(n / 1e3)}k` : `${Math.round(n / 1e6)}M`;
}

function truncate(label: string, width: number): string {
  return label.length <= width ? label : `${label.slice(0, width - 1)}…`;
}

function signed(x: number): string {
  return `${x >= 0 ? '+' : '-'}${Math.abs(x).toFixed(4)}`;
}

function pValue(p: number): string {
  return p < 0.001 ? 'p < 0.001' : `p = ${p.toFixed(3)}`;
}

/** The lines of the table, none wider than TABLE_WIDTH (labels are cut and listed in full below it). */
export function formatCompareTable(t: CompareTable, file: string): string[] {
  const out: string[] = [];
  const K = t.seeds.length;
  const first = t.rows[0];
  const metricName = t.metric === 'valLoss' ? 'val loss' : 'bits per byte';
  out.push(truncate(`compared on ${path.basename(file)}, preset ${t.preset}${first ? `, tokenizer ${first.tokenizer}` : ''}`, TABLE_WIDTH));
  if (first) {
    out.push(`${first.steps.toLocaleString('en-US')} steps of ${first.batchSize} x ${first.config.contextLength} tokens: ` +
      `${first.tokensPerRun.toLocaleString('en-US')} tokens per run`);
  }
  out.push(K === 1 ? `seed ${t.seeds[0]}` : `${K} seeds (${t.seeds[0]} to ${t.seeds[K - 1]}): mean ± spread (standard deviation over seeds)`);
  out.push('the same seed trains on the same batches');
  out.push(t.baseline ? `row 1 is the baseline: the ${t.preset} preset itself` : `no baseline (--no-baseline): every row is compared with row 1`);
  if (t.metric === 'bitsPerByte') out.push('the rows tokenize differently: losses per token do not compare, bits per byte do');
  out.push('');
  const cols = [
    { head: 'params', width: 7 }, { head: 'train loss', width: K > 1 ? 13 : 10 }, { head: 'val loss', width: K > 1 ? 13 : 10 },
    { head: 'bits/byte', width: K > 1 ? 13 : 10 }, { head: 'ms/step', width: 7 }, { head: 'tok/s', width: 7 },
  ];
  const labelWidth = Math.min(LABEL_WIDTH, Math.max(7, ...t.rows.map((r) => r.label.length)));
  const line = (n: string, label: string, cells: string[]): string =>
    `${n.padStart(2)}  ${label.padEnd(labelWidth)}${cells.map((c, i) => c.padStart(cols[i].width + 2)).join('')}`.trimEnd();
  out.push(line('#', 'variant', cols.map((c) => c.head)));
  const notes: string[] = [];
  t.rows.forEach((r, i) => {
    const diverged = r.runs.filter((run) => run.error !== null).length;
    out.push(line(String(i + 1), truncate(r.label, labelWidth), [parameters(r.parameters), overSeeds(r.trainLoss), overSeeds(r.valLoss),
      overSeeds(r.bitsPerByte), r.msPerStep ? r.msPerStep.mean.toFixed(r.msPerStep.mean < 1e4 ? 1 : 0) : 'n/a',
      r.tokensPerSec ? rate(r.tokensPerSec.mean) : 'n/a']));
    if (r.label.length > labelWidth) notes.push(`row ${i + 1} is ${r.label}`);
    if (r.steps !== first.steps) notes.push(`row ${i + 1} trains ${r.steps} steps of context ${r.config.contextLength}: the same tokens per run`);
    if (diverged > 0) notes.push(`row ${i + 1}: ${diverged} of ${r.runs.length} runs diverged (the loss became non-finite) and are left out`);
    if (r.runs.length < K) notes.push(`row ${i + 1}: ${r.runs.length} of ${K} runs trained before the comparison was stopped`);
  });
  if (t.rows.length) notes.push('ms/step and tok/s time the training steps alone, one run at a time on every core');
  for (const n of notes) out.push(`    ${n}`);
  if (t.rows.length > 1) {
    out.push('');
    out.push(`against row 1, in ${metricName} (lower is better):`);
    out.push(K === 1 ? '(one seed cannot tell a finding from seed noise: use --seeds 3 or more)'
      : '(the mean difference seed by seed ± its spread, and the p-value of a paired t-test)');
    t.rows.forEach((r, i) => {
      if (i === 0) return;
      const v = r.versus;
      const head = `${String(i + 1).padStart(2)}  ${truncate(r.label, labelWidth).padEnd(labelWidth)}  `;
      if (!v) out.push(`${head}n/a (not every run finished)`);
      else if (v.spread === null || v.p === null) out.push(`${head}${signed(v.difference)}`);
      else {
        const verdict = v.finding ? (v.difference < 0 ? 'better' : 'worse') : 'not a finding: within the seed noise';
        out.push(`${head}${signed(v.difference)} ± ${v.spread.toFixed(4)}  ${pValue(v.p).padEnd(9)}  ${verdict}`);
      }
    });
    if (K > 1) out.push(`    a difference is a finding when p < ${FINDING_P}: smaller ones could be seed noise`);
  }
  if (t.cancelled) out.push('', 'stopped before every run finished: the table holds the runs that did');
  return out;
}

// ------------------------------------------------------------------ running it

const stdout = (line: string): void => void safeStdout().write(line + '\n');
const stderr = (text: string): void => void safeStderr().write(text);

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Progress for people on stderr: a line per run, a redrawn step line on a terminal. */
function humanProgress(backend: string): (e: CompareEvent) => void {
  const tty = safeStderr().isTTY;
  const clear = tty ? '\r\x1b[K' : '';
  return (e) => {
    const which = `run ${e.run + 1}/${e.runs}`;
    if (e.event === 'start') {
      if (e.run === 0) stderr(`backend ${backend}\n`);
      stderr(`${which}: ${e.label}, seed ${e.seed} (${(e.parameters / 1e6).toFixed(2)}M parameters, ${describeTrainingPath(e.training)})\n`);
    } else if (e.event === 'step' && tty) {
      stderr(`${clear}  step ${e.step}/${e.steps} loss ${e.loss.toFixed(4)} | ${Math.round(e.tokensPerSec)} tok/s | ETA ${seconds(e.etaMs)}`);
    } else if (e.event === 'warning') {
      stderr(`${clear}  warning: ${e.message}\n`);
    } else if (e.event === 'done') {
      stderr(`${clear}  ${e.cancelled ? 'stopped' : e.error ? 'diverged' : 'done'} after ${e.step} steps in ${seconds(e.elapsedMs)}` +
        `${e.valLoss === null ? '' : `, val ${e.valLoss.toFixed(4)}`}\n`);
    }
  };
}

export async function compareCommand(argv: string[]): Promise<number> {
  const args = parseCompareArgs(argv);
  const text = decodeTextFile(readBounded(args.file, MAX_TEXT_BYTES, 'the limit'), shown(args.file));
  let compute: ComputePlan;
  try {
    compute = await ComputePlan.create({ backend: args.backend, trainer: args.trainer });
  } catch (e) {
    throw new InputError(e instanceof Error ? e.message : String(e));
  }
  // Ctrl-C: the first stops the run under way and prints the table of those that finished; a second quits.
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    if (!args.json) stderr(`${safeStderr().isTTY ? '\r\x1b[K' : ''}stopping; the table of the finished runs follows (Ctrl-C again to quit)\n`);
  };
  process.on('SIGINT', onSigint);
  const progress = args.json ? null : humanProgress(describeBackend(compute.backend));
  let table: CompareTable;
  try {
    table = await compareOnText({ text, choices: args.choices, variants: args.variants, baseline: args.baseline, seeds: args.seeds,
      compute, signal: controller.signal, onEvent: (e) => (progress ? progress(e) : stdout(JSON.stringify(e))) });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  if (args.json) stdout(JSON.stringify({ event: 'table', ...table }));
  else for (const l of formatCompareTable(table, args.file)) stdout(escapeControls(l));
  return table.cancelled ? 130 : 0;
}

