// "Compare on this file": the baseline (the run settings' preset) and the variants a person picks (presets of the
// debatable switches, or their own), trained one after another on the active editor's text by the training engine
// (engine method `compare`), with a progress notification whose Cancel is the same Stop as training's. The loss chart
// draws every run as it trains (a variant's seeds in one colour) and shows the table when it comes. A comparison
// keeps no model: the document's stored model is never touched.
import * as vscode from 'vscode';
import { MAX_VARIANTS, parseVariant, readRunChoices, type CompareEvent, type CompareTable, type RawChoices, type TrainEvent } from '../engine';
import { Command } from './commands';
import { errorLine, isCrash, isStopped } from './engineHost';
import type { Log } from './log';
import type { LossPanel } from './panels/loss';
import { shortName, type Session } from './session';
import { runSettings } from './settings';

/** The switches the notebook calls debatable, one pick each. */
export const PRESET_VARIANTS: readonly { switches: string; label: string; detail: string }[] = [
  { switches: 'norm=rmsnorm', label: 'RMSNorm', detail: 'RMSNorm instead of LayerNorm' },
  { switches: 'positions=rope', label: 'Rotary positions (RoPE)', detail: 'rotary position encoding instead of learned positions' },
  { switches: 'kvHeads=1', label: 'Multi-query attention', detail: 'one key and value head shared by every query head' },
  { switches: 'activation=relu', label: 'ReLU', detail: 'ReLU instead of GELU in the feed-forward layer' },
  { switches: 'ffnMult=0', label: 'Attention only', detail: 'blocks without the feed-forward layer' },
  { switches: 'tokenizer=bpe:512', label: 'BPE tokenizer (512)', detail: 'a byte-level BPE learned from this file; rows are then compared in bits per byte' },
];
/** Seeds per variant the command offers (and takes as an argument): enough for a paired test, few enough for a minute. */
export const MAX_COMMAND_SEEDS = 5;
const MAX_COMMAND_STEPS = 100_000;
const MAX_VARIANT_CHARS = 200;

/** What the command takes from a caller (tests, keybindings): untrusted, checked by readCompareArgs. */
export interface CompareArgs {
  variants: string[];
  steps?: number;
  seeds?: number;
}

/** What `gptLab.compare` resolves to: the table (null when none came), and every message the user was shown. */
export interface CompareCommandResult {
  table: CompareTable | null;
  cancelled: boolean;
  error: string | null;
  messages: string[];
}

const wholeIn = (x: unknown, min: number, max: number): x is number => Number.isInteger(x) && (x as number) >= min && (x as number) <= max;

/** Checks a caller's arguments; throws a one-line Error naming what is wrong. */
export function readCompareArgs(raw: unknown): { variants: string[]; steps: number | undefined; seeds: number } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('the compare command takes { variants: [...], steps?, seeds? }');
  const a = raw as Record<string, unknown>;
  const unknown = Object.keys(a).filter((k) => !['variants', 'steps', 'seeds'].includes(k));
  if (unknown.length) throw new Error(`the compare command does not take ${unknown.map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}`);
  if (!Array.isArray(a.variants) || a.variants.length < 1 || a.variants.length > MAX_VARIANTS - 1) {
    throw new Error(`variants must be a list of 1 to ${MAX_VARIANTS - 1} variants (the baseline is the other row)`);
  }
  const variants = a.variants.map((v: unknown) => {
    if (typeof v !== 'string' || v.length > MAX_VARIANT_CHARS) throw new Error(`each variant must be text of at most ${MAX_VARIANT_CHARS} characters`);
    return checkVariant(v);
  });
  if (new Set(variants).size !== variants.length) throw new Error('a variant is given twice');
  if (a.steps !== undefined && !wholeIn(a.steps, 1, MAX_COMMAND_STEPS)) throw new Error(`steps must be a whole number from 1 to ${MAX_COMMAND_STEPS}`);
  if (a.seeds !== undefined && !wholeIn(a.seeds, 1, MAX_COMMAND_SEEDS)) throw new Error(`seeds must be a whole number from 1 to ${MAX_COMMAND_SEEDS}`);
  return { variants, steps: a.steps, seeds: a.seeds ?? 1 };
}

