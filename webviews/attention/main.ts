// The attention panel's wiring: the channel (the probe after a command; maps and a token's rows on request; `focus`
// to the host, which paints the row over the source; `unfocus` when that painting went away), the saved state (a
// reload redraws from a compact copy before any message), and the frame's loading and error lines. What it draws:
// render.ts; the state and its rules: state.ts. The timeline slider replays the probe at a snapshot of the run (the
// focus and the open map stay); the head-role grid and ablation (roles.ts) and a patching result (patch.ts) are asked
// for, or pushed, on the same text; their rules: interp.ts.
import type { AttentionData, AttentionHead, AttentionRows, HeadRolesProbe } from '../../engine/protocol';
import { createFrame } from '../shared/frame';
import { connect, Latest } from '../shared/host';
import { onThemeChange } from '../shared/theme';
import { createTimelineSlider, replayAt } from '../shared/timelineSlider';
import { validAblation, validPatch, validRoles } from './interp';
import { createPatchView } from './patch';
import { createAttentionView } from './render';
import { createRolesView } from './roles';
import { addLayers, clampChoice, focusRow, holdMap, invalidReason, load, mapKey, modelOf, store, validRows, type Choice, type Model,
  type SavedState } from './state';

let model: Model | null = null;
let choice: Choice = { layer: 0, head: 0, token: null };
const mapRequests = new Latest<unknown>();
const rowRequests = new Latest<unknown>();
const replays = new Latest<AttentionData>();
const roleRequests = new Latest<HeadRolesProbe>();
const ablationRequests = new Latest<unknown>();
const ABLATION_DEBOUNCE_MS = 150;
let ablationTimer: ReturnType<typeof setTimeout> | undefined;
let heldRows: AttentionRows | null = null; // the head view's rows: the focused token's in every head of the open layer

const frame = createFrame({
  view: 'attention',
  title: 'Attention',
  empty: { title: 'No attention yet', text: 'Select some text and run “GPT Lab: Inspect attention for selection” to see what each head looks at.' },
});

const view = createAttentionView(frame, { model: () => model, choice: () => choice }, {
  selectMap: (layer, head, focusCell) => selectMap(layer, head, focusCell),
  selectToken: (token) => selectToken(token),
  scaleChanged: () => {
    view.renderChoice();
    save();
  },
});

const slider = createTimelineSlider(frame, 'the attention shows', (snapshot) => void replay(snapshot));
// After the open map in a narrow panel; under the grid, beside the map, in a wide one (style.css).
const rolesView = createRolesView(frame.body, {
  ablationChanged: () => {
    clearTimeout(ablationTimer);
    ablationTimer = setTimeout(() => void fetchAblation(), ABLATION_DEBOUNCE_MS);
    save();
  },
});
const patchView = createPatchView(frame.app, () => undefined);

const channel = connect<'attention', SavedState>('attention', {
  loading: (p) => frame.loading(typeof p.what === 'string' ? p.what.slice(0, 200) : 'Working'),
  error: (p) => {
    frame.loading(null);
    frame.error(typeof p.message === 'string' ? p.message.slice(0, 400) : 'The attention probe failed.');
    model = null; // what was on screen answered an older request
    view.render();
    save();
  },
  attention: (p) => setData(p),
  layers: (p) => addOtherLayers(p),
  patch: (p) => {
    frame.loading(null);
    if (!validPatch(p)) {
      frame.error('Cannot show this patching result: it is not well formed.');
      return;
    }
    patchView.show(p);
    document.querySelector('.att-patch')?.scrollIntoView({ block: 'start' });
  },
  unfocus: (p) => {
    if (choice.token === null) return;
    choice = { ...choice, token: null };
    view.unfocused(typeof p.reason === 'string' ? p.reason.slice(0, 200) : 'the text changed');
    view.renderChoice();
    save();
  },
});

let dataArrived = 0; // when the newest probe arrived: the first-paint and all-layers figures count from it

