// The tokens panel: the selection under every encoding side by side (coloured chunks with ids, whitespace made
// visible, byte escapes), counts and characters per token on the whole file, which tokens the active model knows,
// and, when the model scored the selection, each token's surprise in bits. Long selections are windowed: each
// encoding draws its first chunks and a "show more" button adds more, never thousands of nodes at once.
import * as d3 from 'd3';
import { connect } from '../shared/host';
import { createTooltip } from '../shared/tooltip';
import type { TokenLoss, TokensData } from '../../engine/protocol';

// ---- constants ----
const PAGE = 400; // chunks drawn per encoding, and added per "show more"
const PALETTE = 6; // chunk background colours, cycling
const ENCODINGS = ['o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base', 'char'];
const LN2 = Math.LN2;

interface Chunk {
  i: number;
  id: number;
  text: string; // display form from the engine (\xNN for bytes that are not whole characters)
  start: number;
  end: number;
  byteStart: number;
  byteEnd: number;
  inModel: boolean | null;
  partial: boolean; // holds part of a UTF-8 character
  bits: number | null; // surprise under the model (loss / ln 2), model tokenizer only
  nats: number | null;
}

interface EncodingView {
  encoding: string;
  count: number;
  fileTokens: number;
  charsPerToken: number;
  selCharsPerToken: number;
  isModel: boolean;
  chunks: Chunk[];
  unknown: number; // shown tokens the model does not have
}

interface TokensState {
  version: 1;
  data: TokensData | null;
  shown: Record<string, number>; // chunks drawn per encoding
  colourBy: 'chunk' | 'surprise';
  showIds: boolean;
}

const utf8 = new TextEncoder();
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

// ---- state ----
let state: TokensState = { version: 1, data: null, shown: {}, colourBy: 'chunk', showIds: true };
let views: EncodingView[] = [];
let errorText: string | null = null;

const channel = connect<'tokens', TokensState>('tokens', {
  error: (p) => {
    errorText = typeof p.message === 'string' ? p.message.slice(0, 400) : 'unknown error';
    update();
  },
  tokens: (p) => {
    const t0 = performance.now();
    const data = validate(p);
    if (!data) {
      errorText = 'the tokens data could not be read';
      update();
      return;
    }
    errorText = null;
    state.data = data;
    state.shown = {};
    if (!data.surprise) state.colourBy = 'chunk';
    else state.colourBy = 'surprise';
    views = buildViews(data);
    const t1 = performance.now();
    update();
    // Figures for the tests: building the view model and drawing (ms).
    document.body.dataset.renderMs = `${(t1 - t0).toFixed(1)}/${(performance.now() - t1).toFixed(1)}`;
    // Saving (a structured clone of up to ~1 MB) waits until the first paint is on screen.
    requestAnimationFrame(() => setTimeout(() => channel.saveState(state), 0));
  },
});

/** Checks the payload's shape and drops malformed entries (the host is trusted, but a bad message must not break the view). */
function validate(p: unknown): TokensData | null {
  if (typeof p !== 'object' || p === null) return null;
  const d = p as Partial<TokensData>;
  const c = d.comparison as Partial<TokensData['comparison']> | undefined;
  if (typeof d.selection !== 'string' || !c || !Array.isArray(c.encodings)) return null;
  const encodings = c.encodings.filter((e) => e && typeof e.encoding === 'string' && Array.isArray(e.tokens)).map((e) => ({
    encoding: e.encoding.slice(0, 40),
    tokens: e.tokens.filter((t) => t && isNum(t.id) && typeof t.text === 'string' && isNum(t.start) && isNum(t.end)),
    count: isNum(e.count) ? e.count : e.tokens.length,
    inModel: Array.isArray(e.inModel) ? e.inModel : null,
    fileTokens: isNum(e.fileTokens) ? e.fileTokens : 0,
    charsPerToken: isNum(e.charsPerToken) ? e.charsPerToken : 0,
    bytesPerToken: isNum(e.bytesPerToken) ? e.bytesPerToken : 0,
  }));
  const surprise = Array.isArray(d.surprise)
    ? d.surprise.filter((t) => t && isNum(t.start) && isNum(t.end) && (t.loss === null || isNum(t.loss)))
    : null;
  return {
    source: typeof d.source === 'string' ? d.source.slice(0, 200) : '',
    selection: d.selection,
    comparison: { encodings, fileChars: isNum(c.fileChars) ? c.fileChars : 0, fileBytes: isNum(c.fileBytes) ? c.fileBytes : 0,
      modelTokenizer: typeof c.modelTokenizer === 'string' ? c.modelTokenizer : null },
    surprise: surprise && surprise.length ? surprise : null,
  };
}

