// The page frame every view shares: a header with the title, a subtitle (what the content is) and the model line
// (which model made it), the error line, the loading note that marks stale content while a new request runs, the
// empty note, and the body the view draws in. Styles: theme.css (.gl-*).
import type { ModelTag } from '../../engine/protocol';
import * as d3 from './d3';
import { modelLine } from './format';

export interface FrameOptions {
  view: string; // the class of the app: `${view}-app`
  title: string;
  /** What the empty view says: a title and how to fill it. */
  empty: { title: string; text: string };
}

export interface Frame {
  app: d3.Selection<HTMLElement, unknown, null, undefined>;
  /** Where a view puts its header controls, right of the title. */
  actions: d3.Selection<HTMLDivElement, unknown, null, undefined>;
  /** Where a view draws; hidden while empty. */
  body: d3.Selection<HTMLDivElement, unknown, null, undefined>;
  /** What the content is, e.g. "the selection in notes.md: 20 characters". */
  subtitle(text: string): void;
  /** Which model made the content; null says there is none, undefined hides the line (content without a model). */
  model(model: ModelTag | null | undefined): void;
  /** The error line (null hides it). */
  error(message: string | null): void;
  /** A request under way: the note says what, and the content below is marked stale until `loading(null)`. */
  loading(what: string | null): void;
  /** No content: the empty note instead of the body. */
  empty(isEmpty: boolean): void;
}

export function createFrame(o: FrameOptions): Frame {
  const app = d3.select(document.getElementById('app') ?? document.body.appendChild(document.createElement('main'))).attr('class', `gl-app ${o.view}-app`);
  const head = app.append('header').attr('class', 'gl-head');
  const titleRow = head.append('div').attr('class', 'gl-title-row');
  titleRow.append('h1').attr('class', 'gl-title').text(o.title);
  const actions = titleRow.append('div').attr('class', 'gl-actions');
  const subtitle = head.append('p').attr('class', 'gl-subtitle').attr('hidden', true);
  const model = head.append('p').attr('class', 'gl-model').attr('hidden', true);
  const error = app.append('p').attr('class', 'gl-error').attr('role', 'alert').attr('hidden', true);
  const loading = app.append('p').attr('class', 'gl-loading').attr('role', 'status').attr('aria-live', 'polite').attr('hidden', true);
  const empty = app.append('div').attr('class', 'gl-empty');
  empty.append('div').attr('class', 'gl-empty-title').text(o.empty.title);
  empty.append('div').attr('class', 'gl-empty-text').text(o.empty.text);
  const body = app.append('div').attr('class', 'gl-body').attr('hidden', true);
  let isEmpty = true;
  let busy = false;
  const sync = (): void => {
    // While a first request runs the empty note would say "nothing yet" under "Updating": show neither twice.
    empty.attr('hidden', isEmpty && !busy ? null : true);
    body.attr('hidden', isEmpty ? true : null);
  };
  return {
    app,
    actions,
    body,
    subtitle: (text) => void subtitle.attr('hidden', text ? null : true).text(text),
    model: (m) => void model.attr('hidden', m === undefined ? true : null).classed('partial', !!m?.partial)
      .text(m === undefined ? '' : m === null ? 'Model: none yet' : `Model: ${modelLine(m)}`)
      .attr('title', m ? `${m.parameters.toLocaleString('en-US')} parameters, tokenizer ${m.tokenizer}` : null),
    error: (message) => void error.attr('hidden', message ? null : true).text(message ?? ''),
    loading: (what) => {
      busy = what !== null;
      if (busy) error.attr('hidden', true).text(''); // a new request: the last one's error no longer applies
      loading.attr('hidden', busy ? null : true).text(busy ? `${what}…` : '');
      body.classed('gl-stale', busy).attr('aria-busy', busy ? 'true' : null);
      app.attr('data-loading', busy ? 'true' : null);
      sync();
    },
    empty: (e) => {
      isEmpty = e;
      sync();
    },
  };
}
