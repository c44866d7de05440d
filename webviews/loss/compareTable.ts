// A comparison's table under the loss chart ("Compare on this file"): the engine's CompareTable, checked on the way in
// (it is kept with the chart's state, which comes from disk), and laid out as text with the columns and words of the
// CLI's table (engine/host/compareCommand.ts formatCompareTable): final train and val loss (± the spread over seeds),
// bits per byte, parameters, ms/step, tokens/s, and each variant against row 1, paired by seed. No DOM.
import type { CompareMetric, CompareTable, CompareVersus, LossCompareTable, OverSeeds } from '../../engine/protocol';

/** A comparison on the chart: its id (its runs' LossCompareTag.id), its document, and its table. */
export interface CompareSummary extends LossCompareTable {
  table: CompareTable;
}

const MAX_ROWS = 8;
const MAX_SEEDS = 32;
const MAX_TEXT = 200;
/** The engine's threshold for a finding (training/compare.ts FINDING_P); its `finding` flag is what the verdict reads. */
const FINDING_P = 0.05;

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const str = (x: unknown): string => (typeof x === 'string' ? x.slice(0, MAX_TEXT) : '');
const obj = (x: unknown): Record<string, unknown> | null => (typeof x === 'object' && x !== null && !Array.isArray(x) ? x as Record<string, unknown> : null);

function overSeeds(x: unknown): OverSeeds | null {
  const o = obj(x);
  return o && isNum(o.mean) ? { mean: o.mean, spread: isNum(o.spread) ? o.spread : null } : null;
}

function versus(x: unknown): CompareVersus | null {
  const o = obj(x);
  if (!o || !isNum(o.difference)) return null;
  return { metric: o.metric === 'bitsPerByte' ? 'bitsPerByte' : 'valLoss', difference: o.difference, spread: isNum(o.spread) ? o.spread : null,
    p: isNum(o.p) ? o.p : null, finding: typeof o.finding === 'boolean' ? o.finding : null };
}

/**
 * A table message (or a saved one) rebuilt from what it holds, with only the fields the panel shows; null when it is
 * not one. Runs are kept as counts of what the notes need (trained, diverged); configs as their context length.
 */
export function readCompareTable(raw: unknown): CompareSummary | null {
  const m = obj(raw), t = obj(m?.table);
  if (!m || !t || typeof m.id !== 'string' || !Array.isArray(t.rows) || !Array.isArray(t.seeds)) return null;
  const seeds = t.seeds.filter(isNum).slice(0, MAX_SEEDS);
  if (seeds.length === 0) return null;
  const metric: CompareMetric = t.metric === 'bitsPerByte' ? 'bitsPerByte' : 'valLoss';
  const rows: CompareTable['rows'] = [];
  for (const x of t.rows.slice(0, MAX_ROWS)) {
    const r = obj(x);
    if (!r || !isNum(r.parameters) || !isNum(r.steps)) continue;
    const config = obj(r.config);
    const contextLength = isNum(config?.contextLength) ? config.contextLength : 0;
    const runs = Array.isArray(r.runs) ? r.runs.map(obj).filter((run): run is Record<string, unknown> => run !== null).slice(0, MAX_SEEDS) : [];
    rows.push({
      label: str(r.label) || `variant ${rows.length + 1}`, baseline: r.baseline === true, tokenizer: str(r.tokenizer),
      // The panel reads a row's context length only; the rest of its config stays with the engine.
      config: { contextLength } as CompareTable['rows'][number]['config'],
      parameters: r.parameters, steps: r.steps, batchSize: isNum(r.batchSize) ? r.batchSize : 0, tokensPerRun: isNum(r.tokensPerRun) ? r.tokensPerRun : 0,
      runs: runs.map((run) => ({ seed: isNum(run.seed) ? run.seed : 0, steps: isNum(run.steps) ? run.steps : 0, trainLoss: null, valLoss: null,
        bitsPerByte: null, msPerStep: null, tokensPerSec: null, trainer: str(run.trainer), error: typeof run.error === 'string' ? str(run.error) : null })),
      trainLoss: overSeeds(r.trainLoss), valLoss: overSeeds(r.valLoss), bitsPerByte: overSeeds(r.bitsPerByte), msPerStep: overSeeds(r.msPerStep),
      tokensPerSec: overSeeds(r.tokensPerSec), versus: versus(r.versus),
    });
  }
  if (rows.length === 0) return null;
  return { id: m.id.slice(0, 200), source: str(m.source) || 'untitled',
    table: { preset: str(t.preset), metric, seeds, baseline: t.baseline !== false, reference: 0, rows, cancelled: t.cancelled === true } };
}

// ---- the words and numbers, as the CLI writes them ----

