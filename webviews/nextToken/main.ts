/**
 * Next-token view: the model's top-k next tokens as bars (probability and logit, and the probability a sampler with
 * the current settings draws each with), sliders for temperature, top-k and top-p that ask the host to recompute
 * (`resample`, debounced), a logit-lens table that shows how the prediction forms through the layers, and a button that
 * samples one token onto the prompt shown here (`sampleOne`; the document is never touched).
 *
 * The bars are an HTML table (one keyed row per token): the chart and its text alternative are the same element.
 */
import * as d3 from 'd3';
import type { NextTokenData, SamplingOptions } from '../../engine/protocol';
import { createTooltip } from '../shared/tooltip';
import { showToken } from '../shared/format';
import { connect } from '../shared/host';

interface State {
  data: NextTokenData | null;
  settings: SamplingOptions;
  lensAll: boolean;
}

type Top = NextTokenData['probe']['top'][number];
type Score = NextTokenData['lens']['layers'][number][number]['top'][number];

const DEFAULTS: SamplingOptions = { temperature: 1, topK: 0, topP: 1 };
const DEBOUNCE_MS = 50;
const LENS_COLUMNS = 64; // positions shown at most in the all-positions lens

let data: NextTokenData | null = null;
let settings: SamplingOptions = { ...DEFAULTS };
let lensAll = false;
let pendingResample: number | null = null; // id of the newest resample request
let pendingSample: number | null = null;
let pendingReset: number | null = null;
let previousSampled = ''; // sampledSoFar before the last sampleOne, to mark the newest token

// ---------------------------------------------------------------------------------------------------------------
// Static DOM

const app = d3.select<HTMLElement, unknown>('#app').attr('class', 'nt');
const header = app.append('header').attr('class', 'nt-header');
header.append('h1').text('Next token');
const summary = header.append('p').attr('class', 'muted nt-summary');
const errorLine = app.append('p').attr('class', 'error nt-error').attr('role', 'alert').attr('hidden', '');
const waiting = app.append('p').attr('class', 'muted').text('Select some text and run “GPT Lab: Show next-token distribution” to see what the model expects.');

const body = app.append('div').attr('class', 'nt-body');

// The prompt, with what the panel sampled onto it highlighted.
const promptBox = body.append('section').attr('class', 'nt-prompt-box').attr('aria-label', 'Prompt');
const promptHead = promptBox.append('div').attr('class', 'nt-row');
promptHead.append('h2').text('Prompt');
const promptNote = promptHead.append('span').attr('class', 'muted nt-prompt-note');
const promptText = promptBox.append('pre').attr('class', 'nt-prompt mono').attr('tabindex', 0).attr('aria-live', 'polite');

// Controls.
const controls = body.append('section').attr('class', 'nt-controls').attr('aria-label', 'Sampling settings');
interface SliderSpec {
  key: keyof SamplingOptions;
  label: string;
  min: number;
  max: number;
  step: number;
  hint: string;
  fmt: (v: number) => string;
}
const SLIDERS: SliderSpec[] = [
  { key: 'temperature', label: 'Temperature', min: 0, max: 2, step: 0.05, hint: '0 = greedy (always the most likely token)',
    fmt: (v) => (v === 0 ? '0 (greedy)' : v.toFixed(2)) },
  { key: 'topK', label: 'Top-k', min: 0, max: 100, step: 1, hint: 'keep only the k most likely tokens; 0 = off',
    fmt: (v) => (v === 0 ? 'off' : String(v)) },
  { key: 'topP', label: 'Top-p', min: 0.01, max: 1, step: 0.01, hint: 'keep the fewest most likely tokens whose mass reaches p; 1 = off',
    fmt: (v) => (v >= 1 ? '1 (off)' : v.toFixed(2)) },
];
const sliderRows = controls.selectAll<HTMLLabelElement, SliderSpec>('label.nt-slider')
  .data(SLIDERS, (s) => s.key)
  .join((enter) => {
    const l = enter.append('label').attr('class', 'nt-slider').attr('title', (s) => s.hint);
    l.append('span').attr('class', 'nt-slider-name').text((s) => s.label);
    l.append('input').attr('type', 'range').attr('name', (s) => s.key)
      .attr('min', (s) => s.min).attr('max', (s) => s.max).attr('step', (s) => s.step)
      .attr('aria-label', (s) => `${s.label}: ${s.hint}`);
    l.append('output').attr('class', 'nt-slider-value mono');
    return l;
  });
