// The interpretability parts of `gpt-lab`: probe --head-roles, --attribution, --ablate, --snapshot, --timeline;
// eval --per-token; train --snapshots. cli.ts parses the flags and calls these; errors here are one-line Errors that
// cli.ts reports as usage errors (exit 2).
import * as fs from 'node:fs';
import { type GPTConfig } from '../model/config';
import { maxModelBytes } from '../io/checkpoint';
import { loadSnapshots, saveSnapshots, snapshotsPath, type SnapshotSet } from '../io/snapshots';
import { shown } from '../io/files';
import { safeStdout } from '../io/output';
import { KVCacheSession, type DecoderCompute } from '../inference/kvCache';
import { perTokenLoss, type ProbeContext } from '../probes/probes';
import { headRoles } from '../probes/headRoles';
import { attribution } from '../probes/attribution';
import { ablate, parseHeads, withAblation } from '../probes/ablation';
import { describeSnapshots, snapshotContext, SnapshotKeeper } from '../probes/snapshots';
import { InputError } from '../common/errors';
import { type AblationMode, type AblationProbe, type AttributionProbe, type HeadRef, type HeadRoleScores, type HeadRolesProbe,
  type Timeline } from '../protocol';

/** probe's flags that take a value, and its switches. */
export const INTERP_PROBE_FLAGS = ['head-roles', 'attribution', 'ablate', 'ablation', 'snapshot', 'timeline'];
export const INTERP_SWITCHES = ['head-roles', 'attribution', 'timeline', 'per-token'];

export interface InterpProbeOptions {
  headRoles: boolean;
  attribution: boolean;
  ablate: string | null; // "L.H,..." as given; checked against the model once it is loaded
  ablation: AblationMode;
  snapshot: number | null;
  timeline: boolean;
}

/** Reads probe's interpretability flags; a bad one is a one-line Error. */
export function interpProbeOptions(flags: Map<string, string>, switches: Set<string>): InterpProbeOptions {
  const mode = flags.get('ablation') ?? 'zero';
  if (mode !== 'zero' && mode !== 'mean') throw new Error(`--ablation must be zero or mean, got "${mode}"`);
  if (flags.has('ablation') && !flags.has('ablate')) throw new Error('--ablation says how to ablate the heads of --ablate L.H,...');
  const raw = flags.get('snapshot');
  if (raw !== undefined && !/^\d+$/.test(raw)) throw new Error(`--snapshot must be a snapshot's index (0, 1, ...), got "${raw}"`);
  const ablateSpec = flags.get('ablate');
  if (ablateSpec !== undefined && ablateSpec.trim() === '') throw new Error('--ablate needs heads, e.g. --ablate 0.1,2.3');
  return { headRoles: switches.has('head-roles'), attribution: switches.has('attribution'), ablate: ablateSpec ?? null, ablation: mode,
    snapshot: raw === undefined ? null : Number(raw), timeline: switches.has('timeline') };
}

/** The snapshots beside a model file, or a one-line InputError saying why there are none to use. */
function snapshotsOf(modelFile: string, config: GPTConfig): SnapshotSet {
  const file = snapshotsPath(modelFile);
  if (!fs.existsSync(file)) throw new InputError(`${shown(modelFile)} has no snapshots beside it (train with --snapshots N to keep some)`);
  try {
    return loadSnapshots(file, config, maxModelBytes());
  } catch (e) {
    throw new InputError(e instanceof Error ? e.message : String(e));
  }
}

export interface InterpProbe {
  /** The context the rest of probe runs on: the model at the snapshot, with the heads ablated. */
  ctx: ProbeContext;
  /** What probe adds to its output: head roles, attribution, the ablation's effect, the timeline. */
  results: Record<string, unknown>;
  dispose(): void;
}

