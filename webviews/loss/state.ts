// The loss chart's state: every run's train events folded into columns (one array per metric, indexed by step order),
// validated on the way in, small enough to persist with setState and redraw from after a window reload. Runs are
// numbered per document ("notes.md · run 3") by counters that survive reloads, and each run on the chart has a colour
// no other run on it has. No DOM: node tests load it as is.
import { isTrainingPathInfo, trainingPathLabel, type LossCompareTag, type LossRun, type TrainEvent } from '../../engine/protocol';
import { readRoles, rolesFromTimeline, type RolesSeries } from './roles';
import { readCompareTable, type CompareSummary } from './compareTable';

export type StartEvent = Extract<TrainEvent, { event: 'start' }>;
export type DoneEvent = Extract<TrainEvent, { event: 'done' }>;

export interface RunData {
  id: string;
  source: string; // the document's name
  number: number; // the run's number among this chart's runs of that document, from 1 (0 for a comparison's run)
  label: string; // `${source} · run ${number}`, or a comparison's variant (and seed)
  /** A run of a comparison: its variant and seed. */
  compare: LossCompareTag | null;
  /** Index into the series palette: unique among the runs on the chart, except that a variant's seeds share one. */
  colour: number;
  hidden: boolean;
  start: {
    steps: number; vocabSize: number; parameters: number; tokenizer: string; trainer: string;
    layers: number; dim: number; heads: number;
    baselines: { uniform: number; unigram: number | null; bigram: number | null };
  } | null;
  // one entry per step event, in arrival order (steps ascending)
  step: number[];
  loss: number[];
  lr: number[];
  gradNorm: number[];
  tokensPerSec: number[];
  last: { step: number; steps: number; elapsedMs: number; etaMs: number } | null;
  evals: { step: number; trainLoss: number; valLoss: number | null }[];
  checkpoints: { step: number; valLoss: number }[];
  samples: { step: number; text: string }[];
  warnings: { code: string; message: string }[];
  done: { step: number; steps: number; cancelled: boolean; error: string | null; elapsedMs: number;
    best: { step: number; valLoss: number } | null; restoredBest: boolean } | null;
  /** When the run (or its replay) began arriving in this panel, for "newest" ordering. */
  seq: number;
  /** The head roles of the model the run kept, per snapshot (the induction overlay); null until asked. */
  roles: RolesSeries | null;
}

export interface LossState {
  version: 3;
  runs: RunData[];
  /** The tables of the latest comparisons (newest last); the newest is shown under the chart. */
  compares: CompareSummary[];
  log: boolean;
  smoothing: number; // EMA weight in [0, 0.99]
  showRaw: boolean;
  focus: string | null; // the run whose reference lines, status and banners are shown; null = the newest
  /** The last run number given to each document's runs: a reload never numbers a run again. */
  counters: Record<string, number>;
  seq: number;
}

/** Runs on the chart at most: a comparison of six variants with five seeds each fits. */
export const MAX_RUNS = 30;
/** Colours: no two runs on the chart share one, except the seeds of one variant. */
export const PALETTE_SIZE = 10;
/** Comparison tables kept. */
export const MAX_COMPARES = 3;
const MAX_COUNTERS = 200;
const MAX_SAMPLE_CHARS = 600;
const MAX_LABEL = 120;

