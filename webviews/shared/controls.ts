// Small pieces every panel builds its controls from, so a labelled select, a titled section and a table row read the
// same in each panel (and are written once).
import type * as d3 from './d3';

/** A section with an accessible name and a heading row; the heading row's title is its h2 (or h3). */
export function titledSection<E extends d3.BaseType, P extends d3.BaseType>(parent: d3.Selection<E, unknown, P, undefined>,
  o: { className: string; label: string; headClass: string; title: string; level?: 'h2' | 'h3' }):
  { section: d3.Selection<HTMLElement, unknown, P, undefined>; head: d3.Selection<HTMLDivElement, unknown, P, undefined> } {
  const section = parent.append<HTMLElement>('section').attr('class', o.className).attr('aria-label', o.label);
  const head = section.append<HTMLDivElement>('div').attr('class', o.headClass);
  head.append(o.level ?? 'h2').text(o.title);
  return { section, head };
}

/** "Caption <select>": a label holding a caption and a select with an accessible name, and its options when given. */
export function labelledSelect<E extends d3.BaseType, P extends d3.BaseType>(parent: d3.Selection<E, unknown, P, undefined>,
  o: { className: string; caption: string; label: string; options?: readonly (readonly [string, string])[] }):
  d3.Selection<HTMLSelectElement, unknown, P, undefined> {
  const box = parent.append<HTMLLabelElement>('label').attr('class', o.className);
  box.append('span').text(o.caption);
  const select = box.append<HTMLSelectElement>('select').attr('aria-label', o.label);
  if (o.options) select.selectAll('option').data(o.options).join('option').attr('value', (d) => d[0]).text((d) => d[1]);
  return select;
}

/** Appends one empty cell per class to each row. */
export function cells<D, P extends d3.BaseType>(tr: d3.Selection<HTMLTableRowElement, D, P, unknown>, classes: readonly string[]): void {
  for (const c of classes) tr.append('td').attr('class', c);
}
