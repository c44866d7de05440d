// The attention view's DOM: a layers x heads grid of thumbnails (the engine's max-pooled maps, and each layer's mean
// over heads), the open map large with token labels on both axes, the token strip, the focused token's strongest
// keys, and a head view (BertViz's: lines from the focused token to the tokens it attends to, one colour per head).
// Attention is amber here as in the editor's painting, apart from the selection's blue. Built once; render() and the
// parts' own functions change it.
import type { AttentionHead, AttentionRows } from '../../engine/protocol';
import * as d3 from '../shared/d3';
import { labelledSelect } from '../shared/controls';
import type { Frame } from '../shared/frame';
import { showToken } from '../shared/format';
import { themeColor, type Rgb } from '../shared/theme';
import { createTooltip } from '../shared/tooltip';
import { fmtWeight, lutIndex, makeLut, paintPooled, paintRows, type Lut } from './heatmap';
import { headView, labelPlan, mapKey, thumbnail, type Choice, type Model } from './state';

const LABEL_W = 88; // the row labels' column
const HEADS_HEIGHT = 640; // the head view's rows fit this height (rows shrink for long texts)
/** The attention colour of the panel and of the painting over the source (extension/panels/attention.ts). */
const ATTENTION_EXPR = 'var(--vscode-charts-orange, #e67e22)';
const ATTENTION_FALLBACK: Rgb = [230, 126, 34];

export interface AttentionActions {
  selectMap(layer: number, head: AttentionHead, focusCell?: boolean): void;
  selectToken(token: number | null): void;
  scaleChanged(): void;
}

export interface AttentionView {
  /** Draws everything from the model and choice (a new probe, a theme change, a resize). */
  render(): void;
  /** The thumbnails of the layers a first paint left out, once they come. */
  renderLayers(): void;
  /** Redraws what depends on the open map and the token (a new choice, a map that arrived). */
  renderChoice(): void;
  /** The open map is being fetched (or failed: the message); null when it is here. */
  mapStatus(text: string | null, failed?: boolean): void;
  /** The head view's data: the focused token's rows in every head, or a note while there are none. */
  headRows(rows: AttentionRows | null, note: string | null): void;
  /** The painting over the source went away; the panel says why. */
  unfocused(reason: string | null): void;
  scale(): 'row' | 'absolute';
  setScale(scale: 'row' | 'absolute'): void;
}

