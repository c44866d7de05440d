// The tokens view's DOM: the counts table (characters and bytes per token, the model's bits per byte), the display
// controls, one card per encoding with its chunks (keyed joins: a new text gets new chunks, never the old ones'
// text), and the BPE replay (the file's characters per token as merges are learned, against the fixed tokenizers).
// Built once; update() changes it.
import * as d3 from '../shared/d3';
import { cells } from '../shared/controls';
import type { Frame } from '../shared/frame';
import { showToken, thousands } from '../shared/format';
import { placeLabels } from '../shared/labels';
import { themeColor } from '../shared/theme';
import { createTooltip } from '../shared/tooltip';
import { bitsPerByte, buildViews, replayCurve, replayPoint, replayReferences, replayVocabSize, scopeLabel, shownComparison,
  type Chunk, type EncodingView, type TokensState } from './state';

const PAGE = 400; // chunks drawn per encoding, and added per "show more"
const PALETTE = 6; // chunk background colours, cycling
const REPLAY_MARGIN = { top: 10, right: 120, bottom: 30, left: 46 };

export interface TokensActions {
  /** The state changed by a control: persist it and redraw. */
  changed(): void;
  /** Learn a BPE of this size from the file and replay it. */
  replay(vocabSize: number): void;
}

type Item = { kind: 'tok'; c: Chunk } | { kind: 'br'; after: number };
const chunkKey = (c: Chunk): string => `${c.i}|${c.id}|${c.start}|${c.text}`;