/** New data: after a command (a new text: no focus) or a replay at another snapshot (`replayed`: the focus stays). */
function setData(d: AttentionData, replayed = false): void {
  const t0 = performance.now();
  dataArrived = t0;
  frame.loading(null);
  delete document.body.dataset.paintMs;
  delete document.body.dataset.layersMs;
  const reason = invalidReason(d);
  if (reason) {
    frame.error(`Cannot show this attention data: ${reason}.`);
    return;
  }
  frame.error(null);
  const next = modelOf(d);
  const sameShape = model !== null && model.N === next.N && model.H === next.H;
  const keepFocus = replayed && sameShape && model?.T === next.T;
  model = next;
  slider.update(d.timeline);
  rolesView.shape(next.N, next.H);
  // A new text: no token is focused; the open layer and head stay when the model has them (the host sent that map).
  choice = clampChoice(next, keepFocus ? choice : sameShape ? { ...choice, token: null } : { layer: 0, head: 0, token: null });
  if (!keepFocus) view.unfocused(null);
  heldRows = null;
  view.headRows(null, null);
  view.render();
  if (!next.maps.has(mapKey(choice.layer, choice.head))) void fetchMap(choice.layer, choice.head);
  else {
    view.mapStatus(null);
    if (keepFocus) afterMap(); // the focused token's row at this snapshot, painted and in the head view
  }
  void fetchRoles();
  if (rolesView.chosen().length > 0) void fetchAblation();
  // After the browser has painted the frame: the first-paint figure the tests and the bench read.
  requestAnimationFrame(() => setTimeout(() => {
    document.body.dataset.paintMs = String(Math.round(performance.now() - t0));
    if (next.thumbLayers === next.N) document.body.dataset.layersMs = document.body.dataset.paintMs;
  }, 0));
  // Persist after the first paint: packing is not on the critical path.
  setTimeout(save, 50);
}

/** The thumbnails of the layers the first paint left out (its forward pass stopped after the open map's layer). */
function addOtherLayers(p: unknown): void {
  const m = model;
  if (!m || !addLayers(m, p)) return; // a newer probe, or one with every layer, is on screen
  view.renderLayers();
  requestAnimationFrame(() => setTimeout(() => {
    if (model === m && m.thumbLayers === m.N) document.body.dataset.layersMs = String(Math.round(performance.now() - dataArrived));
  }, 0));
  setTimeout(save, 50); // every layer is here: the compact copy can be kept (packing is not on the paint's path)
}

/** The timeline slider moved: the probe again at that snapshot (the newest position wins). */
async function replay(snapshot: number | null): Promise<void> {
  if (!model) return;
  await replayAt(frame, replays, snapshot === null ? 'Replaying with the trained model' : 'Replaying the attention at the chosen step',
    () => channel.request('atSnapshot', { snapshot }), (data) => setData(data, true));
}

/** Every head's role scores on this text, at the snapshot shown. */
async function fetchRoles(): Promise<void> {
  const m = model;
  if (!m) return;
  rolesView.roles(null, 'Scoring every head…');
  try {
    const reply = await roleRequests.run(() => channel.request('roles', {}));
    if (!reply || model !== m) return;
    if (!validRoles(reply.value, m.N, m.H)) throw new Error('the role scores that came back do not fit this model');
    rolesView.roles(reply.value, null);
  } catch (e) {
    if (model === m) rolesView.roles(null, e instanceof Error ? e.message : String(e), true);
  }
}

/** The text again with the chosen heads switched off (the newest choice wins). */
async function fetchAblation(): Promise<void> {
  const m = model;
  const heads = rolesView.chosen(), mode = rolesView.mode();
  if (!m || heads.length === 0) {
    ablationRequests.supersede();
    return;
  }
  rolesView.ablation(null, 'Running the text with those heads switched off…');
  try {
    const reply = await ablationRequests.run(() => channel.request('ablate', { heads, mode }));
    if (!reply || model !== m) return;
    if (!validAblation(reply.value, heads, mode)) throw new Error('the ablation that came back is not the one asked for');
    rolesView.ablation(reply.value, null);
  } catch (e) {
    if (model === m) rolesView.ablation(null, e instanceof Error ? e.message : String(e), true);
  }
}

