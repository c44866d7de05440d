// The loss chart's DOM: every run on the chart overlaid (train loss raw + smoothed, validation points, the best
// checkpoint, sample markers, counting baselines, and on a second axis the best head's induction and previous-token
// scores at each snapshot of the run's kept model), a comparison's table under it, small multiples for the learning rate, tokens/s and the gradient
// norm, the status line and banners of the run on screen, and a table as the text alternative. Built once;
// update() changes it through keyed joins. Labels never overlap (shared/labels.ts).
import * as d3 from '../shared/d3';
import type { Frame } from '../shared/frame';
import { distinctExponentFormat, formatDuration } from '../shared/format';
import { placeLabels } from '../shared/labels';
import { createTooltip } from '../shared/tooltip';
import {
  bannersOf, bestOf, decimate, emptyState, focusRun, nearestIndex, plannedSteps, rolesRun, runDetails, runOnScreen, shownCompare, smoothed,
  statusOf, variantColour, PALETTE_SIZE, type Banner, type LossState, type RunData,
} from './state';
import { tableView, type CompareSummary, type TableRowView } from './compareTable';
import { inductionSummary, rolesNote } from './roles';

// ---- constants ----
const MAIN_MARGIN = { top: 14, right: 124, bottom: 34, left: 56 };
/** Room for the head-score axis at the right of the plot, when the overlay is drawn. */
const ROLES_AXIS = 34;
const SMALL_MARGIN = { top: 8, right: 14, bottom: 24, left: 56 };
const POINT_BUDGET = 1600; // drawn points per line at most (min/max buckets beyond that)

type Metric = 'lr' | 'tokensPerSec' | 'gradNorm';
const MULTIPLES: { key: Metric; title: string; unit: string; format: (v: number) => string }[] = [
  { key: 'lr', title: 'Learning rate', unit: '', format: (v) => v.toExponential(2) },
  { key: 'tokensPerSec', title: 'Tokens / s', unit: 'tok/s', format: (v) => d3.format(',.0f')(v) },
  { key: 'gradNorm', title: 'Gradient norm', unit: '', format: (v) => v.toFixed(3) },
];

const fmtLoss = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(3));
const fmtExact = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(4));
const fmtRate = (v: number): string => (v >= 1e4 ? d3.format('.3~s')(v) : d3.format(',.0f')(v));

export interface LossActions {
  /** A control changed the state: persist it (at once when `now`) and redraw. */
  changed(now: boolean): void;
  /** Redraw on the next frame (a resize, the data table opening). */
  schedule(): void;
}

export interface LossView {
  update(state: LossState): void;
  /** Tells a screen reader what happened to a run (it finished, it started memorising). */
  announce(run: RunData): void;
  /** Tells a screen reader that a comparison's table came. */
  announceTable(table: CompareSummary): void;
}

