// The next-token view's state: the data (checked), the sampling settings (clamped), the prompt's parts (what the
// panel sampled onto the selection, the newest draw marked), and how numbers read. No DOM: node tests load it as is.
import type { AttributionEntry, AttributionProbe, NextTokenData, SamplingOptions } from '../../engine/protocol';

export interface NextTokenState {
  data: NextTokenData | null;
  settings: SamplingOptions;
  lensAll: boolean;
}

export const DEFAULTS: SamplingOptions = { temperature: 1, topK: 0, topP: 1 };

export function valid(d: unknown): d is NextTokenData {
  if (typeof d !== 'object' || d === null) return false;
  const x = d as Partial<NextTokenData>;
  return typeof x.prompt === 'string' && typeof x.sampledSoFar === 'string' && typeof x.probe === 'object' && x.probe !== null
    && Array.isArray(x.probe.top) && Array.isArray(x.probe.tokens) && typeof x.lens === 'object' && x.lens !== null
    && Array.isArray(x.lens.layers) && x.lens.layers.every((l) => Array.isArray(l) && l.every((p) => p && Array.isArray(p.top)))
    && x.probe.top.every((t) => t && typeof t.text === 'string' && typeof t.prob === 'number');
}

/** Settings within the sliders' ranges; anything unreadable becomes the default. */
export function sanitize(o: Partial<SamplingOptions> | undefined): SamplingOptions {
  const t = Number(o?.temperature), k = Number(o?.topK), p = Number(o?.topP);
  return {
    temperature: Number.isFinite(t) ? Math.min(2, Math.max(0, t)) : DEFAULTS.temperature,
    topK: Number.isFinite(k) ? Math.max(0, Math.round(k)) : DEFAULTS.topK,
    topP: Number.isFinite(p) ? Math.min(1, Math.max(0.01, p)) : DEFAULTS.topP,
  };
}

export function restoreState(raw: unknown): NextTokenState {
  const s = raw as Partial<NextTokenState> | undefined;
  return {
    data: s && valid(s.data) ? s.data : null,
    settings: sanitize(s?.settings),
    lensAll: s?.lensAll === true,
  };
}

/** A probability as a percentage with as many digits as it needs. */
export const pct = (p: number): string =>
  (!Number.isFinite(p) ? '–' : p === 0 ? '0%' : p < 0.001 ? `${(p * 100).toExponential(1)}%` : `${(p * 100).toFixed(p < 0.1 ? 2 : 1)}%`);
export const num = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : String(x));

/** What the panel shows of its context: "12 tokens of context (the last 12; 3 earlier tokens do not fit)". */
export function contextLabel(d: NextTokenData): string {
  const n = d.probe.tokens.length;
  return `${n} token${n === 1 ? '' : 's'} of context${d.probe.cropped > 0 ? ` (the last ${n}; ${d.probe.cropped} earlier tokens do not fit)` : ''}`
    + ` · vocabulary ${d.probe.vocabSize}`;
}

/**
 * The prompt in parts: the selection (its start cut to `max` characters), what the panel sampled before, and the
 * newest draw (`previous` is what had been sampled before it).
 */
export function promptParts(d: NextTokenData, previous: string, max = 600): { key: 'ellipsis' | 'base' | 'older' | 'newest'; text: string }[] {
  const sampled = d.prompt.endsWith(d.sampledSoFar) ? d.sampledSoFar : '';
  const base = d.prompt.slice(0, d.prompt.length - sampled.length);
  const newest = sampled.startsWith(previous) ? sampled.slice(previous.length) : '';
  const older = sampled.slice(0, sampled.length - newest.length);
  const cut = Math.max(0, base.length - Math.max(0, max - sampled.length));
  const parts: { key: 'ellipsis' | 'base' | 'older' | 'newest'; text: string }[] = [
    { key: 'ellipsis', text: cut > 0 ? '…' : '' },
    { key: 'base', text: base.slice(cut) },
    { key: 'older', text: older },
    { key: 'newest', text: newest },
  ];
  return parts.filter((p) => p.text !== '');
}

/** How a sampler with these settings draws, in words. */
export function samplingLabel(s: SamplingOptions): string {
  return s.temperature === 0 ? 'greedy: only the most likely token' : `temperature ${num(s.temperature, 2)}`
    + (s.topK > 0 ? `, top-k ${s.topK}` : '') + (s.topP < 1 ? `, top-p ${num(s.topP, 2)}` : '');
}

// ---- direct logit attribution ("why this token?") ----

/** Components shown before "show all". */
export const ATTRIBUTION_SHOWN = 10;

export function validAttribution(x: unknown): x is AttributionProbe {
  if (typeof x !== 'object' || x === null) return false;
  const a = x as Partial<AttributionProbe>;
  return typeof a.logit === 'number' && typeof a.sum === 'number' && typeof a.token === 'object' && a.token !== null &&
    typeof a.token.text === 'string' && Array.isArray(a.components) &&
    a.components.every((c) => typeof c === 'object' && c !== null && typeof c.label === 'string' && Number.isFinite(c.contribution));
}

/** The components by size of contribution (either sign), the largest first; the first `limit` unless all are asked for. */
export function attributionRows(a: AttributionProbe, all: boolean, limit = ATTRIBUTION_SHOWN): AttributionEntry[] {
  const sorted = a.components.slice().sort((x, y) => Math.abs(y.contribution) - Math.abs(x.contribution));
  return all ? sorted : sorted.slice(0, limit);
}

/** "sum of 11 contributions 5.4321 = logit 5.4321": the check a reader can do, with the gap when there is one. */
export function attributionSumLine(a: AttributionProbe): string {
  const gap = Math.abs(a.sum - a.logit);
  return `sum of ${a.components.length} contributions ${a.sum.toFixed(4)} ${gap < 1e-4 ? '=' : '≠'} logit ${a.logit.toFixed(4)}` +
    (gap < 1e-4 ? '' : ` (off by ${gap.toExponential(1)})`);
}

/** A component's name as the attention panel numbers layers and heads (from 1): "layer 2 head 3", "layer 1 MLP". */
export function attributionLabel(c: AttributionEntry): string {
  switch (c.kind) {
    case 'embed': return 'embeddings';
    case 'head': return `layer ${c.layer + 1} head ${c.head + 1}`;
    case 'attnBias': return `layer ${c.layer + 1} attention bias`;
    case 'mlp': return `layer ${c.layer + 1} MLP`;
    case 'bias': return 'output biases';
  }
}
