/**
 * The embeddings view: a 2-D PCA scatter of the model's whole vocabulary (canvas, zoom and pan, labels on demand),
 * nearest neighbours of a token by cosine, and an analogy box a − b + c → nearest. The host answers the view's
 * `neighbours` and `analogy` requests with the message of the same name, or an `error` that is shown next to the
 * input that caused it.
 */
import { select, type Selection } from 'd3-selection';
import type { AnalogyResult, Neighbour, NeighboursData, ProjectionData } from '../../engine/protocol';
import { connect } from '../shared/host';
import { cos3, num, percent, visible } from './format';
import { Scatter, type Highlight, type SavedTransform } from './scatter';

interface State {
  projection: ProjectionData | null;
  neighbours: NeighboursData | null;
  analogy: AnalogyResult | null;
  /** Which result the scatter highlights. */
  active: 'neighbours' | 'analogy' | null;
  query: string;
  a: string;
  b: string;
  c: string;
  k: number;
  transform: SavedTransform | null;
}

const MAX_POINTS = 300_000;
const MAX_K = 50;
const DEFAULT_K = 10;
/** Analogies list their top few, as the word2vec examples do. */
const ANALOGY_K = 5;

let state: State = { projection: null, neighbours: null, analogy: null, active: null, query: '', a: '', b: '', c: '', k: DEFAULT_K, transform: null };
let idToIndex = new Map<number, number>();
const pending: { neighbours: number | null; analogy: number | null } = { neighbours: null, analogy: null };

// ---- the page ---------------------------------------------------------------------------------------------------

const app = select(document.getElementById('app') ?? document.body.appendChild(document.createElement('main')))
  .attr('class', 'embeddings');

const head = app.append('header').attr('class', 'head');
const titles = head.append('div').attr('class', 'titles');
titles.append('h1').text('Embeddings');
const summary = titles.append('p').attr('class', 'summary muted').attr('aria-live', 'polite');
const tools = head.append('div').attr('class', 'tools');
const fitButton = tools.append('button').attr('type', 'button').attr('class', 'secondary').text('Zoom to highlighted')
  .attr('title', 'Zoom the scatter to the highlighted tokens').property('disabled', true);
const resetButton = tools.append('button').attr('type', 'button').attr('class', 'secondary').text('Reset view')
  .attr('title', 'Show the whole vocabulary (key 0 on the plot)');
const copyButton = tools.append('button').attr('type', 'button').attr('class', 'secondary').text('Copy coordinates')
  .attr('title', 'Copy every token with its PC1 and PC2 as tab-separated text');

const banner = app.append('p').attr('class', 'banner error').attr('role', 'alert').property('hidden', true);

const legend = app.append('ul').attr('class', 'legend').attr('aria-label', 'Legend');
const legendItems: [string, string][] = [
  ['token', 'token'], ['unknown', '<unk>'], ['query', 'query and neighbours'], ['terms', 'a, b, c'], ['result', 'analogy result'],
];
legend.selectAll('li').data(legendItems, (d) => (d as [string, string])[0]).join('li')
  .attr('class', (d) => `legend-${d[0]}`)
  .call((li) => li.append('span').attr('class', (d) => `swatch swatch-${d[0]}`).attr('aria-hidden', 'true'))
  .call((li) => li.append('span').text((d) => d[1]));

const layout = app.append('div').attr('class', 'layout');
const scatter = new Scatter(layout.node() as HTMLDivElement);
const side = layout.append('aside').attr('class', 'side').attr('aria-label', 'Queries');

// nearest neighbours
const nb = side.append('section').attr('class', 'card').attr('aria-labelledby', 'nb-title');
nb.append('h2').attr('id', 'nb-title').text('Nearest neighbours');
const nbForm = nb.append('form').attr('class', 'row').attr('aria-label', 'Nearest neighbours of a token');
nbForm.append('label').attr('for', 'nb-token').attr('class', 'sr-only').text('Token');
const nbInput = nbForm.append('input').attr('type', 'text').attr('id', 'nb-token').attr('class', 'token-input grow')
  .attr('placeholder', 'a token, e.g. e').attr('spellcheck', 'false').attr('autocomplete', 'off')
  .attr('aria-describedby', 'nb-error');
