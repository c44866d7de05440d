// The embeddings view's state: the projection and the results (checked on the way in), the inputs, analogy hints
// that fit the model's tokenizer, and how numbers and captions read. No DOM: node tests load it as is.
import type { AnalogyResult, ModelTag, Neighbour, NeighboursData, ProbeToken, ProjectionData } from '../../engine/protocol';
import { showToken } from '../shared/format';
import { readTimeline } from '../shared/timeline';

export interface EmbeddingsState {
  projection: ProjectionData | null;
  neighbours: NeighboursData | null;
  analogy: AnalogyResult | null;
  /** The analogy a hint asked for, and the answer it expects. */
  expected: { a: string; b: string; c: string; d: string } | null;
  /** Which result the scatter highlights. */
  active: 'neighbours' | 'analogy' | null;
  query: string;
  a: string;
  b: string;
  c: string;
  k: number;
  transform: { k: number; x: number; y: number } | null;
}

export const MAX_POINTS = 300_000;
export const MAX_K = 50;
export const DEFAULT_K = 10;

export function emptyState(): EmbeddingsState {
  return { projection: null, neighbours: null, analogy: null, expected: null, active: null, query: '', a: '', b: '', c: '', k: DEFAULT_K, transform: null };
}

/** A coordinate or cosine with enough digits to be exact at a glance (6 significant), and a real minus sign. */
export function num(x: number, digits = 6): string {
  if (!Number.isFinite(x)) return String(x);
  return Number(x.toPrecision(digits)).toString().replace('-', '−');
}

/** A cosine in [-1, 1] with a fixed 3 decimals, for tables. */
export function cos3(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3).replace('-', '−') : '—';
}

/** "23.4%" for a fraction, or null when it is not a usable number. */
export function percent(f: number): string | null {
  return Number.isFinite(f) && f >= 0 && f <= 1.0000001 ? `${(f * 100).toFixed(1)}%` : null;
}

// ---- validation of what arrives ----

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const isToken = (t: unknown): t is ProbeToken => isObj(t) && Number.isSafeInteger(t.id) && typeof t.text === 'string';
const token = (t: ProbeToken): ProbeToken => ({ id: t.id, tokenizerId: t.tokenizerId ?? null, text: t.text, unknown: t.unknown === true });

function cleanModel(m: unknown): ModelTag | null {
  return isObj(m) && typeof m.label === 'string' && typeof m.tokenizer === 'string'
    ? { label: m.label.slice(0, 200), tokenizer: m.tokenizer.slice(0, 40), parameters: Number(m.parameters) || 0, partial: m.partial === true }
    : null;
}

export function cleanProjection(p: unknown): ProjectionData | null {
  if (!isObj(p) || !Array.isArray(p.points)) return null;
  const points = (p.points as unknown[]).slice(0, MAX_POINTS)
    .filter((pt): pt is ProjectionData['points'][number] => isToken(pt) && isObj(pt) && Number.isFinite(pt.x) && Number.isFinite(pt.y))
    .map((pt) => ({ ...token(pt), x: pt.x, y: pt.y }));
  const ex = Array.isArray(p.explained) ? p.explained : [];
  const timeline = readTimeline(p.timeline);
  return { points, explained: [Number(ex[0]), Number(ex[1])], model: cleanModel(p.model), ...(timeline ? { timeline } : {}) };
}

function cleanNearest(list: unknown): Neighbour[] {
  return (Array.isArray(list) ? list : []).slice(0, 1000)
    .filter((n): n is Neighbour => isToken(n) && Number.isFinite((n as Neighbour).cosine))
    .map((n) => ({ ...token(n), cosine: n.cosine }));
}

export function cleanNeighbours(d: unknown): NeighboursData | null {
  if (!isObj(d) || typeof d.text !== 'string' || !Array.isArray(d.query)) return null;
  const query = (d.query as unknown[]).filter(isToken).map(token);
  if (query.length === 0) return null;
  return { text: d.text.slice(0, 1000), query, mean: query.length > 1, unknown: Number.isInteger(d.unknown) ? Number(d.unknown) : 0,
    nearest: cleanNearest(d.nearest) };
}

export function cleanAnalogy(r: unknown): AnalogyResult | null {
  if (!isObj(r) || !isToken(r.a) || !isToken(r.b) || !isToken(r.c)) return null;
  return { a: token(r.a), b: token(r.b), c: token(r.c), nearest: cleanNearest(r.nearest) };
}

/** Whether two projections are the same (a reload's replay keeps the results and the zoom). */
export function sameProjection(x: ProjectionData, y: ProjectionData): boolean {
  if (x.points.length !== y.points.length) return false;
  for (let i = 0; i < x.points.length; i += Math.max(1, Math.floor(x.points.length / 64))) {
    const [p, q] = [x.points[i], y.points[i]];
    if (p.id !== q.id || p.x !== q.x || p.y !== q.y || p.text !== q.text) return false;
  }
  return true;
}