export function createTokensView(frame: Frame, state: () => TokensState, actions: TokensActions): { update(): void; replayBusy(what: string | null): void;
  replayError(message: string | null): void } {
  const body = frame.body;
  const fmt = d3.format(',');
  const tooltip = createTooltip();
  let views: EncodingView[] = [];

  // ---- the counts table ----
  const summary = body.append('section').attr('class', 'summary').attr('aria-label', 'token counts per encoding');
  const table = summary.append('table').attr('class', 'counts');
  table.append('caption').attr('class', 'sr-only').text('Token counts, and characters and bytes per token, for each encoding');
  table.append('thead').append('tr').selectAll('th')
    .data(['encoding', 'tokens in the text', 'chars / token (text)', 'chars / token (whole file)', 'bytes / token (file)', 'file tokens'])
    .join('th').attr('scope', 'col').attr('class', (_d, i) => (i === 0 ? '' : 'num')).text((d) => d);
  const tbody = table.append('tbody');
  const bpbLine = summary.append('p').attr('class', 'bpb muted');

  // ---- display controls ----
  const controls = body.append('div').attr('class', 'controls').attr('role', 'toolbar').attr('aria-label', 'display options');
  const colourGroup = controls.append('div').attr('class', 'seg').attr('role', 'radiogroup').attr('aria-label', 'colour tokens by');
  colourGroup.append('span').attr('class', 'muted').text('Colour');
  const colourButtons = colourGroup.selectAll<HTMLButtonElement, 'chunk' | 'surprise'>('button')
    .data(['chunk', 'surprise'] as const)
    .join('button').attr('type', 'button').attr('role', 'radio').attr('id', (d) => `colour-${d}`)
    .text((d) => (d === 'chunk' ? 'Chunks' : 'Surprise (bits)'))
    .on('click', (_e, d) => {
      state().colourBy = d;
      actions.changed();
    });
  const idsButton = controls.append('button').attr('type', 'button').attr('class', 'toggle').attr('id', 'show-ids')
    .text('Token ids').on('click', () => {
      state().showIds = !state().showIds;
      actions.changed();
    });
  const legendSurprise = controls.append('div').attr('class', 'surprise-legend').attr('aria-label', 'surprise colour scale');
  legendSurprise.append('span').attr('class', 'muted').text('0 bits');
  const legendCanvas = legendSurprise.append('canvas').attr('width', 160).attr('height', 10).attr('aria-hidden', 'true');
  const legendMax = legendSurprise.append('span').attr('class', 'muted');
  const legendKey = controls.append('div').attr('class', 'key muted');
  legendKey.append('span').html('<span class="ws">·</span> space &nbsp; <span class="ws">→</span> tab &nbsp; <span class="ws">↵</span> newline &nbsp; <span class="esc">\\xNN</span> part of a character');

  const cards = body.append('div').attr('class', 'cards');

  // ---- the BPE replay ----
  const replay = body.append('section').attr('class', 'replay').attr('aria-labelledby', 'replay-title');
  const replayHead = replay.append('div').attr('class', 'replay-head');
  replayHead.append('h2').attr('id', 'replay-title').text('Learn a BPE from this file, merge by merge');
  const replayForm = replayHead.append('form').attr('class', 'replay-form');
  replayForm.append('label').attr('for', 'bpe-size').text('Vocabulary');
  const sizeInput = replayForm.append('input').attr('type', 'number').attr('id', 'bpe-size').attr('min', 256).attr('max', 65536).attr('step', 1)
    .attr('title', 'tokens of the BPE: the 256 bytes plus this many less 256 merges');
  const replayButton = replayForm.append('button').attr('type', 'submit').attr('id', 'bpe-learn').text('Learn and replay');
  replayForm.on('submit', (e: SubmitEvent) => {
    e.preventDefault();
    const n = Math.round(Number(sizeInput.property('value')));
    if (!(n >= 256 && n <= 65536)) {
      replayNote.attr('class', 'replay-note field-error').text('A vocabulary of 256 to 65,536 tokens.');
      return;
    }
    state().vocabSize = n;
    actions.replay(n);
  });
  const replayNote = replay.append('p').attr('class', 'replay-note muted').attr('role', 'status');
  const replayBody = replay.append('div').attr('class', 'replay-body');
  const stepRow = replayBody.append('div').attr('class', 'replay-steps');
  const prevButton = stepRow.append('button').attr('type', 'button').attr('class', 'secondary').attr('aria-label', 'one merge back').text('◀');
  const playButton = stepRow.append('button').attr('type', 'button').attr('class', 'secondary replay-play').text('▶ Replay');
  const nextButton = stepRow.append('button').attr('type', 'button').attr('class', 'secondary').attr('aria-label', 'one merge on').text('▶');
  const slider = stepRow.append('input').attr('type', 'range').attr('id', 'bpe-step').attr('min', 0).attr('step', 1)
    .attr('aria-label', 'merges applied');
  const stepText = replayBody.append('p').attr('class', 'replay-merge mono').attr('aria-live', 'polite');
  const chartSvg = replayBody.append('svg').attr('class', 'replay-chart').attr('role', 'img');
  const chartG = chartSvg.append('g');
  const refG = chartG.append('g').attr('class', 'refs');
  const curvePath = chartG.append('path').attr('class', 'curve');
  const marker = chartG.append('circle').attr('class', 'marker').attr('r', 4);
  const xAxis = chartG.append('g').attr('class', 'axis x');
  const yAxis = chartG.append('g').attr('class', 'axis y');
  const xTitle = chartG.append('text').attr('class', 'axis-title').text('vocabulary size (256 bytes + merges)');
  const yTitle = chartG.append('text').attr('class', 'axis-title').attr('transform', 'rotate(-90)').text('file chars / token');
  const mergeTable = replayBody.append('table').attr('class', 'merges');
  mergeTable.append('caption').attr('class', 'sr-only').text('The latest merges');
  mergeTable.append('thead').append('tr').selectAll('th').data(['#', 'merge', 'new token', 'pair seen', 'file tokens after'])
    .join('th').attr('class', (_d, i) => (i === 0 || i >= 3 ? 'num' : null)).text((d) => d);
  const mergeBody = mergeTable.append('tbody');

  let playTimer: number | undefined;
  const setStep = (k: number): void => {
    const r = state().replay;
    if (!r) return;
    r.step = Math.max(0, Math.min(r.data.replay.steps.length, k));
    updateReplay();
  };
  const stopPlay = (): void => {
    window.clearInterval(playTimer);
    playTimer = undefined;
    playButton.text('▶ Replay');
    actions.changed();
  };
  prevButton.on('click', () => setStep((state().replay?.step ?? 0) - 1));
  nextButton.on('click', () => setStep((state().replay?.step ?? 0) + 1));
  slider.on('input', function () { setStep(Number(this.value)); }).on('change', () => actions.changed());
  playButton.on('click', () => {
    const r = state().replay;
    if (!r) return;
    if (playTimer !== undefined) return stopPlay();
    const n = r.data.replay.steps.length;
    if (r.step >= n) r.step = 0;
    const stride = Math.max(1, Math.round(n / 240)); // about 8 s at 30 frames a second, whatever the size
    playButton.text('❚❚ Pause');
    playTimer = window.setInterval(() => {
      const cur = state().replay;
      if (!cur || cur.step >= cur.data.replay.steps.length) return stopPlay();
      setStep(cur.step + stride);
    }, 33);
  });

  // ---- colours from the theme ----
  let maxBits = 1;
  let surpriseColour: (bits: number) => string = () => 'transparent';
  function makeSurpriseScale(): void {
    const bg = `rgb(${themeColor('var(--vscode-editor-background)', [255, 255, 255]).join(',')})`;
    const lo = `rgb(${themeColor('var(--vscode-charts-blue, #1a85ff)', [26, 133, 255]).join(',')})`;
    const mid = `rgb(${themeColor('var(--vscode-charts-orange, #d18616)', [209, 134, 22]).join(',')})`;
    const hi = `rgb(${themeColor('var(--vscode-charts-red, #e51400)', [229, 20, 0]).join(',')})`;
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
  const chunkLabel = (c: Chunk): string =>
    `“${showToken(c.text)}” id ${c.id}${c.inModel === false ? ', not in the model' : ''}${c.bits !== null ? `, ${c.bits.toFixed(2)} bits` : ''}`;

  function tooltipText(v: EncodingView, c: Chunk): string {
    const lines = [`${v.encoding} · token ${fmt(c.i + 1)} of ${fmt(v.count)}`, `text   “${showToken(c.text)}”`, `id     ${c.id}`,
      `chars  ${c.start}–${c.end}   bytes ${c.byteStart}–${c.byteEnd} (${c.byteEnd - c.byteStart})`];
    if (c.partial) lines.push('holds part of a UTF-8 character');
    if (c.inModel !== null) lines.push(c.inModel ? 'in the model’s vocabulary' : 'NOT in the model’s vocabulary (maps to <unk>)');
    if (v.isModel && state().data?.surprise) {
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
    const s = state();
    const data = s.data;
    const comparison = shownComparison(s);
    views = data && comparison ? buildViews(data, comparison) : [];
    frame.empty(!data);
    frame.model(data ? data.model : undefined);
    frame.subtitle(data ? `${scopeLabel(data)} · the file: ${thousands(data.comparison.fileChars)} characters, ${thousands(data.comparison.fileBytes)} bytes` : '');
    if (!data) {
      // Nothing answers the last request: no older tokens stay behind, even hidden.
      tbody.selectAll('tr').remove();
      cards.selectAll('section.card').remove();
      return;
    }

    const bits = views.flatMap((v) => v.chunks.map((c) => c.bits)).filter((b): b is number => b !== null);
    maxBits = bits.length ? Math.max(1, d3.quantile(bits.sort(d3.ascending), 0.95) ?? 1) : 1;
    makeSurpriseScale();
    const hasSurprise = !!data.surprise;
    colourButtons.attr('aria-checked', (d) => String(s.colourBy === d)).classed('on', (d) => s.colourBy === d)
      .attr('disabled', (d) => (d === 'surprise' && !hasSurprise ? true : null))
      .attr('title', (d) => (d !== 'surprise' || hasSurprise ? null
        : data.model ? 'surprise is scored for texts of up to 20,000 characters' : 'train a model to see how surprised it is by each token'));
    idsButton.attr('aria-pressed', String(s.showIds)).classed('on', s.showIds);
    legendSurprise.attr('hidden', s.colourBy === 'surprise' && hasSurprise ? null : true);
    legendMax.text(`${maxBits.toFixed(1)}+ bits`);

    updateSummary();
    updateCards();
    updateReplay();
  }

  function updateSummary(): void {
    const data = state().data!;
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
        tr.append('td').attr('class', 'num file-bpt mono');
        tr.append('td').attr('class', 'num file-tokens mono');
        return tr;
      });
    rows.attr('data-encoding', (v) => v.encoding).classed('model', (v) => v.isModel).classed('learned', (v) => v.learned);
    rows.select('.enc-name').text((v) => v.encoding);
    rows.select('.badge').attr('hidden', (v) => (v.isModel || v.learned ? null : true)).text((v) => (v.isModel ? 'model' : 'learned'));
    rows.select('td.count').text((v) => fmt(v.count)).classed('fewest', (v) => v.count === minCount && v.count > 0)
      .attr('title', (v) => (v.count === minCount ? 'the fewest tokens' : null));
    rows.select('td.sel-cpt').text((v) => (v.count ? v.textCharsPerToken.toFixed(2) : '–'));
    rows.select('td.file-cpt .fill').style('width', (v) => `${(100 * v.charsPerToken) / maxCpt}%`);
    rows.select('td.file-cpt .val').text((v) => v.charsPerToken.toFixed(2));
    rows.select('td.file-bpt').text((v) => v.bytesPerToken.toFixed(2));
    rows.select('td.file-tokens').text((v) => fmt(v.fileTokens));

    const b = bitsPerByte(data);
    bpbLine.attr('hidden', b ? null : true).text(b
      ? `The model (${data.model?.tokenizer ?? data.comparison.modelTokenizer}) scores this text at ${b.bitsPerByte.toFixed(3)} bits per byte ` +
        `(${b.natsPerToken.toFixed(3)} nats per token over ${fmt(b.tokens)} predicted tokens, ${fmt(b.bytes)} bytes). ` +
        'Bits per byte compare models across tokenizers; bits per token do not.'
      : '');
  }

  function updateCards(): void {
    const s = state();
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
    const surpriseOn = s.colourBy === 'surprise' && !!s.data?.surprise;
    sel.attr('data-encoding', (v) => v.encoding).classed('model', (v) => v.isModel)
      .classed('surprise', (v) => v.isModel && surpriseOn)
      .classed('no-ids', !s.showIds)
      // Hand the card's datum to its own parts (not to the chunks, which carry their own).
      .each(function (v) { d3.select(this).selectAll(':scope > header *, :scope > .more-row *, :scope > .chunks').datum(v); });
    sel.select('h2').text((v) => v.encoding);
    sel.select('header .badge').attr('hidden', (v) => (v.isModel || v.learned ? null : true))
      .text((v) => (v.isModel ? 'model tokenizer' : 'learned from the file'));
    sel.select('.card-stats').text((v) => `${fmt(v.count)} tokens · ${v.count ? v.textCharsPerToken.toFixed(2) : '–'} chars/token`);
    sel.select('.unknown').attr('hidden', (v) => (v.unknown ? null : true))
      .text((v) => `${fmt(v.unknown)} not in the model’s vocabulary`);
    sel.select('.chunks').attr('aria-label', (v) => `${v.encoding}: ${v.count} tokens; arrow keys step through them`);

    sel.select<HTMLDivElement>('.chunks').each(function (v) {
      const shown = Math.min(v.chunks.length, s.shown[v.encoding] ?? PAGE);
      const items: Item[] = [];
      for (const c of v.chunks.slice(0, shown)) {
        items.push({ kind: 'tok', c });
        if (c.text.endsWith('\n')) items.push({ kind: 'br', after: c.i });
      }
      const surprise = v.isModel && surpriseOn;
      // Keyed by the token itself: a new text's chunks enter fresh, so no chunk ever keeps an older text.
      d3.select(this).selectAll<HTMLElement, Item>(':scope > span')
        .data(items, (d) => (d.kind === 'tok' ? `t${chunkKey(d.c)}` : `b${d.after}`))
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
        .order()
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

    sel.select('.more-row').attr('hidden', (v) => (v.chunks.length > (s.shown[v.encoding] ?? PAGE) || v.count > v.chunks.length ? null : true));
    sel.select<HTMLButtonElement>('button.more')
      .attr('hidden', (v) => (v.chunks.length > (s.shown[v.encoding] ?? PAGE) ? null : true))
      .text((v) => {
        const shown = Math.min(v.chunks.length, s.shown[v.encoding] ?? PAGE);
        return `Show ${fmt(Math.min(PAGE, v.chunks.length - shown))} more (${fmt(shown)} of ${fmt(v.chunks.length)} shown)`;
      })
      .on('click', (_e, v) => {
        s.shown[v.encoding] = Math.min(v.chunks.length, (s.shown[v.encoding] ?? PAGE) + PAGE);
        actions.changed();
      });
    sel.select('.cap-note').text((v) => (v.count > v.chunks.length
      ? `the first ${fmt(v.chunks.length)} of ${fmt(v.count)} tokens are compared; the counts cover all of them` : ''));
  }

  function updateReplay(): void {
    const s = state();
    if (document.activeElement !== sizeInput.node()) sizeInput.property('value', replayVocabSize(s));
    const r = s.replay;
    replayBody.attr('hidden', r ? null : true);
    if (!r) {
      if (replayNote.classed('muted')) {
        replayNote.text(`Byte-level BPE as GPT-2 learns it: start from the file’s ${thousands(s.data?.comparison.fileBytes ?? 0)} bytes and merge ` +
          'the most frequent adjacent pair, again and again.');
      }
      return;
    }
    const rep = r.data.replay;
    const n = rep.steps.length;
    const p = replayPoint(rep, r.step);
    slider.attr('max', n).property('value', p.step);
    prevButton.property('disabled', p.step === 0);
    nextButton.property('disabled', p.step >= n);
    replayNote.attr('class', 'replay-note muted').text(`${rep.name} learned from the file: ${thousands(n)} merges` +
      `${256 + n < s.vocabSize ? ` (no pair occurs twice after that, so fewer than ${thousands(s.vocabSize - 256)} were asked for)` : ''}. ` +
      `The file falls from ${thousands(rep.bytes)} bytes to ${thousands(replayPoint(rep, n).tokens)} tokens.`);
    stepText.text(p.merge
      ? `merge ${thousands(p.step)} of ${thousands(n)}: “${showToken(p.merge.left)}” + “${showToken(p.merge.right)}” → “${showToken(p.merge.token)}” ` +
        `(id ${p.merge.id}, the pair stood side by side ${thousands(p.merge.pairCount)} times) · file ${thousands(p.tokens)} tokens · ` +
        `${p.charsPerToken.toFixed(2)} chars / token · ${p.bytesPerToken.toFixed(2)} bytes / token`
      : `before any merge: the file is ${thousands(rep.bytes)} bytes, one token each · ${p.charsPerToken.toFixed(2)} chars / token`);
    drawReplayChart(r.data, p.step);
    const recent = rep.steps.slice(Math.max(0, p.step - 8), p.step).reverse();
    mergeBody.selectAll<HTMLTableRowElement, (typeof recent)[number]>('tr')
      .data(recent, (d) => String(d.id))
      .join((enter) => {
        const tr = enter.append('tr');
        cells(tr, ['num', 'mono', 'mono', 'num', 'num']);
        return tr;
      })
      .order()
      .classed('current', (d) => d.id === p.merge?.id)
      .call((tr) => tr.select('td:nth-child(1)').text((d) => thousands(d.id - 255)))
      .call((tr) => tr.select('td:nth-child(2)').text((d) => `“${showToken(d.left)}” + “${showToken(d.right)}”`))
      .call((tr) => tr.select('td:nth-child(3)').text((d) => `“${showToken(d.token)}”`))
      .call((tr) => tr.select('td:nth-child(4)').text((d) => thousands(d.pairCount)))
      .call((tr) => tr.select('td:nth-child(5)').text((d) => thousands(d.tokensAfter)));
  }

  function drawReplayChart(d: NonNullable<TokensState['replay']>['data'], step: number): void {
    const rep = d.replay;
    const width = Math.max(360, Math.min(900, (replayBody.node() as HTMLElement).clientWidth || 600));
    const height = 220;
    const iw = width - REPLAY_MARGIN.left - REPLAY_MARGIN.right, ih = height - REPLAY_MARGIN.top - REPLAY_MARGIN.bottom;
    chartSvg.attr('width', width).attr('height', height).attr('viewBox', `0 0 ${width} ${height}`);
    chartG.attr('transform', `translate(${REPLAY_MARGIN.left},${REPLAY_MARGIN.top})`);
    const refs = replayReferences(d.comparison);
    const curve = replayCurve(rep);
    const top = Math.max(...refs.map((r) => r.charsPerToken), ...curve.map((c) => c[1]), 1) * 1.08;
    const x = d3.scaleLinear().domain([256, 256 + Math.max(1, rep.steps.length)]).range([0, iw]);
    const y = d3.scaleLinear().domain([0, top]).nice(5).range([ih, 0]);
    xAxis.attr('transform', `translate(0,${ih})`).call(d3.axisBottom(x).ticks(Math.max(2, Math.floor(iw / 90))).tickFormat(d3.format('~s')).tickSizeOuter(0));
    yAxis.call(d3.axisLeft(y).ticks(5).tickSizeOuter(0));
    xTitle.attr('x', iw).attr('y', ih + 28).attr('text-anchor', 'end');
    yTitle.attr('x', -ih / 2).attr('y', -34).attr('text-anchor', 'middle');
    curvePath.attr('d', d3.line<[number, number]>().x((c) => x(c[0])).y((c) => y(c[1]))(curve));
    const p = replayPoint(rep, step);
    marker.attr('cx', x(p.vocab)).attr('cy', y(p.charsPerToken));
    // Reference lines of the fixed tokenizers, labelled in the right margin without overlaps.
    const placed = placeLabels(refs.map((r) => ({ x: iw + 6, y: y(r.charsPerToken) - 6, width: REPLAY_MARGIN.right - 8, height: 12 })), -REPLAY_MARGIN.top, ih + 12);
    const items = refs.map((r, i) => ({ ...r, ly: placed[i].y + 10, hidden: placed[i].hidden }));
    refG.selectAll<SVGGElement, (typeof items)[number]>('g.ref')
      .data(items, (r) => r.encoding)
      .join((enter) => {
        const g = enter.append('g').attr('class', 'ref');
        g.append('line');
        g.append('text');
        return g;
      })
      .attr('data-encoding', (r) => r.encoding)
      .call((g) => g.select('line').attr('x1', 0).attr('x2', iw).attr('y1', (r) => y(r.charsPerToken)).attr('y2', (r) => y(r.charsPerToken)))
      .call((g) => g.select('text').attr('x', iw + 6).attr('y', (r) => r.ly).attr('hidden', (r) => (r.hidden ? true : null))
        .text((r) => `${r.encoding} ${r.charsPerToken.toFixed(2)}`));
    chartSvg.attr('aria-label', `Characters per token of the file as the BPE learns: ${p.charsPerToken.toFixed(2)} after ${thousands(p.step)} merges, ` +
      `${replayPoint(rep, rep.steps.length).charsPerToken.toFixed(2)} after all ${thousands(rep.steps.length)}; ` +
      refs.map((r) => `${r.encoding} ${r.charsPerToken.toFixed(2)}`).join(', '));
  }

  /** Appends text with visible whitespace: the markers are styled apart from the characters. */
  function appendVisible(parent: d3.Selection<HTMLSpanElement, unknown, null, undefined>, text: string): void {
    for (const part of text.split(/([ \t\r\n]+)/)) {
      if (!part) continue;
      if (/^[ \t\r\n]+$/.test(part)) parent.append('span').attr('class', 'ws').text(showToken(part));
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

  return {
    update,
    replayBusy(what) {
      replayButton.property('disabled', what !== null);
      replay.attr('aria-busy', what ? 'true' : null);
      if (what) replayNote.attr('class', 'replay-note muted').text(`${what}…`);
    },
    replayError(message) {
      if (message) replayNote.attr('class', 'replay-note field-error').text(message);
      else replayNote.attr('class', 'replay-note muted');
    },
  };
}