/** Runs probe's interpretability parts on a text; throws InputError for a snapshot or head the model lacks. */
export function interpProbe(base: ProbeContext, modelFile: string, text: string, o: InterpProbeOptions): InterpProbe {
  const results: Record<string, unknown> = {};
  let ctx = base;
  const owned: ProbeContext[] = [];
  const input = <R>(f: () => R): R => {
    try {
      return f();
    } catch (e) {
      throw new InputError(e instanceof Error ? e.message : String(e));
    }
  };
  if (o.snapshot !== null || o.timeline) {
    const set = snapshotsOf(modelFile, base.model.config);
    if (o.timeline) results.timeline = describeSnapshots(set);
    if (o.snapshot !== null) {
      const index = o.snapshot;
      ctx = input(() => snapshotContext(base, set, index));
      owned.push(ctx);
      results.snapshot = { index, step: set.snapshots[index].step, loss: set.snapshots[index].loss };
    }
  }
  try {
    if (o.ablate !== null) {
      const spec = o.ablate;
      const heads: HeadRef[] = input(() => parseHeads(spec, ctx.model.config));
      results.ablation = input(() => ablate(ctx, text, heads, o.ablation, 5));
      ctx = withAblation(ctx, heads, o.ablation, text); // the rest of the probe runs with the heads switched off
    }
    if (o.headRoles) results.headRoles = input(() => headRoles(ctx, text));
    if (o.attribution) results.attribution = input(() => attribution(ctx, text));
  } catch (e) {
    for (const c of owned) c.model.dispose();
    throw e;
  }
  return { ctx, results, dispose: () => owned.forEach((c) => c.model.dispose()) };
}

/** The interpretability parts of probe's output, for people. */
export function printInterp(r: Record<string, unknown>, print: (line: string) => void): void {
  const snap = r.snapshot as { index: number; step: number; loss: number | null } | undefined;
  if (snap) print(`(at snapshot ${snap.index}: step ${snap.step}${snap.loss === null ? '' : `, training loss ${snap.loss.toFixed(4)}`})`);
  const ab = r.ablation as AblationProbe | undefined;
  if (ab) {
    const f = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(4));
    print(`ablated (${ab.mode}) ${ab.heads.map((h) => `L${h.layer}H${h.head}`).join(', ')}: loss ${f(ab.loss.before)} -> ${f(ab.loss.after)} nats/token over ` +
      `${ab.tokens.length} tokens; top next token ${JSON.stringify(ab.next.before[0]?.text)} ${(100 * (ab.next.before[0]?.prob ?? 0)).toFixed(1)}% -> ` +
      `${JSON.stringify(ab.next.after[0]?.text)} ${(100 * (ab.next.after[0]?.prob ?? 0)).toFixed(1)}% (the rest of this probe runs ablated)`);
  }
  const roles = r.headRoles as HeadRolesProbe | undefined;
  if (roles) {
    const rnd = roles.random;
    print(`head roles on ${rnd.sequences} random sequences of ${rnd.length} tokens, each repeated (loss ${rnd.loss.firstHalf.toFixed(3)} ` +
      `on the first half, ${rnd.loss.secondHalf.toFixed(3)} on the repeat):`);
    printGrid(rnd, print);
    if (roles.text) {
      print(`head roles on the text (${roles.text.tokens.length} tokens):`);
      printGrid(roles.text.scores, print);
    }
  }
  const at = r.attribution as AttributionProbe | undefined;
  if (at) {
    print(`attribution of ${JSON.stringify(at.token.text)} (logit ${at.logit.toFixed(4)}, ${(100 * at.token.prob).toFixed(2)}%) after ` +
      `${JSON.stringify(at.tokens[at.position].text)}, ln_f's scale frozen at ${at.normScale.toFixed(4)}:`);
    const sorted = [...at.components].sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
    for (const c of sorted.slice(0, 12)) print(`  ${c.contribution >= 0 ? '+' : ''}${c.contribution.toFixed(4).padStart(9)}  ${c.label}`);
    if (sorted.length > 12) print(`  (${sorted.length - 12} smaller components not shown)`);
    print(`  sum of all ${at.components.length} components ${at.sum.toFixed(6)}; the logit ${at.logit.toFixed(6)}`);
  }
  const tl = r.timeline as Timeline | undefined;
  if (tl) {
    print(`snapshots: ${tl.snapshots.map((s) => `${s.index}: step ${s.step}`).join(', ')}`);
    print('timeline (step, training loss, induction test: loss on the first half and on the repeat, strongest induction head):');
    for (const p of tl.points) {
      const best = strongest(p.roles.induction);
      print(`  step ${String(p.step).padStart(6)}  loss ${p.loss === null ? '   n/a' : p.loss.toFixed(3)}  ` +
        `first ${p.repeatLoss.firstHalf.toFixed(3)} repeat ${p.repeatLoss.secondHalf.toFixed(3)}  ` +
        `induction ${best.score.toFixed(3)} (L${best.layer}H${best.head})${p.snapshot === null ? '' : `  [snapshot ${p.snapshot}]`}`);
    }
  }
}

