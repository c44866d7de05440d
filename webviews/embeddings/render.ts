// The embeddings view's DOM: the scatter (scatter.ts), the nearest-neighbours card (a token, or the mean of a text's
// tokens with each token to pick), the analogy card with hints that fit the model's tokenizer, and a screen-reader
// table of the highlighted points. Built once; the render functions change it through keyed joins.
import type { Neighbour } from '../../engine/protocol';
import * as d3 from '../shared/d3';
import type { Frame } from '../shared/frame';
import { showToken as visible, thousands } from '../shared/format';
import { Scatter, type Highlight } from './scatter';
import { analogyCaption, analogyHints, cos3, expectationNote, MAX_K, neighboursCaption, num, percent, type AnalogyHint,
  type EmbeddingsState } from './state';

export interface EmbeddingsActions {
  neighbours(text: string): void;
  analogy(): void;
  /** An input changed (its value is in the state). */
  edited(): void;
  /** A hint filled the analogy's inputs. */
  hint(h: AnalogyHint): void;
  copy(): void;
}

type Input = d3.Selection<HTMLInputElement, unknown, null, undefined>;

export function createEmbeddingsView(frame: Frame, get: () => EmbeddingsState, actions: EmbeddingsActions) {
  const app = frame.app;
  const tools = frame.actions.attr('class', 'gl-actions tools');
  const fitButton = tools.append('button').attr('type', 'button').attr('class', 'secondary').text('Zoom to highlighted')
    .attr('title', 'Zoom the scatter to the highlighted tokens').property('disabled', true);
  const resetButton = tools.append('button').attr('type', 'button').attr('class', 'secondary').text('Reset view')
    .attr('title', 'Show the whole vocabulary (key 0 on the plot)');
  const copyButton = tools.append('button').attr('type', 'button').attr('class', 'secondary').text('Copy coordinates')
    .attr('title', 'Copy every token with its PC1 and PC2 as tab-separated text');

  const legend = frame.body.append('ul').attr('class', 'legend').attr('aria-label', 'Legend');
  const legendItems: [string, string][] = [
    ['token', 'token'], ['unknown', '<unk>'], ['query', 'query and neighbours'], ['terms', 'a, b, c'], ['result', 'analogy result'],
  ];
  legend.selectAll('li').data(legendItems, (d) => (d as [string, string])[0]).join('li')
    .attr('class', (d) => `legend-${d[0]}`)
    .call((li) => li.append('span').attr('class', (d) => `swatch swatch-${d[0]}`).attr('aria-hidden', 'true'))
    .call((li) => li.append('span').text((d) => d[1]));

  const layout = frame.body.append('div').attr('class', 'layout');
  const scatter = new Scatter(layout.node() as HTMLDivElement);
  const side = layout.append('aside').attr('class', 'side').attr('aria-label', 'Queries');

  // nearest neighbours
  const nb = side.append('section').attr('class', 'card').attr('aria-labelledby', 'nb-title');
  nb.append('h2').attr('id', 'nb-title').text('Nearest neighbours');
  const nbForm = nb.append('form').attr('class', 'row').attr('aria-label', 'Nearest neighbours of a token or a text');
  nbForm.append('label').attr('for', 'nb-token').attr('class', 'sr-only').text('Token or text');
  const nbInput = nbForm.append('input').attr('type', 'text').attr('id', 'nb-token').attr('class', 'token-input grow')
    .attr('placeholder', 'a token or a word').attr('spellcheck', 'false').attr('autocomplete', 'off')
    .attr('aria-describedby', 'nb-error');
  nbForm.append('label').attr('for', 'nb-k').attr('class', 'k-label muted').attr('title', 'How many nearest tokens to list').text('k');
  const kInput = nbForm.append('input').attr('type', 'number').attr('id', 'nb-k').attr('class', 'k-input')
    .attr('min', 1).attr('max', MAX_K).attr('step', 1).attr('title', 'How many nearest tokens to list');
  nbForm.append('button').attr('type', 'submit').text('Find');
  const nbError = nb.append('p').attr('id', 'nb-error').attr('class', 'field-error').attr('role', 'alert').property('hidden', true);
  const nbCaption = nb.append('p').attr('id', 'nb-caption').attr('class', 'caption muted');
  const nbPick = nb.append('div').attr('class', 'pick').attr('role', 'group').attr('aria-label', 'the query’s tokens: pick one');
  const nbTable = nb.append('table').attr('class', 'results').attr('id', 'nb-table');
  nbTable.append('caption').attr('class', 'sr-only').text('Nearest neighbours by cosine similarity');
  nbTable.append('thead').append('tr').selectAll('th').data(['#', 'token', 'cosine']).join('th').attr('scope', 'col').text((d) => d);
  const nbBody = nbTable.append('tbody');

  // analogy
  const an = side.append('section').attr('class', 'card').attr('aria-labelledby', 'an-title');
  an.append('h2').attr('id', 'an-title').text('Analogy');
  const anForm = an.append('form').attr('class', 'row analogy-row').attr('aria-label', 'Analogy a minus b plus c');
  const term = (id: string, label: string, placeholder: string): Input => {
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
  an.append('p').attr('class', 'hint muted').text('Cosine-nearest to a − b + c, leaving out a, b and c. Each term is one token (· is a space).');
  const hintRow = an.append('div').attr('class', 'hints').attr('role', 'group').attr('aria-label', 'analogies to try');
  const anError = an.append('p').attr('id', 'an-error').attr('class', 'field-error').attr('role', 'alert').property('hidden', true);
  const anCaption = an.append('p').attr('id', 'an-caption').attr('class', 'caption muted');
  const anExpect = an.append('p').attr('id', 'an-expect').attr('class', 'caption');
  const anTable = an.append('table').attr('class', 'results').attr('id', 'an-table');
  anTable.append('caption').attr('class', 'sr-only').text('Analogy results by cosine similarity');
  anTable.append('thead').append('tr').selectAll('th').data(['#', 'token', 'cosine']).join('th').attr('scope', 'col').text((d) => d);
  const anBody = anTable.append('tbody');

  // the text alternative of the highlights: the highlighted tokens with their coordinates
  const srTable = app.append('table').attr('class', 'sr-only').attr('id', 'highlight-table');
  srTable.append('caption').text('Highlighted tokens in the scatter, with their coordinates');
  srTable.append('thead').append('tr').selectAll('th').data(['role', 'token', 'PC1', 'PC2']).join('th').text((d) => d);
  const srBody = srTable.append('tbody');

  // ---- wiring of the controls ----
  nbForm.on('submit', (event: SubmitEvent) => {
    event.preventDefault();
    actions.neighbours(String(nbInput.property('value')));
  });
  anForm.on('submit', (event: SubmitEvent) => {
    event.preventDefault();
    actions.analogy();
  });
  for (const [input, key] of [[nbInput, 'query'], [aInput, 'a'], [bInput, 'b'], [cInput, 'c']] as const) {
    input.on('input', () => {
      get()[key] = String(input.property('value'));
      input.attr('aria-invalid', null);
      actions.edited();
    });
  }
  kInput.on('change', () => {
    get().k = currentK();
    actions.edited();
  });
  fitButton.on('click', () => scatter.fit(highlightIndices()));
  resetButton.on('click', () => scatter.reset());
  copyButton.on('click', () => actions.copy());

  let idToIndex = new Map<number, number>();
  const index = (id: number): number => idToIndex.get(id) ?? -1;

  function currentK(): number {
    const k = Math.round(Number(kInput.property('value')));
    return Number.isFinite(k) ? Math.min(MAX_K, Math.max(1, k)) : 10;
  }

  function highlightIndices(): number[] {
    const s = get();
    if (s.active === 'neighbours' && s.neighbours) {
      return [...s.neighbours.query.map((t) => index(t.id)), ...s.neighbours.nearest.map((n) => index(n.id))].filter((i) => i >= 0);
    }
    if (s.active === 'analogy' && s.analogy) {
      const r = s.analogy;
      return [r.a, r.b, r.c, ...r.nearest.slice(0, 3)].map((t) => index(t.id)).filter((i) => i >= 0);
    }
    return [];
  }

  function showProjection(): void {
    const s = get();
    const p = s.projection;
    frame.empty(!p);
    frame.model(p ? p.model : undefined);
    if (!p) return;
    idToIndex = new Map(p.points.map((pt, i) => [pt.id, i]));
    scatter.setData(p.points, p.explained, s.transform ?? undefined);
    const unknown = p.points.filter((pt) => pt.unknown).length;
    const [e1, e2] = p.explained.map(percent);
    frame.subtitle(`${thousands(p.points.length)} tokens${unknown ? ` (${unknown} unknown)` : ''} · PCA of the input embeddings` +
      (e1 && e2 ? ` · PC1 and PC2 explain ${((p.explained[0] + p.explained[1]) * 100).toFixed(1)}% of the variance` : ''));
    legend.select('.legend-unknown').property('hidden', unknown === 0);
    renderHints();
    renderNeighbours();
    renderAnalogy();
    renderHighlight();
  }

  function renderHints(): void {
    const hints = analogyHints(get().projection?.points ?? []);
    hintRow.selectAll<HTMLSpanElement, number>('span.hints-label').data(hints.length ? [0] : []).join('span')
      .attr('class', 'hints-label muted').text('Try:');
    hintRow.selectAll<HTMLButtonElement, AnalogyHint>('button')
      .data(hints, (h) => `${h.a}|${h.b}|${h.c}`)
      .join('button')
      .attr('type', 'button').attr('class', 'secondary hint-chip mono')
      .attr('title', (h) => `${h.why}: expect ${visible(h.d)}`)
      .text((h) => `${visible(h.a)} − ${visible(h.b)} + ${visible(h.c)}`)
      .on('click', (_e, h) => actions.hint(h));
    hintRow.property('hidden', hints.length === 0);
  }

  function renderHighlight(): void {
    const s = get();
    let h: Highlight | null = null;
    const rows: { role: string; id: number; text: string }[] = [];
    if (s.active === 'neighbours' && s.neighbours) {
      const d = s.neighbours;
      h = { kind: 'neighbours', query: d.query.map((t) => index(t.id)), nearest: d.nearest.map((n) => index(n.id)) };
      rows.push(...d.query.map((t, i) => ({ role: d.mean ? `query token ${i + 1}` : 'query', id: t.id, text: t.text })),
        ...d.nearest.map((n, i) => ({ role: `neighbour ${i + 1}`, id: n.id, text: n.text })));
    } else if (s.active === 'analogy' && s.analogy) {
      const r = s.analogy;
      h = { kind: 'analogy', a: index(r.a.id), b: index(r.b.id), c: index(r.c.id), nearest: r.nearest.map((n) => index(n.id)) };
      rows.push({ role: 'a', ...r.a }, { role: 'b', ...r.b }, { role: 'c', ...r.c }, ...r.nearest.map((n, i) => ({ role: `result ${i + 1}`, id: n.id, text: n.text })));
    }
    if (s.projection) scatter.setHighlight(h);
    fitButton.property('disabled', highlightIndices().length === 0);
    nb.classed('active', s.active === 'neighbours');
    an.classed('active', s.active === 'analogy');
    srBody.selectAll<HTMLTableRowElement, (typeof rows)[number]>('tr').data(rows, (d) => `${d.role}:${d.id}`).join('tr')
      .selectAll('td').data((d) => {
        const p = s.projection?.points[index(d.id)];
        return [d.role, visible(d.text), p ? num(p.x) : '—', p ? num(p.y) : '—'];
      }).join('td').text((d) => d);
  }

  function renderNeighbours(): void {
    nb.attr('aria-busy', null);
    const d = get().neighbours;
    nbCaption.text(d ? neighboursCaption(d, get().projection?.model?.tokenizer ?? null) : 'Type a token or a word, or click a point in the scatter.');
    // A query of several tokens: each one to pick, for its own neighbours.
    nbPick.selectAll<HTMLButtonElement, { i: number; text: string; id: number }>('button')
      .data(d?.mean ? d.query.slice(0, 24).map((t, i) => ({ i, text: t.text, id: t.id })) : [], (t) => `${t.i}:${t.id}`)
      .join('button').attr('type', 'button').attr('class', 'secondary pick-chip mono')
      .attr('title', (t) => `the neighbours of “${visible(t.text)}” alone (id ${t.id})`)
      .text((t) => visible(t.text, 12))
      .on('click', (_e, t) => actions.neighbours(t.text));
    resultRows(nbBody, d?.nearest ?? [], 'neighbours');
  }

  function renderAnalogy(): void {
    an.attr('aria-busy', null);
    const s = get();
    const r = s.analogy;
    anCaption.text(r ? analogyCaption(r) : 'Pick a hint, or type three tokens of the scatter.');
    const note = r ? expectationNote(r, s.expected) : null;
    anExpect.property('hidden', !note).text(note ?? '');
    resultRows(anBody, r?.nearest ?? [], 'analogy');
  }

  /** A ranked table of tokens with their cosine and a bar; rows are keyed by token id, focusable and clickable. */
  function resultRows(body: d3.Selection<HTMLTableSectionElement, unknown, null, undefined>, rows: Neighbour[], kind: 'neighbours' | 'analogy'): void {
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

  /** Queries a token of the scatter or of a table (the unknown token has no text to look up). */
  function pick(t: { text: string; unknown: boolean }): void {
    if (t.unknown) return fieldError('neighbours', 'The unknown token <unk> stands for text the model never saw; it has no text to look up.');
    actions.neighbours(t.text);
    (nbInput.node() as HTMLInputElement).scrollIntoView({ block: 'nearest' });
  }
  scatter.onPick = (i) => {
    const p = get().projection?.points[i];
    if (p) pick(p);
  };

  function fieldError(kind: 'neighbours' | 'analogy', message: string): void {
    const [box, inputs] = kind === 'neighbours' ? [nbError, [nbInput]] : [anError, [aInput, bInput, cInput]];
    box.property('hidden', false).text(message);
    (kind === 'neighbours' ? nb : an).attr('aria-busy', null);
    if (kind === 'neighbours') renderNeighbours();
    else renderAnalogy();
    // mark the input the message is about ("“zz” never occurred…"), or all of them
    const quoted = /^"([^"]*)"/.exec(message)?.[1];
    const culprits = inputs.filter((i) => quoted !== undefined && i.property('value') === quoted);
    for (const i of inputs) i.attr('aria-invalid', (culprits.length ? culprits : inputs).includes(i) ? 'true' : null);
  }

  function clearFieldError(kind: 'neighbours' | 'analogy'): void {
    const [box, inputs] = kind === 'neighbours' ? [nbError, [nbInput]] : [anError, [aInput, bInput, cInput]];
    box.property('hidden', true).text('');
    for (const i of inputs) i.attr('aria-invalid', null);
  }

  return {
    scatter,
    showProjection,
    renderNeighbours,
    renderAnalogy,
    renderHighlight,
    fieldError,
    clearFieldError,
    currentK,
    /** The inputs show the state (after a restore, a hint, or an answered query). */
    syncInputs(): void {
      const s = get();
      nbInput.property('value', s.query);
      aInput.property('value', s.a);
      bInput.property('value', s.b);
      cInput.property('value', s.c);
      kInput.property('value', s.k);
    },
    busy(kind: 'neighbours' | 'analogy', text: string): void {
      (kind === 'neighbours' ? nbCaption : anCaption).text(text);
      (kind === 'neighbours' ? nb : an).attr('aria-busy', 'true');
    },
    copied(ok: boolean): void {
      copyButton.text(ok ? 'Copied' : 'Copy failed');
      setTimeout(() => copyButton.text('Copy coordinates'), 1500);
    },
  };
}