export function emptyState(): LossState {
  return { version: 3, runs: [], compares: [], log: false, smoothing: 0.9, showRaw: true, focus: null, counters: {}, seq: 0 };
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const numOrNull = (x: unknown): number | null => (isNum(x) ? x : null);
const str = (x: unknown, max: number): string => (typeof x === 'string' ? x.slice(0, max) : '');

const labelOf = (source: string, number: number, compare: LossCompareTag | null): string => (compare
  ? compare.seeds > 1 ? `${compare.label} · seed ${compare.seed}` : compare.label
  : `${source} · run ${number}`);

/** A comparison tag from the host or from disk, or null. */
function readCompareTag(x: unknown): LossCompareTag | null {
  if (typeof x !== 'object' || x === null) return null;
  const t = x as Record<string, unknown>;
  if (typeof t.id !== 'string' || !isNum(t.variant) || !isNum(t.seed) || !isNum(t.seeds) || typeof t.label !== 'string') return null;
  return { id: t.id.slice(0, 200), variant: Math.max(0, Math.floor(t.variant)), label: str(t.label, MAX_LABEL) || `variant ${t.variant + 1}`,
    seed: t.seed, seeds: Math.max(1, Math.floor(t.seeds)) };
}

/** Restores a persisted state, dropping anything malformed (state comes from disk; treat it as input). */
export function restoreState(raw: unknown): LossState {
  const s = emptyState();
  if (typeof raw !== 'object' || raw === null) return s;
  const r = raw as Omit<Partial<LossState>, 'version'> & { version?: number };
  if ((r.version !== 1 && r.version !== 2 && r.version !== 3) || !Array.isArray(r.runs)) return s;
  s.log = r.log === true;
  s.showRaw = r.showRaw !== false;
  s.smoothing = isNum(r.smoothing) ? Math.min(0.99, Math.max(0, r.smoothing)) : s.smoothing;
  s.seq = isNum(r.seq) ? r.seq : 0;
  if (typeof r.counters === 'object' && r.counters !== null) {
    for (const [k, v] of Object.entries(r.counters).slice(-MAX_COUNTERS)) if (isNum(v)) s.counters[k.slice(0, MAX_LABEL)] = v;
  }
  for (const run of r.runs.slice(-MAX_RUNS)) {
    if (typeof run !== 'object' || run === null || typeof run.id !== 'string') continue;
    const cols = ['step', 'loss', 'lr', 'gradNorm', 'tokensPerSec'] as const;
    if (!cols.every((c) => Array.isArray(run[c]))) continue;
    const n = Math.min(...cols.map((c) => run[c].length));
    // Version 1 kept only a label ("notes.md · run 2"): its source and number come from it.
    const v1 = /^(.*) · run (\d+)$/.exec(str(run.label, MAX_LABEL));
    const source = str(run.source, MAX_LABEL) || (v1 ? v1[1] : str(run.label, MAX_LABEL)) || run.id;
    const compare = readCompareTag(run.compare);
    const number = compare ? 0 : isNum(run.number) ? run.number : v1 ? Number(v1[2]) : (s.counters[source] ?? 0) + 1;
    if (!compare) s.counters[source] = Math.max(s.counters[source] ?? 0, number);
    const colour = isNum(run.colour) && run.colour >= 0 && run.colour < PALETTE_SIZE && !s.runs.some((x) => x.colour === run.colour && !sameVariant(x.compare, compare))
      ? run.colour : colourFor(s, compare);
    const fresh = newRun(run.id, source, number, colour, 0, compare);
    Object.assign(fresh, {
      hidden: run.hidden === true,
      start: run.start ? Object.assign({ layers: 0, dim: 0, heads: 0 }, run.start) : null, // version 1 kept no shape
      step: run.step.slice(0, n), loss: run.loss.slice(0, n), lr: run.lr.slice(0, n), gradNorm: run.gradNorm.slice(0, n),
      tokensPerSec: run.tokensPerSec.slice(0, n),
      last: run.last ?? null,
      evals: Array.isArray(run.evals) ? run.evals : [],
      checkpoints: Array.isArray(run.checkpoints) ? run.checkpoints : [],
      samples: Array.isArray(run.samples) ? run.samples : [],
      warnings: Array.isArray(run.warnings) ? run.warnings : [],
      done: run.done ?? null,
      seq: isNum(run.seq) ? run.seq : 0,
      roles: run.roles ? readRoles(run.roles) : null,
    });
    s.runs.push(fresh);
  }
  if (Array.isArray(r.compares)) {
    for (const c of r.compares.slice(-MAX_COMPARES)) {
      const table = readCompareTable(c);
      if (table) s.compares.push(table);
    }
  }
  s.focus = typeof r.focus === 'string' && s.runs.some((x) => x.id === r.focus) ? r.focus : null;
  return s;
}

function newRun(id: string, source: string, number: number, colour: number, seq: number, compare: LossCompareTag | null = null): RunData {
  return { id, source, number, label: labelOf(source, number, compare), compare, colour, hidden: false, start: null, step: [], loss: [], lr: [],
    gradNorm: [], tokensPerSec: [], last: null, evals: [], checkpoints: [], samples: [], warnings: [], done: null, seq, roles: null };
}

const sameVariant = (a: LossCompareTag | null, b: LossCompareTag | null): boolean =>
  a !== null && b !== null && a.id === b.id && a.variant === b.variant;

/** The first palette colour no run on the chart has (the chart makes room before it runs out: makeRoom). */
export function freeColour(s: LossState): number {
  const used = new Set(s.runs.map((r) => r.colour));
  for (let c = 0; c < PALETTE_SIZE; c++) if (!used.has(c)) return c;
  return s.runs.length % PALETTE_SIZE;
}

/** A run's colour: its variant's, when another seed of that variant is on the chart; else a free one. */
function colourFor(s: LossState, compare: LossCompareTag | null): number {
  return s.runs.find((r) => sameVariant(r.compare, compare))?.colour ?? freeColour(s);
}

/**
 * Before a run joins: while the chart is full, or the run needs a colour and none is free, the oldest run goes
 * (finished runs first, never a run of the run's own comparison while another can go).
 */
function makeRoom(s: LossState, compare: LossCompareTag | null): void {
  const needsColour = (): boolean => !s.runs.some((r) => sameVariant(r.compare, compare)) && new Set(s.runs.map((r) => r.colour)).size >= PALETTE_SIZE;
  while (s.runs.length > 0 && (s.runs.length >= MAX_RUNS || needsColour())) {
    const oldest = [...s.runs].sort((a, b) => a.seq - b.seq);
    const ours = (r: RunData): boolean => compare !== null && r.compare?.id === compare.id;
    const victim = oldest.find((r) => r.done !== null && !ours(r)) ?? oldest.find((r) => !ours(r)) ?? oldest[0];
    s.runs.splice(s.runs.indexOf(victim), 1);
    if (s.focus === victim.id) s.focus = null;
  }
}

/**
 * A run starts, or is replayed. A known id keeps its number, colour, visibility and place, and its data starts over;
 * a new one gets the next number of its document and a colour of its own. When the chart is full, the oldest finished
 * run goes first.
 */
export function addRun(s: LossState, run: LossRun): RunData {
  const id = str(run.id, 200);
  const source = str(run.source, MAX_LABEL) || 'untitled';
  const compare = readCompareTag(run.compare);
  const seq = ++s.seq;
  const i = s.runs.findIndex((r) => r.id === id);
  if (i >= 0) {
    const old = s.runs[i];
    const fresh = newRun(id, old.source, old.number, old.colour, seq, old.compare);
    fresh.hidden = old.hidden;
    fresh.roles = old.roles;
    s.runs[i] = fresh;
    return fresh;
  }
  makeRoom(s, compare);
  if (compare) {
    // A comparison's runs are named by their variant; they take no number from the document's runs.
    const fresh = newRun(id, source, 0, colourFor(s, compare), seq, compare);
    s.runs.push(fresh);
    return fresh;
  }
  const number = (s.counters[source] ?? 0) + 1;
  delete s.counters[source]; // re-inserted last: the counters object keeps the most recent documents
  s.counters[source] = number;
  const keys = Object.keys(s.counters);
  for (const k of keys.slice(0, Math.max(0, keys.length - MAX_COUNTERS))) delete s.counters[k];
  const fresh = newRun(id, source, number, freeColour(s), seq);
  s.runs.push(fresh);
  return fresh;
}

export function findRun(s: LossState, id: string): RunData | undefined {
  return s.runs.find((r) => r.id === id);
}

/** Folds one batch of events into a run; malformed events are skipped. Returns how many were applied. */
export function applyEvents(run: RunData, events: unknown[]): number {
  let applied = 0;
  for (const e of events) {
    if (typeof e !== 'object' || e === null) continue;
    const ev = e as Record<string, unknown>;
    switch (ev.event) {
      case 'start': {
        const b = (ev.baselines ?? {}) as Record<string, unknown>;
        const settings = (ev.settings ?? {}) as Record<string, unknown>;
        if (!isNum(b.uniform)) continue;
        const config = (ev.config ?? {}) as Record<string, unknown>;
        run.start = {
          steps: isNum(settings.steps) ? settings.steps : 0,
          vocabSize: isNum(ev.vocabSize) ? ev.vocabSize : 0,
          parameters: isNum(ev.parameters) ? ev.parameters : 0,
          tokenizer: str(ev.tokenizer, 40),
          trainer: isTrainingPathInfo(ev.training) ? str(trainingPathLabel(ev.training), 80) : '', // "native CPU (AVX2)", as the status bar says it
          layers: isNum(config.layers) ? config.layers : 0,
          dim: isNum(config.dim) ? config.dim : 0,
          heads: isNum(config.heads) ? config.heads : 0,
          baselines: { uniform: b.uniform, unigram: numOrNull(b.unigram), bigram: numOrNull(b.bigram) },
        };
        break;
      }
      case 'step': {
        if (!isNum(ev.step) || !isNum(ev.steps)) continue;
        const at = run.step.length;
        if (at > 0 && ev.step <= run.step[at - 1]) continue; // out of order or repeated: keep the first
        run.step.push(ev.step);
        // A non-finite loss is kept as NaN (a gap in the line) so the step still counts.
        run.loss.push(isNum(ev.loss) ? ev.loss : NaN);
        run.lr.push(isNum(ev.lr) ? ev.lr : NaN);
        run.gradNorm.push(isNum(ev.gradNorm) ? ev.gradNorm : NaN);
        run.tokensPerSec.push(isNum(ev.tokensPerSec) ? ev.tokensPerSec : NaN);
        run.last = { step: ev.step, steps: ev.steps, elapsedMs: isNum(ev.elapsedMs) ? ev.elapsedMs : 0,
          etaMs: isNum(ev.etaMs) ? ev.etaMs : 0 };
        break;
      }
      case 'eval':
        if (!isNum(ev.step) || !isNum(ev.trainLoss)) continue;
        run.evals = run.evals.filter((x) => x.step !== ev.step);
        run.evals.push({ step: ev.step, trainLoss: ev.trainLoss, valLoss: numOrNull(ev.valLoss) });
        break;
      case 'checkpoint':
        if (!isNum(ev.step) || !isNum(ev.valLoss)) continue;
        run.checkpoints.push({ step: ev.step, valLoss: ev.valLoss });
        break;
      case 'sample':
        if (!isNum(ev.step) || typeof ev.text !== 'string') continue;
        run.samples = run.samples.filter((x) => x.step !== ev.step);
        run.samples.push({ step: ev.step, text: ev.text.slice(0, MAX_SAMPLE_CHARS) });
        break;
      case 'warning':
        if (typeof ev.code !== 'string' || typeof ev.message !== 'string') continue;
        if (!run.warnings.some((w) => w.code === ev.code)) run.warnings.push({ code: str(ev.code, 40), message: str(ev.message, 400) });
        break;
      case 'done': {
        if (!isNum(ev.step)) continue;
        const best = ev.best as { step?: unknown; valLoss?: unknown } | null | undefined;
        run.done = { step: ev.step, steps: isNum(ev.steps) ? ev.steps : ev.step, cancelled: ev.cancelled === true,
          error: typeof ev.error === 'string' ? ev.error.slice(0, 400) : null, elapsedMs: isNum(ev.elapsedMs) ? ev.elapsedMs : 0,
          best: best && isNum(best.step) && isNum(best.valLoss) ? { step: best.step, valLoss: best.valLoss } : null,
          restoredBest: ev.restoredBest === true };
        break;
      }
      default:
        continue;
    }
    applied++;
  }
  return applied;
}

/** The best validation point of a run: the done event's, else the last checkpoint (each one is a new best). */
export function bestOf(run: RunData): { step: number; valLoss: number } | null {
  return run.done?.best ?? run.checkpoints.at(-1) ?? null;
}

/** Planned steps of a run (for the x domain, so a live line grows to the right instead of rescaling). */
export function plannedSteps(run: RunData): number {
  return Math.max(run.done?.steps ?? 0, run.last?.steps ?? 0, run.start?.steps ?? 0, run.step.at(-1) ?? 0, 1);
}

/** TensorBoard's smoothing: an exponential moving average, debiased so the first points are not pulled to zero. */
const smoothedCache = new WeakMap<readonly number[], { length: number; weight: number; values: number[] }>();

/**
 * smooth() of a run's loss column, kept until the column grows or the weight changes: the axes, the status line, the
 * lines and the hover readout all read it, several times a frame. (A column only ever grows: a replayed run gets new
 * arrays.)
 */
export function smoothed(values: readonly number[], weight: number): number[] {
  const hit = smoothedCache.get(values);
  if (hit && hit.length === values.length && hit.weight === weight) return hit.values;
  const out = smooth(values, weight);
  smoothedCache.set(values, { length: values.length, weight, values: out });
  return out;
}

function smooth(values: readonly number[], weight: number): number[] {
  const out = new Array<number>(values.length);
  let last = 0, count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out[i] = NaN;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    count++;
    out[i] = weight === 0 ? v : last / (1 - Math.pow(weight, count));
  }
  return out;
}

