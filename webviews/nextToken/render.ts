// The next-token view's DOM: the prompt (what the panel sampled onto the selection highlighted), the sampling sliders,
// the top tokens as bars (an HTML table: the chart and its text alternative are one element), and the logit lens.
// Built once; render() changes it through keyed joins.
import type { NextTokenData, SamplingOptions } from '../../engine/protocol';
import * as d3 from '../shared/d3';
import { cells } from '../shared/controls';
import type { Frame } from '../shared/frame';
import { showToken } from '../shared/format';
import { themeColor } from '../shared/theme';
import { createTooltip } from '../shared/tooltip';
import { contextLabel, num, pct, promptParts, samplingLabel, type NextTokenState } from './state';

type Top = NextTokenData['probe']['top'][number];
type Score = NextTokenData['lens']['layers'][number][number]['top'][number];

const LENS_COLUMNS = 64; // positions shown at most in the all-positions lens

export interface NextTokenActions {
  /** A slider moved (the new settings are in the state). */
  settingsChanged(): void;
  sample(): void;
  reset(): void;
  lensChanged(): void;
}

export interface NextTokenView {
  render(): void;
  renderSliders(): void;
  renderLens(): void;
}

export function createNextTokenView(frame: Frame, get: { state(): NextTokenState; busy(): 'resample' | 'sample' | 'reset' | null;
  previousSampled(): string }, actions: NextTokenActions): NextTokenView {
  const body = frame.body.attr('class', 'gl-body nt-body');

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

  function render(): void {
    const { data } = get.state();
    frame.empty(!data);
    renderSliders();
    frame.subtitle(data ? contextLabel(data) : '');
    frame.model(data ? data.model : undefined);
    if (!data) return;
    renderPrompt(data);
    renderBars(data);
    renderLens(data);
    const b = get.busy();
    busy.text(b === 'sample' ? 'sampling…' : b ? 'updating…' : '');
    // Sampling draws from the trained model: at an earlier snapshot the button would draw from another model than the one shown.
    const atSnapshot = data.timeline?.at !== undefined && data.timeline.at !== null;
    sampleButton.attr('disabled', b === 'sample' || atSnapshot ? '' : null)
      .attr('title', atSnapshot ? 'Sampling draws from the trained model: move the timeline to “kept” to sample'
        : 'Draw one token with these settings and append it to the prompt shown here (the document is not changed)');
  }

  function renderSliders(): void {
    const { data, settings } = get.state();
    const maxK = Math.max(1, Math.min(100, data?.probe.vocabSize ?? 100));
    sliderRows.select('input').attr('max', (s) => (s.key === 'topK' ? maxK : s.max))
      .property('value', (s) => settings[s.key])
      .attr('aria-valuetext', (s) => s.fmt(settings[s.key]));
    sliderRows.select('output').text((s) => s.fmt(settings[s.key]));
  }

  function renderPrompt(d: NextTokenData): void {
    const parts = promptParts(d, get.previousSampled());
    const sampled = d.prompt.endsWith(d.sampledSoFar) ? d.sampledSoFar : '';
    promptText.selectAll<HTMLElement, (typeof parts)[number]>('span, mark')
      .data(parts, (p) => p.key)
      .join((enter) => enter.append((p) => document.createElement(p.key === 'older' || p.key === 'newest' ? 'mark' : 'span')))
      .attr('class', (p) => ({ ellipsis: 'nt-ellipsis muted', base: 'nt-base', older: 'nt-appended', newest: 'nt-appended nt-newest' })[p.key])
      // Sampled whitespace made visible (a space or newline would otherwise highlight nothing).
      .text((p) => (p.key === 'older' || p.key === 'newest' ? p.text.replace(/ /g, '·').replace(/\n/g, '↵\n').replace(/\t/g, '→') : p.text));
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
        cells(tr, ['num nt-rank', 'mono nt-token', 'num nt-prob', 'nt-bar-col', 'num nt-sampled', 'num nt-logit']);
        const bar = tr.select('td.nt-bar-col').append('div').attr('class', 'nt-bar');
        bar.append('div').attr('class', 'nt-bar-raw');
        bar.append('div').attr('class', 'nt-bar-sampled');
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
    keptText.text(`kept mass ${pct(km)} (${samplingLabel(d.probe.sampling)})`);
    kept.attr('title', 'the model’s probability of the tokens the sampler can still draw');
  }

  function lensCell(s: Score | undefined): string {
    return s ? `${showToken(s.text, 10)} ${pct(s.prob)}` : '';
  }

  function renderLens(d: NextTokenData): void {
    const layers = d.lens.layers;
    const L = layers.length;
    const T = layers[0]?.length ?? 0;
    const { lensAll } = get.state();
    lensCheck.property('checked', lensAll);
    if (L === 0 || T === 0) {
      lensTable.selectAll('*').remove();
      lensNote.text('No logit lens for this model.');
      return;
    }
    const final = layers[L - 1][T - 1].top[0];
    const [r, g, b] = themeColor('var(--vscode-charts-blue, #3794ff)', [55, 148, 255]);
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

  sliderRows.select('input').on('input', function (_e, s) {
    get.state().settings = { ...get.state().settings, [s.key]: Number((this as HTMLInputElement).value) };
    actions.settingsChanged();
  });
  sampleButton.on('click', () => actions.sample());
  resetButton.on('click', () => actions.reset());
  lensCheck.on('change', () => {
    get.state().lensAll = lensCheck.property('checked') as boolean;
    actions.lensChanged();
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
    if (!td || !get.state().data) return tooltip.hide();
    const x = d3.select<HTMLTableCellElement, { l: number; c: { cell: (l: number) => Score | undefined; title: string } | null }>(td).datum();
    const s = x.c?.cell(x.l);
    if (!s) return tooltip.hide();
    tooltip.show(`${x.l === 0 ? 'embeddings' : `block ${x.l}`} · ${x.c!.title}\n${JSON.stringify(s.text)} · id ${s.id}\nprobability ${s.prob}\nlogit ${s.logit}`, event.clientX, event.clientY);
  });
  lensTable.on('pointerleave', () => tooltip.hide());

  return {
    render,
    renderSliders,
    renderLens: () => {
      const { data } = get.state();
      if (data) renderLens(data);
    },
  };
}