const buttons = controls.append('div').attr('class', 'nt-buttons');
const sampleButton = buttons.append('button').attr('class', 'nt-sample').text('Sample next token')
  .attr('title', 'Draw one token with these settings and append it to the prompt shown here (the document is not changed)');
const resetButton = buttons.append('button').attr('class', 'secondary nt-reset').text('Reset')
  .attr('title', 'Back to the selection');
const busy = buttons.append('span').attr('class', 'muted nt-busy').attr('aria-live', 'polite');

// Bars.
const barsBox = body.append('section').attr('class', 'nt-bars-box').attr('aria-label', 'Most likely next tokens');
const barsHead = barsBox.append('div').attr('class', 'nt-row');
barsHead.append('h2').text('Most likely next tokens');
const kept = barsHead.append('div').attr('class', 'nt-kept');
const keptBar = kept.append('div').attr('class', 'nt-kept-bar').attr('aria-hidden', 'true');
const keptFill = keptBar.append('div').attr('class', 'nt-kept-fill');
const keptText = kept.append('span').attr('class', 'nt-kept-text');
const barsTable = barsBox.append('table').attr('class', 'nt-bars');
const barsHeadRow = barsTable.append('thead').append('tr');
barsHeadRow.selectAll('th').data(['#', 'token', 'probability', '', 'sampled', 'logit']).join('th')
  .attr('class', (d, i) => (i === 3 ? 'nt-bar-col' : ['#', 'probability', 'sampled', 'logit'].includes(d) ? 'num' : null))
  .text((d) => d)
  .attr('title', (d) => ({ probability: 'the model’s probability (temperature 1, no filtering)',
    sampled: 'the probability a sampler with these settings draws it (0 = cut)', logit: 'the raw score before softmax' } as Record<string, string>)[d] ?? null);
const barsBody = barsTable.append('tbody');
barsBox.append('p').attr('class', 'muted nt-legend')
  .call((p) => {
    p.append('span').attr('class', 'nt-swatch nt-swatch-raw');
    p.append('span').text(' probability   ');
    p.append('span').attr('class', 'nt-swatch nt-swatch-sampled');
    p.append('span').text(' what the sampler draws with these settings   ');
    p.append('span').attr('class', 'nt-swatch nt-swatch-cut');
    p.append('span').text(' cut by top-k / top-p');
  });

// Logit lens.
const lensBox = body.append('section').attr('class', 'nt-lens-box').attr('aria-label', 'Logit lens');
const lensHead = lensBox.append('div').attr('class', 'nt-row');
lensHead.append('h2').text('Logit lens');
const lensToggle = lensHead.append('label').attr('class', 'nt-toggle');
const lensCheck = lensToggle.append('input').attr('type', 'checkbox');
lensToggle.append('span').text(' all positions');
const lensNote = lensBox.append('p').attr('class', 'muted nt-lens-note');
const lensScroll = lensBox.append('div').attr('class', 'nt-lens-scroll');
const lensTable = lensScroll.append('table').attr('class', 'nt-lens');

const tooltip = createTooltip();

// ---------------------------------------------------------------------------------------------------------------
// Helpers

const pct = (p: number): string => (!Number.isFinite(p) ? '–' : p === 0 ? '0%' : p < 0.001 ? `${(p * 100).toExponential(1)}%` : `${(p * 100).toFixed(p < 0.1 ? 2 : 1)}%`);
const num = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : String(x));