nbForm.append('label').attr('for', 'nb-k').attr('class', 'k-label muted').attr('title', 'How many nearest tokens to list').text('k');
const kInput = nbForm.append('input').attr('type', 'number').attr('id', 'nb-k').attr('class', 'k-input')
  .attr('min', 1).attr('max', MAX_K).attr('step', 1).attr('title', 'How many nearest tokens to list');
nbForm.append('button').attr('type', 'submit').text('Find');
const nbError = nb.append('p').attr('id', 'nb-error').attr('class', 'field-error').attr('role', 'alert').property('hidden', true);
const nbCaption = nb.append('p').attr('id', 'nb-caption').attr('class', 'caption muted');
const nbTable = nb.append('table').attr('class', 'results').attr('id', 'nb-table');
nbTable.append('caption').attr('class', 'sr-only').text('Nearest neighbours by cosine similarity');
nbTable.append('thead').append('tr').selectAll('th').data(['#', 'token', 'cosine']).join('th').attr('scope', 'col').text((d) => d);
const nbBody = nbTable.append('tbody');

// analogy
const an = side.append('section').attr('class', 'card').attr('aria-labelledby', 'an-title');
an.append('h2').attr('id', 'an-title').text('Analogy');
const anForm = an.append('form').attr('class', 'row analogy-row').attr('aria-label', 'Analogy a minus b plus c');
const term = (id: string, label: string, placeholder: string): Selection<HTMLInputElement, unknown, null, undefined> => {
  anForm.append('label').attr('for', id).attr('class', 'sr-only').text(label);
  return anForm.append('input').attr('type', 'text').attr('id', id).attr('class', 'token-input term')
    .attr('placeholder', placeholder).attr('spellcheck', 'false').attr('autocomplete', 'off').attr('aria-describedby', 'an-error');
};
const aInput = term('an-a', 'a', 'a');
anForm.append('span').attr('class', 'op').attr('aria-hidden', 'true').text('−');
const bInput = term('an-b', 'minus b', 'b');
anForm.append('span').attr('class', 'op').attr('aria-hidden', 'true').text('+');
const cInput = term('an-c', 'plus c', 'c');
anForm.append('button').attr('type', 'submit').attr('aria-label', 'Find a minus b plus c').text('→');
an.append('p').attr('class', 'hint muted').text('Cosine-nearest to a − b + c, leaving out a, b and c.');
const anError = an.append('p').attr('id', 'an-error').attr('class', 'field-error').attr('role', 'alert').property('hidden', true);
const anCaption = an.append('p').attr('id', 'an-caption').attr('class', 'caption muted');
const anTable = an.append('table').attr('class', 'results').attr('id', 'an-table');
anTable.append('caption').attr('class', 'sr-only').text('Analogy results by cosine similarity');
anTable.append('thead').append('tr').selectAll('th').data(['#', 'token', 'cosine']).join('th').attr('scope', 'col').text((d) => d);
const anBody = anTable.append('tbody');

// the text alternative of the highlights: the highlighted tokens with their coordinates
const srTable = app.append('table').attr('class', 'sr-only').attr('id', 'highlight-table');
srTable.append('caption').text('Highlighted tokens in the scatter, with their coordinates');
srTable.append('thead').append('tr').selectAll('th').data(['role', 'token', 'PC1', 'PC2']).join('th').text((d) => d);
const srBody = srTable.append('tbody');

// ---- the channel --------------------------------------------------------------------------------------------------