function buildViews(data: TokensData): EncodingView[] {
  const selChars = [...data.selection].length;
  const model = data.comparison.modelTokenizer;
  // Surprise by token start offset (the model's tokens are the model tokenizer's chunks of the same text).
  const surpriseAt = new Map<number, TokenLoss>();
  for (const t of data.surprise ?? []) surpriseAt.set(t.start, t);
  const order = (e: string): number => (e === model ? -1 : ENCODINGS.indexOf(e) < 0 ? 99 : ENCODINGS.indexOf(e));
  return [...data.comparison.encodings].sort((a, b) => order(a.encoding) - order(b.encoding)).map((e) => {
    const isModel = e.encoding === model;
    const chunks = e.tokens.map((t, i): Chunk => {
      const s = isModel ? surpriseAt.get(t.start) : undefined;
      const nats = s && s.loss !== null && isNum(s.loss) ? s.loss : null;
      const byteLen = isNum(t.byteEnd) && isNum(t.byteStart) ? t.byteEnd - t.byteStart : utf8.encode(t.text).length;
      return { i, id: t.id, text: t.text, start: t.start, end: t.end, byteStart: t.byteStart, byteEnd: t.byteEnd,
        inModel: e.inModel ? e.inModel[i] !== false : null,
        partial: /\\x[0-9a-f]{2}/.test(t.text) && utf8.encode(t.text).length !== byteLen,
        bits: nats === null ? null : nats / LN2, nats };
    });
    return { encoding: e.encoding, count: e.count, fileTokens: e.fileTokens, charsPerToken: e.charsPerToken,
      selCharsPerToken: e.count ? selChars / e.count : 0, isModel, chunks,
      unknown: chunks.filter((c) => c.inModel === false).length };
  });
}

// ---- render: the skeleton, once ----
const app = d3.select<HTMLElement, unknown>('#app').attr('class', 'tokens-app');
const head = app.append('header').attr('class', 'tok-head');
head.append('h1').text('Tokens');
const subtitle = head.append('div').attr('class', 'subtitle muted');
const errorBox = app.append('div').attr('class', 'banner error').attr('role', 'alert').attr('hidden', true);
const empty = app.append('div').attr('class', 'empty');
empty.append('div').attr('class', 'empty-title').text('No selection yet');
empty.append('div').attr('class', 'muted').text('Select text in the editor and run “GPT Lab: Show tokens of selection”: every encoding’s tokens appear here side by side.');

const body = app.append('div').attr('class', 'tok-body');
const summary = body.append('section').attr('class', 'summary').attr('aria-label', 'token counts per encoding');
const table = summary.append('table').attr('class', 'counts');
table.append('caption').attr('class', 'sr-only').text('Token counts and characters per token for each encoding');
table.append('thead').append('tr').selectAll('th')
  .data(['encoding', 'tokens in selection', 'chars / token (selection)', 'chars / token (whole file)', 'file tokens'])
  .join('th').attr('scope', 'col').attr('class', (_d, i) => (i === 0 ? '' : 'num')).text((d) => d);
const tbody = table.append('tbody');