function valid(d: unknown): d is NextTokenData {
  if (typeof d !== 'object' || d === null) return false;
  const x = d as Partial<NextTokenData>;
  return typeof x.prompt === 'string' && typeof x.sampledSoFar === 'string' && typeof x.probe === 'object' && x.probe !== null
    && Array.isArray(x.probe.top) && Array.isArray(x.probe.tokens) && typeof x.lens === 'object' && x.lens !== null
    && Array.isArray(x.lens.layers) && x.lens.layers.every((l) => Array.isArray(l) && l.every((p) => p && Array.isArray(p.top)))
    && x.probe.top.every((t) => t && typeof t.text === 'string' && typeof t.prob === 'number');
}

function sanitize(o: Partial<SamplingOptions> | undefined): SamplingOptions {
  const t = Number(o?.temperature), k = Number(o?.topK), p = Number(o?.topP);
  return {
    temperature: Number.isFinite(t) ? Math.min(2, Math.max(0, t)) : DEFAULTS.temperature,
    topK: Number.isFinite(k) ? Math.max(0, Math.round(k)) : DEFAULTS.topK,
    topP: Number.isFinite(p) ? Math.min(1, Math.max(0.01, p)) : DEFAULTS.topP,
  };
}

function save(): void {
  channel.saveState({ data, settings, lensAll });
}


// ---------------------------------------------------------------------------------------------------------------
// Render

function render(): void {
  waiting.attr('hidden', data ? '' : null);
  body.attr('hidden', data ? null : '');
  renderSliders();
  if (!data) return;
  const d = data;
  const ctxTokens = d.probe.tokens.length;
  summary.text(`${ctxTokens} token${ctxTokens === 1 ? '' : 's'} of context${d.probe.cropped > 0 ? ` (the last ${ctxTokens}; ${d.probe.cropped} earlier tokens do not fit)` : ''}`
    + ` · vocabulary ${d.probe.vocabSize}`);
  renderPrompt(d);
  renderBars(d);
  renderLens(d);
  busy.text(pendingSample !== null ? 'sampling…' : pendingResample !== null || pendingReset !== null ? 'updating…' : '');
  sampleButton.attr('disabled', pendingSample !== null ? '' : null);
}

function renderSliders(): void {
  const maxK = Math.max(1, Math.min(100, data?.probe.vocabSize ?? 100));
  sliderRows.select('input').attr('max', (s) => (s.key === 'topK' ? maxK : s.max))
    .property('value', (s) => settings[s.key])
    .attr('aria-valuetext', (s) => s.fmt(settings[s.key]));
  sliderRows.select('output').text((s) => s.fmt(settings[s.key]));
}

function renderPrompt(d: NextTokenData): void {
  const MAX = 600;
  const sampled = d.prompt.endsWith(d.sampledSoFar) ? d.sampledSoFar : '';
  const base = d.prompt.slice(0, d.prompt.length - sampled.length);
  const newest = sampled.startsWith(previousSampled) ? sampled.slice(previousSampled.length) : '';
  const older = sampled.slice(0, sampled.length - newest.length);
  const cut = Math.max(0, base.length - Math.max(0, MAX - sampled.length));
  const parts = [
    { key: 'ellipsis', text: cut > 0 ? '…' : '', cls: 'nt-ellipsis muted' },
    { key: 'base', text: base.slice(cut), cls: 'nt-base' },
    { key: 'older', text: older, cls: 'nt-appended' },
    { key: 'newest', text: newest, cls: 'nt-appended nt-newest' },
  ].filter((p) => p.text !== '');
  promptText.selectAll<HTMLElement, (typeof parts)[number]>('span, mark')
    .data(parts, (p) => p.key)
    .join((enter) => enter.append((p) => document.createElement(p.key === 'older' || p.key === 'newest' ? 'mark' : 'span')))
    .attr('class', (p) => p.cls)
    // Sampled whitespace made visible (a space or newline would otherwise highlight nothing).
    .text((p) => (p.key === 'older' || p.key === 'newest' ? p.text.replace(/ /g, '·').replace(/\n/g, '↵\n').replace(/\t/g, '⇥') : p.text));
  const pre = promptText.node() as HTMLPreElement;
  pre.scrollTop = pre.scrollHeight; // the end of the prompt, where the next token goes
  promptNote.text(sampled ? `${[...sampled].length} character${[...sampled].length === 1 ? '' : 's'} sampled here (highlighted); the document is unchanged` : '');
  promptText.attr('aria-label', `Prompt${sampled ? `, ending with the sampled text ${JSON.stringify(sampled)}` : ''}`);
}