/** A variant by the engine's rules (parseVariant); returns it trimmed, or throws its one-line message with the variant named. */
function checkVariant(v: string): string {
  try {
    return parseVariant(v).label;
  } catch (e) {
    throw new Error(`variant "${v.trim().slice(0, 60)}": ${errorLine(e)}`);
  }
}

export function registerCompare(session: Session, loss: LossPanel, log: Log): vscode.Disposable {
  return vscode.commands.registerCommand(Command.Compare, (args?: unknown) => compareActiveEditor(session, loss, log, args));
}

/** Asks for the variants and the seeds; undefined when the person cancelled a pick. */
async function pickVariants(): Promise<{ variants: string[]; seeds: number } | undefined> {
  type Item = vscode.QuickPickItem & { switches: string | null };
  const items: Item[] = [...PRESET_VARIANTS.map((p) => ({ label: p.label, description: p.switches, detail: p.detail, switches: p.switches })),
    { label: 'Custom…', description: 'your own switches, e.g. kvHeads=2,qkNorm=true', switches: null, alwaysShow: true }];
  const picked = await vscode.window.showQuickPick(items, {
    canPickMany: true, title: 'GPT Lab: Compare on this file',
    placeHolder: `Variants to train against the baseline (1 to ${MAX_VARIANTS - 1}); each trains on the same batches and token budget`,
  });
  if (!picked || picked.length === 0) return undefined;
  const variants = picked.flatMap((p) => (p.switches ? [p.switches] : []));
  if (picked.some((p) => p.switches === null)) {
    const custom = await vscode.window.showInputBox({
      title: 'GPT Lab: a variant of your own', prompt: 'Model switches on top of the baseline, comma-separated; tokenizer=NAME changes the tokenizer',
      placeHolder: 'kvHeads=2,qkNorm=true',
      validateInput: (v) => {
        try {
          parseVariant(v);
          return null;
        } catch (e) {
          return errorLine(e);
        }
      },
    });
    if (custom === undefined) return undefined;
    variants.push(custom.trim());
  }
  const seeds = await vscode.window.showQuickPick([
    { label: '1 seed', description: 'fastest', detail: 'one run per variant: a difference cannot be told from seed noise', seeds: 1 },
    { label: '3 seeds', detail: 'the spread over seeds, and a paired test of each variant against the baseline', seeds: 3 },
    { label: `${MAX_COMMAND_SEEDS} seeds`, detail: 'a tighter test; takes five times as long as one seed', seeds: MAX_COMMAND_SEEDS },
  ], { title: 'GPT Lab: Compare on this file', placeHolder: 'Seeds per variant' });
  if (!seeds) return undefined;
  return { variants, seeds: seeds.seeds };
}