export type RunStatus = 'training' | 'done' | 'stopped' | 'failed' | 'waiting';

export function statusOf(run: RunData): RunStatus {
  if (run.done) return run.done.error ? 'failed' : run.done.cancelled ? 'stopped' : 'done';
  return run.step.length ? 'training' : 'waiting';
}

/** Index of the step entry nearest to `step` (binary search on the ascending step column), or -1. */
export function nearestIndex(run: RunData, step: number): number {
  const s = run.step;
  if (!s.length) return -1;
  let lo = 0, hi = s.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (s[mid] < step) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(s[lo - 1] - step) <= Math.abs(s[lo] - step)) lo--;
  return lo;
}

/**
 * At most ~`budget` points of a column for drawing: every point when it fits, else the min and max of each bucket
 * (so the noise envelope of a raw loss line survives decimation).
 */
export function decimate(x: readonly number[], y: readonly number[], budget: number): [number, number][] {
  const n = x.length;
  if (n <= budget) return x.map((xi, i) => [xi, y[i]]);
  const buckets = Math.max(1, Math.floor(budget / 2));
  const size = n / buckets;
  const out: [number, number][] = [];
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor(b * size), to = Math.min(n, Math.floor((b + 1) * size));
    let lo = -1, hi = -1;
    for (let i = from; i < to; i++) {
      if (!Number.isFinite(y[i])) continue;
      if (lo < 0 || y[i] < y[lo]) lo = i;
      if (hi < 0 || y[i] > y[hi]) hi = i;
    }
    if (lo < 0) {
      out.push([x[from], NaN]);
      continue;
    }
    const [a, c] = lo < hi ? [lo, hi] : [hi, lo];
    out.push([x[a], y[a]]);
    if (c !== a) out.push([x[c], y[c]]);
  }
  return out;
}

