// The attention view's patching result (the "Patch against an edit…" command): the clean and edited predictions, a
// layers x heads grid of how much of the clean prediction patching each head's output restores (1 restores it, 0
// changes nothing, below 0 moves further away), the heads that restore most, and each layer's whole residual stream.
import type { PatchData } from '../../engine/protocol';
import * as d3 from '../shared/d3';
import { modelLine, showToken } from '../shared/format';
import { topRestoring } from './interp';
import { columnHeads } from './roles';

export interface PatchView {
  show(d: PatchData | null): void;
}

/** A number with a true minus sign. */
const num = (v: number, digits = 3): string => `${v < 0 ? '−' : ''}${Math.abs(v).toFixed(digits)}`;
const fmt = (v: number | null): string => (v === null ? '–' : `${v < 0 && v.toFixed(2) !== '-0.00' ? '−' : ''}${Math.abs(v).toFixed(2)}`);

export function createPatchView(parent: d3.Selection<HTMLElement, unknown, null, undefined>, dismissed: () => void): PatchView {
  const box = parent.insert('section', '.gl-empty').attr('class', 'att-patch').attr('aria-label', 'Activation patching').attr('hidden', true);
  const head = box.append('div').attr('class', 'att-patch-head');
  head.append('h2').text('Patching against your edit');
  head.append('button').attr('class', 'secondary att-patch-close').text('Close').attr('title', 'Hide this experiment')
    .on('click', () => {
      box.attr('hidden', true);
      dismissed();
    });
  const what = box.append('p').attr('class', 'att-patch-what');
  const model = box.append('p').attr('class', 'muted att-patch-model');
  const predictions = box.append('p').attr('class', 'att-patch-predictions');
  const legend = box.append('div').attr('class', 'att-roles-legend');
  legend.append('span').attr('class', 'muted').text('restored −1');
  legend.append('span').attr('class', 'att-patch-ramp').attr('role', 'img')
    .attr('aria-label', 'Colour scale: from −1 (further from the clean prediction) through 0 (no change) to 1 (restored)');
  legend.append('span').attr('class', 'muted').text('1');
  const grid = box.append('div').attr('class', 'att-roles-grid att-patch-grid').attr('role', 'grid')
    .attr('aria-label', 'Restored fraction for each head: rows are layers, columns heads');
  const best = box.append('p').attr('class', 'att-patch-best');
  box.append('h3').text('Whole residual stream, patched entering each layer');
  const residuals = box.append('table').attr('class', 'att-patch-residuals');
  const note = box.append('p').attr('class', 'muted att-patch-note');

  return {
    show(d) {
      box.attr('hidden', d ? null : true);
      if (!d) return;
      const p = d.probe;
      what.text(`In ${d.source}, “${showToken(d.selection, 40)}” became “${showToken(d.edit, 40)}”. Each head’s output (and each ` +
        'layer’s residual) from the clean run is copied into the edited run, and the prediction after the text is measured.');
      model.text(`Model: ${modelLine(d.model)}`);
      const cleanP = p.clean.top[0]?.prob ?? 0, editedP = p.edited.top[0]?.prob ?? 0;
      predictions.text(`Clean text → “${showToken(p.cleanToken.text, 16)}” (${(100 * cleanP).toFixed(1)}%); edited → ` +
        `“${showToken(p.editedToken.text, 16)}” (${(100 * editedP).toFixed(1)}%). Metric: ` +
        (p.metric === 'logitDiff' ? `logit(“${showToken(p.cleanToken.text, 12)}”) − logit(“${showToken(p.editedToken.text, 12)}”), ` +
          `${num(p.cleanMetric)} clean, ${num(p.editedMetric)} edited.`
          : `log p(“${showToken(p.cleanToken.text, 12)}”): both runs predict it; ${num(p.cleanMetric)} clean, ${num(p.editedMetric)} edited.`));
      const N = p.heads.length, H = p.heads[0].length;
      columnHeads(grid, H);
      const rows = grid.selectAll<HTMLDivElement, number>('.att-roles-row').data(d3.range(N), (l) => String(l))
        .join((enter) => {
          const r = enter.append('div').attr('class', 'att-roles-row').attr('role', 'row');
          r.append('span').attr('class', 'att-roles-layer').attr('role', 'rowheader');
          return r;
        });
      rows.select('.att-roles-layer').text((l) => `L${l + 1}`);
      rows.selectAll<HTMLDivElement, { l: number; h: number }>('div.att-patch-cell')
        .data((l) => d3.range(H).map((h) => ({ l, h })), (c) => `${c.l}:${c.h}`)
        .join((enter) => enter.append('div').attr('class', 'att-patch-cell').attr('role', 'gridcell'))
        .each(function (c) {
          const r = p.heads[c.l][c.h];
          const v = r.restored === null ? 0 : Math.max(-1, Math.min(1, r.restored));
          d3.select(this).style('--restored', String(Math.abs(v))).classed('neg', v < 0).classed('strong', Math.abs(v) >= 0.55)
            .text(fmt(r.restored))
            .attr('title', `layer ${c.l + 1}, head ${c.h + 1}: restored ${fmt(r.restored)}\npatched run's top token “${showToken(r.top.text, 16)}”, ` +
              `p(“${showToken(p.cleanToken.text, 12)}”) = ${(100 * r.cleanTokenProb).toFixed(1)}%`);
        });
      const top = topRestoring(p.heads, 3).filter((h) => h.restored > 0.05);
      best.text(top.length ? `Restore most: ${top.map((h) => `layer ${h.layer + 1} head ${h.head + 1} (${h.restored.toFixed(2)})`).join(', ')}.`
        : 'No single head restores the clean prediction: the edit’s effect is spread over many heads, or carried by the residual stream.');
      residuals.selectAll<HTMLTableRowElement, number>('tr').data(d3.range(p.residuals.length), (i) => String(i))
        .join((enter) => {
          const tr = enter.append('tr');
          tr.append('td').attr('class', 'att-patch-res-name');
          tr.append('td').attr('class', 'att-patch-res-bar').append('div');
          tr.append('td').attr('class', 'num');
          return tr;
        })
        .each(function (i) {
          const r = p.residuals[i];
          const v = r.restored === null ? 0 : Math.max(-1, Math.min(1, r.restored));
          const tr = d3.select(this);
          tr.select('.att-patch-res-name').text(i < N ? `entering layer ${i + 1}` : 'entering the final norm');
          tr.select('.att-patch-res-bar div').style('width', `${Math.abs(v) * 100}%`).classed('neg', v < 0);
          tr.select('.num').text(fmt(r.restored));
        });
      note.text(p.firstDifference > 0 ? `The two texts agree on their first ${p.firstDifference} tokens; patching changes the positions from there on.`
        : 'The texts differ from their first token.');
    },
  };
}