async function compareActiveEditor(session: Session, loss: LossPanel, log: Log, rawArgs: unknown): Promise<CompareCommandResult | undefined> {
  const messages: string[] = [];
  const fail = (line: string): CompareCommandResult => {
    messages.push(`GPT Lab: ${line}`);
    void vscode.window.showErrorMessage(`GPT Lab: ${line}`);
    return { table: null, cancelled: false, error: line, messages };
  };
  const editor = vscode.window.activeTextEditor;
  if (!editor) return fail('open a text file to compare on.');
  const doc = editor.document;
  const text = doc.getText();
  const label = shortName(doc);
  if (text.trim().length === 0) return fail(`${label} is empty; there is nothing to compare on.`);
  let request: { variants: string[]; steps: number | undefined; seeds: number };
  let settings: RawChoices;
  try {
    settings = runSettings(); // the baseline: what Train would train
    readRunChoices(settings, 'setting'); // a setting that cannot be used is one line now, before anything runs
    if (rawArgs !== undefined) {
      request = readCompareArgs(rawArgs);
    } else {
      const picked = await pickVariants();
      if (!picked) return undefined;
      // A custom variant may repeat a preset; more than five will not fit the table
      request = readCompareArgs({ variants: picked.variants, seeds: picked.seeds });
    }
  } catch (e) {
    return fail(errorLine(e));
  }
  if (session.run) {
    const stop = 'Stop it and compare';
    const pick = await vscode.window.showWarningMessage(`GPT Lab is already training on ${session.run.label}.`, stop, 'Keep it');
    if (pick !== stop) return undefined;
    await session.stop();
  }
  loss.show(true);
  const compareId = `compare-${Date.now().toString(36)}`;
  const seeds = request.seeds;
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `GPT Lab: comparing on ${label}`, cancellable: true },
    async (progress, token) => {
      let reported = 0;
      const onEvent = (e: CompareEvent): void => {
        loss.record({ id: `${compareId}-${e.run}`, source: label,
          compare: { id: compareId, variant: e.variant, label: e.label, seed: e.seed, seeds } }, e);
        if (e.event === 'start') log.info(`compare on ${label}: run ${e.run + 1}/${e.runs}, ${e.label}, seed ${e.seed}: ${e.plan ?? ''}`);
        if (e.event === 'step') {
          const pct = (100 * (e.run + e.step / e.steps)) / e.runs;
          progress.report({ message: `run ${e.run + 1}/${e.runs} · ${e.label} · step ${e.step}/${e.steps} · loss ${e.loss.toFixed(3)}`,
            increment: pct - reported });
          reported = pct;
        }
      };
      const cancel = token.onCancellationRequested(() => void session.stop());
      try {
        const table = await session.runOther(`${label} (compare)`, doc.uri.toString(), (host, run) => host.request('trainer', 'compare', {
          text, label, settings: request.steps ? { ...settings, steps: request.steps } : settings, variants: request.variants, baseline: true, seeds,
        }, { onEvent: (e: TrainEvent) => {
          if (e.event === 'step') run.step += 1; // steps of every run together: progress that a Stop or a test can wait on
          onEvent(e as CompareEvent);
        } }));
        loss.showCompareTable({ id: compareId, source: label, table });
        const said = summary(table, label);
        messages.push(`GPT Lab: ${said}`);
        void vscode.window.showInformationMessage(`GPT Lab: ${said}`);
        log.info(`compare on ${label}: ${said}`);
        return { table, cancelled: table.cancelled, error: null, messages };
      } catch (e) {
        if (isCrash(e)) return { table: null, cancelled: true, error: 'the engine stopped', messages }; // reported once by the engine host
        if (isStopped(e)) {
          const line = `the comparison on ${label} was stopped.`;
          messages.push(`GPT Lab: ${line}`);
          void vscode.window.showInformationMessage(`GPT Lab: ${line}`);
          return { table: null, cancelled: true, error: null, messages };
        }
        log.error(`compare on ${label}: ${errorLine(e)}`);
        return fail(errorLine(e));
      } finally {
        cancel.dispose();
      }
    },
  );
}

/** One sentence: what was compared, and the lowest score, or that it was stopped. */
function summary(t: CompareTable, label: string): string {
  const metric = t.metric === 'valLoss' ? 'validation loss' : 'bits per byte';
  const scored = t.rows.flatMap((r) => {
    const m = t.metric === 'valLoss' ? r.valLoss : r.bitsPerByte;
    return m ? [{ label: r.label, value: m.mean }] : [];
  }).sort((a, b) => a.value - b.value);
  const head = t.cancelled ? `the comparison on ${label} was stopped; the table under the loss chart holds the runs that finished.`
    : `compared ${t.rows.length} variants on ${label} with ${t.seeds.length} seed${t.seeds.length > 1 ? 's' : ''}; the table is under the loss chart.`;
  return scored.length > 1 ? `${head} Lowest ${metric}: ${scored[0].label} (${scored[0].value.toFixed(4)}).` : head;
}