function renderBars(d: NextTokenData): void {
  // Order by probability (the engine already does; sort again so a reply can never show them out of order).
  const top = d.probe.top.slice().sort((a, b) => b.prob - a.prob);
  // One fixed scale, 0 to 1, so a slider change visibly moves mass between bars.
  const maxP = 1;
  const rows = barsBody.selectAll<HTMLTableRowElement, Top>('tr')
    .data(top, (t) => String(t.id))
    .join((enter) => {
      const tr = enter.append('tr').attr('tabindex', 0);
      tr.append('td').attr('class', 'num nt-rank');
      tr.append('td').attr('class', 'mono nt-token');
      tr.append('td').attr('class', 'num nt-prob');
      const bar = tr.append('td').attr('class', 'nt-bar-col').append('div').attr('class', 'nt-bar');
      bar.append('div').attr('class', 'nt-bar-raw');
      bar.append('div').attr('class', 'nt-bar-sampled');
      tr.append('td').attr('class', 'num nt-sampled');
      tr.append('td').attr('class', 'num nt-logit');
      return tr;
    })
    .order()
    .classed('cut', (t) => !(t.sampledProb > 0))
    .attr('aria-label', (t, i) => `${i + 1}. ${JSON.stringify(t.text)}: probability ${pct(t.prob)}, logit ${num(t.logit)}, `
      + (t.sampledProb > 0 ? `sampled with ${pct(t.sampledProb)}` : 'cut by the sampling settings'));
  rows.select('.nt-rank').text((_t, i) => i + 1);
  rows.select('.nt-token').text((t) => showToken(t.text, 16)).classed('unknown', (t) => t.unknown);
  rows.select('.nt-prob').text((t) => pct(t.prob));
  rows.select('.nt-bar-raw').style('width', (t) => `${(100 * Math.max(0, t.prob)) / maxP}%`);
  rows.select('.nt-bar-sampled').style('width', (t) => `${(100 * Math.max(0, t.sampledProb)) / maxP}%`);
  rows.select('.nt-sampled').text((t) => (t.sampledProb > 0 ? pct(t.sampledProb) : 'cut'));
  rows.select('.nt-logit').text((t) => num(t.logit, 2));

  const km = Number.isFinite(d.probe.keptMass) ? Math.min(1, Math.max(0, d.probe.keptMass)) : 0;
  keptFill.style('width', `${km * 100}%`);
  const s = d.probe.sampling;
  const how = s.temperature === 0 ? 'greedy: only the most likely token' : `temperature ${num(s.temperature, 2)}`
    + (s.topK > 0 ? `, top-k ${s.topK}` : '') + (s.topP < 1 ? `, top-p ${num(s.topP, 2)}` : '');
  keptText.text(`kept mass ${pct(km)} (${how})`);
  kept.attr('title', 'the model’s probability of the tokens the sampler can still draw');
}

function lensCell(s: Score | undefined): string {
  return s ? `${showToken(s.text, 10)} ${pct(s.prob)}` : '';
}

