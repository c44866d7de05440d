// The tokens panel's wiring: the channel (the host's `tokens` after a command, the replay on request), the saved state
// (a reload redraws before any message), and the frame's loading and error lines. What it draws: render.ts; the
// state and its rules: state.ts.
import { createFrame } from '../shared/frame';
import { connect } from '../shared/host';
import { onThemeChange } from '../shared/theme';
import { createTokensView } from './render';
import { emptyState, persisted, restoreState, validate, validateReplay, type TokensState } from './state';

const frame = createFrame({
  view: 'tokens',
  title: 'Tokens',
  empty: { title: 'Nothing tokenized yet',
    text: 'Select text and run “GPT Lab: Show tokens of selection” (or “Compare tokenizers on this file”): every encoding’s tokens appear here side by side.' },
});

let state: TokensState = emptyState();

const view = createTokensView(frame, () => state, {
  changed: () => {
    save();
    view.update();
  },
  replay: (vocabSize) => void replay(vocabSize),
});

const channel = connect<'tokens', TokensState>('tokens', {
  loading: (p) => frame.loading(typeof p.what === 'string' ? p.what.slice(0, 200) : 'Working'),
  error: (p) => {
    // A command failed: what is on screen answered an older one, so it goes.
    frame.loading(null);
    frame.error(typeof p.message === 'string' ? p.message.slice(0, 400) : 'unknown error');
    state = { ...emptyState(), vocabSize: state.vocabSize, colourBy: state.colourBy, showIds: state.showIds };
    view.update();
    save();
  },
  tokens: (p) => {
    const t0 = performance.now();
    frame.loading(null);
    const data = validate(p);
    if (!data) {
      frame.error('the tokens data could not be read');
      return;
    }
    frame.error(null);
    state = { ...state, data, replay: null, shown: {}, colourBy: data.surprise ? 'surprise' : 'chunk' };
    view.replayError(null);
    view.update();
    // Figures for the tests: handling and drawing (ms).
    document.body.dataset.renderMs = (performance.now() - t0).toFixed(1);
    // Saving (a structured clone of up to ~1 MB) waits until the first paint is on screen.
    requestAnimationFrame(() => setTimeout(save, 0));
  },
});

/** Asks the host to learn a BPE from the file; the answer replaces the comparison (the learned BPE joins it). */
async function replay(vocabSize: number): Promise<void> {
  const asked = state.data;
  view.replayBusy(`Learning a BPE of ${vocabSize.toLocaleString('en-US')} tokens from the file`);
  try {
    const reply = validateReplay(await channel.request('bpeReplay', { vocabSize }));
    if (state.data !== asked) return; // a new text arrived meanwhile: this replay belongs to the old file
    if (!reply) throw new Error('the replay could not be read');
    state.replay = { data: reply, step: reply.replay.steps.length };
    view.replayError(null);
  } catch (e) {
    view.replayError(e instanceof Error ? e.message : String(e));
  } finally {
    view.replayBusy(null);
    view.update();
    save();
  }
}

function save(): void {
  channel.saveState(persisted(state));
}

state = restoreState(channel.state());
view.update();
onThemeChange(() => view.update());
