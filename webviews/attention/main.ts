/**
 * Attention view: a layers x heads grid of small canvas heatmaps (plus the mean over heads of each layer), one map
 * opened large with token labels on both axes, and a token strip. Choosing a token highlights its row and posts
 * `focus`, so the host paints the attention that token gives over the source text.
 *
 * Fast on 512 tokens: thumbnails are max-pooled in one pass over the causal half of the data and written with
 * putImageData (no per-cell fillRect); the large map is one ImageData of T x T; hover moves three absolutely
 * positioned bands and a tooltip, nothing is redrawn.
 */
import * as d3 from 'd3';
import type { AttentionData } from '../../engine/protocol';
import { createTooltip } from '../shared/tooltip';
import { connect } from '../shared/host';
import { showToken } from '../shared/format';
import { invalidReason, loadData, storeData, type StoredData } from './data';
import { cellValue, flatMap, fmtWeight, lutIndex, makeLut, paintPooled, paintRows, poolLayer, type Lut, type Rgb, type Thumbs } from './heatmap';

type Head = number | 'mean';

interface State {
  stored: StoredData | null;
  layer: number;
  head: Head;
  token: number | null;
  scale?: 'row' | 'absolute';
}

interface Model {
  data: AttentionData;
  T: number;
  N: number;
  H: number;
  approximate: boolean;
  thumbs: (Thumbs | null)[]; // per layer; null until pooled
  thumbRes: number; // canvas pixels of a thumbnail
}

let model: Model | null = null;
let sel: { layer: number; head: Head } = { layer: 0, head: 0 };
let focusToken: number | null = null;
let full: { key: string; map: Float32Array } | null = null; // the open map, flattened
let lut: Lut = makeLut([255, 255, 255], [0, 0, 255]);
let stored: StoredData | null = null;

// ---------------------------------------------------------------------------------------------------------------
// Static DOM (built once; updates only change attributes and joined children)

const app = d3.select<HTMLElement, unknown>('#app').attr('class', 'att');
const colorProbe = app.append('span').attr('class', 'att-color-probe').attr('aria-hidden', 'true');

const header = app.append('header').attr('class', 'att-header');
header.append('h1').text('Attention');
const sourceLine = header.append('p').attr('class', 'att-source muted');
const windowNote = header.append('p').attr('class', 'att-window').attr('role', 'note');
const errorLine = app.append('p').attr('class', 'error att-error').attr('role', 'alert');
const waiting = app.append('p').attr('class', 'muted att-waiting').text('Select some text and run “GPT Lab: Inspect attention for selection” to see what each head looks at.');

const body = app.append('div').attr('class', 'att-body');

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
gridPane.append('p').attr('class', 'muted att-hint').text('Click a map (or use the arrow keys and Enter) to open it. Thumbnails are max-pooled.');

const detail = body.append('section').attr('class', 'att-detail').attr('aria-label', 'The open map');
const detailHead = detail.append('div').attr('class', 'att-detail-head');
const detailTitle = detailHead.append('h2').attr('class', 'att-detail-title');
const scaleBox = detailHead.append('label').attr('class', 'att-scale muted');
scaleBox.append('span').text('Colour ');
const scaleSelect = scaleBox.append('select').attr('aria-label', 'Colour scale of the open map');
scaleSelect.selectAll('option').data([['row', 'per row (linear, 0 to the row’s largest)'], ['absolute', 'absolute (√, 0 to 1)']])
  .join('option').attr('value', (d) => d[0]).text((d) => d[1]);
let scaleMode: 'row' | 'absolute' = 'row';
const detailButtons = detailHead.append('div').attr('class', 'att-buttons');
const clearButton = detailButtons.append('button').attr('class', 'secondary att-clear').text('Clear focus')
  .attr('title', 'Stop painting the attention over the source (Escape)');
const copyButton = detailButtons.append('button').attr('class', 'secondary att-copy').text('Copy values')
  .attr('title', 'Copy the open map as tab-separated values');