export function restoreState(saved: unknown): EmbeddingsState {
  const s = emptyState();
  if (!isObj(saved)) return s;
  const str = (x: unknown): string => (typeof x === 'string' ? x.slice(0, 1000) : '');
  s.projection = saved.projection ? cleanProjection(saved.projection) : null;
  s.neighbours = saved.neighbours ? cleanNeighbours(saved.neighbours) : null;
  s.analogy = saved.analogy ? cleanAnalogy(saved.analogy) : null;
  const e = saved.expected;
  s.expected = isObj(e) && [e.a, e.b, e.c, e.d].every((x) => typeof x === 'string') ? { a: str(e.a), b: str(e.b), c: str(e.c), d: str(e.d) } : null;
  s.active = saved.active === 'neighbours' || saved.active === 'analogy' ? saved.active : null;
  s.query = str(saved.query);
  s.a = str(saved.a);
  s.b = str(saved.b);
  s.c = str(saved.c);
  s.k = Number.isSafeInteger(saved.k) && (saved.k as number) >= 1 && (saved.k as number) <= MAX_K ? (saved.k as number) : DEFAULT_K;
  const t = saved.transform;
  s.transform = isObj(t) && [t.k, t.x, t.y].every((v) => Number.isFinite(v)) ? { k: Number(t.k), x: Number(t.x), y: Number(t.y) } : null;
  return s;
}

// ---- captions ----

/** What the neighbours are of: one token, or the mean of several (named), and what was left out. */
export function neighboursCaption(d: NeighboursData, tokenizer: string | null): string {
  const unknown = d.unknown ? `; ${d.unknown} of its tokens never occurred in training and ${d.unknown === 1 ? 'is' : 'are'} left out` : '';
  if (!d.mean) return `Nearest to “${showToken(d.query[0].text)}” (id ${d.query[0].id}) by cosine${unknown}`;
  const names = d.query.slice(0, 12).map((t) => showToken(t.text)).join(' ');
  return `“${showToken(d.text, 40)}” is ${d.query.length + d.unknown} tokens${tokenizer ? ` in ${tokenizer}` : ''}: nearest to the mean of ` +
    `their embeddings (${names}${d.query.length > 12 ? ' …' : ''})${unknown}. Pick one token below for its own neighbours.`;
}

export function analogyCaption(r: AnalogyResult): string {
  const best = r.nearest[0];
  return `${showToken(r.a.text)} − ${showToken(r.b.text)} + ${showToken(r.c.text)} → ${best ? showToken(best.text) : 'nothing'}`;
}

/** How a hinted analogy came out: where its expected answer ranks. */
export function expectationNote(r: AnalogyResult, expected: EmbeddingsState['expected']): string | null {
  if (!expected || r.a.text !== expected.a || r.b.text !== expected.b || r.c.text !== expected.c) return null;
  const rank = r.nearest.findIndex((n) => n.text === expected.d);
  const want = `“${showToken(expected.d)}”`;
  if (rank === 0) return `${want} came first: the model has learned this relation.`;
  if (rank > 0) return `${want} is number ${rank + 1} (cosine ${cos3(r.nearest[rank].cosine)}): the relation is there, but not the strongest.`;
  return `${want} is not among the ${r.nearest.length} nearest: a small model trained on one file has rarely learned this relation yet.`;
}

// ---- analogy hints that fit the tokenizer ----

export interface AnalogyHint {
  a: string;
  b: string;
  c: string;
  /** The answer the relation predicts. */
  d: string;
  why: string;
}

/** Word analogies of the literature, as a − b + c → d; tried with GPT-2's leading space, then without. */
const WORD_ANALOGIES: [string, string, string, string, string][] = [
  ['king', 'man', 'woman', 'queen', 'gender'],
  ['lord', 'man', 'woman', 'lady', 'gender'],
  ['father', 'man', 'woman', 'mother', 'gender'],
  ['son', 'man', 'woman', 'daughter', 'gender'],
  ['brother', 'man', 'woman', 'sister', 'gender'],
  ['he', 'his', 'her', 'she', 'pronoun case'],
  ['him', 'he', 'she', 'her', 'pronoun case'],
  ['thou', 'thee', 'you', 'ye', 'pronoun case'],
  ['is', 'was', 'were', 'are', 'tense'],
  ['good', 'better', 'worse', 'bad', 'comparison'],
  ['the', 'The', 'A', 'a', 'capitals'],
];

/**
 * Analogies whose four tokens are each one token of this model's vocabulary, so that the hint can work at all: case
 * pairs of letters for a character model (a − A + B → b), words with their leading space for a word-level tokenizer
 * (·king − ·man + ·woman → ·queen). At most `max`; none when the vocabulary has no such four.
 */
export function analogyHints(points: readonly { text: string; unknown: boolean }[], max = 3): AnalogyHint[] {
  const vocab = new Set(points.filter((p) => !p.unknown).map((p) => p.text));
  const hints: AnalogyHint[] = [];
  for (const [a, b, c, d, why] of WORD_ANALOGIES) {
    for (const prefix of [' ', '']) {
      const four = [a, b, c, d].map((w) => prefix + w);
      if (four.every((w) => vocab.has(w))) {
        hints.push({ a: four[0], b: four[1], c: four[2], d: four[3], why });
        break;
      }
    }
    if (hints.length >= max) return hints;
  }
  // Letters and their capitals: the relation a character model can learn from any English text.
  const letters = 'etaoinshrdlucmfwypgbvk'.split('').filter((x) => vocab.has(x) && vocab.has(x.toUpperCase()));
  for (let i = 0; i + 1 < letters.length && hints.length < max; i += 2) {
    const [x, y] = [letters[i], letters[i + 1]];
    hints.push({ a: x, b: x.toUpperCase(), c: y.toUpperCase(), d: y, why: 'lower and upper case' });
  }
  return hints;
}
