// The next-token panel's wiring: the channel (the data after a command; resample, sample one token and reset as
// requests whose promise brings the new data, the newest slider position winning), the saved state, and the frame's
// loading and error lines. What it draws: render.ts; the state and its rules: state.ts. The timeline slider replays
// the distribution at a snapshot of the run (in the same series as the sampling sliders: the newest wins), and every
// new distribution asks "why this token?" (attribution.ts) for the chosen token.
import type { AttributionProbe, NextTokenData } from '../../engine/protocol';
import { createFrame } from '../shared/frame';
import { connect, Latest, RequestError } from '../shared/host';
import { onThemeChange } from '../shared/theme';
import { createTimelineSlider } from '../shared/timelineSlider';
import { createAttributionView } from './attribution';
import { createNextTokenView } from './render';
import { restoreState, sanitize, valid, validAttribution, type NextTokenState } from './state';

const DEBOUNCE_MS = 50;

let state: NextTokenState = restoreState(undefined);
let busy: 'resample' | 'sample' | 'reset' | null = null;
let previousSampled = ''; // sampledSoFar before the last draw, to mark the newest token
const resamples = new Latest<NextTokenData>();
const attributions = new Latest<AttributionProbe>();

const frame = createFrame({
  view: 'nextToken',
  title: 'Next token',
  empty: { title: 'Nothing asked yet', text: 'Select some text and run “GPT Lab: Show next-token distribution” to see what the model expects.' },
});

let debounce: ReturnType<typeof setTimeout> | undefined;
let sliderMoving = false; // a slider change is waiting for its debounce: answers must not move the sliders back
const view = createNextTokenView(frame, { state: () => state, busy: () => busy, previousSampled: () => previousSampled }, {
  settingsChanged: () => {
    state.settings = sanitize(state.settings);
    view.renderSliders();
    clearTimeout(debounce);
    sliderMoving = true;
    debounce = setTimeout(() => {
      sliderMoving = false;
      void ask('resample', () => channel.request('resample', { ...state.settings }));
    }, DEBOUNCE_MS);
  },
  sample: () => {
    if (!state.data || busy === 'sample') return;
    void ask('sample', () => channel.request('sampleOne', { ...state.settings }));
  },
  reset: () => void ask('reset', () => channel.request('reset', {})),
  lensChanged: () => {
    view.renderLens();
    save();
  },
});

const slider = createTimelineSlider(frame, 'the distribution shows',
  (snapshot) => void ask('resample', () => channel.request('atSnapshot', { snapshot, sampling: { ...state.settings } })));
const attribution = createAttributionView(frame.body, () => void fetchAttribution());

/** "Why this token?" for the token chosen, after the prompt shown (the newest ask wins). */
async function fetchAttribution(): Promise<void> {
  if (!state.data) return;
  const data = state.data;
  attribution.show(null, 'Splitting the logit into its parts…');
  try {
    const reply = await attributions.run(() => channel.request('attribution', { token: attribution.token() }));
    if (!reply || state.data !== data) return;
    if (!validAttribution(reply.value)) throw new Error('the attribution that came back is not well formed');
    attribution.show(reply.value, null);
  } catch (e) {
    if (state.data === data) attribution.show(null, e instanceof Error ? e.message : String(e), true);
  }
}

const channel = connect<'nextToken', NextTokenState>('nextToken', {
  loading: (p) => frame.loading(typeof p.what === 'string' ? p.what.slice(0, 200) : 'Working'),
  error: (p) => {
    frame.loading(null);
    frame.error(typeof p.message === 'string' ? p.message.slice(0, 400) : 'The request failed.');
    state.data = null; // what was on screen answered an older request
    view.render();
    save();
  },
  // After a command: a new prompt.
  nextToken: (d) => {
    frame.loading(null);
    previousSampled = '';
    show(d, true, true);
  },
});

/** Sends a request; its answer (unless a newer request of the panel superseded it) becomes what is shown. */
async function ask(kind: 'resample' | 'sample' | 'reset', request: () => Promise<NextTokenData>): Promise<void> {
  if (!state.data) return;
  busy = kind;
  view.render();
  const before = state.data.sampledSoFar;
  try {
    const reply = await resamples.run(request);
    if (!reply) return; // a newer request is under way
    if (kind === 'sample') previousSampled = before;
    else if (kind === 'reset') previousSampled = '';
    busy = null;
    show(reply.value, !sliderMoving);
  } catch (e) {
    busy = null;
    frame.error(e instanceof RequestError ? e.message : String(e));
    view.render();
  }
}

/** Shows new data; `fresh`: it answers a new command (a new prompt or model), so the attribution is asked again. */
function show(d: NextTokenData, followSettings: boolean, fresh = false): void {
  if (!valid(d)) {
    frame.error('Cannot show this next-token data: it is not well formed.');
    return;
  }
  frame.error(null);
  const promptChanged = state.data?.prompt !== d.prompt || state.data.timeline?.at !== d.timeline?.at;
  state.data = d;
  // Follow the settings the data was computed with, unless a slider change is on its way to the host.
  if (followSettings) state.settings = sanitize(d.probe.sampling);
  slider.update(d.timeline);
  attribution.choices(d);
  view.render();
  save();
  // The attribution depends on the prompt and the snapshot, not on the sampling settings.
  if (promptChanged || fresh) void fetchAttribution();
}

function save(): void {
  channel.saveState(state);
}

state = restoreState(channel.state());
previousSampled = state.data?.sampledSoFar ?? '';
slider.update(state.data?.timeline);
attribution.choices(state.data);
if (state.data) attribution.show(null, 'The attribution comes with the next request.');
view.render();
onThemeChange(() => view.render());