function renderLens(d: NextTokenData): void {
  const layers = d.lens.layers;
  const L = layers.length;
  const T = layers[0]?.length ?? 0;
  lensCheck.property('checked', lensAll);
  if (L === 0 || T === 0) {
    lensTable.selectAll('*').remove();
    lensNote.text('No logit lens for this model.');
    return;
  }
  const final = layers[L - 1][T - 1].top[0];
  const [r, g, b] = themeBlue();
  const bg = (p: number): string => `rgba(${r}, ${g}, ${b}, ${(0.06 + 0.6 * Math.sqrt(Math.max(0, Math.min(1, p)))).toFixed(3)})`;
  const rowName = (l: number): string => (l === 0 ? 'embeddings' : l === L - 1 ? `block ${l} (output)` : `block ${l}`);

  let columns: { key: string; label: string; title: string; cell: (l: number) => Score | undefined }[];
  if (!lensAll) {
    const k = Math.min(5, layers[0][T - 1].top.length);
    columns = d3.range(k).map((j) => ({ key: `r${j}`, label: `#${j + 1}`, title: `the ${j + 1}. most likely token at the last position`,
      cell: (l: number) => layers[l][T - 1].top[j] }));
    lensNote.text(`What each layer would predict after the last token if the model stopped there (read through the final norm and the output head). ${final ? `The output’s top token “${showToken(final.text, 16)}” is outlined wherever it appears.` : ''}`);
  } else {
    const from = Math.max(0, T - LENS_COLUMNS);
    const toks = d.lens.tokens;
    columns = d3.range(from, T).map((t) => ({ key: `p${t}`, label: showToken(toks[t]?.text ?? '?', 6), title: `after token ${t + 1} ${JSON.stringify(toks[t]?.text ?? '')}`,
      cell: (l: number) => layers[l][t].top[0] }));
    lensNote.text(`The top prediction after every position${from > 0 ? ` (the last ${T - from} of ${T})` : ''}; columns are the token just read, cells what comes next.`);
  }

  lensTable.selectAll<HTMLTableSectionElement, number>('thead').data([0]).join('thead')
    .selectAll<HTMLTableRowElement, number>('tr').data([0]).join('tr')
    .selectAll<HTMLTableCellElement, { key: string; label: string; title: string }>('th')
    .data([{ key: 'layer', label: 'layer', title: '' }, ...columns], (c) => c.key)
    .join('th')
    .attr('scope', 'col')
    .attr('class', (c) => (c.key === 'layer' ? 'nt-lens-layer' : lensAll ? 'mono' : null))
    .attr('title', (c) => c.title || null)
    .text((c) => c.label);
  const rows = lensTable.selectAll<HTMLTableSectionElement, number>('tbody').data([0]).join('tbody')
    .selectAll<HTMLTableRowElement, number>('tr')
    .data(d3.range(L), (l) => String(l))
    .join('tr');
  rows.selectAll<HTMLTableCellElement, { l: number; c: (typeof columns)[number] | null }>('th, td')
    .data((l) => [{ l, c: null }, ...columns.map((c) => ({ l, c }))], (x) => x.c?.key ?? 'layer')
    .join((enter) => enter.append((x) => document.createElement(x.c ? 'td' : 'th')))
    .attr('scope', (x) => (x.c ? null : 'row'))
    .attr('class', (x) => (x.c ? 'mono nt-lens-cell' : 'nt-lens-layer'))
    .classed('final', (x) => {
      if (!x.c || !final) return false;
      const s = x.c.cell(x.l);
      return !lensAll && s?.id === final.id;
    })
    .style('background-color', (x) => {
      const s = x.c?.cell(x.l);
      return s ? bg(s.prob) : null;
    })
    .text((x) => (x.c ? lensCell(x.c.cell(x.l)) : rowName(x.l)))
    .attr('data-prob', (x) => (x.c ? String(x.c.cell(x.l)?.prob ?? '') : null));
  (lensTable.node() as HTMLTableElement).dataset.rows = String(L);
}

let blueCache: [number, number, number] | null = null;
function themeBlue(): [number, number, number] {
  if (blueCache) return blueCache;
  const probe = app.append('span').style('color', 'var(--vscode-charts-blue, #3794ff)');
  const c = d3.color(getComputedStyle(probe.node()!).color)?.rgb();
  probe.remove();
  blueCache = c ? [c.r, c.g, c.b] : [55, 148, 255];
  return blueCache;
}
new MutationObserver(() => {
  blueCache = null;
  render();
}).observe(document.body, { attributes: true, attributeFilter: ['class', 'data-vscode-theme-kind'] });

// ---------------------------------------------------------------------------------------------------------------
// Interaction