const mapBox = detail.append('div').attr('class', 'att-map');
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

const tooltip = createTooltip();

// ---------------------------------------------------------------------------------------------------------------
// Theme

function resolveColor(expr: string, fallback: Rgb): Rgb {
  colorProbe.style('color', null).style('color', expr);
  const c = d3.color(getComputedStyle(colorProbe.node()!).color)?.rgb();
  return c && Number.isFinite(c.r) ? [c.r, c.g, c.b] : fallback;
}

function buildLut(): void {
  const bg = resolveColor('var(--vscode-editor-background)', [255, 255, 255]);
  const fg = resolveColor('var(--vscode-foreground)', [0, 0, 0]);
  const hi = resolveColor('var(--vscode-charts-blue, #3794ff)', [55, 148, 255]);
  // Zero attention is the background tinted towards the text colour, so it differs from a masked (hatched) cell.
  const low: Rgb = [0, 1, 2].map((i) => bg[i] * 0.9 + fg[i] * 0.1) as Rgb;
  lut = makeLut(low, hi);
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

// ---------------------------------------------------------------------------------------------------------------
// Layout

function layout(): { side: boolean; thumb: number; mapSize: number } {
  const width = Math.max(320, document.documentElement.clientWidth - 32);
  const cols = (model?.H ?? 8) + 1;
  const side = width >= 960;
  const gridWidth = side ? Math.min(width * 0.46, cols * 64 + 40) : width;
  const thumb = Math.max(22, Math.min(60, Math.floor((gridWidth - 40) / cols) - 4));
  const detailWidth = side ? width - gridWidth - 32 : width;
  const T = model?.T ?? 32;
  const room = Math.max(200, detailWidth - LABEL_W - 16);
  const mapSize = Math.min(room, 640, Math.max(T * 16 > 640 ? 640 : T * 16, Math.min(T, room)));
  return { side, thumb, mapSize };
}

const LABEL_W = 88; // the row labels' column

// ---------------------------------------------------------------------------------------------------------------
// Data in

function setData(d: AttentionData, approximate: boolean, fromState: boolean): void {
  const t0 = (arrived = performance.now());
  delete document.body.dataset.paintMs;
  delete document.body.dataset.thumbsMs;
  const reason = invalidReason(d);
  performance.measure('attention:validate', { start: t0, end: performance.now() });
  if (reason) {
    showError(`Cannot show this attention data: ${reason}.`);
    return;
  }
  showError(null);
  const T = d.probe.tokens.length, N = d.probe.layers.length, H = d.probe.layers[0].length;
  const keepSelection = fromState || (model !== null && model.T === T && model.N === N && model.H === H);
  model = { data: d, T, N, H, approximate, thumbs: [], thumbRes: 0 };
  if (!keepSelection) {
    sel = { layer: 0, head: 0 };
    focusToken = null;
  }
  sel.layer = Math.min(Math.max(0, sel.layer), N - 1);
  if (sel.head !== 'mean') sel.head = Math.min(Math.max(0, sel.head), H - 1);
  if (focusToken !== null && (focusToken < 0 || focusToken >= T)) focusToken = null;
  full = null;
  render();
  const painted = performance.now();
  performance.measure('attention:render', { start: t0, end: painted });
  // After the browser has painted the frame: the first-paint figure the tests print.
  requestAnimationFrame(() => setTimeout(() => {
    performance.measure('attention:first-paint', { start: t0, end: performance.now() });
    document.body.dataset.paintMs = String(Math.round(performance.now() - t0));
  }, 0));
  if (!fromState) {
    // Persist after the first paint: packing a big probe is not on the critical path.
    setTimeout(() => {
      stored = storeData(d);
      save();
    }, 50);
    if (focusToken !== null) postFocus();
  }
}

function showError(msg: string | null): void {
  errorLine.text(msg ?? '').attr('hidden', msg ? null : '');
}

// ---------------------------------------------------------------------------------------------------------------
// Render

function render(): void {
  const m = model;
  waiting.attr('hidden', m ? '' : null);
  body.attr('hidden', m ? null : '');
  header.select('.att-source').attr('hidden', m ? null : '');
  if (!m) return;
  const { side, thumb, mapSize } = layout();
  body.classed('att-side', side);

  const d = m.data;
  const shown = m.T;
  const total = Math.max(Number.isFinite(d.totalTokens) ? d.totalTokens : 0, shown + Math.max(0, d.probe.cropped | 0));
  sourceLine.text(`${d.source || 'selection'} · ${m.N} layer${m.N === 1 ? '' : 's'} × ${m.H} head${m.H === 1 ? '' : 's'} · ${shown} token${shown === 1 ? '' : 's'}`
    + (m.approximate ? ' · restored from a compact copy (weights rounded to 1/255)' : ''));
  if (total > shown) {
    windowNote.attr('hidden', null).text(`Showing the last ${shown} of ${total} tokens`
      + (d.probe.cropped > 0 ? `: the model's context holds ${shown}, so the first ${total - shown} are not seen.` : '.'));
  } else windowNote.attr('hidden', '').text('');

  const t = [performance.now()];
  renderGrid(m, thumb);
  t.push(performance.now());
  renderDetail(m, mapSize);
  t.push(performance.now());
  renderStrip(m);
  t.push(performance.now());
  renderFocus(m);
  t.push(performance.now());
  ['grid', 'detail', 'strip', 'focus'].forEach((name, i) => performance.measure(`attention:${name}`, { start: t[i], end: t[i + 1] }));
}

function renderGrid(m: Model, thumb: number): void {
  const res = Math.max(1, Math.min(m.T, Math.round(thumb * (window.devicePixelRatio || 1))));
  const repool = m.thumbRes !== res;
  if (repool) {
    m.thumbRes = res;
    m.thumbs = new Array<Thumbs | null>(m.N).fill(null);
  }
  grid.style('--att-thumb', `${thumb}px`);

  const columns: Head[] = [...d3.range(m.H), 'mean'];
  grid.selectAll<HTMLDivElement, Head[]>('.att-colhead')
    .data([columns])
    .join((enter) => enter.insert('div', ':first-child').attr('class', 'att-colhead').attr('role', 'row'))
    .selectAll<HTMLSpanElement, Head | 'corner'>('span')
    .data(['corner' as const, ...columns], (h) => String(h))
    .join('span')
    .attr('role', (h) => (h === 'corner' ? 'presentation' : 'columnheader'))
    .attr('class', (h) => (h === 'mean' ? 'att-mean-head' : null))
    .text((h) => (h === 'corner' ? '' : h === 'mean' ? 'mean' : `H${h + 1}`))
    .attr('title', (h) => (h === 'mean' ? 'the mean over heads' : null));

  const rows = grid.selectAll<HTMLDivElement, number>('.att-layer')
    .data(d3.range(m.N), (l) => String(l))
    .join((enter) => {
      const row = enter.append('div').attr('class', 'att-layer').attr('role', 'row');
      row.append('span').attr('class', 'att-rowhead').attr('role', 'rowheader');
      return row;
    });
  rows.select('.att-rowhead').text((l) => `L${l + 1}`).attr('title', (l) => `layer ${l + 1}`);

  rows.selectAll<HTMLButtonElement, { l: number; h: Head }>('button.att-cell')
    .data((l) => columns.map((h) => ({ l, h })), (c) => `${c.l}:${c.h}`)
    .join((enter) => {
      const b = enter.append('button').attr('class', 'att-cell').attr('role', 'gridcell');
      b.append('canvas');
      return b;
    })
    .classed('att-cell-mean', (c) => c.h === 'mean')
    .attr('data-layer', (c) => c.l)
    .attr('data-head', (c) => c.h)
    .attr('aria-label', (c) => `Layer ${c.l + 1}, ${c.h === 'mean' ? 'mean over heads' : `head ${c.h + 1}`}`)
    .each(function () {
      const canvas = this.firstElementChild as HTMLCanvasElement;
      if (canvas.width !== res) canvas.width = res;
      if (canvas.height !== res) canvas.height = res;
    });
  updateGridSelection();
  if (repool) startPooling(m);
  else for (let l = 0; l < m.N; l++) paintLayer(m, l);
}

/** Paints one layer's thumbnails (heads and mean) from its pooled maps; pending layers look pending. */
function paintLayer(m: Model, l: number): void {
  const t = m.thumbs[l];
  grid.selectAll<HTMLButtonElement, { l: number; h: Head }>(`button.att-cell[data-layer="${l}"]`)
    .classed('pending', !t)
    .each(function (c) {
      const ctx = (this.firstElementChild as HTMLCanvasElement).getContext('2d');
      if (ctx && t) paintPooled(ctx, t.maps[c.h === 'mean' ? m.H : c.h], t.res, m.T, lut);
    });
}

let poolJob = 0;
let arrived = 0; // when the data arrived (performance.now())

/**
 * Pools and paints the thumbnails layer by layer in slices of about 12 ms, so the open map, the labels and the first
 * layers appear in the first frame and hover stays smooth while a 512-token probe's 25 M weights are read.
 */
function startPooling(m: Model): void {
  const job = ++poolJob;
  const t0 = arrived;
  let l = 0;
  for (let i = 0; i < m.N; i++) paintLayer(m, i);
  const slice = (): void => {
    if (job !== poolJob || model !== m) return;
    const start = performance.now();
    while (l < m.N) {
      m.thumbs[l] = poolLayer(m.data.probe.layers[l], m.T, m.thumbRes);
      paintLayer(m, l);
      l++;
      if (l < m.N && performance.now() - start > 12) {
        setTimeout(slice, 0);
        return;
      }
    }
    performance.measure('attention:thumbnails', { start: t0, end: performance.now() });
    document.body.dataset.thumbsMs = String(Math.round(performance.now() - t0));
  };
  // A small probe pools at once; a big one starts after the open map and labels are on screen.
  if (m.N * m.H * m.T * m.T <= 2_000_000) slice();
  else setTimeout(slice, 0);
}

function updateGridSelection(): void {
  grid.selectAll<HTMLButtonElement, { l: number; h: Head }>('button.att-cell')
    .classed('selected', (c) => c.l === sel.layer && c.h === sel.head)
    .attr('aria-selected', (c) => String(c.l === sel.layer && c.h === sel.head))
    .attr('tabindex', (c) => (c.l === sel.layer && c.h === sel.head ? 0 : -1));
}

function headName(h: Head, H: number): string {
  return h === 'mean' ? `mean of ${H} heads` : `head ${h + 1}`;
}

function fullMap(m: Model): Float32Array {
  const key = `${sel.layer}:${sel.head}`;
  if (!full || full.key !== key) full = { key, map: flatMap(m.data.probe.layers[sel.layer], sel.head, m.T) };
  return full.map;
}

let geometry = { size: 0, cell: 0, T: 0 };

function renderDetail(m: Model, size: number): void {
  const T = m.T;
  detailTitle.text(`Layer ${sel.layer + 1} · ${headName(sel.head, m.H)}`);
  const canvas = mapCanvas.node() as HTMLCanvasElement;
  if (canvas.width !== T) canvas.width = T;
  if (canvas.height !== T) canvas.height = T;
  const ctx = canvas.getContext('2d');
  const map = fullMap(m);
  if (ctx) {
    if (scaleMode === 'row') paintRows(ctx, map, T, lut);
    else paintPooled(ctx, map, T, T, lut);
  }
  scaleSelect.property('value', scaleMode);
  const cell = size / T;
  geometry = { size, cell, T };
  const step = Math.max(1, Math.ceil(12 / cell));
  const shown = d3.range(T).filter((i) => i % step === 0 || i === focusToken);
  const toks = m.data.probe.tokens;
  const fontPx = Math.max(9, Math.min(12, cell - 1));
  const longest = d3.max(shown, (i) => showToken(toks[i].text, 8).length) ?? 1;
  const xlabelH = Math.ceil(10 + longest * fontPx * 0.62 * Math.sin(Math.PI / 3) + 20);
  mapBox.style('width', `${LABEL_W + size + 8}px`).style('height', `${size + xlabelH}px`);
  mapCanvas.style('left', `${LABEL_W}px`).style('width', `${size}px`).style('height', `${size}px`)
    .attr('aria-label', `Layer ${sel.layer + 1}, ${headName(sel.head, m.H)}: attention of ${T} query tokens (rows) over ${T} key tokens (columns). `
      + 'Arrow keys move, Enter focuses the row’s token, Escape clears.');
  mapBox.classed('att-map-fine', cell < 3);
  labels.attr('width', LABEL_W + size + 8).attr('height', size + xlabelH);
  // Labels are thinned (every `step`-th token, and always the focused one) so they never overlap.
  yLabels.selectAll<SVGTextElement, number>('text')
    .data(shown, (i) => String(i))
    .join((enter) => enter.append('text').attr('class', 'att-tok-label').attr('text-anchor', 'end')
      .on('click', (_e, i) => selectToken(i === focusToken ? null : i)))
    .attr('x', LABEL_W - 6)
    .attr('y', (i) => (i + 0.5) * cell)
    .attr('dy', '0.35em')
    .style('font-size', `${fontPx}px`)
    .classed('focused', (i) => i === focusToken)
    .text((i) => showToken(toks[i].text, 10));
  xLabels.selectAll<SVGTextElement, number>('text')
    .data(shown, (i) => String(i))
    .join((enter) => enter.append('text').attr('class', 'att-tok-label att-x').attr('text-anchor', 'end'))
    .attr('transform', (i) => `translate(${LABEL_W + (i + 0.5) * cell},${size + 6}) rotate(-60)`)
    .attr('dy', '0.35em')
    .style('font-size', `${fontPx}px`)
    .classed('focused', (i) => i === focusToken)
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
  const toks = m.data.probe.tokens;
  const row = focusToken !== null ? fullMap(m).subarray(focusToken * m.T, (focusToken + 1) * m.T) : null;
  let rowMax = 1e-12;
  if (row) for (let k = 0; k <= focusToken!; k++) rowMax = Math.max(rowMax, row[k]);
  const [r, g, b] = resolveColor('var(--vscode-charts-blue, #3794ff)', [55, 148, 255]);
  strip.selectAll<HTMLSpanElement, number>('span.att-tok')
    .data(d3.range(m.T), (i) => String(i))
    .join((enter) => enter.append('span').attr('class', 'att-tok').attr('role', 'button')
      .on('click', (_e, i) => selectToken(i === focusToken ? null : i)))
    .text((i) => showToken(toks[i].text, 24))
    .attr('tabindex', (i) => (i === (focusToken ?? stripCursor) ? 0 : -1))
    .attr('aria-pressed', (i) => String(i === focusToken))
    .attr('aria-label', (i) => `token ${i + 1}: ${JSON.stringify(toks[i].text)}${row && i <= focusToken! ? `, weight ${fmtWeight(row[i])}` : ''}`)
    .classed('focused', (i) => i === focusToken)
    .classed('masked', (i) => focusToken !== null && i > focusToken)
    .style('background-color', (i) => (row && i <= focusToken! ? `rgba(${r}, ${g}, ${b}, ${(0.06 + 0.74 * Math.sqrt(Math.max(0, row[i]) / rowMax)).toFixed(3)})` : null));
}

let stripCursor = 0;

function renderFocus(m: Model): void {
  clearButton.attr('disabled', focusToken === null ? '' : null);
  focusInfo.selectAll('*').remove();
  if (focusToken === null) {
    focusInfo.append('p').attr('class', 'muted').text('Click a token (a row label or the strip above) to see where it looks; its attention is painted over the source text.');
    return;
  }
  const q = focusToken;
  const row = fullMap(m).subarray(q * m.T, q * m.T + q + 1);
  const toks = m.data.probe.tokens;
  const top = d3.range(q + 1).sort((a, b) => row[b] - row[a] || a - b).slice(0, 8);
  focusInfo.append('p').text(`Token ${q + 1} ${JSON.stringify(toks[q].text)} attends most to (layer ${sel.layer + 1}, ${headName(sel.head, m.H)}):`);
  const table = focusInfo.append('table').attr('class', 'att-top');
  table.append('thead').append('tr').selectAll('th').data(['#', 'token', 'weight', '']).join('th').text((s) => s);
  const tr = table.append('tbody').selectAll('tr').data(top, (k) => String(k)).join('tr');
  tr.append('td').attr('class', 'num').text((k) => k + 1);
  tr.append('td').attr('class', 'mono').text((k) => showToken(toks[k].text, 24));
  tr.append('td').attr('class', 'num').text((k) => fmtWeight(row[k]));
  const rowMax = Math.max(1e-12, row[top[0]] ?? 0);
  tr.append('td').append('div').attr('class', 'att-bar').style('width', (k) => `${Math.max(1, Math.round((Math.max(0, row[k]) / rowMax) * 120))}px`);
}

// ---------------------------------------------------------------------------------------------------------------
// Interaction

function save(): void {
  try {
    channel.saveState({ stored, layer: sel.layer, head: sel.head, token: focusToken, scale: scaleMode });
  } catch (e) {
    console.warn(`gpt-lab attention: could not save the view state: ${String(e)}`);
  }
}

function postFocus(): void {
  channel.post('focus', { token: focusToken, layer: sel.layer, head: sel.head });
}

function selectToken(i: number | null): void {
  if (!model) return;
  focusToken = i;
  if (i !== null) stripCursor = i;
  const { mapSize } = layout();
  renderDetail(model, mapSize);
  renderStrip(model);
  renderFocus(model);
  postFocus();
  save();
}

function selectMap(layer: number, head: Head, focusCell = false): void {
  if (!model) return;
  sel = { layer, head };
  updateGridSelection();
  const { mapSize } = layout();
  renderDetail(model, mapSize);
  renderStrip(model);
  renderFocus(model);
  if (focusToken !== null) postFocus();
  save();
  if (focusCell) (grid.select(`button.att-cell[data-layer="${layer}"][data-head="${head}"]`).node() as HTMLElement | null)?.focus();
}

grid.on('click', (event: MouseEvent) => {
  const cell = (event.target as Element).closest<HTMLButtonElement>('button.att-cell');
  if (!cell) return;
  const l = Number(cell.dataset.layer), h = cell.dataset.head === 'mean' ? 'mean' : Number(cell.dataset.head);
  selectMap(l, h);
});

grid.on('keydown', (event: KeyboardEvent) => {
  if (!model) return;
  const cols: Head[] = [...d3.range(model.H), 'mean'];
  let c = cols.indexOf(sel.head), l = sel.layer;
  switch (event.key) {
    case 'ArrowLeft': c = Math.max(0, c - 1); break;
    case 'ArrowRight': c = Math.min(cols.length - 1, c + 1); break;
    case 'ArrowUp': l = Math.max(0, l - 1); break;
    case 'ArrowDown': l = Math.min(model.N - 1, l + 1); break;
    case 'Home': c = 0; break;
    case 'End': c = cols.length - 1; break;
    default: return;
  }
  event.preventDefault();
  selectMap(l, cols[c], true);
});

// Thumbnail hover: which map, and the exact weight of the cell under the pointer.
grid.on('pointermove', (event: PointerEvent) => {
  const cell = (event.target as Element).closest<HTMLButtonElement>('button.att-cell');
  if (!cell || !model) return tooltip.hide();
  const rect = cell.firstElementChild!.getBoundingClientRect();
  const T = model.T;
  const q = Math.min(T - 1, Math.max(0, Math.floor(((event.clientY - rect.top) / rect.height) * T)));
  const k = Math.min(T - 1, Math.max(0, Math.floor(((event.clientX - rect.left) / rect.width) * T)));
  const l = Number(cell.dataset.layer), h: Head = cell.dataset.head === 'mean' ? 'mean' : Number(cell.dataset.head);
  tooltip.show(`layer ${l + 1} · ${headName(h, model.H)}\n${cellText(model, l, h, q, k)}`, event.clientX, event.clientY);
});
grid.on('pointerleave', () => tooltip.hide());

function cellText(m: Model, l: number, h: Head, q: number, k: number): string {
  const toks = m.data.probe.tokens;
  const head = `query ${q + 1} ${JSON.stringify(toks[q].text)} → key ${k + 1} ${JSON.stringify(toks[k].text)}`;
  if (k > q) return `${head}\nmasked (a token cannot attend to later tokens)`;
  return `${head}\nweight ${fmtWeight(cellValue(m.data.probe.layers[l], h, q, k))}`;
}

let hover: { q: number; k: number } | null = null;
const cursor = { q: 0, k: 0 };

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
  place(bandSel, focusToken, null);
  place(bandRow, hover ? hover.q : null, null);
  place(bandCol, null, hover ? hover.k : null);
}

