// The engine process's interpretability methods (protocol/engine.ts: headRoles, timeline, attribution, patch, ablate,
// copySource, copies, validationStart) and what they keep per model: its snapshots, the model at the snapshot last
// asked for, and the copy index of its training text. worker.ts holds one InterpState per loaded model.
import * as fs from 'node:fs';
import { maxModelBytes } from '../io/checkpoint';
import { loadSnapshots, saveSnapshots, snapshotsPath, type SnapshotSet } from '../io/snapshots';
import { headRoles } from '../probes/headRoles';
import { attribution } from '../probes/attribution';
import { patchEdit } from '../probes/patching';
import { ablate } from '../probes/ablation';
import { CopyIndex, DEFAULT_MIN_COPY, validationStart } from '../probes/memorisation';
import { describeSnapshots, snapshotContext } from '../probes/snapshots';
import type { ProbeContext } from '../probes/probes';
import type { AtSnapshot, EngineMethods } from '../protocol/engine';

export class InterpState {
  private at: { index: number; ctx: ProbeContext } | null = null;
  private copies: CopyIndex | null = null;

  /** snapshots: the run's, when it kept some; trainingText: what copies are checked against, when known. */
  constructor(readonly base: ProbeContext, readonly snapshots: SnapshotSet | null, private trainingText: string | null = null) {}

  /** A model file's state: its snapshots when a usable file lies beside it (one that cannot be used is skipped). */
  static forFile(base: ProbeContext, modelFile: string): InterpState {
    const file = snapshotsPath(modelFile);
    let set: SnapshotSet | null = null;
    if (fs.existsSync(file)) {
      try {
        set = loadSnapshots(file, base.model.config, maxModelBytes());
      } catch {
        set = null; // snapshots of another model or a damaged file: the model itself is still good
      }
    }
    return new InterpState(base, set);
  }

  /** The model as it was at a snapshot (built once, kept until another is asked for), or the model itself. */
  context(p: AtSnapshot): ProbeContext {
    if (p.snapshot === undefined) return this.base;
    if (!this.snapshots) throw new Error('this model kept no snapshots; train it with snapshots to replay its run');
    if (this.at?.index !== p.snapshot) {
      const ctx = snapshotContext(this.base, this.snapshots, p.snapshot);
      this.at?.ctx.model.dispose();
      this.at = { index: p.snapshot, ctx };
    }
    return this.at.ctx;
  }

  /** Writes the snapshots beside a model file (save, or the end of a run). */
  saveBeside(modelFile: string): void {
    if (this.snapshots) saveSnapshots(snapshotsPath(modelFile), this.base.model.config, this.snapshots);
  }

  setTrainingText(text: string): void {
    if (text !== this.trainingText) this.copies = null;
    this.trainingText = text;
  }

  copyIndex(minChars: number): CopyIndex | null {
    if (this.trainingText === null) return null;
    if (this.copies?.minChars !== minChars) this.copies = new CopyIndex(this.trainingText, minChars);
    return this.copies;
  }

  dispose(): void {
    this.at?.ctx.model.dispose();
    this.at = null;
  }
}

type InterpMethod = 'headRoles' | 'timeline' | 'attribution' | 'patch' | 'ablate' | 'copySource' | 'copies' | 'validationStart';
type Handlers = { [M in InterpMethod]: (params: EngineMethods[M][0]) => EngineMethods[M][1] };

/** The handlers, on the state of the active model (an Error when there is none). */
export function interpHandlers(state: () => InterpState): Handlers {
  return {
    headRoles: (p) => headRoles(state().context(p), p.text),
    timeline: () => {
      const s = state().snapshots;
      return s ? describeSnapshots(s) : { snapshots: [], points: [] };
    },
    attribution: (p) => attribution(state().context(p), p.text, { position: p.position, token: p.token }),
    patch: (p) => patchEdit(state().context(p), p.clean, p.edited, { positions: p.positions }),
    ablate: (p) => ablate(state().context(p), p.text, p.heads, p.mode, p.k),
    copySource: (p) => {
      state().setTrainingText(p.text);
      return { characters: p.text.length };
    },
    copies: (p) => {
      const minChars = p.minChars ?? DEFAULT_MIN_COPY;
      const index = state().copyIndex(Math.min(minChars, DEFAULT_MIN_COPY));
      return { spans: index ? index.find(p.generated, minChars) : [], checked: index !== null };
    },
    validationStart: (p) => ({ offset: validationStart(state().base, p.text) }),
  };
}