/** The newest run (by arrival in this panel). */
export function latestRun(s: LossState): RunData | undefined {
  return [...s.runs].sort((a, b) => b.seq - a.seq)[0];
}

/** The run whose reference lines are drawn: the one chosen, else the newest. */
export function focusRun(s: LossState): RunData | undefined {
  return (s.focus ? findRun(s, s.focus) : undefined) ?? latestRun(s);
}

/** The run on screen: the newest one still training, else the focused one. The status line and banners are its. */
export function runOnScreen(s: LossState): RunData | undefined {
  return [...s.runs].filter((r) => statusOf(r) === 'training').sort((a, b) => b.seq - a.seq)[0] ?? focusRun(s);
}

export interface Banner {
  key: string;
  kind: 'warning' | 'error' | 'info';
  title: string;
  text: string;
}

/** The banners of the run on screen (never another run's: a finished run's warning does not follow later runs). */
export function bannersOf(run: RunData | undefined): Banner[] {
  if (!run) return [];
  const list: Banner[] = run.warnings.map((w) => ({ key: `${run.id}:${w.code}`, kind: w.code === 'memorising' ? 'warning' as const : 'info' as const,
    title: w.code === 'memorising' ? `Memorising · ${run.label}` : `Note · ${run.label}`, text: w.message }));
  if (run.done?.error) list.push({ key: `${run.id}:error`, kind: 'error', title: `Training failed · ${run.label}`, text: run.done.error });
  else if (run.done?.restoredBest && run.done.best && !run.warnings.some((w) => w.code === 'memorising')) {
    list.push({ key: `${run.id}:restored`, kind: 'info', title: `Best weights kept · ${run.label}`,
      text: `the model keeps the weights of step ${run.done.best.step} (val ${run.done.best.valLoss.toFixed(4)}), its best validation loss` });
  }
  return list;
}

