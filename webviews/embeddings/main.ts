// The embeddings panel's wiring: the channel (the projection after a command, and the neighbours of the selection; a
// typed query's neighbours and an analogy as requests whose promise brings the answer, the newest one winning), the
// saved state, and the frame's loading and error lines. What it draws: render.ts and scatter.ts; the state and its
// rules: state.ts. The timeline slider replays the projection at a snapshot of the run (the queries stay; their
// neighbours and analogies are the trained model's).
import { createFrame } from '../shared/frame';
import { connect, Latest, RequestError } from '../shared/host';
import { showToken as visible } from '../shared/format';
import { createTimelineSlider, replayAt } from '../shared/timelineSlider';
import { createEmbeddingsView } from './render';
import { cleanAnalogy, cleanNeighbours, cleanProjection, restoreState, sameProjection, type EmbeddingsState } from './state';

let state: EmbeddingsState = restoreState(undefined);
const neighbourAsks = new Latest<unknown>();
const analogyAsks = new Latest<unknown>();
const replays = new Latest<unknown>();

const frame = createFrame({
  view: 'embeddings',
  title: 'Embeddings',
  empty: { title: 'No model shown yet', text: 'Run “GPT Lab: Show embedding neighbours” (with a word selected, to see its neighbours too).' },
});

const view = createEmbeddingsView(frame, () => state, {
  neighbours: (text) => void askNeighbours(text),
  analogy: () => void askAnalogy(),
  edited: () => saveSoon(),
  hint: (h) => {
    Object.assign(state, { a: h.a, b: h.b, c: h.c, expected: { a: h.a, b: h.b, c: h.c, d: h.d } });
    view.syncInputs();
    void askAnalogy();
  },
  copy: () => void copyCoordinates(),
});

view.scatter.onTransform = (t) => {
  state.transform = t;
  frame.app.attr('data-zoom', t.k.toFixed(3));
  saveSoon();
};
view.scatter.onDrawn = (s) => {
  frame.app.attr('data-points', s.points).attr('data-visible', s.visible).attr('data-labels', s.labels);
};

const slider = createTimelineSlider(frame, 'the map shows', (snapshot) => void replay(snapshot));

/** The timeline slider moved: the projection at that snapshot (the newest position wins). */
async function replay(snapshot: number | null): Promise<void> {
  if (!state.projection) return;
  await replayAt(frame, replays, snapshot === null ? 'Projecting the trained model’s vocabulary' : 'Projecting the vocabulary at the chosen step',
    () => channel.request('atSnapshot', { snapshot }), (data) => showProjection(data, true));
}

/** A projection: after a command (another model: its queries go), or a replay at another snapshot (they stay). */
function showProjection(params: unknown, replayed: boolean): void {
  const t0 = performance.now();
  frame.loading(null);
  const projection = cleanProjection(params);
  if (!projection) return frame.error('The host sent embeddings this view cannot read.');
  frame.error(null);
  const same = state.projection !== null && (replayed || sameProjection(state.projection, projection));
  state.projection = projection;
  slider.update(projection.timeline);
  if (!same) {
    // Another model: the old results, queries and zoom belong to the old one.
    Object.assign(state, { neighbours: null, analogy: null, expected: null, active: null, query: '', a: '', b: '', c: '', transform: null });
    view.syncInputs();
  } else if (replayed) {
    state.transform = null; // the points moved: the whole map again
  }
  view.showProjection();
  frame.app.attr('data-paint-ms', (performance.now() - t0).toFixed(1));
  saveSoon(); // after the first paint: serialising 10k points costs more than drawing them
}

const channel = connect<'embeddings', EmbeddingsState>('embeddings', {
  loading: (p) => frame.loading(typeof p.what === 'string' ? p.what.slice(0, 200) : 'Working'),
  error: (p) => {
    frame.loading(null);
    frame.error(typeof p.message === 'string' && p.message ? p.message.slice(0, 400) : 'Something went wrong.');
  },
  projection: (params) => showProjection(params, false),
  // The selection's neighbours, after a command.
  neighbours: (params) => {
    frame.loading(null);
    showNeighbours(params);
  },
});

async function askNeighbours(text: string): Promise<void> {
  const k = view.currentK();
  Object.assign(state, { query: text, k });
  view.syncInputs();
  if (text.length === 0) return view.fieldError('neighbours', 'Type a token first.');
  view.clearFieldError('neighbours');
  view.busy('neighbours', `Looking up ${visible(text, 40)}…`);
  save();
  try {
    const reply = await neighbourAsks.run(() => channel.request('neighbours', { token: text.slice(0, 1000), k }));
    if (reply) showNeighbours(reply.value);
  } catch (e) {
    view.fieldError('neighbours', e instanceof RequestError ? e.message : String(e));
  }
}

function showNeighbours(params: unknown): void {
  const data = cleanNeighbours(params);
  if (!data) return view.fieldError('neighbours', 'The reply could not be read.');
  // A good answer clears every error, and the input shows the query it answers.
  frame.error(null);
  view.clearFieldError('neighbours');
  Object.assign(state, { neighbours: data, active: 'neighbours', query: data.text });
  view.syncInputs();
  view.renderNeighbours();
  view.renderHighlight();
  save();
}

async function askAnalogy(): Promise<void> {
  const { a, b, c } = state;
  const missing = [['a', a], ['b', b], ['c', c]].filter(([, v]) => v.length === 0).map(([n]) => n);
  if (missing.length > 0) return view.fieldError('analogy', `Fill in ${missing.join(', ')}: each is one token.`);
  view.clearFieldError('analogy');
  view.busy('analogy', `Looking up ${visible(a)} − ${visible(b)} + ${visible(c)}…`);
  save();
  try {
    const reply = await analogyAsks.run(() => channel.request('analogy', { a, b, c, k: 5 }));
    if (!reply) return;
    const data = cleanAnalogy(reply.value);
    if (!data) return view.fieldError('analogy', 'The reply could not be read.');
    frame.error(null);
    view.clearFieldError('analogy');
    Object.assign(state, { analogy: data, active: 'analogy' });
    view.renderAnalogy();
    view.renderHighlight();
    save();
  } catch (e) {
    view.fieldError('analogy', e instanceof RequestError ? e.message : String(e));
  }
}

async function copyCoordinates(): Promise<void> {
  const p = state.projection;
  if (!p) return;
  const tsv = ['id\ttoken\tunknown\tpc1\tpc2', ...p.points.map((pt) => `${pt.id}\t${visible(pt.text)}\t${pt.unknown}\t${pt.x}\t${pt.y}`)].join('\n');
  try {
    await navigator.clipboard.writeText(tsv);
    view.copied(true);
  } catch {
    view.copied(false);
  }
}

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

state = restoreState(channel.state());
view.syncInputs();
frame.subtitle('');
slider.update(state.projection?.timeline);
if (state.projection) view.showProjection();
else {
  view.renderNeighbours();
  view.renderAnalogy();
  view.renderHighlight();
}