const controls = body.append('div').attr('class', 'controls').attr('role', 'toolbar').attr('aria-label', 'display options');
const colourGroup = controls.append('div').attr('class', 'seg').attr('role', 'radiogroup').attr('aria-label', 'colour tokens by');
colourGroup.append('span').attr('class', 'muted').text('Colour');
const colourButtons = colourGroup.selectAll<HTMLButtonElement, 'chunk' | 'surprise'>('button')
  .data(['chunk', 'surprise'] as const)
  .join('button').attr('type', 'button').attr('role', 'radio').attr('id', (d) => `colour-${d}`)
  .text((d) => (d === 'chunk' ? 'Chunks' : 'Surprise (bits)'))
  .on('click', (_e, d) => {
    state.colourBy = d;
    channel.saveState(state);
    update();
  });
const idsButton = controls.append('button').attr('type', 'button').attr('class', 'toggle').attr('id', 'show-ids')
  .text('Token ids').on('click', () => {
    state.showIds = !state.showIds;
    channel.saveState(state);
    update();
  });
const legendSurprise = controls.append('div').attr('class', 'surprise-legend').attr('aria-label', 'surprise colour scale');
legendSurprise.append('span').attr('class', 'muted').text('0 bits');
const legendCanvas = legendSurprise.append('canvas').attr('width', 160).attr('height', 10).attr('aria-hidden', 'true');
const legendMax = legendSurprise.append('span').attr('class', 'muted');
const legendKey = controls.append('div').attr('class', 'key muted');
legendKey.append('span').html('<span class="ws">·</span> space &nbsp; <span class="ws">→</span> tab &nbsp; <span class="ws">↵</span> newline &nbsp; <span class="esc">\\xNN</span> part of a character');

const cards = body.append('div').attr('class', 'cards');
const tooltip = createTooltip();

// ---- colours from the theme ----
function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}
let surpriseColour: (bits: number) => string = () => 'transparent';
let maxBits = 1;
function makeSurpriseScale(): void {
  const bg = cssVar('--vscode-editor-background', '#ffffff');
  const lo = cssVar('--vscode-charts-blue', '#1a85ff');
  const hi = cssVar('--vscode-charts-red', '#e51400');
  const mid = cssVar('--vscode-charts-orange', '#d18616');
  // Low surprise stays close to the background (a hint of blue); high surprise is a strong red.
  const ramp = d3.scaleLinear<string>().domain([0, 0.5, 1]).range([d3.interpolateRgb(bg, lo)(0.22), d3.interpolateRgb(bg, mid)(0.5),
    d3.interpolateRgb(bg, hi)(0.8)]).interpolate(d3.interpolateLab).clamp(true);
  surpriseColour = (bits) => ramp(Math.min(1, bits / maxBits));
  const ctx = (legendCanvas.node() as HTMLCanvasElement).getContext('2d');
  if (ctx) {
    for (let x = 0; x < 160; x++) {
      ctx.fillStyle = ramp(x / 159);
      ctx.fillRect(x, 0, 1, 10);
    }
  }
}

// ---- helpers ----
const visible = (text: string): string => text.replace(/ /g, '·').replace(/\t/g, '→').replace(/\r/g, '␍').replace(/\n/g, '↵');
const fmt = d3.format(',');

function chunkLabel(c: Chunk): string {
  return `“${visible(c.text)}” id ${c.id}${c.inModel === false ? ', not in the model' : ''}${c.bits !== null ? `, ${c.bits.toFixed(2)} bits` : ''}`;
}

function tooltipText(v: EncodingView, c: Chunk): string {
  const lines = [`${v.encoding} · token ${fmt(c.i + 1)} of ${fmt(v.count)}`, `text   “${visible(c.text)}”`, `id     ${c.id}`,
    `chars  ${c.start}–${c.end}   bytes ${c.byteStart}–${c.byteEnd} (${c.byteEnd - c.byteStart})`];
  if (c.partial) lines.push('holds part of a UTF-8 character');
  if (c.inModel !== null) lines.push(c.inModel ? 'in the model’s vocabulary' : 'NOT in the model’s vocabulary (maps to <unk>)');
  if (v.isModel && state.data?.surprise) {
    lines.push(c.bits === null ? 'surprise  – (first token: nothing before it)' : `surprise  ${c.bits.toFixed(3)} bits  (${c.nats!.toFixed(3)} nats)`);
  }
  return lines.join('\n');
}