/** Opens a map: at once when held, else asked of the host (the newest ask wins). */
function selectMap(layer: number, head: AttentionHead, focusCell = false): void {
  if (!model) return;
  choice = { ...choice, layer, head };
  view.renderChoice();
  if (focusCell) document.querySelector<HTMLElement>(`button.att-cell[data-layer="${layer}"][data-head="${head}"]`)?.focus();
  if (model.maps.has(mapKey(layer, head))) {
    view.mapStatus(null);
    mapRequests.supersede(); // a pending ask for another map no longer applies
    afterMap();
  } else {
    void fetchMap(layer, head);
  }
  save();
}

async function fetchMap(layer: number, head: AttentionHead): Promise<void> {
  const m = model;
  if (!m) return;
  view.mapStatus(`Loading layer ${layer + 1}, ${head === 'mean' ? 'the mean of its heads' : `head ${head + 1}`}…`);
  try {
    const reply = await mapRequests.run(() => channel.request('map', { layer, head }));
    if (!reply || model !== m) return;
    if (!holdMap(m, reply.value)) throw new Error('the map that came back does not fit this probe');
    view.mapStatus(null);
    view.renderChoice();
    afterMap();
  } catch (e) {
    if (model === m) view.mapStatus(e instanceof Error ? e.message : String(e), true);
  }
}

/** With the open map here, the focused token's row goes to the host (which paints it) and its head view is asked for. */
function afterMap(): void {
  postFocus();
  void fetchRows();
}

function selectToken(token: number | null): void {
  if (!model) return;
  choice = { ...choice, token };
  view.unfocused(null);
  view.renderChoice();
  afterMap();
  save();
}

function postFocus(): void {
  const m = model;
  if (!m) return;
  const map = m.maps.get(mapKey(choice.layer, choice.head));
  if (choice.token !== null && !map) return; // the row comes when the map does
  channel.post('focus', { token: choice.token, layer: choice.layer, head: choice.head,
    weights: choice.token === null || !map ? null : focusRow(map, m.T, choice.token) });
}

/** The head view's data: the focused token's rows in every head of the open layer. */
async function fetchRows(): Promise<void> {
  const m = model;
  const { layer, token } = choice;
  if (!m || token === null || (heldRows?.layer === layer && heldRows.query === token)) return; // another head of the same layer: same rows
  view.headRows(null, 'Loading every head’s row…');
  try {
    const reply = await rowRequests.run(() => channel.request('rows', { layer, query: token }));
    if (!reply || model !== m) return;
    if (!validRows(m, reply.value, layer, token)) throw new Error('the rows that came back do not fit this token');
    heldRows = reply.value;
    view.headRows(heldRows, '');
  } catch (e) {
    if (model === m) view.headRows(null, e instanceof Error ? e.message : String(e));
  }
}

// ---- the saved state: a compact copy (bytes, base64) so a reload redraws without the host ----

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function save(): void {
  try {
    channel.saveState({ version: 2, stored: model ? store(model, choice, toBase64) : null, choice, scale: view.scale(),
      roles: rolesView.state() });
  } catch (e) {
    console.warn(`gpt-lab attention: could not save the view state: ${String(e)}`);
  }
}

function restore(): void {
  const saved = channel.state();
  if (!saved || typeof saved !== 'object' || saved.version !== 2) return;
  if (saved.scale === 'absolute') view.setScale('absolute');
  rolesView.restore(saved.roles);
  try {
    model = saved.stored ? load(saved.stored, fromBase64) : null;
  } catch {
    model = null;
  }
  if (model) {
    choice = clampChoice(model, saved.choice ?? choice);
    rolesView.shape(model.N, model.H);
    rolesView.roles(null, 'The head scores come with the next “Inspect attention for selection”.');
  }
  // A reload removed the painting over the source: the panel's focus goes with it, so the two agree.
  if (choice.token !== null) {
    choice = { ...choice, token: null };
    view.unfocused('the window was reloaded');
  }
}

restore();
view.render();
let resizeTimer: ReturnType<typeof setTimeout> | undefined;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => view.render(), 100);
});
onThemeChange(() => view.render());
