// The attention view's interpretability parts, as data: head-role scores (which role, on which text, the honest note
// when no head plays it), the heads chosen for ablation and what an ablation changed, and a patching experiment's
// ranking. No DOM: node tests load it as is.
import type { AblationMode, AblationProbe, HeadRef, HeadRoleScores, HeadRolesProbe, PatchData, PatchResult } from '../../engine/protocol';

export type Role = keyof HeadRoleScores;
export const ROLES: readonly { role: Role; name: string; what: string }[] = [
  { role: 'previousToken', name: 'previous token', what: 'attention on the token just before' },
  { role: 'induction', name: 'induction', what: 'attention on the token after an earlier copy of the current one' },
  { role: 'duplicateToken', name: 'duplicate', what: 'attention on earlier copies of the current token' },
  { role: 'firstToken', name: 'first token (sink)', what: 'attention on the first token' },
];
export type RoleSource = 'random' | 'text';

/** A score this high means the head plays the role (attention mass on the role's keys, 0 to 1). */
export const ROLE_THRESHOLD = 0.3;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const isGrid = (x: unknown, N: number, H: number): x is number[][] => Array.isArray(x) && x.length === N &&
  x.every((row) => Array.isArray(row) && row.length === H && row.every((v) => typeof v === 'number' && Number.isFinite(v)));
const isScores = (x: unknown, N: number, H: number): x is HeadRoleScores => isObj(x) && ROLES.every((r) => isGrid(x[r.role], N, H));

/** Whether a roles answer fits a model of N layers and H heads. */
export function validRoles(x: unknown, N: number, H: number): x is HeadRolesProbe {
  if (!isObj(x) || !isObj(x.random) || !isScores(x.random, N, H) || !isObj(x.random.loss)) return false;
  return x.text === null || (isObj(x.text) && isScores(x.text.scores, N, H));
}

/** The grid shown: a role's scores on the repeated random tokens (the standard test) or on the probed text. */
export function roleGrid(p: HeadRolesProbe, role: Role, source: RoleSource): number[][] {
  return (source === 'text' && p.text ? p.text.scores : p.random)[role];
}

/** The strongest head of a grid: where, and its score. */
export function strongest(grid: number[][]): { layer: number; head: number; score: number } {
  let best = { layer: 0, head: 0, score: -Infinity };
  grid.forEach((row, layer) => row.forEach((score, head) => {
    if (score > best.score) best = { layer, head, score };
  }));
  return best;
}

/** One honest line about a role's grid: which head plays it best, or that none does. */
export function roleNote(p: HeadRolesProbe, role: Role, source: RoleSource): string {
  const grid = roleGrid(p, role, source);
  const best = strongest(grid);
  const name = ROLES.find((r) => r.role === role)!.name;
  const where = `layer ${best.layer + 1}, head ${best.head + 1}`;
  const on = source === 'text' && p.text ? 'on this text' : `on ${p.random.sequences} repeated random sequences`;
  if (best.score >= ROLE_THRESHOLD) return `Strongest ${name} head ${on}: ${where} (${best.score.toFixed(2)}).`;
  if (role === 'induction') {
    const { firstHalf, secondHalf } = p.random.loss;
    return `No head scores above ${ROLE_THRESHOLD} for induction (best ${best.score.toFixed(2)}, ${where}): this small model formed no ` +
      `induction heads on this text. Loss on the repeated half ${secondHalf.toFixed(2)} vs ${firstHalf.toFixed(2)} nats on the first: ` +
      `${secondHalf < firstHalf * 0.8 ? 'it still copies some of the repeat in context' : 'it does not copy in context'}.`;
  }
  return `No head scores above ${ROLE_THRESHOLD} for ${name} ${on} (best ${best.score.toFixed(2)}, ${where}).`;
}

// ---- ablation ----

export const headKey = (h: HeadRef): string => `${h.layer}:${h.head}`;

/** The chosen heads as the engine takes them, in model order. */
export function chosenHeads(chosen: ReadonlySet<string>): HeadRef[] {
  return [...chosen].map((k) => k.split(':').map(Number)).map(([layer, head]) => ({ layer, head }))
    .filter((h) => Number.isInteger(h.layer) && Number.isInteger(h.head))
    .sort((a, b) => a.layer - b.layer || a.head - b.head);
}

/** A click on a layer's label: all its heads chosen, or (when all already are) none of them. */
export function toggleLayer(chosen: ReadonlySet<string>, layer: number, H: number): Set<string> {
  const next = new Set(chosen);
  const keys = Array.from({ length: H }, (_, head) => headKey({ layer, head }));
  const all = keys.every((k) => next.has(k));
  for (const k of keys) if (all) next.delete(k); else next.add(k);
  return next;
}

export function toggleHead(chosen: ReadonlySet<string>, h: HeadRef): Set<string> {
  const next = new Set(chosen);
  const k = headKey(h);
  if (next.has(k)) next.delete(k); else next.add(k);
  return next;
}

/** Whether an ablation answer is the one for these heads and mode. */
export function validAblation(x: unknown, heads: HeadRef[], mode: AblationMode): x is AblationProbe {
  return isObj(x) && x.mode === mode && Array.isArray(x.heads) && x.heads.length === heads.length &&
    (x.heads as HeadRef[]).every((h, i) => h.layer === heads[i].layer && h.head === heads[i].head) && isObj(x.loss) && isObj(x.next) &&
    Array.isArray(x.next.before) && Array.isArray(x.next.after);
}

/** "Loss on this text: 2.314 → 2.871 nats (+0.557)", or why there is none. */
export function ablationLossLine(a: AblationProbe): string {
  const { before, after } = a.loss;
  if (before === null || after === null) return 'The text has one token: there is no loss to compare.';
  const d = after - before;
  return `Loss on this text: ${before.toFixed(3)} → ${after.toFixed(3)} nats per token (${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(3)})`;
}

/** The next tokens before and after, side by side: the top k of either, with both probabilities (null: below the top list). */
export function nextTokenChange(a: AblationProbe, k = 6): { id: number; text: string; before: number | null; after: number | null }[] {
  const before = new Map(a.next.before.map((t) => [t.id, t.prob]));
  const after = new Map(a.next.after.map((t) => [t.id, t.prob]));
  const shown = new Map([...a.next.before.slice(0, k), ...a.next.after.slice(0, k)].map((t) => [t.id, t.text]));
  return [...shown].map(([id, text]) => ({ id, text, before: before.get(id) ?? null, after: after.get(id) ?? null }))
    .sort((x, y) => Math.max(y.before ?? 0, y.after ?? 0) - Math.max(x.before ?? 0, x.after ?? 0));
}

// ---- patching ----

export function validPatch(x: unknown): x is PatchData {
  if (!isObj(x) || !isObj(x.probe) || typeof x.selection !== 'string' || typeof x.edit !== 'string') return false;
  const p = x.probe;
  return Array.isArray(p.heads) && p.heads.length > 0 && p.heads.every((row) => Array.isArray(row) && row.every(isObj)) &&
    Array.isArray(p.residuals) && isObj(p.cleanToken) && isObj(p.editedToken);
}

/** The heads that restore the clean prediction most, best first. */
export function topRestoring(heads: PatchResult[][], n = 5): { layer: number; head: number; restored: number }[] {
  const all = heads.flatMap((row, layer) => row.map((r, head) => ({ layer, head, restored: r.restored ?? 0 })));
  return all.sort((a, b) => b.restored - a.restored).slice(0, n);
}