function strongest(grid: number[][]): { layer: number; head: number; score: number } {
  let best = { layer: 0, head: 0, score: -Infinity };
  grid.forEach((row, layer) => row.forEach((score, head) => {
    if (score > best.score) best = { layer, head, score };
  }));
  return best;
}

function printGrid(s: HeadRoleScores, print: (line: string) => void): void {
  const H = s.induction[0]?.length ?? 0;
  print(`  ${'layer'.padEnd(6)}${['previous', 'induction', 'duplicate', 'first'].map((n) => n.padEnd(Math.max(10, 6 * H + 2))).join('')}`);
  s.induction.forEach((_, l) => {
    const cells = [s.previousToken, s.induction, s.duplicateToken, s.firstToken].map((g) => g[l].map((x) => x.toFixed(2).padStart(5)).join(' ').padEnd(Math.max(10, 6 * H + 2)));
    print(`  ${String(l).padEnd(6)}${cells.join('')}`);
  });
}

/**
 * eval --per-token: every token with its surprise and the entropy of the distribution it was drawn against, both in
 * bits. With --json one object per line, then the summary line. Predictions see up to T tokens before them.
 */
export async function writePerToken(ctx: ProbeContext, compute: DecoderCompute, text: string, asJson: boolean): Promise<void> {
  const decoder = new KVCacheSession(ctx.model, compute);
  let tokens;
  try {
    const scorer = decoder.path === 'native'
      ? { ...ctx, scoreWindows: (inputs: Int32Array, targets: Int32Array, B: number, T: number) => decoder.rowScores(inputs, targets, B, T) }
      : ctx;
    tokens = perTokenLoss(scorer, text);
  } finally {
    decoder.dispose();
  }
  const out = safeStdout();
  const bits = (nats: number | null): number | null => (nats === null ? null : nats / Math.LN2);
  let buffer = asJson ? '' : `${'token'.padEnd(7)} ${'text'.padEnd(16)} ${'surprise'.padStart(9)} ${'entropy'.padStart(9)}   (bits)\n`;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    buffer += asJson
      ? `${JSON.stringify({ i, id: t.id, text: t.text, start: t.start, end: t.end, surprise: bits(t.loss), entropy: bits(t.entropy), unknown: t.unknown })}\n`
      : `${String(i).padEnd(7)} ${JSON.stringify(t.text).padEnd(16)} ${t.loss === null ? '        -' : bits(t.loss)!.toFixed(3).padStart(9)} ` +
        `${t.entropy === null ? '        -' : bits(t.entropy)!.toFixed(3).padStart(9)}\n`;
    if (buffer.length >= 1 << 16) {
      await out.writeAsync(buffer);
      buffer = '';
      if (out.closed) return;
    }
  }
  await out.writeAsync(buffer);
}

/** train --snapshots N: the keeper the run hands its weights to. */
export function snapshotKeeper(count: number, steps: number): SnapshotKeeper {
  return new SnapshotKeeper(count, steps);
}

/** Saves a run's snapshots beside its model file; returns the file, or a note when they could not be written. */
export function saveRunSnapshots(modelFile: string, config: GPTConfig, keeper: SnapshotKeeper): { file: string | null; note: string | null } {
  const file = snapshotsPath(modelFile);
  try {
    saveSnapshots(file, config, keeper.result());
    return { file, note: null };
  } catch (e) {
    return { file: null, note: `the snapshots could not be saved to ${shown(file)}: ${e instanceof Error ? e.message : String(e)}` };
  }
}