/** Highlights, in every encoding, the chunks that overlap the characters [start, end). */
function highlight(range: { start: number; end: number } | null): void {
  cards.selectAll<HTMLSpanElement, Item>('span.tok').classed('linked', (d) =>
    range !== null && d.kind === 'tok' && d.c.start < range.end && d.c.end > range.start);
}

// ---- update ----
function update(): void {
  const data = state.data;
  errorBox.attr('hidden', errorText ? null : true).text(errorText ?? '');
  empty.attr('hidden', data ? true : null);
  body.attr('hidden', data ? null : true);
  if (!data) {
    subtitle.text('');
    return;
  }
  const selChars = [...data.selection].length;
  subtitle.text(`${data.source || 'selection'} · ${fmt(selChars)} characters selected · file ${fmt(data.comparison.fileChars)} characters` +
    (data.comparison.modelTokenizer ? ` · model tokenizer ${data.comparison.modelTokenizer}` : ' · no model trained yet'));

  // Surprise scale over the shown tokens (95th percentile, so one outlier does not wash out the rest).
  const bits = views.flatMap((v) => v.chunks.map((c) => c.bits)).filter((b): b is number => b !== null);
  maxBits = bits.length ? Math.max(1, d3.quantile(bits.sort(d3.ascending), 0.95) ?? 1) : 1;
  makeSurpriseScale();
  const hasSurprise = !!data.surprise;
  colourButtons.attr('aria-checked', (d) => String(state.colourBy === d)).classed('on', (d) => state.colourBy === d)
    .attr('disabled', (d) => (d === 'surprise' && !hasSurprise ? true : null))
    .attr('title', (d) => (d === 'surprise' && !hasSurprise ? 'train a model to see how surprised it is by each token' : null));
  idsButton.attr('aria-pressed', String(state.showIds)).classed('on', state.showIds);
  legendSurprise.attr('hidden', state.colourBy === 'surprise' && hasSurprise ? null : true);
  legendMax.text(`${maxBits.toFixed(1)}+ bits`);

  updateSummary();
  updateCards();
}

function updateSummary(): void {
  const maxCpt = d3.max(views, (v) => v.charsPerToken) ?? 1;
  const minCount = d3.min(views.filter((v) => v.count > 0), (v) => v.count) ?? 0;
  const rows = tbody.selectAll<HTMLTableRowElement, EncodingView>('tr')
    .data(views, (v) => v.encoding)
    .join((enter) => {
      const tr = enter.append('tr');
      const name = tr.append('th').attr('scope', 'row');
      name.append('span').attr('class', 'enc-name mono');
      name.append('span').attr('class', 'badge');
      tr.append('td').attr('class', 'num count mono');
      tr.append('td').attr('class', 'num sel-cpt mono');
      const cpt = tr.append('td').attr('class', 'num file-cpt');
      const bar = cpt.append('span').attr('class', 'bar');
      bar.append('span').attr('class', 'fill');
      cpt.append('span').attr('class', 'mono val');
      tr.append('td').attr('class', 'num file-tokens mono');
      return tr;
    });
  rows.attr('data-encoding', (v) => v.encoding).classed('model', (v) => v.isModel);
  rows.select('.enc-name').text((v) => v.encoding);
  rows.select('.badge').attr('hidden', (v) => (v.isModel ? null : true)).text('model');
  rows.select('td.count').text((v) => fmt(v.count)).classed('fewest', (v) => v.count === minCount && v.count > 0)
    .attr('title', (v) => (v.count === minCount ? 'the fewest tokens' : null));
  rows.select('td.sel-cpt').text((v) => (v.count ? v.selCharsPerToken.toFixed(2) : '–'));
  rows.select('td.file-cpt .fill').style('width', (v) => `${(100 * v.charsPerToken) / maxCpt}%`);
  rows.select('td.file-cpt .val').text((v) => v.charsPerToken.toFixed(2));
  rows.select('td.file-tokens').text((v) => fmt(v.fileTokens));
}