const channel = connect<'embeddings', State>('embeddings', {
  projection: (params) => {
    const t0 = performance.now();
    const projection = cleanProjection(params);
    if (!projection) return showBanner('The host sent embeddings this view cannot read.');
    const replay = state.projection !== null && sameProjection(state.projection, projection);
    state.projection = projection;
    if (!replay) {
      state.neighbours = null;
      state.analogy = null;
      state.active = null;
      state.transform = null;
    }
    showProjection(replay ? state.transform : null);
    app.attr('data-paint-ms', (performance.now() - t0).toFixed(1));
    saveSoon(); // after the first paint: serialising 10k points costs more than drawing them
  },
  neighbours: (params, id) => {
    if (id !== undefined && pending.neighbours !== null && id !== pending.neighbours) return; // a stale reply
    pending.neighbours = null;
    const data = cleanNeighbours(params);
    if (!data) return showFieldError('neighbours', 'The reply could not be read.');
    clearFieldError('neighbours');
    state.neighbours = data;
    state.active = 'neighbours';
    renderNeighbours();
    renderHighlight();
    save();
  },
  analogy: (params, id) => {
    if (id !== undefined && pending.analogy !== null && id !== pending.analogy) return;
    pending.analogy = null;
    const data = cleanAnalogy(params);
    if (!data) return showFieldError('analogy', 'The reply could not be read.');
    clearFieldError('analogy');
    state.analogy = data;
    state.active = 'analogy';
    renderAnalogy();
    renderHighlight();
    save();
  },
  error: (params, id) => {
    const message = typeof params.message === 'string' && params.message ? params.message : 'Something went wrong.';
    if (id !== undefined && id === pending.neighbours) {
      pending.neighbours = null;
      showFieldError('neighbours', message);
    } else if (id !== undefined && id === pending.analogy) {
      pending.analogy = null;
      showFieldError('analogy', message);
    } else {
      showBanner(message);
    }
  },
});

// ---- requests -----------------------------------------------------------------------------------------------------

function currentK(): number {
  const k = Math.round(Number(kInput.property('value')));
  return Number.isFinite(k) ? Math.min(MAX_K, Math.max(1, k)) : DEFAULT_K;
}

function askNeighbours(token: string): void {
  const k = currentK();
  kInput.property('value', k);
  nbInput.property('value', token);
  state.query = token;
  state.k = k;
  if (token.length === 0) return showFieldError('neighbours', 'Type a token first.');
  clearFieldError('neighbours');
  pending.neighbours = channel.request('neighbours', { token, k });
  nbCaption.text(`Looking up ${visible(token)}…`);
  nb.attr('aria-busy', 'true');
  save();
}

function askAnalogy(): void {
  const [a, b, c] = [aInput, bInput, cInput].map((i) => String(i.property('value')));
  const k = ANALOGY_K;
  Object.assign(state, { a, b, c });
  const missing = [['a', a], ['b', b], ['c', c]].filter(([, v]) => v.length === 0).map(([n]) => n);
  if (missing.length > 0) return showFieldError('analogy', `Fill in ${missing.join(', ')}: each is one token.`);
  clearFieldError('analogy');
  pending.analogy = channel.request('analogy', { a, b, c, k });
  anCaption.text(`Looking up ${visible(a)} − ${visible(b)} + ${visible(c)}…`);
  an.attr('aria-busy', 'true');
  save();
}

/** Queries a token of the scatter or of a table (the unknown token has no text to look up). */
function pick(token: { text: string; unknown: boolean }): void {
  if (token.unknown) return showFieldError('neighbours', 'The unknown token <unk> stands for text the model never saw; it has no text to look up.');
  askNeighbours(token.text);
  (nbInput.node() as HTMLInputElement).scrollIntoView({ block: 'nearest' });
}

nbForm.on('submit', (event: SubmitEvent) => {
  event.preventDefault();
  askNeighbours(String(nbInput.property('value')));
});
anForm.on('submit', (event: SubmitEvent) => {
  event.preventDefault();
  askAnalogy();
});
for (const [input, key] of [[nbInput, 'query'], [aInput, 'a'], [bInput, 'b'], [cInput, 'c']] as const) {
  input.on('input', () => {
    state[key] = String(input.property('value'));
    input.attr('aria-invalid', null);
    saveSoon();
  });
}
kInput.on('change', () => {
  state.k = currentK();
  saveSoon();
});

scatter.onPick = (i) => {
  const p = state.projection?.points[i];
  if (p) pick(p);
};
scatter.onTransform = (t) => {
  state.transform = t;
  app.attr('data-zoom', t.k.toFixed(3));
  saveSoon();
};
scatter.onDrawn = (s) => {
  app.attr('data-points', s.points).attr('data-visible', s.visible).attr('data-labels', s.labels);
};
fitButton.on('click', () => scatter.fit(highlightIndices()));
resetButton.on('click', () => scatter.reset());
copyButton.on('click', () => void copyCoordinates());

