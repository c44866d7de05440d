// The loss chart's wiring: the channel (runs and their event batches), the saved state (a reload redraws before any
// message), and redraws at most once per animation frame while steps stream in. What it draws: render.ts; the state
// and its rules (numbering, colours, the run on screen): state.ts.
import type { LossCompareTable, LossRun, LossTimeline, TrainEvent } from '../../engine/protocol';
import { createFrame } from '../shared/frame';
import { connect } from '../shared/host';
import { onThemeChange } from '../shared/theme';
import { createLossView } from './render';
import { addCompareTable, addRun, applyEvents, findRun, restoreState, emptyState, setRoles, type LossState } from './state';

const SAVE_EVERY_MS = 750;

let state: LossState = emptyState();
let dirty = false;
let lastSave = 0;
let saveTimer: number | undefined;

const frame = createFrame({
  view: 'loss',
  title: 'Training loss',
  empty: { title: 'No training yet', text: 'Run “GPT Lab: Train GPT on this file”: the loss appears here live, step by step.' },
});

const view = createLossView(frame, {
  changed: (now) => {
    persist(now);
    if (now) view.update(state);
    else schedule();
  },
  schedule: () => schedule(),
});

const channel = connect<'loss', LossState>('loss', {
  loading: () => undefined, // the chart follows runs; nothing is asked for
  error: (p) => {
    frame.error(typeof p.message === 'string' ? p.message.slice(0, 400) : 'unknown error');
    schedule();
  },
  run: (p) => onRun(p),
  events: (p) => onEvents(p),
  compareTable: (p) => onCompareTable(p),
  timeline: (p) => onTimeline(p),
});

function onRun(p: LossRun): void {
  if (typeof p.id !== 'string' || p.id.length === 0) return;
  frame.error(null);
  addRun(state, { id: p.id, source: typeof p.source === 'string' ? p.source : '', compare: p.compare });
  state.focus = null; // follow the newest run
  persist(true);
  schedule();
}

function onEvents(p: { runId: string; events: TrainEvent[] }): void {
  if (typeof p.runId !== 'string' || !Array.isArray(p.events)) return;
  // The host posts a run before its events; a batch for a run this chart never heard of is not given a made-up name.
  const run = findRun(state, p.runId);
  if (!run) return;
  const applied = applyEvents(run, p.events);
  if (applied === 0) return;
  persist(run.done !== null || p.events.some((e) => e && (e.event === 'eval' || e.event === 'warning')));
  if (p.events.some((e) => e && (e.event === 'done' || e.event === 'warning' || e.event === 'checkpoint'))) view.announce(run);
  schedule();
}

function onCompareTable(p: LossCompareTable): void {
  const table = addCompareTable(state, p);
  if (!table) return;
  view.announceTable(table);
  persist(true);
  schedule();
}

function onTimeline(p: LossTimeline): void {
  if (typeof p.runId !== 'string' || !setRoles(state, p.runId, p.timeline)) return;
  persist(true);
  schedule();
}

/** Saves at most every SAVE_EVERY_MS while steps stream in; at once on the events that matter. */
function persist(now: boolean): void {
  const t = performance.now();
  if (now || t - lastSave > SAVE_EVERY_MS) {
    lastSave = t;
    if (saveTimer !== undefined) window.clearTimeout(saveTimer);
    saveTimer = undefined;
    channel.saveState(state);
  } else if (saveTimer === undefined) {
    saveTimer = window.setTimeout(() => {
      saveTimer = undefined;
      lastSave = performance.now();
      channel.saveState(state);
    }, SAVE_EVERY_MS);
  }
}

/** Streamed events redraw once per frame; a user's click redraws at once, so the control answers in the same frame. */
function schedule(): void {
  if (dirty) return;
  dirty = true;
  requestAnimationFrame(() => {
    dirty = false;
    view.update(state);
  });
}

state = restoreState(channel.state());
new ResizeObserver(() => schedule()).observe(document.body);
onThemeChange(() => schedule());
view.update(state);