function parameters(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(1)}K`;
}

/** "1.612 ± 0.004" with several seeds, "1.6123" with one. */
export function formatOverSeeds(x: OverSeeds | null): string {
  if (!x) return 'n/a';
  return x.spread === null ? x.mean.toFixed(4) : `${x.mean.toFixed(3)} ± ${x.spread.toFixed(3)}`;
}

function rate(n: number): string {
  return n < 1e5 ? Math.round(n).toLocaleString('en-US') : n < 1e8 ? `${Math.round(n / 1e3)}k` : `${Math.round(n / 1e6)}M`;
}

const signed = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(4)}`;
const pValue = (p: number): string => (p < 0.001 ? 'p < 0.001' : `p = ${p.toFixed(3)}`);

export type Verdict = 'reference' | 'better' | 'worse' | 'noise' | 'one-seed' | 'n/a';

export interface TableRowView {
  variant: number;
  label: string;
  cells: string[]; // under TableView.head, after the label
  versus: string; // the difference against row 1, with its spread and p-value
  verdict: Verdict;
  verdictText: string;
}

export interface TableView {
  title: string;
  lines: string[]; // the budget, the seeds, the metric
  head: string[]; // column titles after "variant"
  versusHead: string;
  rows: TableRowView[];
  notes: string[];
}

/** The table as the panel shows it: the CLI's columns, its notes, and a verdict per row in words. */
export function tableView(c: CompareSummary): TableView {
  const t = c.table;
  const K = t.seeds.length;
  const first = t.rows[0];
  const metricName = t.metric === 'valLoss' ? 'val loss' : 'bits per byte';
  const lines: string[] = [];
  lines.push(`${first.steps.toLocaleString('en-US')} steps of ${first.batchSize} × ${first.config.contextLength} tokens: ` +
    `${first.tokensPerRun.toLocaleString('en-US')} tokens per run, the same batches for the same seed`);
  lines.push(K === 1 ? `seed ${t.seeds[0]}: one seed cannot tell a finding from seed noise (compare with 3 seeds or more)`
    : `${K} seeds (${t.seeds[0]} to ${t.seeds[K - 1]}): mean ± spread (standard deviation over seeds); each variant is paired seed by seed ` +
      `with row 1, and a difference is a finding when p < ${FINDING_P}`);
  if (t.metric === 'bitsPerByte') lines.push('the rows tokenize differently: losses per token do not compare, bits per byte do');
  const notes: string[] = [];
  const rows = t.rows.map((r, i): TableRowView => {
    const diverged = r.runs.filter((run) => run.error !== null).length;
    if (r.steps !== first.steps) notes.push(`row ${i + 1} trains ${r.steps} steps of context ${r.config.contextLength}: the same tokens per run`);
    if (diverged > 0) notes.push(`row ${i + 1}: ${diverged} of ${r.runs.length} runs diverged (the loss became non-finite) and are left out`);
    if (r.runs.length < K) notes.push(`row ${i + 1}: ${r.runs.length} of ${K} runs trained before the comparison was stopped`);
    const cells = [parameters(r.parameters), formatOverSeeds(r.trainLoss), formatOverSeeds(r.valLoss), formatOverSeeds(r.bitsPerByte),
      r.msPerStep ? r.msPerStep.mean.toFixed(r.msPerStep.mean < 1e4 ? 1 : 0) : 'n/a', r.tokensPerSec ? rate(r.tokensPerSec.mean) : 'n/a'];
    const v = r.versus;
    let verdict: Verdict, verdictText: string, vs: string;
    if (i === 0) {
      verdict = 'reference';
      verdictText = t.baseline ? 'the baseline' : 'the reference';
      vs = '—';
    } else if (!v) {
      verdict = 'n/a';
      verdictText = 'not every run finished';
      vs = 'n/a';
    } else if (v.spread === null || v.p === null || v.finding === null) {
      verdict = 'one-seed';
      verdictText = 'one seed: not a test';
      vs = signed(v.difference);
    } else {
      verdict = v.finding ? (v.difference < 0 ? 'better' : 'worse') : 'noise';
      verdictText = v.finding ? `${v.difference < 0 ? 'better' : 'worse'} (a finding)` : 'within seed noise: not a finding';
      vs = `${signed(v.difference)} ± ${v.spread.toFixed(4)}, ${pValue(v.p)}`;
    }
    return { variant: i, label: r.label, cells, versus: vs, verdict, verdictText };
  });
  notes.push('ms/step and tok/s time the training steps alone, one run at a time on every core');
  if (t.cancelled) notes.push('stopped before every run finished: the table holds the runs that did');
  return {
    title: `Compared on ${c.source}: preset ${t.preset || '?'}, tokenizer ${first.tokenizer || '?'}`,
    lines,
    head: ['params', 'train loss', 'val loss', 'bits/byte', 'ms/step', 'tok/s'],
    versusHead: `vs row 1 (${metricName}, lower is better)`,
    rows,
    notes,
  };
}