// ---- rendering ----------------------------------------------------------------------------------------------------

function showProjection(transform: SavedTransform | null): void {
  const p = state.projection;
  if (!p) return;
  idToIndex = new Map(p.points.map((pt, i) => [pt.id, i]));
  scatter.setData(p.points, p.explained, transform ?? undefined);
  const unknown = p.points.filter((pt) => pt.unknown).length;
  const [e1, e2] = p.explained.map(percent);
  summary.text(`${thousands(p.points.length)} tokens${unknown ? ` (${unknown} unknown)` : ''} · PCA of the input embeddings` +
    (e1 && e2 ? ` · PC1 and PC2 explain ${(((p.explained[0] + p.explained[1]) * 100)).toFixed(1)}% of the variance` : ''));
  legend.select('.legend-unknown').property('hidden', unknown === 0);
  renderNeighbours();
  renderAnalogy();
  renderHighlight();
}

/** 7,000 (without Intl, whose first use costs more than drawing the scatter). */
const thousands = (n: number): string => String(n).replace(/\B(?=(\d{3})+$)/g, ',');

const index = (id: number): number => idToIndex.get(id) ?? -1;

function highlightIndices(): number[] {
  if (state.active === 'neighbours' && state.neighbours) {
    return [index(state.neighbours.id), ...state.neighbours.nearest.map((n) => index(n.id))].filter((i) => i >= 0);
  }
  if (state.active === 'analogy' && state.analogy) {
    const r = state.analogy;
    return [r.a, r.b, r.c, ...r.nearest.slice(0, 3)].map((t) => index(t.id)).filter((i) => i >= 0);
  }
  return [];
}

function renderHighlight(): void {
  let h: Highlight | null = null;
  const rows: { role: string; id: number; text: string }[] = [];
  if (state.active === 'neighbours' && state.neighbours) {
    const d = state.neighbours;
    h = { kind: 'neighbours', query: index(d.id), nearest: d.nearest.map((n) => index(n.id)) };
    rows.push({ role: 'query', id: d.id, text: d.query }, ...d.nearest.map((n, i) => ({ role: `neighbour ${i + 1}`, id: n.id, text: n.text })));
  } else if (state.active === 'analogy' && state.analogy) {
    const r = state.analogy;
    h = { kind: 'analogy', a: index(r.a.id), b: index(r.b.id), c: index(r.c.id), nearest: r.nearest.map((n) => index(n.id)) };
    rows.push({ role: 'a', ...r.a }, { role: 'b', ...r.b }, { role: 'c', ...r.c }, ...r.nearest.map((n, i) => ({ role: `result ${i + 1}`, id: n.id, text: n.text })));
  }
  if (state.projection) scatter.setHighlight(h);
  fitButton.property('disabled', highlightIndices().length === 0);
  nb.classed('active', state.active === 'neighbours');
  an.classed('active', state.active === 'analogy');
  srBody.selectAll<HTMLTableRowElement, (typeof rows)[number]>('tr').data(rows, (d) => `${d.role}:${d.id}`).join('tr')
    .selectAll('td').data((d) => {
      const p = state.projection?.points[index(d.id)];
      return [d.role, visible(d.text), p ? num(p.x) : '—', p ? num(p.y) : '—'];
    }).join('td').text((d) => d);
}

function renderNeighbours(): void {
  nb.attr('aria-busy', null);
  const d = state.neighbours;
  nbCaption.text(d ? `Nearest to ${visible(d.query)} (id ${d.id}) by cosine` : 'Type a token, or click a point in the scatter.');
  resultRows(nbBody, d?.nearest ?? [], 'neighbours');
}

function renderAnalogy(): void {
  an.attr('aria-busy', null);
  const r = state.analogy;
  anCaption.text(r ? analogyCaption(r) : 'For a char model, try a − A + B.');
  resultRows(anBody, r?.nearest ?? [], 'analogy');
}

function analogyCaption(r: AnalogyResult): string {
  const best = r.nearest[0];
  return `${visible(r.a.text)} − ${visible(r.b.text)} + ${visible(r.c.text)} → ${best ? visible(best.text) : 'nothing'}`;
}

