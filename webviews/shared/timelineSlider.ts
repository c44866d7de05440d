// The timeline slider in a view's header: a range input with a position per snapshot of the run and one for the
// model itself, step labels under it, and the line "at step N of M". Moving it calls `moved` after a short pause
// (the view asks its probe at that snapshot; the newest position wins). Without snapshots it is a one-line hint.
import type { TimelineTag } from '../../engine/protocol';
import type { Frame } from './frame';
import type { Latest } from './host';
import { NO_TIMELINE_HINT, readTimeline, sliderPosition, snapshotAt, tickLabels, timelineLabel } from './timeline';

const DEBOUNCE_MS = 120;

export interface TimelineSlider {
  /** The data's timeline (absent or malformed: no slider). The slider follows it unless the user is moving it. */
  update(tag: unknown): void;
  /** The snapshot shown (null: the model itself). */
  at(): number | null;
}

export function createTimelineSlider(frame: Frame, what: string, moved: (snapshot: number | null) => void): TimelineSlider {
  const box = frame.app.select('.gl-head').append('section').attr('class', 'gl-timeline').attr('hidden', true)
    .attr('aria-label', 'Timeline of the training run');
  const row = box.append('div').attr('class', 'gl-timeline-row');
  row.append('span').attr('class', 'gl-timeline-name').text('Timeline');
  const track = row.append('div').attr('class', 'gl-timeline-track');
  const input = track.append('input').attr('type', 'range').attr('class', 'gl-timeline-input').attr('min', 0).attr('step', 1)
    .attr('aria-label', `Training step whose weights ${what}`);
  const ticks = track.append('div').attr('class', 'gl-timeline-ticks').attr('aria-hidden', 'true');
  const label = box.append('p').attr('class', 'gl-timeline-label').attr('aria-live', 'polite');
  const hint = frame.app.select('.gl-head').append('p').attr('class', 'gl-timeline-hint muted').attr('hidden', true).text(NO_TIMELINE_HINT);
  let tag: TimelineTag | null = null;
  let shown: number | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;

  function draw(): void {
    if (!tag) return;
    const n = tag.snapshots.length;
    input.attr('max', n).property('value', sliderPosition(tag, shown));
    const width = (track.node() as HTMLElement).clientWidth || 400;
    const t = tag;
    ticks.selectAll<HTMLSpanElement, { position: number; text: string }>('span')
      .data(tickLabels(t, Math.floor(width / 44)), (d) => String(d.position))
      .join('span')
      .style('left', (d) => `${(100 * d.position) / n}%`)
      .classed('kept', (d) => d.position === n)
      .text((d) => d.text);
    label.text(timelineLabel(t, shown));
  }

  input.on('input', () => {
    if (!tag) return;
    shown = snapshotAt(tag, Number(input.property('value')));
    label.text(timelineLabel(tag, shown));
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      moved(shown);
    }, DEBOUNCE_MS);
  });
  window.addEventListener('resize', () => draw());

  return {
    update(x) {
      const next = readTimeline(x);
      tag = next && next.snapshots.length > 0 ? next : null;
      box.attr('hidden', tag ? null : true);
      hint.attr('hidden', x !== undefined && !tag ? null : true);
      if (!tag) {
        shown = null;
        return;
      }
      if (timer === undefined) shown = tag.at; // a position on its way to the host wins over an older answer
      draw();
    },
    at: () => shown,
  };
}

/**
 * A view's probe asked again at the slider's position: a loading line while it runs, the newest answer shown (an
 * older one that comes late is dropped), and an error line if it fails.
 */
export async function replayAt<T>(frame: Frame, latest: Latest<T>, loading: string, ask: () => Promise<T>, show: (value: T) => void): Promise<void> {
  frame.loading(loading);
  try {
    const reply = await latest.run(ask);
    if (reply) show(reply.value);
  } catch (e) {
    frame.loading(null);
    frame.error(e instanceof Error ? e.message : String(e));
  }
}