let debounce: ReturnType<typeof setTimeout> | undefined;
let debouncing = false;
sliderRows.select('input').on('input', function (_e, s) {
  const v = Number((this as HTMLInputElement).value);
  settings = sanitize({ ...settings, [s.key]: v });
  renderSliders();
  clearTimeout(debounce);
  debouncing = true;
  debounce = setTimeout(() => {
    debouncing = false;
    if (!data) return;
    pendingResample = channel.request('resample', { ...settings });
    busy.text('updating…');
    save();
  }, DEBOUNCE_MS);
});

sampleButton.on('click', () => {
  if (!data || pendingSample !== null) return;
  pendingSample = channel.request('sampleOne', { ...settings });
  render();
});
resetButton.on('click', () => {
  pendingReset = channel.request('reset', {});
  render();
});
lensCheck.on('change', () => {
  lensAll = lensCheck.property('checked') as boolean;
  if (data) renderLens(data);
  save();
});

barsBody.on('pointermove', (event: PointerEvent) => {
  const tr = (event.target as Element).closest('tr');
  if (!tr) return tooltip.hide();
  const t = d3.select<HTMLTableRowElement, Top>(tr).datum();
  tooltip.show(`${JSON.stringify(t.text)} · id ${t.id}${t.unknown ? ' (unknown)' : ''}\nprobability ${t.prob}\nlogit ${t.logit}\n`
    + (t.sampledProb > 0 ? `sampled with ${t.sampledProb}` : 'cut by the sampling settings'), event.clientX, event.clientY);
});
barsBody.on('pointerleave', () => tooltip.hide());
lensTable.on('pointermove', (event: PointerEvent) => {
  const td = (event.target as Element).closest('td');
  if (!td || !data) return tooltip.hide();
  const x = d3.select<HTMLTableCellElement, { l: number; c: { cell: (l: number) => Score | undefined; title: string } | null }>(td).datum();
  const s = x.c?.cell(x.l);
  if (!s) return tooltip.hide();
  tooltip.show(`${x.l === 0 ? 'embeddings' : `block ${x.l}`} · ${x.c!.title}\n${JSON.stringify(s.text)} · id ${s.id}\nprobability ${s.prob}\nlogit ${s.logit}`, event.clientX, event.clientY);
});
lensTable.on('pointerleave', () => tooltip.hide());

// ---------------------------------------------------------------------------------------------------------------
// Channel

function onData(d: NextTokenData, id: number | undefined): void {
  if (!valid(d)) {
    errorLine.attr('hidden', null).text('Cannot show this next-token data: it is not well formed.');
    return;
  }
  // A reply to an older resample than the newest one is stale: the newer reply will follow.
  if (id !== undefined && pendingResample !== null && id < pendingResample && id !== pendingSample && id !== pendingReset) return;
  errorLine.attr('hidden', '');
  const isSample = id !== undefined && id === pendingSample;
  if (isSample) {
    previousSampled = data?.sampledSoFar ?? '';
    pendingSample = null;
  } else if (d.sampledSoFar === '' || !d.sampledSoFar.startsWith(previousSampled)) previousSampled = d.sampledSoFar;
  if (id !== undefined && id === pendingReset) pendingReset = null;
  if (id !== undefined && id === pendingResample) pendingResample = null;
  data = d;
  // Follow the settings the data was computed with, unless a slider change is on its way to the host.
  if (pendingResample === null && !debouncing) settings = sanitize(d.probe.sampling);
  render();
  save();
}

const channel = connect<'nextToken', State>('nextToken', {
  nextToken: onData,
  error: (params, id) => {
    if (id !== undefined && id === pendingSample) pendingSample = null;
    if (id !== undefined && id === pendingResample) pendingResample = null;
    if (id !== undefined && id === pendingReset) pendingReset = null;
    errorLine.attr('hidden', null).text(typeof params.message === 'string' ? params.message : 'The request failed.');
    render();
  },
});

const saved = channel.state();
if (saved && typeof saved === 'object') {
  settings = sanitize(saved.settings);
  lensAll = saved.lensAll === true;
  if (saved.data && valid(saved.data)) {
    data = saved.data;
    previousSampled = data.sampledSoFar;
  }
}
render();