/** A ranked table of tokens with their cosine and a bar; rows are keyed by token id, focusable and clickable. */
function resultRows(body: Selection<HTMLTableSectionElement, unknown, null, undefined>, rows: Neighbour[], kind: 'neighbours' | 'analogy'): void {
  const maxAbs = Math.max(1e-9, ...rows.map((r) => Math.abs(r.cosine)));
  body.selectAll<HTMLTableRowElement, Neighbour>('tr')
    .data(rows, (d) => d.id)
    .join((enter) => {
      const tr = enter.append('tr').attr('tabindex', 0);
      tr.append('td').attr('class', 'rank');
      tr.append('td').attr('class', 'token mono');
      const cell = tr.append('td').attr('class', 'cosine');
      cell.append('span').attr('class', 'value');
      cell.append('span').attr('class', 'bar').attr('aria-hidden', 'true').append('span').attr('class', 'fill');
      return tr;
    })
    .order()
    .attr('data-id', (d) => d.id)
    .attr('data-cosine', (d) => d.cosine)
    .classed('best', (_, i) => i === 0 && kind === 'analogy')
    .classed('unknown', (d) => d.unknown)
    .attr('aria-label', (d, i) => `${i + 1}. ${visible(d.text)}${d.unknown ? ' (unknown)' : ''}, cosine ${cos3(d.cosine)}. Enter to look up its neighbours.`)
    .call((tr) => tr.select('.rank').text((_, i) => i + 1))
    .call((tr) => tr.select('.token').text((d) => visible(d.text)).attr('title', (d) => `id ${d.id}`))
    .call((tr) => tr.select('.value').text((d) => cos3(d.cosine)).attr('title', (d) => String(d.cosine)))
    .call((tr) => tr.select('.fill')
      .classed('negative', (d) => d.cosine < 0)
      .style('width', (d) => `${(100 * Math.abs(d.cosine)) / maxAbs}%`))
    .on('click', (_, d) => pick(d))
    .on('keydown', (event: KeyboardEvent, d) => {
      const row = event.currentTarget as HTMLTableRowElement;
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        pick(d);
      } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        const next = (event.key === 'ArrowDown' ? row.nextElementSibling : row.previousElementSibling) as HTMLElement | null;
        next?.focus();
      }
    })
    .on('mouseenter focus', (_, d) => scatter.setEmphasis(index(d.id)))
    .on('mouseleave blur', () => scatter.setEmphasis(-1));
}

function showFieldError(kind: 'neighbours' | 'analogy', message: string): void {
  const [box, caption, inputs] = kind === 'neighbours'
    ? [nbError, nbCaption, [nbInput]] : [anError, anCaption, [aInput, bInput, cInput]];
  box.property('hidden', false).text(message);
  (kind === 'neighbours' ? nb : an).attr('aria-busy', null);
  caption.text(kind === 'neighbours' ? (state.neighbours ? `Nearest to ${visible(state.neighbours.query)} by cosine` : '') :
    (state.analogy ? analogyCaption(state.analogy) : ''));
  // mark the input the message is about ("“zz” is 2 tokens…"), or all of them
  const quoted = /^"([^"]*)"/.exec(message)?.[1];
  const culprits = inputs.filter((i) => quoted !== undefined && i.property('value') === quoted);
  for (const i of inputs) i.attr('aria-invalid', (culprits.length ? culprits : inputs).includes(i) ? 'true' : null);
}

function clearFieldError(kind: 'neighbours' | 'analogy'): void {
  const [box, inputs] = kind === 'neighbours' ? [nbError, [nbInput]] : [anError, [aInput, bInput, cInput]];
  box.property('hidden', true).text('');
  for (const i of inputs) i.attr('aria-invalid', null);
}

function showBanner(message: string): void {
  banner.property('hidden', false).text(message);
}

async function copyCoordinates(): Promise<void> {
  const p = state.projection;
  if (!p) return;
  const tsv = ['id\ttoken\tunknown\tpc1\tpc2', ...p.points.map((pt) => `${pt.id}\t${visible(pt.text)}\t${pt.unknown}\t${pt.x}\t${pt.y}`)].join('\n');
  try {
    await navigator.clipboard.writeText(tsv);
    copyButton.text('Copied');
  } catch {
    copyButton.text('Copy failed');
  }
  setTimeout(() => copyButton.text('Copy coordinates'), 1500);
}

