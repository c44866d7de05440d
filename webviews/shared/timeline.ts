// The timeline slider's rules, shared by the attention, next-token and embeddings views: what a timeline tag must
// hold, where the slider sits, and what it says. No DOM: node tests load it as is. The slider has one position per
// snapshot of the run and a last one for the model itself (the weights the run kept as best).
import type { SnapshotInfo, TimelineTag } from '../../engine/protocol';

const MAX_SNAPSHOTS = 64;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

/** A well-formed tag (snapshots in order of step, `at` one of them or null), or null: no timeline to show. */
export function readTimeline(x: unknown): TimelineTag | null {
  if (!isObj(x) || !Array.isArray(x.snapshots) || x.snapshots.length > MAX_SNAPSHOTS) return null;
  const snapshots = x.snapshots as unknown[];
  const ok = snapshots.every((s, i) => isObj(s) && s.index === i && Number.isInteger(s.step) && (s.step as number) >= 0 &&
    (s.loss === null || typeof s.loss === 'number') && (i === 0 || (s.step as number) >= ((snapshots[i - 1] as SnapshotInfo).step)));
  if (!ok) return null;
  const at = x.at === null || (Number.isInteger(x.at) && (x.at as number) >= 0 && (x.at as number) < snapshots.length) ? x.at : null;
  return { snapshots: snapshots as SnapshotInfo[], at: at as number | null };
}

/** The slider's position for a snapshot (null: the model itself, the last position). */
export const sliderPosition = (tag: TimelineTag, at: number | null): number => (at === null ? tag.snapshots.length : at);

/** The snapshot a slider position names (the last position: null, the model itself). */
export const snapshotAt = (tag: TimelineTag, position: number): number | null =>
  position >= 0 && position < tag.snapshots.length ? Math.round(position) : null;

/** The run's last step: the step of its last snapshot. */
export const lastStep = (tag: TimelineTag): number => tag.snapshots.reduce((m, s) => Math.max(m, s.step), 0);

/** What the panel says about where it is: "at step 40 of 300 · training loss 2.41", or the model itself. */
export function timelineLabel(tag: TimelineTag, at: number | null): string {
  if (at === null || !tag.snapshots[at]) return `the trained model (the weights the run kept), after ${lastStep(tag)} steps`;
  const s = tag.snapshots[at];
  return `at step ${s.step} of ${lastStep(tag)}${s.step === 0 ? ' (the initial weights)' : ''}` +
    (s.loss !== null ? ` · training loss ${s.loss.toFixed(3)}` : '');
}

/** The labels under the slider: each snapshot's step, then "kept"; thinned to about `room` labels, the ends always shown. */
export function tickLabels(tag: TimelineTag, room: number): { position: number; text: string }[] {
  const all = [...tag.snapshots.map((s, i) => ({ position: i, text: String(s.step) })), { position: tag.snapshots.length, text: 'kept' }];
  const every = Math.max(1, Math.ceil(all.length / Math.max(2, room)));
  return all.filter((_t, i) => i % every === 0 || i === all.length - 1);
}

/** The one-line hint a panel shows when its model kept no snapshots. */
export const NO_TIMELINE_HINT = 'No timeline: this model kept no snapshots of its run (set gptLab.snapshots above 0 and train again).';