function hoverAt(q: number, k: number, x: number, y: number): void {
  if (!model) return;
  if (!hover || hover.q !== q || hover.k !== k) {
    hover = { q, k };
    updateBands();
    tooltipText = cellText(model, sel.layer, sel.head, q, k);
  }
  tooltip.show(tooltipText, x, y);
}
let tooltipText = '';

mapCanvas.on('pointermove', (event: PointerEvent) => {
  const { cell, T } = geometry;
  if (!model || cell <= 0) return;
  const rect = (mapCanvas.node() as HTMLCanvasElement).getBoundingClientRect();
  const q = Math.min(T - 1, Math.max(0, Math.floor((event.clientY - rect.top) / cell)));
  const k = Math.min(T - 1, Math.max(0, Math.floor((event.clientX - rect.left) / cell)));
  hoverAt(q, k, event.clientX, event.clientY);
});
mapCanvas.on('pointerleave', () => {
  hover = null;
  updateBands();
  tooltip.hide();
});
mapCanvas.on('click', (event: MouseEvent) => {
  const { cell, T } = geometry;
  if (!model || cell <= 0) return;
  const rect = (mapCanvas.node() as HTMLCanvasElement).getBoundingClientRect();
  const q = Math.min(T - 1, Math.max(0, Math.floor((event.clientY - rect.top) / cell)));
  selectToken(q === focusToken ? null : q);
});
mapCanvas.on('keydown', (event: KeyboardEvent) => {
  if (!model) return;
  const T = model.T;
  switch (event.key) {
    case 'ArrowUp': cursor.q = Math.max(0, cursor.q - 1); break;
    case 'ArrowDown': cursor.q = Math.min(T - 1, cursor.q + 1); break;
    case 'ArrowLeft': cursor.k = Math.max(0, cursor.k - 1); break;
    case 'ArrowRight': cursor.k = Math.min(T - 1, cursor.k + 1); break;
    case 'Enter': case ' ':
      event.preventDefault();
      selectToken(cursor.q);
      return;
    default: return;
  }
  event.preventDefault();
  const rect = (mapCanvas.node() as HTMLCanvasElement).getBoundingClientRect();
  const { cell } = geometry;
  hoverAt(cursor.q, cursor.k, rect.left + (cursor.k + 1) * cell + 4, rect.top + (cursor.q + 1) * cell + 4);
  live.text(tooltipText.replace('\n', ': '));
});
mapCanvas.on('blur', () => {
  hover = null;
  updateBands();
  tooltip.hide();
});

