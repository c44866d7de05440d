// Which weight snapshots a run keeps: a handful, spaced where the loss moves most. Every `every` steps the training
// loop offers a candidate (the weights, and the mean loss since the last one); the keeper scores its head roles for the
// timeline and keeps it, and when it holds one too many it drops the interior snapshot whose two neighbours are
// closest, in loss and (a little) in steps. Snapshots end up dense where the loss falls fast (the first steps, an
// induction bump) and sparse on plateaus, with at most count + 1 held at any time.
import { GPT } from '../model/gpt';
import { compressWeights, snapshotBytes, snapshotWeights, type Snapshot, type SnapshotSet } from '../io/snapshots';
import { headRolesOnRandom } from './headRoles';
import type { ProbeContext } from './probes';
import { type SnapshotInfo, type Timeline, type TimelinePoint } from '../protocol';

/** Candidates offered per snapshot kept: the choice among them is where the spacing comes from. */
export const CANDIDATES_PER_SNAPSHOT = 4;

/** How much a gap in steps counts beside a gap in loss (both as fractions of the run): plateaus keep a few. */
const STEP_WEIGHT = 0.25;

export const MAX_SNAPSHOTS = 64;

export class SnapshotKeeper {
  private readonly every: number;
  private readonly kept: Snapshot[] = [];
  private readonly points: TimelinePoint[] = [];
  private lossSum = 0;
  private lossCount = 0;
  private firstLoss: number | null = null;

  /** count >= 2 snapshots of a run of totalSteps steps; scoreRoles: score head roles at every candidate. */
  constructor(readonly count: number, private readonly totalSteps: number, private readonly scoreRoles = true) {
    if (!(Number.isInteger(count) && count >= 2 && count <= MAX_SNAPSHOTS)) throw new Error(`snapshots must be a whole number from 2 to ${MAX_SNAPSHOTS}, got ${count}`);
    this.every = Math.max(1, Math.floor(totalSteps / (CANDIDATES_PER_SNAPSHOT * (count - 1))));
  }

  /** After each step, with its loss: whether the loop should hand over the weights now. */
  observe(step: number, loss: number): boolean {
    if (Number.isFinite(loss)) {
      this.firstLoss ??= loss; // step 1's loss is the loss of the initial weights
      this.lossSum += loss;
      this.lossCount += 1;
    }
    return step % this.every === 0 || step === this.totalSteps;
  }

  /** The weights after `step` steps (0: the initialisation). */
  take(step: number, model: GPT): void {
    const loss = step > 0 && this.lossCount > 0 ? this.lossSum / this.lossCount : null;
    this.lossSum = 0;
    this.lossCount = 0;
    if (this.scoreRoles) {
      const r = headRolesOnRandom(model);
      this.points.push({ step, loss, roles: { previousToken: r.previousToken, induction: r.induction, duplicateToken: r.duplicateToken,
        firstToken: r.firstToken }, repeatLoss: r.loss, snapshot: null });
    }
    this.kept.push({ step, loss, weights: compressWeights(model.toTensors()) });
    if (this.kept.length > this.count) this.kept.splice(this.leastNeeded(), 1);
  }

  /** The interior snapshot whose neighbours are closest: dropping it leaves the most even spacing. */
  private leastNeeded(): number {
    const loss = (s: Snapshot): number => s.loss ?? this.firstLoss ?? 0;
    const losses = this.kept.map(loss);
    const range = Math.max(1e-9, Math.max(...losses) - Math.min(...losses));
    let best = 1, bestGap = Infinity;
    for (let i = 1; i + 1 < this.kept.length; i++) {
      const gap = Math.abs(losses[i - 1] - losses[i + 1]) / range +
        (STEP_WEIGHT * (this.kept[i + 1].step - this.kept[i - 1].step)) / Math.max(1, this.totalSteps);
      if (gap < bestGap) {
        bestGap = gap;
        best = i;
      }
    }
    return best;
  }

  /** The snapshots kept (step 0 carries the first step's loss) and the head-role timeline of every candidate. */
  result(): SnapshotSet {
    const snapshots = this.kept.map((s) => (s.step === 0 ? { ...s, loss: this.firstLoss } : s));
    const timeline = this.points.map((p) => {
      const k = snapshots.findIndex((s) => s.step === p.step);
      return { ...p, loss: p.step === 0 ? this.firstLoss : p.loss, snapshot: k >= 0 ? k : null };
    });
    return { snapshots, timeline };
  }
}

/** What the timeline shows about a run's snapshots. */
export function describeSnapshots(set: SnapshotSet): Timeline {
  const snapshots: SnapshotInfo[] = set.snapshots.map((s, index) => ({ index, step: s.step, loss: s.loss, bytes: snapshotBytes(s) }));
  return { snapshots, points: set.timeline };
}

/** A probe context on the model as it was at a snapshot (a new GPT: dispose it when done). */
export function snapshotContext(ctx: ProbeContext, set: SnapshotSet, index: number): ProbeContext {
  const s = set.snapshots[index];
  if (!s) throw new Error(`there is no snapshot ${index}; this model has ${set.snapshots.length}`);
  return { model: GPT.fromTensors(ctx.model.config, snapshotWeights(s)), vocab: ctx.vocab, tokenizer: ctx.tokenizer };
}
