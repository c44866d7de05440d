// The head-role grid and head ablation of the attention view: a layers x heads grid of one role's scores (previous
// token, induction, duplicate, first token; on repeated random tokens or on this text), with a legend and one honest
// line; a click on a head (or a layer's label) switches it off, zero or mean, and the panel shows what that did to
// this text's loss and to the next-token distribution. Keyed joins: an update moves cells, never rebuilds them.
import type { AblationMode, AblationProbe, HeadRolesProbe } from '../../engine/protocol';
import * as d3 from '../shared/d3';
import { labelledSelect, titledSection } from '../shared/controls';
import { showToken } from '../shared/format';
import { ablationLossLine, chosenHeads, headKey, nextTokenChange, roleGrid, roleNote, ROLES, toggleHead, toggleLayer, type Role,
  type RoleSource } from './interp';

export interface RolesActions {
  /** The heads to switch off, or the mode, changed (an empty set: nothing is ablated). */
  ablationChanged(): void;
}

export interface RolesView {
  /** A new model shape: the grid's size; the choice of heads goes when the shape changes. */
  shape(N: number, H: number): void;
  /** The scores, or a note while there are none (loading, failed). */
  roles(p: HeadRolesProbe | null, note: string | null, failed?: boolean): void;
  /** The last ablation's answer, or a note. */
  ablation(a: AblationProbe | null, note: string | null, failed?: boolean): void;
  chosen(): { layer: number; head: number }[];
  mode(): AblationMode;
  state(): { role: Role; source: RoleSource; mode: AblationMode; chosen: string[] };
  restore(s: unknown): void;
}

/** The grid's first row: H1..HH over the head columns. */
export function columnHeads(grid: d3.Selection<HTMLDivElement, unknown, null, undefined>, H: number): void {
  grid.selectAll<HTMLDivElement, number>('.att-roles-colhead').data([H])
    .join((enter) => enter.insert('div', ':first-child').attr('class', 'att-roles-colhead').attr('role', 'row'))
    .selectAll<HTMLSpanElement, number | 'corner'>('span')
    .data(['corner' as const, ...d3.range(H)], (h) => String(h))
    .join('span')
    .attr('role', (h) => (h === 'corner' ? 'presentation' : 'columnheader'))
    .attr('class', (h) => (h === 'corner' ? 'att-roles-corner' : 'att-roles-head-label'))
    .text((h) => (h === 'corner' ? '' : `H${h + 1}`));
}

const pct = (v: number): string => `${(100 * v).toFixed(v < 0.001 ? 2 : 1)}%`;