strip.on('keydown', (event: KeyboardEvent) => {
  if (!model) return;
  const T = model.T;
  const from = focusToken ?? stripCursor;
  let to = from;
  switch (event.key) {
    case 'ArrowLeft': to = Math.max(0, from - 1); break;
    case 'ArrowRight': to = Math.min(T - 1, from + 1); break;
    case 'Home': to = 0; break;
    case 'End': to = T - 1; break;
    case 'Enter': case ' ':
      event.preventDefault();
      selectToken(stripCursor === focusToken ? null : stripCursor);
      (strip.selectAll<HTMLSpanElement, number>('span.att-tok').nodes()[stripCursor])?.focus();
      return;
    default: return;
  }
  event.preventDefault();
  stripCursor = to;
  if (focusToken !== null) selectToken(to);
  else renderStrip(model);
  (strip.selectAll<HTMLSpanElement, number>('span.att-tok').nodes()[to])?.focus();
});
strip.on('pointermove', (event: PointerEvent) => {
  const span = (event.target as Element).closest<HTMLSpanElement>('span.att-tok');
  if (!span || !model) return tooltip.hide();
  const i = d3.select<HTMLSpanElement, number>(span).datum();
  const toks = model.data.probe.tokens;
  let text = `token ${i + 1} ${JSON.stringify(toks[i].text)} · id ${toks[i].id}${toks[i].unknown ? ' (unknown to the model)' : ''}`;
  if (focusToken !== null) text += `\n${cellText(model, sel.layer, sel.head, focusToken, i).split('\n')[1]}`;
  tooltip.show(text, event.clientX, event.clientY);
});
strip.on('pointerleave', () => tooltip.hide());