// ---- validation of what arrives -----------------------------------------------------------------------------------

type ProbeTokenLike = Omit<Neighbour, 'cosine'>;

const isToken = (t: unknown): t is ProbeTokenLike => typeof t === 'object' && t !== null &&
  Number.isSafeInteger((t as ProbeTokenLike).id) && typeof (t as ProbeTokenLike).text === 'string';
const token = (t: ProbeTokenLike): ProbeTokenLike => ({ id: t.id, tokenizerId: t.tokenizerId ?? null, text: t.text, unknown: t.unknown === true });

function cleanProjection(p: ProjectionData): ProjectionData | null {
  if (!Array.isArray(p.points)) return null;
  const points = p.points.slice(0, MAX_POINTS)
    .filter((pt) => isToken(pt) && Number.isFinite(pt.x) && Number.isFinite(pt.y))
    .map((pt) => ({ ...token(pt), x: pt.x, y: pt.y }));
  const ex = Array.isArray(p.explained) ? p.explained : [];
  return { points, explained: [Number(ex[0]), Number(ex[1])] };
}

function cleanNearest(list: unknown): Neighbour[] {
  return (Array.isArray(list) ? list : []).slice(0, 1000)
    .filter((n): n is Neighbour => isToken(n) && Number.isFinite((n as Neighbour).cosine))
    .map((n) => ({ ...token(n), cosine: n.cosine }));
}

function cleanNeighbours(d: NeighboursData): NeighboursData | null {
  if (typeof d.query !== 'string' || !Number.isSafeInteger(d.id)) return null;
  return { query: d.query, id: d.id, nearest: cleanNearest(d.nearest) };
}

function cleanAnalogy(r: AnalogyResult): AnalogyResult | null {
  if (!isToken(r.a) || !isToken(r.b) || !isToken(r.c)) return null;
  return { a: token(r.a), b: token(r.b), c: token(r.c), nearest: cleanNearest(r.nearest) };
}

function sameProjection(x: ProjectionData, y: ProjectionData): boolean {
  if (x.points.length !== y.points.length) return false;
  for (let i = 0; i < x.points.length; i += Math.max(1, Math.floor(x.points.length / 64))) {
    const [p, q] = [x.points[i], y.points[i]];
    if (p.id !== q.id || p.x !== q.x || p.y !== q.y || p.text !== q.text) return false;
  }
  return true;
}

// ---- state --------------------------------------------------------------------------------------------------------

let saveTimer = 0;
function save(): void {
  clearTimeout(saveTimer);
  saveTimer = 0;
  channel.saveState(state);
}
function saveSoon(): void {
  clearTimeout(saveTimer);
  saveTimer = window.setTimeout(save, 250);
}

function restore(): void {
  const saved = channel.state();
  if (saved && typeof saved === 'object') {
    const s = saved as Partial<State>;
    state = {
      projection: s.projection ? cleanProjection(s.projection) : null,
      neighbours: s.neighbours ? cleanNeighbours(s.neighbours) : null,
      analogy: s.analogy ? cleanAnalogy(s.analogy) : null,
      active: s.active === 'neighbours' || s.active === 'analogy' ? s.active : null,
      query: typeof s.query === 'string' ? s.query : '',
      a: typeof s.a === 'string' ? s.a : '',
      b: typeof s.b === 'string' ? s.b : '',
      c: typeof s.c === 'string' ? s.c : '',
      k: Number.isSafeInteger(s.k) && (s.k as number) >= 1 && (s.k as number) <= MAX_K ? (s.k as number) : DEFAULT_K,
      transform: s.transform && typeof s.transform === 'object' ? s.transform : null,
    };
  }
  nbInput.property('value', state.query);
  aInput.property('value', state.a);
  bInput.property('value', state.b);
  cInput.property('value', state.c);
  kInput.property('value', state.k);
  summary.text('Waiting for the model…');
  if (state.projection) showProjection(state.transform);
  else {
    renderNeighbours();
    renderAnalogy();
    renderHighlight();
  }
}

restore();