export function createRolesView(parent: d3.Selection<HTMLDivElement, unknown, null, undefined>, actions: RolesActions): RolesView {
  let N = 0, H = 0;
  let role: Role = 'induction';
  let source: RoleSource = 'random';
  let mode: AblationMode = 'zero';
  let chosen = new Set<string>();
  let probe: HeadRolesProbe | null = null;

  const box = parent.append('section').attr('class', 'att-roles').attr('aria-label', 'Head roles and ablation');
  const head = box.append('div').attr('class', 'att-roles-head');
  head.append('h2').text('Head roles');
  const toggles = head.append('div').attr('class', 'att-role-toggle').attr('role', 'group').attr('aria-label', 'Role shown');
  toggles.selectAll('button').data(ROLES, (r) => (r as (typeof ROLES)[number]).role).join('button')
    .attr('class', 'secondary att-role-button').attr('data-role', (r) => r.role).attr('title', (r) => r.what).text((r) => r.name)
    .on('click', (_e, r) => {
      role = r.role;
      draw();
    });
  const sourceSelect = labelledSelect(box, { className: 'att-role-source muted', caption: 'Measured on ', label: 'Text the scores are measured on' });
  sourceSelect.on('change', () => {
    source = sourceSelect.property('value') === 'text' ? 'text' : 'random';
    draw();
  });
  const legend = box.append('div').attr('class', 'att-roles-legend');
  legend.append('span').attr('class', 'muted').text('score 0');
  legend.append('span').attr('class', 'att-roles-ramp').attr('role', 'img')
    .attr('aria-label', 'Colour scale: score from 0 (no attention on the role’s keys) to 1 (all of it)');
  legend.append('span').attr('class', 'muted').text('1');
  legend.append('span').attr('class', 'att-roles-off-swatch');
  legend.append('span').attr('class', 'muted').text('switched off');
  const grid = box.append('div').attr('class', 'att-roles-grid').attr('role', 'grid')
    .attr('aria-label', 'Role scores: rows are layers, columns heads. Click a head, or a layer’s label, to switch it off.');
  const note = box.append('p').attr('class', 'att-roles-note').attr('role', 'status');

  // ---- ablation ----
  const { section: abl, head: ablHead } = titledSection(box, { className: 'att-ablation', label: 'Head ablation', headClass: 'att-ablation-head',
    title: 'Switch heads off', level: 'h3' });
  const modeSelect = labelledSelect(ablHead, { className: 'muted att-ablation-mode', caption: 'Mode ', label: 'Ablation mode',
    options: [['zero', 'zero (the head writes nothing)'], ['mean', 'mean (its mean output over this text)']] });
  modeSelect.on('change', () => {
    mode = modeSelect.property('value') === 'mean' ? 'mean' : 'zero';
    if (chosen.size > 0) actions.ablationChanged();
  });
  const clearButton = ablHead.append('button').attr('class', 'secondary att-ablation-clear').text('Switch all back on')
    .on('click', () => {
      chosen = new Set();
      draw();
      actions.ablationChanged();
    });
  const ablNote = abl.append('p').attr('class', 'muted att-ablation-note').attr('role', 'status')
    .text('Click a head above (or a layer’s label, for all its heads) to switch it off and see what this text loses.');
  const ablLoss = abl.append('p').attr('class', 'att-ablation-loss').attr('aria-live', 'polite');
  const ablTable = abl.append('table').attr('class', 'att-ablation-next').attr('hidden', true);
  ablTable.append('caption').attr('class', 'muted').text('Next token after the text');
  ablTable.append('thead').append('tr').selectAll('th').data(['token', 'intact', 'switched off', 'change']).join('th').text((d) => d);
  const ablBody = ablTable.append('tbody');

  function draw(): void {
    toggles.selectAll<HTMLButtonElement, (typeof ROLES)[number]>('button').attr('aria-pressed', (r) => String(r.role === role))
      .classed('on', (r) => r.role === role);
    const sources: [RoleSource, string][] = [['random', 'repeated random tokens'], ...(probe?.text ? [['text', 'this text'] as [RoleSource, string]] : [])];
    if (source === 'text' && !probe?.text) source = 'random';
    sourceSelect.selectAll('option').data(sources, (d) => (d as [string, string])[0]).join('option').attr('value', (d) => d[0]).text((d) => d[1]);
    sourceSelect.property('value', source);
    const values = probe ? roleGrid(probe, role, source) : null;
    columnHeads(grid, H);
    const rows = grid.selectAll<HTMLDivElement, number>('.att-roles-row')
      .data(d3.range(N), (l) => String(l))
      .join((enter) => {
        const r = enter.append('div').attr('class', 'att-roles-row').attr('role', 'row');
        r.append('button').attr('class', 'att-roles-layer').attr('role', 'rowheader')
          .on('click', (_e, l) => {
            chosen = toggleLayer(chosen, l, H);
            draw();
            actions.ablationChanged();
          });
        return r;
      });
    rows.select<HTMLButtonElement>('.att-roles-layer').text((l) => `L${l + 1}`)
      .attr('title', (l) => `Switch every head of layer ${l + 1} off (or back on)`)
      .attr('aria-label', (l) => `Layer ${l + 1}: switch all its heads off or on`);
    rows.selectAll<HTMLButtonElement, { l: number; h: number }>('button.att-role-cell')
      .data((l) => d3.range(H).map((h) => ({ l, h })), (c) => `${c.l}:${c.h}`)
      .join((enter) => enter.append('button').attr('class', 'att-role-cell').attr('role', 'gridcell')
        .on('click', (_e, c) => {
          chosen = toggleHead(chosen, { layer: c.l, head: c.h });
          draw();
          actions.ablationChanged();
        }))
      .attr('data-layer', (c) => c.l)
      .attr('data-head', (c) => c.h)
      .classed('off', (c) => chosen.has(headKey({ layer: c.l, head: c.h })))
      .attr('aria-pressed', (c) => String(chosen.has(headKey({ layer: c.l, head: c.h }))))
      .style('--score', (c) => (values ? String(Math.max(0, Math.min(1, values[c.l][c.h]))) : '0'))
      .classed('strong', (c) => !!values && values[c.l][c.h] >= 0.55)
      .text((c) => (values ? values[c.l][c.h].toFixed(2) : ''))
      .attr('title', (c) => `layer ${c.l + 1}, head ${c.h + 1}` + (values ? `: ${ROLES.find((r) => r.role === role)!.name} ${values[c.l][c.h].toFixed(3)}` : '') +
        `\nclick to switch it ${chosen.has(headKey({ layer: c.l, head: c.h })) ? 'back on' : 'off'}`);
    grid.style('--role-cols', String(H));
    if (probe) note.classed('field-error', false).text(roleNote(probe, role, source));
    clearButton.attr('disabled', chosen.size === 0 ? true : null);
    if (chosen.size === 0) {
      ablLoss.text('');
      ablTable.attr('hidden', true);
      ablNote.attr('hidden', null).classed('field-error', false)
        .text('Click a head above (or a layer’s label, for all its heads) to switch it off and see what this text loses.');
    }
  }

  return {
    shape(n, h) {
      if (n !== N || h !== H) chosen = new Set();
      N = n;
      H = h;
      draw();
    },
    roles(p, text, failed = false) {
      if (p) probe = p;
      draw();
      if (text !== null) note.classed('field-error', failed).text(text);
      grid.classed('gl-stale', !p && !failed && probe !== null);
    },
    ablation(a, text, failed = false) {
      if (chosen.size === 0) return;
      ablNote.attr('hidden', text === null ? true : null).classed('field-error', failed).text(text ?? '');
      abl.select('.att-ablation-loss').classed('gl-stale', !a && !failed);
      if (!a) return;
      const heads = chosenHeads(chosen).map((h) => `L${h.layer + 1}H${h.head + 1}`).join(', ');
      ablLoss.text(`${ablationLossLine(a)} with ${heads} ${a.mode === 'zero' ? 'zeroed' : 'mean-ablated'}.`);
      const rows = nextTokenChange(a);
      ablTable.attr('hidden', rows.length ? null : true);
      ablBody.selectAll<HTMLTableRowElement, (typeof rows)[number]>('tr').data(rows, (r) => String(r.id))
        .join((enter) => {
          const tr = enter.append('tr');
          for (let i = 0; i < 4; i++) tr.append('td');
          return tr;
        })
        .order()
        .each(function (r) {
          const cells = d3.select(this).selectAll('td').nodes() as HTMLTableCellElement[];
          cells[0].textContent = showToken(r.text, 16);
          cells[0].className = 'mono';
          cells[1].textContent = r.before === null ? '< top 8' : pct(r.before);
          cells[2].textContent = r.after === null ? '< top 8' : pct(r.after);
          const d = r.before !== null && r.after !== null ? r.after - r.before : null;
          cells[3].textContent = d === null ? '' : `${d >= 0 ? '+' : '−'}${pct(Math.abs(d))}`;
          cells[3].className = d === null ? '' : d > 0.005 ? 'att-up' : d < -0.005 ? 'att-down' : 'muted';
          for (const c of cells.slice(1)) c.classList.add('num');
        });
    },
    chosen: () => chosenHeads(chosen),
    mode: () => mode,
    state: () => ({ role, source, mode, chosen: [...chosen] }),
    restore(s) {
      if (typeof s !== 'object' || s === null) return;
      const x = s as Record<string, unknown>;
      if (ROLES.some((r) => r.role === x.role)) role = x.role as Role;
      if (x.source === 'text' || x.source === 'random') source = x.source;
      if (x.mode === 'zero' || x.mode === 'mean') {
        mode = x.mode;
        modeSelect.property('value', mode);
      }
    },
  };
}