clearButton.on('click', () => selectToken(null));
scaleSelect.on('change', () => {
  scaleMode = scaleSelect.property('value') === 'absolute' ? 'absolute' : 'row';
  if (model) renderDetail(model, layout().mapSize);
  save();
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && focusToken !== null) selectToken(null);
});

copyButton.on('click', () => {
  if (!model) return;
  const m = model, map = fullMap(m), toks = m.data.probe.tokens;
  const lines = [['query \\ key', ...toks.map((t) => JSON.stringify(t.text))].join('\t')];
  for (let q = 0; q < m.T; q++) {
    const cells = [JSON.stringify(toks[q].text)];
    for (let k = 0; k < m.T; k++) cells.push(k > q ? '' : String(map[q * m.T + k]));
    lines.push(cells.join('\t'));
  }
  const text = lines.join('\n');
  const done = (ok: boolean): void => {
    copyButton.text(ok ? 'Copied' : 'Copy failed');
    setTimeout(() => copyButton.text('Copy values'), 1500);
  };
  if (navigator.clipboard?.writeText) navigator.clipboard.writeText(text).then(() => done(true), () => done(false));
  else done(false);
});



// ---------------------------------------------------------------------------------------------------------------
// Theme changes and resizes redraw from what is in memory.

let resizeTimer: ReturnType<typeof setTimeout> | undefined;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(render, 100);
});
new MutationObserver(() => {
  buildLut();
  render();
}).observe(document.body, { attributes: true, attributeFilter: ['class', 'data-vscode-theme-kind'] });

// ---------------------------------------------------------------------------------------------------------------
// Channel: restore the saved state first (a reload redraws before any message), then listen.

const channel = connect<'attention', State>('attention', {
  attention: (params) => setData(params, false, false),
  error: (params) => showError(typeof params.message === 'string' ? params.message : 'The attention probe failed.'),
});

buildLut();
const saved = channel.state();
if (saved && typeof saved === 'object') {
  sel = { layer: Number.isInteger(saved.layer) ? saved.layer : 0, head: saved.head === 'mean' || Number.isInteger(saved.head) ? saved.head : 0 };
  focusToken = Number.isInteger(saved.token) ? saved.token : null;
  if (saved.scale === 'absolute') scaleMode = 'absolute';
  if (saved.stored) {
    try {
      const { data, approximate } = loadData(saved.stored);
      stored = saved.stored;
      setData(data, approximate, true);
    } catch {
      stored = null;
    }
  }
}
render();