type Item = { kind: 'tok'; c: Chunk } | { kind: 'br'; after: number };

function updateCards(): void {
  const sel = cards.selectAll<HTMLElement, EncodingView>('section.card')
    .data(views, (v) => v.encoding)
    .join((enter) => {
      const card = enter.append('section').attr('class', 'card');
      const h = card.append('header');
      h.append('h2').attr('class', 'mono');
      h.append('span').attr('class', 'badge');
      h.append('span').attr('class', 'card-stats muted');
      h.append('span').attr('class', 'unknown');
      card.append('div').attr('class', 'chunks').attr('role', 'list').attr('tabindex', 0)
        .on('keydown', onChunksKey)
        .on('blur', () => { tooltip.hide(); highlight(null); });
      const more = card.append('div').attr('class', 'more-row');
      more.append('button').attr('type', 'button').attr('class', 'secondary more');
      more.append('span').attr('class', 'muted cap-note');
      return card;
    });
  sel.attr('data-encoding', (v) => v.encoding).classed('model', (v) => v.isModel)
    .classed('surprise', (v) => v.isModel && state.colourBy === 'surprise' && !!state.data?.surprise)
    .classed('no-ids', !state.showIds)
    // Hand the card's datum to its own parts (not to the chunks, which carry their own).
    .each(function (v) { d3.select(this).selectAll(':scope > header *, :scope > .more-row *, :scope > .chunks').datum(v); });
  sel.select('h2').text((v) => v.encoding);
  sel.select('header .badge').attr('hidden', (v) => (v.isModel ? null : true)).text('model tokenizer');
  sel.select('.card-stats').text((v) => `${fmt(v.count)} tokens · ${v.count ? v.selCharsPerToken.toFixed(2) : '–'} chars/token`);
  sel.select('.unknown').attr('hidden', (v) => (v.unknown ? null : true))
    .text((v) => `${fmt(v.unknown)} not in the model’s vocabulary`);
  sel.select('.chunks').attr('aria-label', (v) => `${v.encoding}: ${v.count} tokens; arrow keys step through them`);

  sel.select<HTMLDivElement>('.chunks').each(function (v) {
    const shown = Math.min(v.chunks.length, state.shown[v.encoding] ?? PAGE);
    const items: Item[] = [];
    for (const c of v.chunks.slice(0, shown)) {
      items.push({ kind: 'tok', c });
      if (c.text.endsWith('\n')) items.push({ kind: 'br', after: c.i });
    }
    const surprise = v.isModel && state.colourBy === 'surprise' && !!state.data?.surprise;
    d3.select(this).selectAll<HTMLElement, Item>(':scope > span')
      .data(items, (d) => (d.kind === 'tok' ? `t${d.c.i}` : `b${d.after}`))
      .join((enter) => enter.append('span').each(function (d) {
        const el = d3.select(this);
        if (d.kind === 'br') {
          el.attr('class', 'br').attr('aria-hidden', 'true');
          return;
        }
        const c = d.c;
        el.attr('role', 'listitem').attr('data-i', c.i).attr('data-id', c.id);
        const t = el.append('span').attr('class', 'txt');
        // Byte escapes styled apart from the text around them.
        for (const part of c.text.split(/(\\x[0-9a-f]{2})/)) {
          if (!part) continue;
          if (c.partial && /^\\x[0-9a-f]{2}$/.test(part)) t.append('span').attr('class', 'esc').text(part);
          else appendVisible(t, part);
        }
        el.append('span').attr('class', 'id').text(c.id);
      }))
      .filter((d) => d.kind === 'tok')
      .attr('class', (d) => {
        const c = (d as { c: Chunk }).c;
        return `tok c${c.i % PALETTE}${c.inModel === false ? ' unk' : ''}${c.partial ? ' partial' : ''}`;
      })
      .attr('aria-label', (d) => chunkLabel((d as { c: Chunk }).c))
      .style('background-color', (d) => {
        const c = (d as { c: Chunk }).c;
        return surprise && c.bits !== null ? surpriseColour(c.bits) : null;
      })
      .on('pointerenter', (e: PointerEvent, d) => {
        const c = (d as { c: Chunk }).c;
        highlight(c);
        tooltip.show(tooltipText(v, c), e.clientX, e.clientY);
      })
      .on('pointermove', (e: PointerEvent, d) => tooltip.show(tooltipText(v, (d as { c: Chunk }).c), e.clientX, e.clientY))
      .on('pointerleave', () => { tooltip.hide(); highlight(null); });
  });

  sel.select('.more-row').attr('hidden', (v) => (v.chunks.length > (state.shown[v.encoding] ?? PAGE) || v.count > v.chunks.length ? null : true));
  sel.select<HTMLButtonElement>('button.more')
    .attr('hidden', (v) => (v.chunks.length > (state.shown[v.encoding] ?? PAGE) ? null : true))
    .text((v) => {
      const shown = Math.min(v.chunks.length, state.shown[v.encoding] ?? PAGE);
      return `Show ${fmt(Math.min(PAGE, v.chunks.length - shown))} more (${fmt(shown)} of ${fmt(v.chunks.length)} shown)`;
    })
    .on('click', (_e, v) => {
      state.shown[v.encoding] = Math.min(v.chunks.length, (state.shown[v.encoding] ?? PAGE) + PAGE);
      channel.saveState(state);
      update();
    });
  sel.select('.cap-note').text((v) => (v.count > v.chunks.length
    ? `the first ${fmt(v.chunks.length)} of ${fmt(v.count)} tokens are compared; the counts cover all of them` : ''));
}

