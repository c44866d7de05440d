// Labels that never overlap: a greedy placement for chart annotations (the loss chart's "best" labels, baseline
// labels), with no DOM, so node tests check it directly.

export interface LabelBox {
  x: number; // left edge, px
  y: number; // preferred top edge, px
  width: number;
  height: number;
}

export interface Placed {
  y: number; // the top edge it got
  hidden: boolean; // no room within the bounds without touching another label
}

const overlaps = (a: { x: number; y: number; width: number; height: number }, b: typeof a, gap: number): boolean =>
  a.x < b.x + b.width + gap && b.x < a.x + a.width + gap && a.y < b.y + b.height + gap && b.y < a.y + a.height + gap;

/**
 * Places each label at its preferred y or, when that touches a label placed before it, at the nearest free y (tried
 * above and below, in steps of a label's height) within [top, bottom]; a label with no free place is hidden. Labels are
 * placed in the order given: put the important ones first.
 */
export function placeLabels(boxes: readonly LabelBox[], top: number, bottom: number, gap = 2): Placed[] {
  const placed: { x: number; y: number; width: number; height: number }[] = [];
  return boxes.map((b) => {
    const fits = (y: number): boolean => y >= top && y + b.height <= bottom && !placed.some((p) => overlaps({ ...b, y }, p, gap));
    const step = b.height + gap;
    const limit = Math.ceil((bottom - top) / Math.max(1, step)) + 1;
    for (let i = 0; i <= limit; i++) {
      for (const y of i === 0 ? [b.y] : [b.y - i * step, b.y + i * step]) {
        if (fits(y)) {
          placed.push({ ...b, y });
          return { y, hidden: false };
        }
      }
    }
    return { y: b.y, hidden: true };
  });
}