/** What a run trained, in a few words: "char · 4 layers × 128 · native CPU (AVX2)". */
export function runDetails(run: RunData): string {
  const st = run.start;
  if (!st) return '';
  return [st.tokenizer, st.layers && st.dim ? `${st.layers} layer${st.layers === 1 ? '' : 's'} × ${st.dim}` : '', st.trainer].filter(Boolean).join(' · ');
}

/** A comparison's table arrives (or arrives again): it replaces its earlier copy and is the one shown. */
export function addCompareTable(s: LossState, raw: unknown): CompareSummary | null {
  const table = readCompareTable(raw);
  if (!table) return null;
  s.compares = [...s.compares.filter((c) => c.id !== table.id), table].slice(-MAX_COMPARES);
  return table;
}

/** The table under the chart: the newest comparison's. */
export function shownCompare(s: LossState): CompareSummary | undefined {
  return s.compares.at(-1);
}

/** The colour class index of a table row: its variant's runs' colour on the chart, or null when none is on it. */
export function variantColour(s: LossState, compareId: string, variant: number): number | null {
  return s.runs.find((r) => r.compare?.id === compareId && r.compare.variant === variant)?.colour ?? null;
}

/** The head-role timeline of a run's kept model arrives; false when the run is not on the chart or it is not one. */
export function setRoles(s: LossState, runId: string, timeline: unknown): boolean {
  const run = findRun(s, runId);
  const roles = rolesFromTimeline(timeline);
  if (!run || !roles) return false;
  run.roles = roles;
  return true;
}

/** The run whose head roles are drawn over the loss: the focused run when it has them, else the newest visible one that does. */
export function rolesRun(s: LossState): RunData | undefined {
  const focus = focusRun(s);
  if (focus?.roles && !focus.hidden) return focus;
  return [...s.runs].filter((r) => r.roles && !r.hidden).sort((a, b) => b.seq - a.seq)[0];
}
