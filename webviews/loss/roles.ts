// The induction overlay's data: the head-role timeline of the model a run kept (the engine's `timeline`: head roles on
// repeated random sequences at each snapshot step) reduced to its best head per step, for induction and previous-token,
// and a note that says plainly what the curve shows, or that no head formed. No DOM: node tests load it as is.
import type { Timeline } from '../../engine/protocol';

/**
 * An induction score is a share of attention, so what counts as an induction head depends on what attending evenly
 * gives: about 1/(keys a query sees), 0.02-0.03 on the engine's test at context 64, more with a short context. The
 * scores at initialisation (step 0, before any learning) measure it; a head is called an induction head when it gives
 * the induction key CHANCE_FACTOR times that, and never below MIN_INDUCTION.
 */
export const MIN_INDUCTION = 0.1;
export const CHANCE_FACTOR = 3;
const MAX_POINTS = 256;
const MAX_HEAD_NAME = 40;

export interface RolesSeries {
  step: number[]; // ascending
  /** The best head's induction score at each step, in [0, 1], and that head ("layer 2 head 1"). */
  induction: number[];
  inductionHead: string[];
  /** The same for previous-token attention. */
  previousToken: number[];
  previousTokenHead: string[];
}

const isScore = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= 1;

/** The largest score of a [layers][heads] grid and its head (1-based in the name, as the attention panel says). */
function best(grid: unknown): { score: number; head: string } | null {
  if (!Array.isArray(grid)) return null;
  let top: { score: number; head: string } | null = null;
  grid.forEach((row: unknown, layer) => {
    if (!Array.isArray(row)) return;
    row.forEach((v: unknown, head) => {
      if (isScore(v) && (!top || v > top.score)) top = { score: v, head: `layer ${layer + 1} head ${head + 1}` };
    });
  });
  return top;
}

/** A timeline from the engine, reduced; null when it is not one. Points without scores are skipped. */
export function rolesFromTimeline(raw: unknown): RolesSeries | null {
  if (typeof raw !== 'object' || raw === null || !Array.isArray((raw as Timeline).points)) return null;
  const points = (raw as Timeline).points
    .filter((p) => typeof p === 'object' && p !== null && typeof p.step === 'number' && Number.isFinite(p.step))
    .sort((a, b) => a.step - b.step).slice(0, MAX_POINTS);
  const out: RolesSeries = { step: [], induction: [], inductionHead: [], previousToken: [], previousTokenHead: [] };
  for (const p of points) {
    if (out.step.length && out.step.at(-1) === p.step) continue;
    const roles = (p.roles ?? {}) as unknown as Record<string, unknown>;
    const ind = best(roles.induction), prev = best(roles.previousToken);
    if (!ind || !prev) continue;
    out.step.push(p.step);
    out.induction.push(ind.score);
    out.inductionHead.push(ind.head);
    out.previousToken.push(prev.score);
    out.previousTokenHead.push(prev.head);
  }
  return out;
}

/** A series as saved with the chart's state (state comes from disk: treat it as input); null when malformed. */
export function readRoles(raw: unknown): RolesSeries | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  const cols = ['step', 'induction', 'inductionHead', 'previousToken', 'previousTokenHead'] as const;
  if (!cols.every((c) => Array.isArray(r[c]))) return null;
  const n = Math.min(MAX_POINTS, ...cols.map((c) => (r[c] as unknown[]).length));
  const out: RolesSeries = { step: [], induction: [], inductionHead: [], previousToken: [], previousTokenHead: [] };
  for (let i = 0; i < n; i++) {
    const step = (r.step as unknown[])[i], ind = (r.induction as unknown[])[i], prev = (r.previousToken as unknown[])[i];
    if (typeof step !== 'number' || !Number.isFinite(step) || !isScore(ind) || !isScore(prev)) continue;
    if (out.step.length && step <= out.step.at(-1)!) continue;
    out.step.push(step);
    out.induction.push(ind);
    out.inductionHead.push(String((r.inductionHead as unknown[])[i]).slice(0, MAX_HEAD_NAME));
    out.previousToken.push(prev);
    out.previousTokenHead.push(String((r.previousTokenHead as unknown[])[i]).slice(0, MAX_HEAD_NAME));
  }
  return out;
}

/** The score above which a head counts as an induction head, for this run: see MIN_INDUCTION. */
export function inductionThreshold(s: RolesSeries): number {
  const chance = s.step[0] === 0 ? s.induction[0] : 0;
  return Math.max(MIN_INDUCTION, Math.round(CHANCE_FACTOR * chance * 100) / 100);
}

/** Where induction is first above the threshold, and where it peaks; null peak for an empty series. */
export function inductionSummary(s: RolesSeries): { peak: { step: number; score: number; head: string } | null; firstAbove: number | null;
  threshold: number } {
  const threshold = inductionThreshold(s);
  let peak: { step: number; score: number; head: string } | null = null;
  let firstAbove: number | null = null;
  s.step.forEach((step, i) => {
    const v = s.induction[i];
    if (!peak || v > peak.score) peak = { step, score: v, head: s.inductionHead[i] };
    if (firstAbove === null && v > threshold) firstAbove = step;
  });
  return { peak, firstAbove, threshold };
}

/** What the overlay shows, in a sentence or two; `layers` is the model's (a one-layer model cannot form the circuit). */
export function rolesNote(s: RolesSeries, layers: number): { kind: 'formed' | 'none' | 'no-snapshots'; text: string } {
  if (s.step.length === 0) {
    return { kind: 'no-snapshots', text: 'This run kept no weight snapshots, so there is no head-role timeline to draw. Train with ' +
      'snapshots (the gptLab.snapshots setting) to watch induction heads form.' };
  }
  const { peak, firstAbove, threshold } = inductionSummary(s);
  const p = peak!;
  const chance = s.step[0] === 0 ? ` (at initialisation the best head gives it ${s.induction[0].toFixed(2)}, attention spread evenly)` : '';
  if (firstAbove === null) {
    const why = layers === 1 ? 'A one-layer model cannot form one: the circuit needs a previous-token head in an earlier layer.'
      : 'Small models on small files often do not: it can take thousands of steps on text that rewards copying.';
    return { kind: 'none', text: `No induction head formed: no head scores above ${threshold.toFixed(2)} on induction at any of the ` +
      `${s.step.length} steps scored${chance}; the best, ${p.head}, reaches ${p.score.toFixed(2)} at step ${p.step}. ${why}` };
  }
  return { kind: 'formed', text: `An induction head formed: the best induction score first passes ${threshold.toFixed(2)} at step ` +
    `${firstAbove}${chance} and peaks at ${p.score.toFixed(2)} (${p.head}, step ${p.step}). A fall in the loss near that step is ` +
    'the "induction bump".' };
}