/** Appends text with visible whitespace: the markers are styled apart from the characters. */
function appendVisible(parent: d3.Selection<HTMLSpanElement, unknown, null, undefined>, text: string): void {
  for (const part of text.split(/([ \t\r\n]+)/)) {
    if (!part) continue;
    if (/^[ \t\r\n]+$/.test(part)) parent.append('span').attr('class', 'ws').text(visible(part));
    else parent.append('span').text(part);
  }
}

/** One tab stop per encoding; arrows move a focus ring over its chunks and show the readout. */
function onChunksKey(this: HTMLElement, e: KeyboardEvent, v: EncodingView): void {
  const toks = Array.from(this.querySelectorAll<HTMLElement>(':scope > span.tok'));
  if (!toks.length) return;
  let at = toks.findIndex((t) => t.classList.contains('active'));
  if (e.key === 'ArrowRight') at = Math.min(toks.length - 1, at + 1);
  else if (e.key === 'ArrowLeft') at = Math.max(0, at < 0 ? 0 : at - 1);
  else if (e.key === 'Home') at = 0;
  else if (e.key === 'End') at = toks.length - 1;
  else if (e.key === 'Escape') {
    toks.forEach((t) => t.classList.remove('active'));
    tooltip.hide();
    highlight(null);
    return;
  } else return;
  e.preventDefault();
  toks.forEach((t, i) => t.classList.toggle('active', i === at));
  const el = toks[at];
  el.scrollIntoView({ block: 'nearest' });
  const c = v.chunks[Number(el.dataset.i)];
  highlight(c);
  const r = el.getBoundingClientRect();
  tooltip.show(tooltipText(v, c), r.left, r.bottom - 8);
}

// ---- start: redraw from the saved state before any message ----
function restore(raw: unknown): void {
  if (typeof raw !== 'object' || raw === null || (raw as TokensState).version !== 1) return;
  const s = raw as TokensState;
  const data = s.data ? validate(s.data) : null;
  state = { version: 1, data, shown: typeof s.shown === 'object' && s.shown ? s.shown : {},
    colourBy: s.colourBy === 'surprise' ? 'surprise' : 'chunk', showIds: s.showIds !== false };
  views = data ? buildViews(data) : [];
}
restore(channel.state());
update();
