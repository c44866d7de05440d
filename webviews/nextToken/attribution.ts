// "Why this token?": direct logit attribution in the next-token view. A token's logit after the prompt split into what
// the embeddings, each attention head and each MLP add through the final norm (its scale frozen at this input) and the
// unembedding, as a sorted bar list (positive right, negative left), with the sum shown beside the logit.
import type { AttributionEntry, AttributionProbe, NextTokenData } from '../../engine/protocol';
import * as d3 from '../shared/d3';
import { labelledSelect, titledSection } from '../shared/controls';
import { showToken } from '../shared/format';
import { attributionLabel, attributionRows, attributionSumLine } from './state';

export interface AttributionView {
  /** The data's top tokens become the choices (the chosen one stays when it is still among them). */
  choices(d: NextTokenData | null): void;
  /** The answer, or a note while there is none. */
  show(a: AttributionProbe | null, note: string | null, failed?: boolean): void;
  /** The token chosen (null: the top one). */
  token(): string | null;
}

const signed = (v: number): string => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}`;

export function createAttributionView(body: d3.Selection<HTMLDivElement, unknown, null, undefined>, chosen: () => void): AttributionView {
  let attribution: AttributionProbe | null = null;
  let all = false;
  let token: string | null = null;

  const { section: box, head } = titledSection(body, { className: 'nt-attr-box', label: 'Why this token: direct logit attribution',
    headClass: 'nt-row', title: 'Why this token?' });
  const select = labelledSelect(head, { className: 'muted nt-attr-pick', caption: 'Token ', label: 'Token whose logit is explained' });
  select.on('change', () => {
    const v = select.property('value') as string;
    token = v === '' ? null : v;
    chosen();
  });
  const note = box.append('p').attr('class', 'muted nt-attr-note').attr('role', 'status');
  const sum = box.append('p').attr('class', 'nt-attr-sum mono');
  const list = box.append('div').attr('class', 'nt-attr-list').attr('role', 'list');
  const more = box.append('button').attr('class', 'secondary nt-attr-more').attr('hidden', true)
    .on('click', () => {
      all = !all;
      draw();
    });

  function draw(): void {
    if (!attribution) {
      list.selectAll('*').remove();
      sum.text('');
      more.attr('hidden', true);
      return;
    }
    const a = attribution;
    const rows = attributionRows(a, all);
    const max = d3.max(a.components, (c) => Math.abs(c.contribution)) || 1;
    sum.text(attributionSumLine(a));
    list.selectAll<HTMLDivElement, AttributionEntry>('div.nt-attr-row')
      .data(rows, (c) => c.label)
      .join((enter) => {
        const row = enter.append('div').attr('class', 'nt-attr-row').attr('role', 'listitem');
        row.append('span').attr('class', 'nt-attr-label mono');
        const track = row.append('span').attr('class', 'nt-attr-track');
        track.append('span').attr('class', 'nt-attr-bar');
        row.append('span').attr('class', 'nt-attr-value num');
        return row;
      })
      .order()
      .attr('data-kind', (c) => c.kind)
      .attr('aria-label', (c) => `${attributionLabel(c)}: ${signed(c.contribution)}`)
      .call((row) => {
        row.select('.nt-attr-label').text((c) => attributionLabel(c));
        row.select<HTMLSpanElement>('.nt-attr-bar')
          .classed('neg', (c) => c.contribution < 0)
          .style('width', (c) => `${(50 * Math.abs(c.contribution)) / max}%`)
          .style('left', (c) => (c.contribution < 0 ? `${50 - (50 * Math.abs(c.contribution)) / max}%` : '50%'));
        row.select('.nt-attr-value').text((c) => signed(c.contribution));
      });
    const hidden = a.components.length - rows.length;
    more.attr('hidden', a.components.length > attributionRows(a, false).length ? null : true)
      .text(all ? 'Show the largest only' : `Show all ${a.components.length} (${hidden} more)`);
  }

  return {
    choices(d) {
      const top = d ? d.probe.top.slice(0, 10) : [];
      if (token !== null && !top.some((t) => t.text === token)) token = null;
      select.selectAll<HTMLOptionElement, { value: string; label: string }>('option')
        .data([{ value: '', label: 'the top token' }, ...top.map((t) => ({ value: t.text, label: `${showToken(t.text, 14)} (${(100 * t.prob).toFixed(1)}%)` }))],
          (o) => o.value)
        .join('option').attr('value', (o) => o.value).text((o) => o.label);
      select.property('value', token ?? '');
    },
    show(a, text, failed = false) {
      if (a) attribution = a;
      note.classed('field-error', failed).classed('muted', !failed).text(text ?? (a
        ? `Logit of “${showToken(a.token.text, 16)}” (${(100 * a.token.prob).toFixed(1)}%) after the prompt, split into what each part ` +
          `of the model writes into the residual stream, read through the final norm (its scale ${a.normScale.toFixed(3)}, frozen at this ` +
          'input) and the output head. Largest first; positive pushes the token up.'
        : ''));
      list.classed('gl-stale', !a && !failed && attribution !== null);
      draw();
    },
    token: () => token,
  };
}