export function createAttentionView(frame: Frame, get: { model(): Model | null; choice(): Choice }, actions: AttentionActions): AttentionView {
  const tooltip = createTooltip();
  let lut: Lut = makeLut([255, 255, 255], ATTENTION_FALLBACK);
  let accent: Rgb = ATTENTION_FALLBACK;
  let scaleMode: 'row' | 'absolute' = 'row';
  let rows: AttentionRows | null = null;
  let hiddenHeads = new Set<number>();
  let unfocusReason: string | null = null;

  const windowNote = frame.app.select('.gl-head').append('p').attr('class', 'att-window').attr('role', 'note').attr('hidden', true);
  const body = frame.body.attr('class', 'gl-body att-body');

  // ---- the grid ----
  const gridPane = body.append('section').attr('class', 'att-grid-pane').attr('aria-label', 'Every layer and head');
  const gridHead = gridPane.append('div').attr('class', 'att-grid-head');
  gridHead.append('h2').text('Layers × heads');
  const legend = gridHead.append('div').attr('class', 'att-legend');
  legend.append('span').attr('class', 'muted').text('0');
  const legendCanvas = legend.append('canvas').attr('width', 128).attr('height', 1).attr('class', 'att-legend-ramp')
    .attr('role', 'img').attr('aria-label', 'Colour scale: attention weight from 0 to 1, square-root scale');
  legend.append('span').attr('class', 'muted').text('1');
  legend.append('span').attr('class', 'att-legend-masked').attr('title', 'masked: a token cannot attend to later tokens');
  legend.append('span').attr('class', 'muted').text('masked');
  const grid = gridPane.append('div').attr('class', 'att-grid').attr('role', 'grid')
    .attr('aria-label', 'Attention maps: rows are layers, columns are heads and their mean. Arrow keys move, Enter opens.');
  gridPane.append('p').attr('class', 'muted att-hint').text('Click a map (or use the arrow keys) to open it. Thumbnails are max-pooled: a thin diagonal stays visible.');

  // ---- the open map ----
  const detail = body.append('section').attr('class', 'att-detail').attr('aria-label', 'The open map');
  const detailHead = detail.append('div').attr('class', 'att-detail-head');
  const detailTitle = detailHead.append('h2').attr('class', 'att-detail-title');
  const scaleSelect = labelledSelect(detailHead, { className: 'att-scale muted', caption: 'Colour ', label: 'Colour scale of the open map',
    options: [['row', 'per row (linear, 0 to the row’s largest)'], ['absolute', 'absolute (√, 0 to 1)']] });
  scaleSelect.on('change', () => {
    scaleMode = scaleSelect.property('value') === 'absolute' ? 'absolute' : 'row';
    actions.scaleChanged();
  });
  const detailButtons = detailHead.append('div').attr('class', 'att-buttons');
  const clearButton = detailButtons.append('button').attr('class', 'secondary att-clear').text('Clear focus')
    .attr('title', 'Stop painting the attention over the source (Escape)').on('click', () => actions.selectToken(null));
  const copyButton = detailButtons.append('button').attr('class', 'secondary att-copy').text('Copy values')
    .attr('title', 'Copy the open map as tab-separated values');
  const mapNote = detail.append('p').attr('class', 'att-map-note muted').attr('role', 'status').attr('hidden', true);
  const labelNote = detail.append('p').attr('class', 'att-label-note muted').attr('hidden', true);
  const mapScroll = detail.append('div').attr('class', 'att-map-scroll');
  const mapBox = mapScroll.append('div').attr('class', 'att-map');
  const mapCanvas = mapBox.append('canvas').attr('class', 'att-map-canvas').attr('tabindex', 0).attr('role', 'img');
  const bandSel = mapBox.append('div').attr('class', 'att-band att-band-sel').attr('hidden', '');
  const bandRow = mapBox.append('div').attr('class', 'att-band att-band-row').attr('hidden', '');
  const bandCol = mapBox.append('div').attr('class', 'att-band att-band-col').attr('hidden', '');
  const labels = mapBox.append('svg').attr('class', 'att-labels').attr('aria-hidden', 'true');
  const yLabels = labels.append('g').attr('class', 'att-ylabels');
  const xLabels = labels.append('g').attr('class', 'att-xlabels');
  const axisNames = labels.append('g').attr('class', 'att-axis-names');
  const live = detail.append('p').attr('class', 'sr-only').attr('aria-live', 'polite');

  detail.append('h3').attr('class', 'att-strip-title').text('Tokens');
  const strip = detail.append('div').attr('class', 'att-strip mono').attr('role', 'toolbar')
    .attr('aria-label', 'Tokens: choose one to see (and paint in the editor) the attention it gives');
  const focusInfo = detail.append('div').attr('class', 'att-focus');

  // ---- the head view ----
  const heads = detail.append('section').attr('class', 'att-heads').attr('aria-labelledby', 'att-heads-title');
  heads.append('h3').attr('id', 'att-heads-title').attr('class', 'att-heads-title');
  const headChips = heads.append('div').attr('class', 'att-head-chips').attr('role', 'group').attr('aria-label', 'heads shown');
  const headNote = heads.append('p').attr('class', 'muted att-heads-note');
  const headSvg = heads.append('svg').attr('class', 'att-heads-svg').attr('role', 'img');
  const headLines = headSvg.append('g').attr('class', 'att-head-lines');
  const headLeft = headSvg.append('g').attr('class', 'att-head-left');
  const headRight = headSvg.append('g').attr('class', 'att-head-right');

  // ---- theme ----
  function buildLut(): void {
    const bg = themeColor('var(--vscode-editor-background)', [255, 255, 255]);
    const fg = themeColor('var(--vscode-foreground)', [0, 0, 0]);
    accent = themeColor(ATTENTION_EXPR, ATTENTION_FALLBACK);
    // Zero attention is the background tinted towards the text colour, so it differs from a masked (hatched) cell.
    const low: Rgb = [0, 1, 2].map((i) => bg[i] * 0.9 + fg[i] * 0.1) as Rgb;
    lut = makeLut(low, accent);
    const ctx = (legendCanvas.node() as HTMLCanvasElement).getContext('2d');
    if (ctx) {
      const img = ctx.createImageData(128, 1);
      for (let x = 0; x < 128; x++) {
        const j = lutIndex((x / 127) ** 2) * 4; // even steps in the sqrt domain: the ramp as the cells use it
        img.data.set(lut.subarray(j, j + 4), x * 4);
      }
      ctx.putImageData(img, 0, 0);
    }
  }

  /** One colour per head, evenly spaced hues at the theme's lightness. */
  function headColour(h: number, H: number): string {
    const dark = document.body.classList.contains('vscode-dark') || document.body.classList.contains('vscode-high-contrast');
    return `hsl(${Math.round((h * 360) / Math.max(1, H)) + 20}, 70%, ${dark ? 62 : 42}%)`;
  }

  // ---- layout ----
  /** The grid beside the open map when both fit (the map at the size its labels need), else the grid above it. */
  function layout(m: Model): { side: boolean; thumb: number; room: number } {
    const width = Math.max(320, document.documentElement.clientWidth - 32);
    const cols = m.H + 1;
    const sideGrid = Math.min(width * 0.46, cols * 64 + 40);
    const sideRoom = width - sideGrid - 32 - LABEL_W - 16;
    const side = width >= 960 && labelPlan(m.T, sideRoom).size <= sideRoom;
    const gridWidth = side ? sideGrid : width;
    const thumb = Math.max(22, Math.min(60, Math.floor((gridWidth - 40) / cols) - 4));
    return { side, thumb, room: Math.max(200, side ? sideRoom : width - LABEL_W - 16) };
  }

  const headName = (h: AttentionHead, H: number): string => (h === 'mean' ? `mean of ${H} heads` : `head ${h + 1}`);
  const openMap = (m: Model): Float32Array | undefined => m.maps.get(mapKey(get.choice().layer, get.choice().head));

  // ---- render ----
  function subtitle(m: Model): void {
    frame.subtitle(`${m.source || 'selection'} · ${m.N} layer${m.N === 1 ? '' : 's'} × ${m.H} head${m.H === 1 ? '' : 's'} · ${m.T} token${m.T === 1 ? '' : 's'}`
      + (m.approximate ? ' · restored after a reload (weights rounded to 1/255)' : '')
      + (m.thumbLayers < m.N ? ` · ${m.thumbLayers + 1 === m.N ? `layer ${m.N} is` : `layers ${m.thumbLayers + 1}–${m.N} are`} on the way` : ''));
  }

  function render(): void {
    const m = get.model();
    frame.empty(!m);
    windowNote.attr('hidden', true);
    if (!m) return;
    const { side, thumb } = layout(m);
    body.classed('att-side', side);
    subtitle(m);
    frame.model(m.model);
    if (m.totalTokens > m.T) {
      windowNote.attr('hidden', null).text(`Showing the last ${m.T} of ${m.totalTokens} tokens: the model's context holds ${m.T}, so the first ` +
        `${m.totalTokens - m.T} are not seen.`);
    }
    renderGrid(m, thumb);
    renderChoice();
  }

  function renderGrid(m: Model, thumb: number): void {
    const res = m.thumbRes;
    grid.style('--att-thumb', `${thumb}px`);
    const columns: AttentionHead[] = [...d3.range(m.H), 'mean'];
    grid.selectAll<HTMLDivElement, AttentionHead[]>('.att-colhead')
      .data([columns])
      .join((enter) => enter.insert('div', ':first-child').attr('class', 'att-colhead').attr('role', 'row'))
      .selectAll<HTMLSpanElement, AttentionHead | 'corner'>('span')
      .data(['corner' as const, ...columns], (h) => String(h))
      .join('span')
      .attr('role', (h) => (h === 'corner' ? 'presentation' : 'columnheader'))
      .attr('class', (h) => (h === 'mean' ? 'att-mean-head' : null))
      .text((h) => (h === 'corner' ? '' : h === 'mean' ? 'mean' : `H${h + 1}`))
      .attr('title', (h) => (h === 'mean' ? 'the mean over heads' : null));
    const rowsSel = grid.selectAll<HTMLDivElement, number>('.att-layer')
      .data(d3.range(m.N), (l) => String(l))
      .join((enter) => {
        const row = enter.append('div').attr('class', 'att-layer').attr('role', 'row');
        row.append('span').attr('class', 'att-rowhead').attr('role', 'rowheader');
        return row;
      });
    rowsSel.select('.att-rowhead').text((l) => `L${l + 1}`).attr('title', (l) => `layer ${l + 1}`);
    rowsSel.selectAll<HTMLButtonElement, { l: number; h: AttentionHead }>('button.att-cell')
      .data((l) => columns.map((h) => ({ l, h })), (c) => `${c.l}:${c.h}`)
      .join((enter) => {
        const b = enter.append('button').attr('class', 'att-cell').attr('role', 'gridcell');
        b.append('canvas');
        return b;
      })
      .classed('att-cell-mean', (c) => c.h === 'mean')
      // A layer the first paint left out: its thumbnails follow in a moment (its map can be opened already).
      .classed('pending', (c) => c.l >= m.thumbLayers)
      .attr('aria-busy', (c) => (c.l >= m.thumbLayers ? 'true' : null))
      .attr('data-layer', (c) => c.l)
      .attr('data-head', (c) => c.h)
      .attr('aria-label', (c) => `Layer ${c.l + 1}, ${c.h === 'mean' ? 'mean over heads' : `head ${c.h + 1}`}` +
        (c.l >= m.thumbLayers ? ' (its thumbnail is on its way)' : ''))
      .each(function (c) {
        const canvas = this.firstElementChild as HTMLCanvasElement;
        if (canvas.width !== res) canvas.width = res;
        if (canvas.height !== res) canvas.height = res;
        const ctx = canvas.getContext('2d');
        if (!ctx) return;
        if (c.l < m.thumbLayers) paintPooled(ctx, thumbnail(m, c.l, c.h), res, m.T, lut);
        else ctx.clearRect(0, 0, res, res);
      });
    updateGridSelection();
  }

  function updateGridSelection(): void {
    const c = get.choice();
    grid.selectAll<HTMLButtonElement, { l: number; h: AttentionHead }>('button.att-cell')
      .classed('selected', (d) => d.l === c.layer && d.h === c.head)
      .attr('aria-selected', (d) => String(d.l === c.layer && d.h === c.head))
      .attr('tabindex', (d) => (d.l === c.layer && d.h === c.head ? 0 : -1));
  }

  /** Everything that follows the open map and the focused token. */
  function renderChoice(): void {
    const m = get.model();
    if (!m) return;
    updateGridSelection();
    renderDetail(m);
    renderStrip(m);
    renderFocus(m);
    renderHeads(m);
  }

  let geometry = { size: 0, cell: 0, T: 0 };

  function renderDetail(m: Model): void {
    const { T } = m;
    const c = get.choice();
    detailTitle.text(`Layer ${c.layer + 1} · ${headName(c.head, m.H)}`);
    scaleSelect.property('value', scaleMode);
    const map = openMap(m);
    const canvas = mapCanvas.node() as HTMLCanvasElement;
    if (canvas.width !== T) canvas.width = T;
    if (canvas.height !== T) canvas.height = T;
    const ctx = canvas.getContext('2d');
    mapBox.classed('gl-stale', !map);
    if (ctx && map) {
      if (scaleMode === 'row') paintRows(ctx, map, T, lut);
      else paintPooled(ctx, map, T, T, lut);
    }
    const plan = labelPlan(T, layout(m).room);
    const size = plan.size;
    const cell = size / T;
    geometry = { size, cell, T };
    labelNote.attr('hidden', plan.note ? null : true).text(plan.note ?? '');
    const shown = d3.range(T).filter((i) => i % plan.step === 0 || i === c.token);
    const toks = m.tokens;
    const fontPx = Math.max(9, Math.min(12, cell - 1));
    const longest = d3.max(shown, (i) => showToken(toks[i].text, 8).length) ?? 1;
    const xlabelH = Math.ceil(10 + longest * fontPx * 0.62 * Math.sin(Math.PI / 3) + 20);
    mapBox.style('width', `${LABEL_W + size + 8}px`).style('height', `${size + xlabelH}px`);
    mapCanvas.style('left', `${LABEL_W}px`).style('width', `${size}px`).style('height', `${size}px`)
      .attr('aria-label', `Layer ${c.layer + 1}, ${headName(c.head, m.H)}: attention of ${T} query tokens (rows) over ${T} key tokens (columns). `
        + 'Arrow keys move, Enter focuses the row’s token, Escape clears.');
    mapBox.classed('att-map-fine', cell < 3);
    labels.attr('width', LABEL_W + size + 8).attr('height', size + xlabelH);
    yLabels.selectAll<SVGTextElement, number>('text')
      .data(shown, (i) => String(i))
      .join((enter) => enter.append('text').attr('class', 'att-tok-label').attr('text-anchor', 'end')
        .on('click', (_e, i) => actions.selectToken(i === get.choice().token ? null : i)))
      .attr('x', LABEL_W - 6)
      .attr('y', (i) => (i + 0.5) * cell)
      .attr('dy', '0.35em')
      .style('font-size', `${fontPx}px`)
      .classed('focused', (i) => i === c.token)
      .text((i) => showToken(toks[i].text, 10));
    xLabels.selectAll<SVGTextElement, number>('text')
      .data(shown, (i) => String(i))
      .join((enter) => enter.append('text').attr('class', 'att-tok-label att-x').attr('text-anchor', 'end'))
      .attr('transform', (i) => `translate(${LABEL_W + (i + 0.5) * cell},${size + 6}) rotate(-60)`)
      .attr('dy', '0.35em')
      .style('font-size', `${fontPx}px`)
      .classed('focused', (i) => i === c.token)
      .text((i) => showToken(toks[i].text, 8));
    axisNames.selectAll<SVGTextElement, string>('text')
      .data(['query ↓', 'key →'], (s) => s)
      .join('text')
      .attr('class', 'att-axis-name')
      .attr('x', (s) => (s === 'key →' ? LABEL_W + size : LABEL_W - 6))
      .attr('y', (s) => (s === 'key →' ? size + xlabelH - 4 : size + 16))
      .attr('text-anchor', 'end')
      .text((s) => s);
    updateBands();
  }

  function renderStrip(m: Model): void {
    const toks = m.tokens;
    const token = get.choice().token;
    const map = openMap(m);
    const row = token !== null && map ? map.subarray(token * m.T, (token + 1) * m.T) : null;
    let rowMax = 1e-12;
    if (row && token !== null) for (let k = 0; k <= token; k++) rowMax = Math.max(rowMax, row[k]);
    const [r, g, b] = accent;
    // Keyed by the token itself (a node's old datum carries its old token): a new text's strip is a new strip.
    strip.selectAll<HTMLSpanElement, { i: number; key: string }>('span.att-tok')
      .data(toks.map((t, i) => ({ i, key: `${i}|${t.start}|${t.text}` })), (d) => d.key)
      .join((enter) => enter.append('span').attr('class', 'att-tok').attr('role', 'button')
        .on('click', (_e, d) => actions.selectToken(d.i === get.choice().token ? null : d.i)))
      .order()
      .text(({ i }) => showToken(toks[i].text, 24))
      .attr('data-i', ({ i }) => i)
      .attr('tabindex', ({ i }) => (i === (token ?? stripCursor) ? 0 : -1))
      .attr('aria-pressed', ({ i }) => String(i === token))
      .attr('aria-label', ({ i }) => `token ${i + 1}: ${JSON.stringify(toks[i].text)}${row && i <= token! ? `, weight ${fmtWeight(row[i])}` : ''}`)
      .classed('focused', ({ i }) => i === token)
      .classed('masked', ({ i }) => token !== null && i > token)
      .style('background-color', ({ i }) => (row && i <= token! ? `rgba(${r}, ${g}, ${b}, ${(0.06 + 0.74 * Math.sqrt(Math.max(0, row[i]) / rowMax)).toFixed(3)})` : null));
  }

  let stripCursor = 0;

  function renderFocus(m: Model): void {
    const { token, layer, head } = get.choice();
    clearButton.attr('disabled', token === null ? '' : null);
    focusInfo.selectAll('*').remove();
    if (token === null) {
      if (unfocusReason) focusInfo.append('p').attr('class', 'att-unfocused').text(`The painting over the source was removed: ${unfocusReason}.`);
      focusInfo.append('p').attr('class', 'muted').text('Click a token (a row label or the strip above) to see where it looks; its attention is painted over the source text in amber.');
      return;
    }
    const map = openMap(m);
    if (!map) return;
    const row = map.subarray(token * m.T, token * m.T + token + 1);
    const toks = m.tokens;
    const top = d3.range(token + 1).sort((a, b) => row[b] - row[a] || a - b).slice(0, 8);
    focusInfo.append('p').text(`Token ${token + 1} ${JSON.stringify(toks[token].text)} attends most to (layer ${layer + 1}, ${headName(head, m.H)}):`);
    const table = focusInfo.append('table').attr('class', 'att-top');
    table.append('thead').append('tr').selectAll('th').data(['#', 'token', 'weight', '']).join('th').text((s) => s);
    const tr = table.append('tbody').selectAll('tr').data(top, (k) => String(k)).join('tr');
    tr.append('td').attr('class', 'num').text((k) => k + 1);
    tr.append('td').attr('class', 'mono').text((k) => showToken(toks[k].text, 24));
    tr.append('td').attr('class', 'num').text((k) => fmtWeight(row[k]));
    const rowMax = Math.max(1e-12, row[top[0]] ?? 0);
    tr.append('td').append('div').attr('class', 'att-bar').style('width', (k) => `${Math.max(1, Math.round((Math.max(0, row[k]) / rowMax) * 120))}px`);
  }

  /** BertViz's head view: every key of the focused token on the right, a line to each per head, its opacity the weight. */
  function renderHeads(m: Model): void {
    const { token, layer } = get.choice();
    heads.attr('hidden', token === null ? true : null);
    if (token === null) return;
    const toks = m.tokens;
    heads.select('.att-heads-title').text(`Head view · layer ${layer + 1}: where ${JSON.stringify(toks[token].text)} looks, one colour per head`);
    headChips.selectAll<HTMLButtonElement, number>('button')
      .data(d3.range(m.H), (h) => String(h))
      .join((enter) => enter.append('button').attr('type', 'button').attr('class', 'att-head-chip')
        .on('click', (_e, h) => {
          if (hiddenHeads.has(h)) hiddenHeads.delete(h);
          else hiddenHeads.add(h);
          renderHeads(m);
        })
        .call((b) => b.append('span').attr('class', 'swatch').attr('aria-hidden', 'true'))
        .call((b) => b.append('span').attr('class', 'label')))
      .attr('aria-pressed', (h) => String(!hiddenHeads.has(h)))
      .classed('off', (h) => hiddenHeads.has(h))
      .call((b) => b.select('.swatch').style('background-color', (h) => headColour(h, m.H)))
      .call((b) => b.select('.label').text((h) => `H${h + 1}`));
    const current = rows && rows.layer === layer && rows.query === token ? rows : null;
    headSvg.classed('gl-stale', !current);
    if (!current) return;
    const view = headView(current, m.H, HEADS_HEIGHT);
    const n = token + 1;
    const width = Math.max(360, Math.min(640, (heads.node() as HTMLElement).clientWidth || 520));
    const colW = Math.min(160, width * 0.3);
    const leftX = colW, rightX = width - colW;
    const height = n * view.rowHeight + 8;
    const y = (i: number): number => 4 + (i + 0.5) * view.rowHeight;
    headSvg.attr('width', width).attr('height', height).attr('viewBox', `0 0 ${width} ${height}`)
      .attr('aria-label', `Lines from token ${token + 1} to the ${n} tokens it can attend to in layer ${layer + 1}, one colour per head; ` +
        `the more opaque, the more attention. Weights under 0.01 are not drawn.`);
    const fontPx = Math.max(8, Math.min(12, view.rowHeight - 1));
    const labelled = d3.range(n).filter((i) => i % view.labelStep === 0 || i === token);
    headLeft.selectAll<SVGTextElement, number>('text').data([token], (i) => String(i)).join('text')
      .attr('class', 'att-head-query').attr('x', leftX - 8).attr('y', y(token)).attr('dy', '0.35em').attr('text-anchor', 'end')
      .style('font-size', `${fontPx}px`).text((i) => showToken(toks[i].text, 16));
    headRight.selectAll<SVGTextElement, number>('text').data(labelled, (i) => String(i)).join('text')
      .attr('class', 'att-head-key').attr('x', rightX + 8).attr('y', (i) => y(i)).attr('dy', '0.35em')
      .classed('focused', (i) => i === token).style('font-size', `${fontPx}px`).text((i) => showToken(toks[i].text, 16));
    const lines = view.lines.filter((l) => !hiddenHeads.has(l.head));
    // Heads side by side within a row (their lines would otherwise lie on one another and blend to grey); opacity and
    // width grow with the square root of the weight, as the heatmaps' colour does, so weak weights stay visible.
    const lane = (h: number): number => (m.H > 1 ? ((h / (m.H - 1)) - 0.5) * Math.min(view.rowHeight * 0.7, 2 * m.H) : 0);
    headLines.selectAll<SVGLineElement, (typeof lines)[number]>('line')
      .data(lines, (l) => `${l.head}:${l.key}`)
      .join('line')
      .attr('x1', leftX).attr('y1', (l) => y(token) + lane(l.head)).attr('x2', rightX).attr('y2', (l) => y(l.key) + lane(l.head))
      .attr('stroke', (l) => headColour(l.head, m.H))
      .attr('stroke-opacity', (l) => (0.05 + 0.95 * Math.sqrt(l.weight)).toFixed(3))
      .attr('stroke-width', (l) => (0.5 + 2.5 * Math.sqrt(l.weight)).toFixed(2))
      .attr('data-head', (l) => l.head)
      .attr('data-key', (l) => l.key)
      .on('pointerenter pointermove', (e: PointerEvent, l) => tooltip.show(
        `head ${l.head + 1}: ${JSON.stringify(toks[token].text)} → ${JSON.stringify(toks[l.key].text)} (token ${l.key + 1})\nweight ${fmtWeight(l.weight)}`,
        e.clientX, e.clientY))
      .on('pointerleave', () => tooltip.hide());
    headNote.text(view.labelStep > 1 ? `${n} keys in ${height - 8} px: one key in ${view.labelStep} is labelled; hover a line to read its token.` : '');
  }

  // ---- hover bands and readouts on the open map ----
  let hover: { q: number; k: number } | null = null;
  const cursor = { q: 0, k: 0 };
  let tooltipText = '';

  function updateBands(): void {
    const { cell, T } = geometry;
    const place = (band: typeof bandSel, q: number | null, k: number | null): void => {
      if (q === null && k === null) {
        band.attr('hidden', '');
        return;
      }
      band.attr('hidden', null)
        .style('left', `${LABEL_W + (k ?? 0) * cell}px`)
        .style('top', `${(q ?? 0) * cell}px`)
        .style('width', `${k === null ? T * cell : Math.max(cell, 1)}px`)
        .style('height', `${q === null ? T * cell : Math.max(cell, 1)}px`);
    };
    place(bandSel, get.choice().token, null);
    place(bandRow, hover ? hover.q : null, null);
    place(bandCol, null, hover ? hover.k : null);
  }

  function cellText(m: Model, q: number, k: number): string {
    const toks = m.tokens;
    const head = `query ${q + 1} ${JSON.stringify(toks[q].text)} → key ${k + 1} ${JSON.stringify(toks[k].text)}`;
    if (k > q) return `${head}\nmasked (a token cannot attend to later tokens)`;
    const map = openMap(m);
    return `${head}\n${map ? `weight ${fmtWeight(map[q * m.T + k])}` : 'the map is loading'}`;
  }

  function hoverAt(q: number, k: number, x: number, y: number): void {
    const m = get.model();
    if (!m) return;
    if (!hover || hover.q !== q || hover.k !== k) {
      hover = { q, k };
      updateBands();
      tooltipText = cellText(m, q, k);
    }
    tooltip.show(tooltipText, x, y);
  }

  const cellAt = (event: MouseEvent): { q: number; k: number } => {
    const { cell, T } = geometry;
    const rect = (mapCanvas.node() as HTMLCanvasElement).getBoundingClientRect();
    return { q: Math.min(T - 1, Math.max(0, Math.floor((event.clientY - rect.top) / cell))),
      k: Math.min(T - 1, Math.max(0, Math.floor((event.clientX - rect.left) / cell))) };
  };
  mapCanvas.on('pointermove', (event: PointerEvent) => {
    if (!get.model() || geometry.cell <= 0) return;
    const { q, k } = cellAt(event);
    hoverAt(q, k, event.clientX, event.clientY);
  });
  mapCanvas.on('pointerleave blur', () => {
    hover = null;
    updateBands();
    tooltip.hide();
  });
  mapCanvas.on('click', (event: MouseEvent) => {
    if (!get.model() || geometry.cell <= 0) return;
    const { q } = cellAt(event);
    actions.selectToken(q === get.choice().token ? null : q);
  });
  mapCanvas.on('keydown', (event: KeyboardEvent) => {
    const m = get.model();
    if (!m) return;
    const T = m.T;
    switch (event.key) {
      case 'ArrowUp': cursor.q = Math.max(0, cursor.q - 1); break;
      case 'ArrowDown': cursor.q = Math.min(T - 1, cursor.q + 1); break;
      case 'ArrowLeft': cursor.k = Math.max(0, cursor.k - 1); break;
      case 'ArrowRight': cursor.k = Math.min(T - 1, cursor.k + 1); break;
      case 'Enter': case ' ':
        event.preventDefault();
        actions.selectToken(cursor.q);
        return;
      default: return;
    }
    event.preventDefault();
    const rect = (mapCanvas.node() as HTMLCanvasElement).getBoundingClientRect();
    const { cell } = geometry;
    hoverAt(cursor.q, cursor.k, rect.left + (cursor.k + 1) * cell + 4, rect.top + (cursor.q + 1) * cell + 4);
    live.text(tooltipText.replace('\n', ': '));
  });

  // ---- grid interaction ----
  grid.on('click', (event: MouseEvent) => {
    const cell = (event.target as Element).closest<HTMLButtonElement>('button.att-cell');
    if (!cell) return;
    actions.selectMap(Number(cell.dataset.layer), cell.dataset.head === 'mean' ? 'mean' : Number(cell.dataset.head));
  });
  grid.on('keydown', (event: KeyboardEvent) => {
    const m = get.model();
    if (!m) return;
    const c = get.choice();
    const cols: AttentionHead[] = [...d3.range(m.H), 'mean'];
    let col = cols.indexOf(c.head), l = c.layer;
    switch (event.key) {
      case 'ArrowLeft': col = Math.max(0, col - 1); break;
      case 'ArrowRight': col = Math.min(cols.length - 1, col + 1); break;
      case 'ArrowUp': l = Math.max(0, l - 1); break;
      case 'ArrowDown': l = Math.min(m.N - 1, l + 1); break;
      case 'Home': col = 0; break;
      case 'End': col = cols.length - 1; break;
      default: return;
    }
    event.preventDefault();
    actions.selectMap(l, cols[col], true);
  });
  // Thumbnail hover: which map, and the largest weight of the pixel under the pointer (thumbnails are max-pooled).
  grid.on('pointermove', (event: PointerEvent) => {
    const cell = (event.target as Element).closest<HTMLButtonElement>('button.att-cell');
    const m = get.model();
    if (!cell || !m) return tooltip.hide();
    const rect = cell.firstElementChild!.getBoundingClientRect();
    const res = m.thumbRes;
    const r = Math.min(res - 1, Math.max(0, Math.floor(((event.clientY - rect.top) / rect.height) * res)));
    const c = Math.min(res - 1, Math.max(0, Math.floor(((event.clientX - rect.left) / rect.width) * res)));
    const l = Number(cell.dataset.layer), h: AttentionHead = cell.dataset.head === 'mean' ? 'mean' : Number(cell.dataset.head);
    const q0 = Math.ceil((r * m.T) / res), q1 = Math.ceil(((r + 1) * m.T) / res) - 1;
    const k0 = Math.ceil((c * m.T) / res), k1 = Math.ceil(((c + 1) * m.T) / res) - 1;
    const span = (a: number, b: number, what: string): string => (a === b ? `${what} ${a + 1} ${JSON.stringify(m.tokens[a].text)}` : `${what}s ${a + 1}–${b + 1}`);
    const masked = k0 > q1;
    tooltip.show(`layer ${l + 1} · ${headName(h, m.H)}\n${span(q0, q1, 'query')} → ${span(k0, k1, 'key')}\n` +
      (masked ? 'masked (a token cannot attend to later tokens)' : `${q0 === q1 && k0 === k1 ? 'weight' : 'largest weight'} ${fmtWeight(thumbnail(m, l, h)[r * res + c])}`),
      event.clientX, event.clientY);
  });
  grid.on('pointerleave', () => tooltip.hide());

  strip.on('keydown', (event: KeyboardEvent) => {
    const m = get.model();
    if (!m) return;
    const token = get.choice().token;
    const from = token ?? stripCursor;
    let to = from;
    switch (event.key) {
      case 'ArrowLeft': to = Math.max(0, from - 1); break;
      case 'ArrowRight': to = Math.min(m.T - 1, from + 1); break;
      case 'Home': to = 0; break;
      case 'End': to = m.T - 1; break;
      case 'Enter': case ' ':
        event.preventDefault();
        actions.selectToken(stripCursor === token ? null : stripCursor);
        (strip.selectAll<HTMLSpanElement, number>('span.att-tok').nodes()[stripCursor])?.focus();
        return;
      default: return;
    }
    event.preventDefault();
    stripCursor = to;
    if (token !== null) actions.selectToken(to);
    else renderStrip(m);
    (strip.selectAll<HTMLSpanElement, number>('span.att-tok').nodes()[to])?.focus();
  });
  strip.on('pointermove', (event: PointerEvent) => {
    const span = (event.target as Element).closest<HTMLSpanElement>('span.att-tok');
    const m = get.model();
    if (!span || !m) return tooltip.hide();
    const i = Number(span.dataset.i);
    const toks = m.tokens;
    const token = get.choice().token;
    let text = `token ${i + 1} ${JSON.stringify(toks[i].text)} · id ${toks[i].id}${toks[i].unknown ? ' (unknown to the model)' : ''}`;
    if (token !== null) text += `\n${cellText(m, token, i).split('\n')[1]}`;
    tooltip.show(text, event.clientX, event.clientY);
  });
  strip.on('pointerleave', () => tooltip.hide());

  copyButton.on('click', () => {
    const m = get.model();
    const map = m ? openMap(m) : undefined;
    if (!m || !map) return;
    const toks = m.tokens;
    const lines = [['query \\ key', ...toks.map((t) => JSON.stringify(t.text))].join('\t')];
    for (let q = 0; q < m.T; q++) {
      const cells = [JSON.stringify(toks[q].text)];
      for (let k = 0; k < m.T; k++) cells.push(k > q ? '' : String(map[q * m.T + k]));
      lines.push(cells.join('\t'));
    }
    const done = (ok: boolean): void => {
      copyButton.text(ok ? 'Copied' : 'Copy failed');
      setTimeout(() => copyButton.text('Copy values'), 1500);
    };
    if (navigator.clipboard?.writeText) navigator.clipboard.writeText(lines.join('\n')).then(() => done(true), () => done(false));
    else done(false);
  });

  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && get.choice().token !== null) actions.selectToken(null);
  });

  buildLut();
  return {
    render() {
      buildLut();
      render();
    },
    renderLayers() {
      // The layers a first paint left out came: their thumbnails and the subtitle; the open map is as it was.
      const m = get.model();
      if (!m) return;
      subtitle(m);
      renderGrid(m, layout(m).thumb);
    },
    renderChoice,
    mapStatus(text, failed = false) {
      mapNote.attr('hidden', text ? null : true).classed('field-error', failed).classed('muted', !failed).text(text ?? '');
    },
    headRows(r, note) {
      rows = r;
      if (note !== null) headNote.text(note);
      const m = get.model();
      if (m) renderHeads(m);
    },
    unfocused(reason) {
      unfocusReason = reason;
      if (reason === null) hiddenHeads = new Set();
    },
    scale: () => scaleMode,
    setScale(s) {
      scaleMode = s;
    },
  };
}