export function createLossView(frame: Frame, actions: LossActions): LossView {
  let state: LossState = emptyState();
  let hoverStep: number | null = null;
  const app = frame.body;
  const statusEl = frame.actions.append('div').attr('class', 'status mono').attr('id', 'status').attr('role', 'status');
  const progress = app.append('div').attr('class', 'progress').attr('role', 'progressbar').attr('aria-label', 'training progress')
    .attr('aria-valuemin', 0).attr('aria-valuemax', 100);
  const progressBar = progress.append('div').attr('class', 'progress-bar');
  const live = app.append('div').attr('class', 'sr-only').attr('aria-live', 'polite');

  const banners = app.append('div').attr('class', 'banners');

  const toolbar = app.append('div').attr('class', 'toolbar').attr('role', 'toolbar').attr('aria-label', 'chart options');
  const logButton = toolbar.append('button').attr('class', 'toggle').attr('id', 'log-scale').attr('type', 'button')
    .attr('aria-pressed', 'false').text('Log scale')
    .on('click', () => {
      state.log = !state.log;
      actions.changed(true);
    });
  const rawButton = toolbar.append('button').attr('class', 'toggle').attr('id', 'show-raw').attr('type', 'button')
    .attr('aria-pressed', 'true').text('Raw loss')
    .on('click', () => {
      state.showRaw = !state.showRaw;
      actions.changed(true);
    });
  const smoothLabel = toolbar.append('label').attr('class', 'smoothing');
  smoothLabel.append('span').text('Smoothing');
  const smoothInput = smoothLabel.append('input').attr('type', 'range').attr('id', 'smoothing').attr('min', 0).attr('max', 0.99)
    .attr('step', 0.01).attr('aria-label', 'smoothing of the train loss (exponential moving average weight)')
    .on('input', function () {
      state.smoothing = Math.min(0.99, Math.max(0, Number((this).value) || 0));
      actions.changed(false);
    });
  const smoothValue = smoothLabel.append('output').attr('class', 'mono');
  const focusLabel = toolbar.append('label').attr('class', 'focus-run');
  focusLabel.append('span').text('Reference lines for');
  const focusSelect = focusLabel.append('select').attr('id', 'focus-run').attr('aria-label', 'run whose reference lines are drawn')
    .on('change', function () {
      const v = (this).value;
      state.focus = v === '' ? null : v;
      actions.changed(true);
    });

  const legend = app.append('ul').attr('class', 'legend').attr('aria-label', 'runs');
  const rolesBox = app.append('div').attr('class', 'roles-box').attr('hidden', true);
  const rolesKey = rolesBox.append('p').attr('class', 'roles-key');
  rolesKey.append('span').attr('class', 'key induction').attr('aria-hidden', 'true');
  rolesKey.append('span').text('induction score, best head');
  rolesKey.append('span').attr('class', 'key previous').attr('aria-hidden', 'true');
  rolesKey.append('span').text('previous-token score, best head');
  const rolesWhose = rolesKey.append('span').attr('class', 'muted');
  const rolesNoteEl = rolesBox.append('p').attr('class', 'roles-note').attr('id', 'roles-note');

  const mainFigure = app.append('figure').attr('class', 'chart main-chart');
  const mainSvg = mainFigure.append('svg').attr('id', 'loss-chart').attr('role', 'img').attr('tabindex', 0);
  const mainDefs = mainSvg.append('defs');
  const clipRect = mainDefs.append('clipPath').attr('id', 'loss-clip').append('rect');
  const mainG = mainSvg.append('g').attr('class', 'plot');
  const gridG = mainG.append('g').attr('class', 'grid');
  const bandG = mainG.append('g').attr('class', 'bands').attr('clip-path', 'url(#loss-clip)');
  const baselineG = mainG.append('g').attr('class', 'baselines');
  const linesG = mainG.append('g').attr('class', 'lines').attr('clip-path', 'url(#loss-clip)');
  const xAxisG = mainG.append('g').attr('class', 'axis x');
  const yAxisG = mainG.append('g').attr('class', 'axis y');
  const xTitle = mainG.append('text').attr('class', 'axis-title').text('step');
  const yTitle = mainG.append('text').attr('class', 'axis-title').attr('transform', 'rotate(-90)').text('loss (nats / token)');
  const overlay = mainG.append('rect').attr('class', 'overlay');
  const hoverG = mainG.append('g').attr('class', 'hover').attr('pointer-events', 'none');
  const hoverRule = hoverG.append('line').attr('class', 'rule');
  // The induction overlay under the run marks: its dots never hide a "best …" label or a validation point.
  const rolesG = mainG.append('g').attr('class', 'roles').attr('pointer-events', 'none');
  const valG = mainG.append('g').attr('class', 'vals');
  const bestG = mainG.append('g').attr('class', 'bests');
  const sampleG = mainG.append('g').attr('class', 'samples');
  const rolesThreshold = rolesG.append('line').attr('class', 'threshold');
  const rolesThresholdLabel = rolesG.append('text').attr('class', 'threshold-label');
  const rolesPrev = rolesG.append('path').attr('class', 'previous');
  const rolesInd = rolesG.append('path').attr('class', 'induction');
  const rolesDots = rolesG.append('g').attr('class', 'role-dots');
  const rolesAxisG = mainG.append('g').attr('class', 'axis roles-axis');

  // A comparison's table: the CLI's columns, a verdict per variant against row 1.
  const compareSection = app.append('section').attr('class', 'compare').attr('id', 'compare-table').attr('hidden', true)
    .attr('aria-live', 'polite');
  const compareTitle = compareSection.append('h2');
  const compareLines = compareSection.append('ul').attr('class', 'compare-lines muted');
  // A narrow panel scrolls the table sideways rather than cutting its last columns.
  const compareTable = compareSection.append('div').attr('class', 'compare-scroll').attr('tabindex', 0)
    .attr('aria-label', 'comparison table, scrolls sideways').append('table').attr('class', 'compare-table');
  compareTable.append('caption').attr('class', 'sr-only').text('comparison of the variants');
  const compareHeadRow = compareTable.append('thead').append('tr');
  const compareBody = compareTable.append('tbody');
  const compareNotes = compareSection.append('ul').attr('class', 'compare-notes muted');

  const multiples = app.append('div').attr('class', 'multiples');
  const small = MULTIPLES.map((m) => {
    const fig = multiples.append('figure').attr('class', `chart small ${m.key}`);
    fig.append('figcaption').text(m.key === 'gradNorm' ? `${m.title} · log scale` : m.title);
    const svg = fig.append('svg').attr('id', `chart-${m.key}`).attr('role', 'img').attr('tabindex', 0);
    const g = svg.append('g');
    const grid = g.append('g').attr('class', 'grid');
    const lines = g.append('g').attr('class', 'lines');
    const xAxis = g.append('g').attr('class', 'axis x');
    const yAxis = g.append('g').attr('class', 'axis y');
    const over = g.append('rect').attr('class', 'overlay');
    const rule = g.append('line').attr('class', 'rule').attr('pointer-events', 'none');
    const dots = g.append('g').attr('class', 'hover-dots').attr('pointer-events', 'none');
    return { ...m, fig, svg, g, grid, lines, xAxis, yAxis, over, rule, dots };
  });

  const details = app.append('details').attr('class', 'data');
  details.append('summary').text('Data: evaluations, samples and values as text');
  const dataBody = details.append('div').attr('class', 'data-body');
  const copyRow = dataBody.append('div').attr('class', 'copy-row');
  copyRow.append('button').attr('class', 'secondary').attr('type', 'button').attr('id', 'copy-csv').text('Copy all steps as CSV')
    .on('click', () => void copyCsv());
  const copyNote = copyRow.append('span').attr('class', 'muted');
  const csvBox = dataBody.append('textarea').attr('class', 'csv mono').attr('readonly', true).attr('aria-label', 'steps as CSV')
    .attr('hidden', true);
  const tablesDiv = dataBody.append('div').attr('class', 'tables');

  const tooltip = createTooltip();

  // ---- helpers ----
  /** Hands a group's (new) datum down to its children, which selectAll would otherwise leave at their first one. */
  function propagate(this: Element, d: unknown): void {
    d3.select(this).selectAll('*').datum(d);
  }
  const visibleRuns = (): RunData[] => state.runs.filter((r) => !r.hidden);
  const colourClass = (r: RunData): string => `c${((r.colour % PALETTE_SIZE) + PALETTE_SIZE) % PALETTE_SIZE}`;
  /** Tooltip next to an element (keyboard focus). */
  function tooltipAt(el: Element, text: string): void {
    const r = el.getBoundingClientRect();
    tooltip.show(text, r.right, r.top);
  }

  let xMain = d3.scaleLinear();
  let yMain: d3.ScaleContinuousNumeric<number, number> = d3.scaleLinear();

  function lossDomain(runs: RunData[], focus: RunData | undefined): [number, number] {
    const values: number[] = [];
    for (const r of runs) {
      for (const v of smoothed(r.loss, state.smoothing)) if (Number.isFinite(v)) values.push(v);
      for (const e of r.evals) if (e.valLoss !== null && Number.isFinite(e.valLoss)) values.push(e.valLoss);
      if (state.showRaw) for (const v of r.loss) if (Number.isFinite(v)) values.push(v);
    }
    const b = focus && !focus.hidden ? focus.start?.baselines : undefined;
    if (b) for (const v of [b.uniform, b.unigram, b.bigram]) if (v !== null && Number.isFinite(v)) values.push(v);
    if (!values.length) return [1, 5];
    let lo = d3.min(values)!, hi = d3.max(values)!;
    // A spike in the raw line must not flatten everything else: cap the top at 1.15 × ln V (or the smoothed max).
    const cap = Math.max(b?.uniform ?? 0, ...runs.map((r) => r.start?.baselines.uniform ?? 0)) * 1.15;
    if (cap > 0 && hi > cap) hi = Math.max(cap, lo * 1.1);
    if (!(hi > lo)) hi = lo + 1;
    const pad = (hi - lo) * 0.06;
    lo = Math.max(state.log ? 1e-3 : 0, lo - pad);
    hi = hi + pad;
    return [lo, hi];
  }

  // ---- update: everything that depends on data ----
  function update(): void {
    const runs = visibleRuns();
    const focus = focusRun(state);
    const hasData = state.runs.length > 0;
    frame.empty(!hasData);
    mainFigure.attr('hidden', hasData ? null : true);
    multiples.attr('hidden', hasData ? null : true);
    details.attr('hidden', hasData ? null : true);
    toolbar.attr('hidden', hasData ? null : true);

    logButton.attr('aria-pressed', String(state.log)).classed('on', state.log);
    rawButton.attr('aria-pressed', String(state.showRaw)).classed('on', state.showRaw);
    smoothInput.property('value', String(state.smoothing));
    smoothValue.text(state.smoothing.toFixed(2));

    updateStatus();
    updateBanners();
    updateLegend();
    updateFocusSelect();
    if (!hasData) return;
    updateMain(runs, focus);
    updateCompare();
    for (const s of small) updateSmall(s, runs);
    updateTables();
  }

  function updateCompare(): void {
    const c = shownCompare(state);
    compareSection.attr('hidden', c ? null : true);
    if (!c) return;
    const v = tableView(c);
    compareSection.attr('data-compare', c.id);
    compareTitle.text(v.title);
    compareLines.selectAll('li').data(v.lines).join('li').text((d) => d);
    compareHeadRow.selectAll('th').data(['#', 'variant', ...v.head, v.versusHead, ''])
      .join('th').attr('scope', 'col').attr('class', (_d, i) => (i >= 2 && i < 2 + v.head.length ? 'num' : null)).text((d) => d);
    const colour = (r: TableRowView): string => {
      const k = variantColour(state, c.id, r.variant);
      return k === null ? '' : `c${k}`;
    };
    compareBody.selectAll<HTMLTableRowElement, TableRowView>('tr')
      .data(v.rows, (r) => `${c.id}:${r.variant}`)
      .join((enter) => {
        const tr = enter.append('tr');
        tr.append('td').attr('class', 'mono n');
        const label = tr.append('th').attr('scope', 'row').attr('class', 'variant');
        label.append('span').attr('class', 'swatch').attr('aria-hidden', 'true');
        label.append('span').attr('class', 'variant-label mono');
        for (let i = 0; i < v.head.length; i++) tr.append('td').attr('class', 'mono num cell');
        tr.append('td').attr('class', 'mono versus');
        tr.append('td').attr('class', 'verdict');
        return tr;
      })
      .attr('class', (r) => `${colour(r)} ${r.verdict}`)
      .attr('data-verdict', (r) => r.verdict)
      .call((tr) => tr.select('td.n').text((r) => r.variant + 1))
      .call((tr) => tr.select('.variant-label').text((r) => r.label))
      .call((tr) => tr.selectAll<HTMLTableCellElement, string>('td.cell').data((r) => r.cells).text((d) => d))
      .call((tr) => tr.select('td.versus').text((r) => r.versus))
      .call((tr) => tr.select('td.verdict').text((r) => r.verdictText));
    compareNotes.selectAll('li').data(v.notes).join('li').text((d) => d);
  }

  function announceTable(c: CompareSummary): void {
    const v = tableView(c);
    live.text(`${v.title}. ${v.rows.slice(1).map((r) => `${r.label}: ${r.verdictText}`).join('; ')}`);
  }

  function updateStatus(): void {
    const run = runOnScreen(state);
    if (!run) {
      statusEl.text('waiting for a run');
      progress.attr('hidden', true);
      return;
    }
    const st = statusOf(run);
    const last = run.last;
    const steps = plannedSteps(run);
    const lastVal = [...run.evals].reverse().find((e) => e.valLoss !== null)?.valLoss ?? null;
    const loss = run.loss.length ? smoothed(run.loss, state.smoothing).at(-1) ?? NaN : NaN;
    const parts: string[] = [];
    if (st === 'training' || st === 'waiting') {
      parts.push(st === 'training' ? '● Training' : '○ Starting');
      parts.push(`step ${d3.format(',')(last?.step ?? 0)} / ${d3.format(',')(steps)}`);
      parts.push(`loss ${fmtLoss(loss)}`);
      if (lastVal !== null) parts.push(`val ${fmtLoss(lastVal)}`);
      const tps = run.tokensPerSec.at(-1);
      if (tps !== undefined && Number.isFinite(tps)) parts.push(`${fmtRate(tps)} tok/s`);
      if (last) parts.push(`ETA ${formatDuration(last.etaMs)}`);
    } else {
      const d = run.done!;
      parts.push(st === 'done' ? '✓ Done' : st === 'stopped' ? '■ Stopped' : '✕ Failed');
      parts.push(`${d3.format(',')(d.step)} / ${d3.format(',')(d.steps)} steps in ${formatDuration(d.elapsedMs)}`);
      parts.push(`loss ${fmtLoss(loss)}`);
      const best = bestOf(run);
      if (best) parts.push(`best val ${fmtLoss(best.valLoss)} @ ${d3.format(',')(best.step)}`);
    }
    // The state first (its symbol coloured), then whose run it is.
    statusEl.attr('data-state', st).attr('title', run.label).text([parts[0], run.label, ...parts.slice(1)].join(' · '));
    const pct = Math.min(100, (100 * (run.done?.step ?? last?.step ?? 0)) / steps);
    progress.attr('hidden', null).attr('aria-valuenow', Math.round(pct)).attr('data-state', st);
    progressBar.style('width', `${pct}%`);
  }

  function announce(run: RunData): void {
    const st = statusOf(run);
    const best = bestOf(run);
    const w = run.warnings.find((x) => x.code === 'memorising');
    live.text(`${run.label}: ${st}${best ? `, best validation loss ${best.valLoss.toFixed(3)} at step ${best.step}` : ''}${w ? '. Warning: memorising' : ''}`);
  }

  /** The banners of the run on screen only: a finished run's warning does not stay over the runs after it. */
  function updateBanners(): void {
    const list = bannersOf(runOnScreen(state));
    banners.selectAll<HTMLDivElement, Banner>('div.banner')
      .data(list, (d) => d.key)
      .join((enter) => {
        const b = enter.append('div').attr('role', (d) => (d.kind === 'info' ? 'status' : 'alert'));
        b.append('span').attr('class', 'banner-icon').attr('aria-hidden', 'true');
        b.append('strong');
        b.append('span').attr('class', 'banner-text');
        return b;
      })
      .attr('class', (d) => `banner ${d.kind}`)
      .attr('data-code', (d) => d.key.split(':').at(-1) ?? '')
      .call((b) => b.select('.banner-icon').text((d) => (d.kind === 'error' ? '✕' : d.kind === 'warning' ? '⚠' : 'ℹ')))
      .call((b) => b.select('strong').text((d) => d.title))
      .call((b) => b.select('.banner-text').text((d) => d.text));
  }

  function updateLegend(): void {
    const items = legend.selectAll<HTMLLIElement, RunData>('li.run')
      .data(state.runs, (d) => d.id)
      .join((enter) => {
        const li = enter.append('li').attr('class', 'run');
        li.append('button').attr('class', 'swatch-toggle').attr('type', 'button')
          .on('click', (_e, d) => {
            d.hidden = !d.hidden;
            actions.changed(true);
          })
          .append('span').attr('class', 'swatch').attr('aria-hidden', 'true');
        li.select('button.swatch-toggle').append('span').attr('class', 'run-label');
        li.append('span').attr('class', 'run-summary muted mono');
        li.append('button').attr('class', 'remove').attr('type', 'button').text('×')
          .on('click', (_e, d) => {
            state.runs = state.runs.filter((r) => r !== d);
            if (state.focus === d.id) state.focus = null;
            actions.changed(true);
          });
        return li;
      });
    items.attr('class', (d) => `run ${colourClass(d)}${d.hidden ? ' hidden' : ''}`).attr('data-run', (d) => d.id);
    items.select('button.swatch-toggle').attr('aria-pressed', (d) => String(!d.hidden))
      .attr('aria-label', (d) => `${d.hidden ? 'show' : 'hide'} run ${d.label}`)
      .attr('title', (d) => (d.hidden ? 'show this run' : 'hide this run'));
    items.select('.run-label').text((d) => d.label);
    items.select('.run-summary').text((d) => {
      const best = bestOf(d);
      const st = statusOf(d);
      const bits = [runDetails(d), st === 'training' ? `step ${d.last?.step ?? 0}/${plannedSteps(d)}` : st].filter(Boolean);
      if (best) bits.push(`best val ${best.valLoss.toFixed(3)} @ ${best.step}`);
      return bits.join(' · ');
    });
    items.select('button.remove').attr('aria-label', (d) => `remove run ${d.label} from the chart`).attr('title', 'remove from the chart');
  }

  function updateFocusSelect(): void {
    focusLabel.attr('hidden', state.runs.length > 1 ? null : true);
    const opts = [{ id: '', label: 'the newest run' }, ...state.runs.map((r) => ({ id: r.id, label: r.label }))];
    focusSelect.selectAll<HTMLOptionElement, { id: string; label: string }>('option')
      .data(opts, (d) => d.id)
      .join('option')
      .attr('value', (d) => d.id)
      .text((d) => d.label);
    focusSelect.property('value', state.focus ?? '');
  }

  function updateMain(runs: RunData[], focus: RunData | undefined): void {
    const node = mainFigure.node() as HTMLElement;
    const width = Math.max(320, node.clientWidth);
    const height = Math.round(Math.min(440, Math.max(260, window.innerHeight * 0.46)));
    const rolesOf = rolesRun(state);
    const roles = rolesOf?.roles?.step.length ? rolesOf : undefined;
    const rolesRoom = roles ? ROLES_AXIS : 0;
    const iw = width - MAIN_MARGIN.left - MAIN_MARGIN.right - rolesRoom;
    const ih = height - MAIN_MARGIN.top - MAIN_MARGIN.bottom;
    mainSvg.attr('width', width).attr('height', height).attr('viewBox', `0 0 ${width} ${height}`);
    mainG.attr('transform', `translate(${MAIN_MARGIN.left},${MAIN_MARGIN.top})`);
    clipRect.attr('x', 0).attr('y', 0).attr('width', iw).attr('height', ih);

    const maxStep = d3.max(runs.length ? runs : state.runs, plannedSteps) ?? 1;
    xMain = d3.scaleLinear().domain([0, maxStep]).range([0, iw]);
    const [lo, hi] = lossDomain(runs, focus);
    yMain = (state.log ? d3.scaleLog().base(Math.E) : d3.scaleLinear()).domain([lo, hi]).range([ih, 0]);
    const yTicks = state.log ? logTicks(lo, hi) : yMain.ticks(6);

    xAxisG.attr('transform', `translate(0,${ih})`).call(d3.axisBottom(xMain).ticks(Math.max(2, Math.floor(iw / 90))).tickFormat(d3.format('~s')).tickSizeOuter(0));
    yAxisG.call(d3.axisLeft(yMain).tickValues(yTicks).tickFormat(d3.format('.2~f')).tickSizeOuter(0));
    xTitle.attr('x', iw).attr('y', ih + 30).attr('text-anchor', 'end');
    yTitle.attr('x', -ih / 2).attr('y', -42).attr('text-anchor', 'middle');
    gridG.selectAll<SVGLineElement, number>('line').data(yTicks, (d) => String(d)).join('line')
      .attr('x1', 0).attr('x2', iw).attr('y1', (d) => yMain(d)).attr('y2', (d) => yMain(d));
    overlay.attr('width', iw).attr('height', ih);

    const desc = runs.map((r) => {
      const best = bestOf(r);
      return `${r.label}: ${r.step.length} steps, last loss ${fmtLoss(r.loss.at(-1))}${best ? `, best validation ${best.valLoss.toFixed(3)} at step ${best.step}` : ''}`;
    }).join('; ');
    mainSvg.attr('aria-label', `Loss by step, ${state.log ? 'log' : 'linear'} scale. ${desc || 'No visible run.'} Arrow keys move a readout along the steps.`);

    // Reference lines of the focused run: what counting models score on the same validation split.
    type Ref = { key: string; name: string; value: number; y: number; ly: number };
    const b = focus && !focus.hidden ? focus.start?.baselines : undefined;
    const candidates: [string, string, number | null][] = !b ? [] :
      [['uniform', 'uniform · ln V', b.uniform], ['unigram', 'unigram', b.unigram], ['bigram', 'bigram', b.bigram]];
    const refs: Ref[] = [];
    for (const [key, name, value] of candidates) {
      if (value !== null && Number.isFinite(value) && value >= lo && value <= hi) refs.push({ key, name, value, y: yMain(value), ly: yMain(value) - 4 });
    }
    // Labels sit in the right margin, level with their line, at least 13 px apart (sorted top to bottom).
    for (const r of refs) r.ly = r.y + 4;
    refs.sort((a, c) => a.ly - c.ly);
    for (let i = 1; i < refs.length; i++) if (refs[i].ly - refs[i - 1].ly < 13) refs[i].ly = refs[i - 1].ly + 13;
    baselineG.selectAll<SVGGElement, Ref>('g.baseline')
      .data(refs, (d) => d.key)
      .join((enter) => {
        const g = enter.append('g').attr('class', (d) => `baseline ${d.key}`);
        g.append('line');
        g.append('text').attr('class', 'halo');
        g.append('text').attr('class', 'label');
        g.append('line').attr('class', 'hit');
        return g;
      })
      .each(propagate)
      .call((g) => g.selectAll<SVGLineElement, Ref>('line').attr('x1', 0).attr('x2', iw).attr('y1', (d) => d.y).attr('y2', (d) => d.y))
      .call((g) => g.selectAll<SVGTextElement, Ref>('text').attr('x', iw + rolesRoom + 8).attr('y', (d) => d.ly).attr('text-anchor', 'start')
        .text((d) => `${d.name} ${d.value.toFixed(3)}`))
      .on('pointerenter pointermove', (e: PointerEvent, d) => tooltip.show(
        `${d.name} baseline (${focus?.label ?? ''})\n${d.value.toFixed(4)} nats/token on the validation split`, e.clientX, e.clientY))
      .on('pointerleave', () => tooltip.hide());

    // Memorising: shade from the best step to the last evaluation of each visible run that was warned.
    type Band = { run: RunData; from: number; to: number };
    const bands: Band[] = runs.filter((r) => r === focus && r.warnings.some((w) => w.code === 'memorising')).flatMap((r) => {
      const best = bestOf(r);
      const to = r.evals.at(-1)?.step ?? r.step.at(-1);
      return best && to !== undefined && to > best.step ? [{ run: r, from: best.step, to }] : [];
    });
    bandG.selectAll<SVGGElement, Band>('g.band')
      .data(bands, (d) => d.run.id)
      .join((enter) => {
        const g = enter.append('g');
        g.append('rect');
        g.append('text').text('after the best checkpoint: memorising');
        return g;
      })
      .attr('class', (d) => `band ${colourClass(d.run)}`)
      .call((g) => g.select('rect').attr('x', (d) => xMain(d.from)).attr('width', (d) => Math.max(0, xMain(d.to) - xMain(d.from)))
        .attr('y', 0).attr('height', ih))
      .call((g) => g.select('text').attr('x', (d) => xMain(d.from) + 6).attr('y', 14));

    // Lines: raw (faint) and smoothed per run.
    type Line = { run: RunData; raw: [number, number][]; smooth: [number, number][] };
    const lineData: Line[] = runs.map((r) => ({
      run: r,
      raw: state.showRaw ? decimate(r.step, r.loss, POINT_BUDGET) : [],
      smooth: decimate(r.step, smoothed(r.loss, state.smoothing), POINT_BUDGET),
    }));
    const line = d3.line<[number, number]>().defined((d) => Number.isFinite(d[1]) && d[1] > 0).x((d) => xMain(d[0])).y((d) => yMain(d[1]));
    linesG.selectAll<SVGGElement, Line>('g.run')
      .data(lineData, (d) => d.run.id)
      .join((enter) => {
        const g = enter.append('g');
        g.append('path').attr('class', 'raw');
        g.append('path').attr('class', 'smooth');
        return g;
      })
      .attr('class', (d) => `run ${colourClass(d.run)}`)
      .attr('data-run', (d) => d.run.id)
      .call((g) => g.select('path.raw').attr('d', (d) => (d.raw.length ? line(d.raw) : null)))
      .call((g) => g.select('path.smooth').attr('d', (d) => line(d.smooth)));

    // Validation points.
    type Val = { run: RunData; step: number; val: number; train: number };
    const vals: Val[] = runs.flatMap((r) => r.evals.filter((e) => e.valLoss !== null && Number.isFinite(e.valLoss) && e.valLoss > 0)
      .map((e) => ({ run: r, step: e.step, val: e.valLoss!, train: e.trainLoss })));
    valG.selectAll<SVGCircleElement, Val>('circle.val')
      .data(vals, (d) => `${d.run.id}:${d.step}`)
      .join('circle')
      .attr('class', (d) => `val ${colourClass(d.run)}`)
      .attr('data-run', (d) => d.run.id)
      .attr('data-step', (d) => d.step)
      .attr('cx', (d) => xMain(d.step)).attr('cy', (d) => yMain(Math.min(hi, Math.max(lo, d.val)))).attr('r', 4)
      .on('pointerenter pointermove', (e: PointerEvent, d) => tooltip.show(
        `${d.run.label}\nstep ${d.step}\nvalidation loss ${fmtExact(d.val)}\ntrain loss (eval) ${fmtExact(d.train)}`, e.clientX, e.clientY))
      .on('pointerleave', () => tooltip.hide());

    // Best-validation checkpoint of each visible run.
    type Best = { run: RunData; step: number; val: number };
    const bests: Best[] = runs.flatMap((r) => {
      const best = bestOf(r);
      return best ? [{ run: r, step: best.step, val: best.valLoss }] : [];
    });
    // Each "best …" label sits beside its star, moved up or down (or hidden) so that no two labels overlap; the focused
    // run's label is placed first.
    const LABEL_H = 13;
    const placeOrder = [...bests].sort((a, b) => Number(b.run === focus) - Number(a.run === focus));
    const boxes = placeOrder.map((d) => {
      const x = xMain(d.step), y = yMain(Math.min(hi, Math.max(lo, d.val)));
      const width = `best ${d.val.toFixed(3)}`.length * 6.6 + 4;
      const right = x <= iw - 120;
      return { x: right ? x + 10 : x - 10 - width, y: y - 16 - LABEL_H + 3, width, height: LABEL_H, right, ax: x, ay: y };
    });
    const placed = placeLabels(boxes, -MAIN_MARGIN.top, ih);
    const labelAt = new Map(placeOrder.map((d, i) => [d.run.id, { dx: boxes[i].right ? 10 : -10, dy: placed[i].y + LABEL_H - 3 - boxes[i].ay,
      anchor: boxes[i].right ? 'start' : 'end', hidden: placed[i].hidden }]));
    bestG.selectAll<SVGGElement, Best>('g.best')
      .data(bests, (d) => d.run.id)
      .join((enter) => {
        const g = enter.append('g').attr('tabindex', 0).attr('role', 'img');
        g.append('circle').attr('class', 'ring').attr('r', 8);
        g.append('path').attr('class', 'star').attr('d', d3.symbol(d3.symbolStar, 70)());
        g.append('text').attr('class', 'halo');
        g.append('text').attr('class', 'label');
        return g;
      })
      .each(propagate)
      .attr('class', (d) => `best ${colourClass(d.run)}`)
      .attr('data-run', (d) => d.run.id)
      .attr('data-step', (d) => d.step)
      .attr('aria-label', (d) => `best validation checkpoint of ${d.run.label}: step ${d.step}, loss ${d.val.toFixed(4)}`)
      .attr('transform', (d) => `translate(${xMain(d.step)},${yMain(Math.min(hi, Math.max(lo, d.val)))})`)
      .call((g) => g.select('path.star').attr('transform', 'translate(0,-20)'))
      .call((g) => g.selectAll<SVGTextElement, Best>('text').attr('x', (d) => labelAt.get(d.run.id)!.dx).attr('y', (d) => labelAt.get(d.run.id)!.dy)
        .attr('text-anchor', (d) => labelAt.get(d.run.id)!.anchor).attr('visibility', (d) => (labelAt.get(d.run.id)!.hidden ? 'hidden' : null))
        .text((d) => `best ${d.val.toFixed(3)}`))
      .on('pointerenter pointermove', (e: PointerEvent, d) => tooltip.show(bestText(d), e.clientX, e.clientY))
      .on('focus', function (_e, d) { tooltipAt(this, bestText(d)); })
      .on('pointerleave blur', () => tooltip.hide());

    // Sample markers: a small triangle on the x axis at each sample's step; the text shows on hover or focus.
    type Sample = { run: RunData; step: number; text: string; i: number };
    const samples: Sample[] = runs.flatMap((r, ri) => r.samples.map((s) => ({ run: r, step: s.step, text: s.text, i: ri })));
    sampleG.selectAll<SVGGElement, Sample>('g.sample')
      .data(samples, (d) => `${d.run.id}:${d.step}`)
      .join((enter) => {
        const g = enter.append('g').attr('tabindex', 0).attr('role', 'button');
        g.append('line').attr('class', 'stem');
        g.append('path').attr('class', 'mark').attr('d', d3.symbol(d3.symbolTriangle, 60)());
        return g;
      })
      .attr('class', (d) => `sample ${colourClass(d.run)}`)
      .attr('data-run', (d) => d.run.id)
      .attr('data-step', (d) => d.step)
      .attr('aria-label', (d) => `sample of ${d.run.label} at step ${d.step}: ${d.text}`)
      .attr('transform', (d) => `translate(${xMain(d.step)},${ih - 8 - d.i * 3})`)
      .call((g) => g.select('line.stem').attr('y1', (d) => -(ih - 8 - d.i * 3)).attr('y2', 0))
      .call((g) => g.select('path.mark').attr('transform', 'rotate(180)'))
      .on('pointerenter pointermove', (e: PointerEvent, d) => tooltip.show(sampleText(d), e.clientX, e.clientY))
      .on('focus', function (_e, d) { tooltipAt(this, sampleText(d)); })
      .on('pointerleave blur', () => tooltip.hide());

    updateRoles(roles, iw, ih);
    updateHover();
  }

  let yRoles = d3.scaleLinear().domain([0, 1]);
  /** The induction overlay: the run's best head scores at its snapshot steps, on a 0..1 axis at the plot's right. */
  function updateRoles(run: RunData | undefined, iw: number, ih: number): void {
    const noteRun = rolesRun(state);
    rolesBox.attr('hidden', noteRun?.roles ? null : true);
    if (noteRun?.roles) {
      const note = rolesNote(noteRun.roles, noteRun.start?.layers ?? 0);
      rolesKey.attr('hidden', run ? null : true);
      rolesWhose.text(run ? `· ${run.label}, scored at ${run.roles!.step.length} steps of its run (right axis)` : '');
      rolesNoteEl.attr('data-kind', note.kind).text(note.text);
    }
    rolesG.attr('hidden', run ? null : true);
    rolesAxisG.attr('hidden', run ? null : true);
    if (!run?.roles) return;
    const r = run.roles;
    // The axis spans what the scores reach (a small model's heads give a few percent), never past 1: the bump shows.
    const { threshold } = inductionSummary(r);
    const top = Math.min(1, Math.max(2 * threshold, 1.15 * Math.max(...r.induction, ...r.previousToken)));
    yRoles = d3.scaleLinear().domain([0, top]).nice(4).range([ih, 0]);
    rolesAxisG.attr('transform', `translate(${iw},0)`)
      .call(d3.axisRight(yRoles).ticks(4).tickFormat(d3.format('.2~f')).tickSize(4).tickSizeOuter(0));
    rolesThreshold.attr('x1', 0).attr('x2', iw).attr('y1', yRoles(threshold)).attr('y2', yRoles(threshold));
    rolesThresholdLabel.attr('x', 4).attr('y', yRoles(threshold) - 3).text(`induction head above ${threshold.toFixed(2)}`);
    const line = d3.line<number>().x((_v, i) => xMain(r.step[i])).y((v) => yRoles(v));
    rolesInd.attr('d', line(r.induction));
    rolesPrev.attr('d', line(r.previousToken));
    type Dot = { i: number; kind: 'induction' | 'previous'; v: number };
    const dots: Dot[] = r.step.flatMap((_s, i) => [{ i, kind: 'induction' as const, v: r.induction[i] }, { i, kind: 'previous' as const, v: r.previousToken[i] }]);
    rolesDots.selectAll<SVGCircleElement, Dot>('circle').data(dots, (d) => `${d.kind}:${d.i}`).join('circle')
      .attr('class', (d) => d.kind).attr('r', (d) => (d.kind === 'induction' ? 3.5 : 2.5))
      .attr('cx', (d) => xMain(r.step[d.i])).attr('cy', (d) => yRoles(d.v));
  }

  const bestText = (d: { run: RunData; step: number; val: number }): string =>
    `★ best validation checkpoint\n${d.run.label}\nstep ${d.step} · val loss ${fmtExact(d.val)}${d.run.done?.restoredBest ? '\nthe model keeps these weights' : ''}`;
  const sampleText = (d: { run: RunData; step: number; text: string }): string =>
    `sample at step ${d.step} · ${d.run.label}\n${'─'.repeat(24)}\n${wrapSample(d.text)}`;

  /** Wraps a sample to ~64 columns for the tooltip (it keeps the sample's own newlines). */
  function wrapSample(text: string): string {
    return text.split('\n').flatMap((line) => {
      const out: string[] = [];
      for (let i = 0; i < line.length; i += 64) out.push(line.slice(i, i + 64));
      return out.length ? out : [''];
    }).slice(0, 14).join('\n');
  }

  function logTicks(lo: number, hi: number): number[] {
    const ticks = d3.scaleLog().domain([lo, hi]).ticks(8);
    if (ticks.length >= 3) return ticks.length > 8 ? ticks.filter((_, i) => i % Math.ceil(ticks.length / 8) === 0) : ticks;
    // Less than a decade: evenly spaced in log space, rounded.
    return d3.range(5).map((i) => Number((lo * Math.pow(hi / lo, (i + 0.5) / 5)).toPrecision(2)));
  }

  function updateSmall(s: (typeof small)[number], runs: RunData[]): void {
    const node = s.fig.node() as HTMLElement;
    const width = Math.max(180, node.clientWidth);
    const height = 150;
    const iw = width - SMALL_MARGIN.left - SMALL_MARGIN.right;
    const ih = height - SMALL_MARGIN.top - SMALL_MARGIN.bottom;
    s.svg.attr('width', width).attr('height', height).attr('viewBox', `0 0 ${width} ${height}`);
    s.g.attr('transform', `translate(${SMALL_MARGIN.left},${SMALL_MARGIN.top})`);
    const x = d3.scaleLinear().domain(xMain.domain()).range([0, iw]);
    const values = runs.flatMap((r) => r[s.key].filter((v) => Number.isFinite(v)));
    const [mn, mx] = values.length ? [d3.min(values)!, d3.max(values)!] : [0, 1];
    // The gradient norm spans decades (a spike at warm-up, then ~1): log scale; the others are linear from 0.
    const logY = s.key === 'gradNorm' && mn > 0;
    const y: d3.ScaleContinuousNumeric<number, number> = logY
      ? d3.scaleLog().domain([mn / 1.2, mx * 1.2]).range([ih, 0])
      : d3.scaleLinear().domain([Math.min(0, mn), mx > 0 ? mx * 1.08 : 1]).nice(4).range([ih, 0]);
    const [d0, d1] = y.domain();
    const logSet = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].filter((t) => t >= d0 && t <= d1);
    const yTicks = logY ? logSet.filter((_, i, a) => a.length <= 5 || i % Math.ceil(a.length / 5) === 0) : y.ticks(4);
    s.xAxis.attr('transform', `translate(0,${ih})`).call(d3.axisBottom(x).ticks(Math.max(2, Math.floor(iw / 70))).tickFormat(d3.format('~s')).tickSizeOuter(0));
    // Learning rates read 1e-3, 1.5e-3: as few digits as tell the ticks apart, never one label twice.
    const lrFormat = distinctExponentFormat(yTicks);
    const tickFormat = (v: d3.NumberValue): string =>
      (+v === 0 ? '0' : s.key === 'lr' ? lrFormat(+v) : logY ? d3.format('~g')(v) : d3.format('~s')(v));
    s.yAxis.call(d3.axisLeft(y).tickValues(yTicks).tickFormat(tickFormat).tickSizeOuter(0));
    s.grid.selectAll<SVGLineElement, number>('line').data(yTicks, (d) => String(d)).join('line')
      .attr('x1', 0).attr('x2', iw).attr('y1', (d) => y(d)).attr('y2', (d) => y(d));
    s.over.attr('width', iw).attr('height', ih);
    const line = d3.line<[number, number]>().defined((d) => Number.isFinite(d[1]) && (!logY || d[1] > 0)).x((d) => x(d[0])).y((d) => y(d[1]));
    s.lines.selectAll<SVGPathElement, RunData>('path')
      .data(runs, (d) => d.id)
      .join('path')
      .attr('class', (d) => `metric ${colourClass(d)}`)
      .attr('data-run', (d) => d.id)
      .attr('d', (d) => line(decimate(d.step, d[s.key], POINT_BUDGET / 2)));
    const last = runs.map((r) => `${r.label} ${s.format(r[s.key].at(-1) ?? NaN)}`).join('; ');
    s.svg.attr('aria-label', `${s.title} by step. Latest: ${last || 'none'}.`);
    (s as { x?: d3.ScaleLinear<number, number>; y?: d3.ScaleLinear<number, number> }).x = x;
    (s as { x?: d3.ScaleLinear<number, number>; y?: d3.ScaleContinuousNumeric<number, number> }).y = y;
  }

  // ---- hover: one step shared by every chart ----
  function updateHover(): void {
    const runs = visibleRuns();
    const show = hoverStep !== null;
    const ih = yMain.range()[0];
    hoverRule.attr('hidden', show ? null : true).attr('x1', show ? xMain(hoverStep!) : 0).attr('x2', show ? xMain(hoverStep!) : 0)
      .attr('y1', 0).attr('y2', ih);
    type Dot = { run: RunData; x: number; y: number };
    const sm = new Map(runs.map((r) => [r.id, smoothed(r.loss, state.smoothing)]));
    const dots: Dot[] = !show ? [] : runs.flatMap((r) => {
      const i = nearestIndex(r, hoverStep!);
      const v = i >= 0 ? sm.get(r.id)![i] : NaN;
      return i >= 0 && Number.isFinite(v) && v > 0 ? [{ run: r, x: xMain(r.step[i]), y: yMain(v) }] : [];
    });
    hoverG.selectAll<SVGCircleElement, Dot>('circle').data(dots, (d) => d.run.id).join('circle')
      .attr('class', (d) => `dot ${colourClass(d.run)}`).attr('r', 3.5).attr('cx', (d) => d.x).attr('cy', (d) => Math.max(0, Math.min(ih, d.y)));
    for (const s of small) {
      const sx = (s as { x?: d3.ScaleLinear<number, number> }).x;
      const sy = (s as { y?: d3.ScaleContinuousNumeric<number, number> }).y;
      if (!sx || !sy) continue;
      s.rule.attr('hidden', show ? null : true).attr('x1', show ? sx(hoverStep!) : 0).attr('x2', show ? sx(hoverStep!) : 0)
        .attr('y1', 0).attr('y2', sy.range()[0]);
      const sd: Dot[] = !show ? [] : runs.flatMap((r) => {
        const i = nearestIndex(r, hoverStep!);
        const v = i >= 0 ? r[s.key][i] : NaN;
        return i >= 0 && Number.isFinite(v) && Number.isFinite(sy(v)) ? [{ run: r, x: sx(r.step[i]), y: sy(v) }] : [];
      });
      s.dots.selectAll<SVGCircleElement, Dot>('circle').data(sd, (d) => d.run.id).join('circle')
        .attr('class', (d) => `dot ${colourClass(d.run)}`).attr('r', 3).attr('cx', (d) => d.x).attr('cy', (d) => d.y);
    }
  }

  function hoverText(step: number, chart: 'main' | Metric): string {
    const runs = visibleRuns();
    const lines: string[] = [];
    let shownStep = step;
    for (const r of runs) {
      const i = nearestIndex(r, step);
      if (i < 0) continue;
      shownStep = r.step[i];
      if (chart === 'main') {
        const sm = smoothed(r.loss, state.smoothing)[i];
        const ev = r.evals.find((e) => e.step === r.step[i]);
        lines.push(`${r.label}\n  loss ${fmtExact(r.loss[i])}   smoothed ${fmtExact(sm)}${ev?.valLoss != null ? `\n  val ${fmtExact(ev.valLoss)}` : ''}`);
      } else {
        const m = MULTIPLES.find((x) => x.key === chart)!;
        lines.push(`${r.label}\n  ${m.title.toLowerCase()} ${m.format(r[chart][i])}`);
      }
    }
    const rr = chart === 'main' ? rolesRun(state)?.roles : undefined;
    if (rr?.step.length) {
      let k = 0;
      for (let i = 1; i < rr.step.length; i++) if (Math.abs(rr.step[i] - step) < Math.abs(rr.step[k] - step)) k = i;
      lines.push(`head roles at step ${rr.step[k]}\n  induction ${rr.induction[k].toFixed(2)} (${rr.inductionHead[k]})` +
        `\n  previous token ${rr.previousToken[k].toFixed(2)} (${rr.previousTokenHead[k]})`);
    }
    return lines.length ? `step ${d3.format(',')(shownStep)}\n${lines.join('\n')}` : `step ${Math.round(step)}`;
  }

  function onPointer(e: PointerEvent, chart: 'main' | Metric, x: d3.ScaleLinear<number, number>): void {
    const [px] = d3.pointer(e);
    hoverStep = Math.max(0, Math.round(x.invert(px)));
    updateHover();
    tooltip.show(hoverText(hoverStep, chart), e.clientX, e.clientY);
  }
  function onLeave(): void {
    hoverStep = null;
    updateHover();
    tooltip.hide();
  }

  overlay.on('pointermove pointerenter', (e: PointerEvent) => onPointer(e, 'main', xMain)).on('pointerleave', onLeave);
  for (const s of small) {
    s.over.on('pointermove pointerenter', (e: PointerEvent) => {
      const sx = (s as { x?: d3.ScaleLinear<number, number> }).x;
      if (sx) onPointer(e, s.key, sx);
    }).on('pointerleave', onLeave);
  }

  /** Keyboard readout: arrows move the shared step (Shift for 10 %), Home/End jump, Escape hides. */
  function onKey(e: KeyboardEvent, chart: 'main' | Metric, svg: SVGSVGElement): void {
    const maxStep = xMain.domain()[1];
    const stepSize = e.shiftKey ? Math.max(1, Math.round(maxStep / 10)) : Math.max(1, Math.round(maxStep / 100));
    let next = hoverStep ?? 0;
    if (e.key === 'ArrowRight') next += stepSize;
    else if (e.key === 'ArrowLeft') next -= stepSize;
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = maxStep;
    else if (e.key === 'Escape') return onLeave();
    else return;
    e.preventDefault();
    hoverStep = Math.max(0, Math.min(maxStep, next));
    updateHover();
    const r = svg.getBoundingClientRect();
    const sx = chart === 'main' ? xMain : ((small.find((s) => s.key === chart) as { x?: d3.ScaleLinear<number, number> }).x ?? xMain);
    const left = chart === 'main' ? MAIN_MARGIN.left : SMALL_MARGIN.left;
    tooltip.show(hoverText(hoverStep, chart), r.left + left + sx(hoverStep), r.top + 20);
  }
  mainSvg.on('keydown', (e: KeyboardEvent) => onKey(e, 'main', mainSvg.node()!)).on('blur', onLeave);
  for (const s of small) s.svg.on('keydown', (e: KeyboardEvent) => onKey(e, s.key, s.svg.node()!)).on('blur', onLeave);

  // ---- the text alternative ----
  function updateTables(): void {
    if (!(details.node() as HTMLDetailsElement).open) return; // built when opened (and on every update while open)
    type Row = RunData;
    const sections = tablesDiv.selectAll<HTMLElement, Row>('section.run-data')
      .data(state.runs, (d) => d.id)
      .join((enter) => {
        const s = enter.append('section').attr('class', 'run-data');
        s.append('h3');
        s.append('p').attr('class', 'summary muted');
        const t = s.append('table').attr('class', 'evals');
        t.append('caption').attr('class', 'sr-only');
        t.append('thead').append('tr').selectAll('th').data(['step', 'train loss', 'validation loss', 'best']).join('th')
          .attr('scope', 'col').text((d) => d);
        t.append('tbody');
        s.append('h4').text('Samples');
        s.append('ol').attr('class', 'sample-list');
        return s;
      });
    sections.attr('class', (d) => `run-data ${colourClass(d)}`);
    sections.select('h3').text((d) => d.label);
    sections.select('p.summary').text((d) => {
      const b = d.start?.baselines;
      const best = bestOf(d);
      return [`${d.step.length} steps`, d.loss.length ? `last loss ${fmtExact(d.loss.at(-1))}` : '',
        best ? `best validation ${fmtExact(best.valLoss)} at step ${best.step}` : '',
        b ? `baselines: uniform ${fmtExact(b.uniform)}, unigram ${fmtExact(b.unigram)}, bigram ${fmtExact(b.bigram)}` : '']
        .filter(Boolean).join(' · ');
    });
    sections.select('caption').text((d) => `Evaluations of ${d.label}`);
    sections.select('tbody').each(function (d) {
      const best = bestOf(d);
      d3.select(this).selectAll<HTMLTableRowElement, RunData['evals'][number]>('tr')
        .data(d.evals, (e) => String(e.step))
        .join((enter) => {
          const tr = enter.append('tr');
          for (let i = 0; i < 4; i++) tr.append('td').attr('class', 'mono');
          return tr;
        })
        .call((tr) => tr.select('td:nth-child(1)').text((e) => e.step))
        .call((tr) => tr.select('td:nth-child(2)').text((e) => fmtExact(e.trainLoss)))
        .call((tr) => tr.select('td:nth-child(3)').text((e) => fmtExact(e.valLoss)))
        .call((tr) => tr.select('td:nth-child(4)').text((e) => (best && best.step === e.step ? '★' : '')));
    });
    sections.select('ol.sample-list').each(function (d) {
      d3.select(this).selectAll<HTMLLIElement, RunData['samples'][number]>('li')
        .data(d.samples, (s) => String(s.step))
        .join('li')
        .text((s) => `step ${s.step}: ${s.text}`);
    });
  }
  details.on('toggle', () => actions.schedule());

  async function copyCsv(): Promise<void> {
    const rows = ['run,step,loss,lr,grad_norm,tokens_per_sec'];
    for (const r of state.runs) {
      const label = `"${r.label.replace(/"/g, '""')}"`;
      for (let i = 0; i < r.step.length; i++) rows.push([label, r.step[i], r.loss[i], r.lr[i], r.gradNorm[i], r.tokensPerSec[i]].join(','));
    }
    const csv = rows.join('\n');
    try {
      await navigator.clipboard.writeText(csv);
      copyNote.text(`copied ${rows.length - 1} rows`);
    } catch {
      // No clipboard permission: show the CSV, selected, to copy by hand.
      csvBox.attr('hidden', null).property('value', csv);
      (csvBox.node() as HTMLTextAreaElement).select();
      copyNote.text('select all and copy');
    }
  }

  return {
    update(s) {
      state = s;
      update();
    },
    announce,
    announceTable,
  };
}
