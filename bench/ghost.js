// Is ghost text worth reading? Trains the walkthrough's model (the `tiny` preset, its steps sized to the text, as the
// editor runs it) on the first 90% of the bundled sample, once (kept in out/bench-ghost/ for later runs), then, at
// positions in the held-out 10% (half right after a space, half inside a word), asks the real engine process for the
// suggestion the editor would show in each mode (extension/ghostText.ts's requests, with its default settings) and
// reports how often the first word the suggestion completes is the text's true next word, and how often a mode
// shows nothing. Printed side by side with the CPU.
// Usage: node bench/ghost.js [--positions 300] [--preset tiny] [--retrain] [--json out.json]   (run `npm run build` first)
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const OUT = path.join(__dirname, '..', 'out', 'engine');
const { exitWith, flag, percentiles } = require('./common');
const { EngineClient } = require(path.join(OUT, 'host', 'client.js'));
const { Rng } = require(path.join(OUT, 'common', 'rng.js'));

const positions = Number(flag('positions', 300));
const preset = flag('preset', 'tiny');
const worker = path.join(OUT, 'host', 'worker.js');
const sample = fs.readFileSync(path.join(__dirname, '..', 'media', 'tinyshakespeare-sample.txt'), 'utf8');
const split = Math.floor(sample.length * 0.9);
const trainText = sample.slice(0, split);

/** The extension's defaults (package.json): gptLab.ghostText.{maxTokens, minProbability, temperature, stopAtNewline}. */
const GHOST = { maxTokens: 32, minProbability: 0.35, temperature: 0.6, stopAtNewline: true };
const WORD = /[\p{L}\p{M}\p{N}_]/u;

/** The model file for this preset and training text, trained once. */
async function model(client) {
  const key = crypto.createHash('sha256').update(`${preset}\0${trainText}`).digest('hex').slice(0, 12);
  const dir = path.join(__dirname, '..', 'out', 'bench-ghost');
  const file = path.join(dir, `${preset}-${key}.safetensors`);
  if (fs.existsSync(file) && !process.argv.includes('--retrain')) return { file, trainedMs: null, steps: null };
  fs.mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  const outcome = await client.call('train', { text: trainText, label: 'sample (90%)', settings: { preset }, out: file,
    beside: `${file}.new`, checkpoint: null, inputs: [] });
  return { file, trainedMs: Date.now() - t0, steps: outcome.steps };
}

/** Held-out places to complete at: after a space before a word, and inside a word (at least one letter on each side). */
function places(count) {
  const rng = new Rng(7);
  const after = [], inside = [];
  while (after.length < count / 2 || inside.length < count - Math.floor(count / 2)) {
    const at = split + 600 + rng.int(sample.length - split - 620);
    const prev = sample[at - 1], next = sample[at];
    if (prev === ' ' && WORD.test(next) && after.length < count / 2) after.push(at);
    else if (WORD.test(prev) && WORD.test(next) && inside.length < count - Math.floor(count / 2)) inside.push(at);
  }
  return [...after.map((at) => ({ at, kind: 'after a space' })), ...inside.map((at) => ({ at, kind: 'inside a word' }))];
}

/** The word a completion at `at` finishes: the word's start before `at` plus `text` up to its first non-word character. */
function firstWord(at, text) {
  let start = at;
  while (start > 0 && WORD.test(sample[start - 1])) start -= 1;
  const whole = sample.slice(start, at) + text;
  let end = at - start;
  while (end < whole.length && WORD.test(whole[end])) end += 1;
  return { word: whole.slice(0, end), complete: end < whole.length };
}

/** The modes measured: the default, word mode at other thresholds (to see what the setting trades), and free. */
const MODES = [
  { name: `word (default, p >= ${GHOST.minProbability})`, word: GHOST.minProbability },
  { name: 'word, p >= 0.2', word: 0.2 },
  { name: 'word, p >= 0.5', word: 0.5 },
  { name: `free (temperature ${GHOST.temperature})`, word: null },
];

function request(mode, prompt) {
  const base = { prompt, tokens: GHOST.maxTokens, stopAtNewline: GHOST.stopAtNewline };
  return mode.word !== null
    ? { ...base, seed: 0, sampling: { temperature: 0, topK: 0, topP: 1 }, wordMode: { minProbability: mode.word } }
    : { ...base, seed: prompt.length, sampling: { temperature: GHOST.temperature, topK: 0, topP: 1 } };
}

async function main() {
  const cpu = `${os.cpus()[0].model.trim()}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`;
  const client = new EngineClient({ workerPath: worker });
  const trained = await model(client);
  const summary = await client.call('load', { file: trained.file });
  const results = { machine: cpu, preset, steps: trained.steps, trainedMs: trained.trainedMs, parameters: summary.parameters, positions, modes: {} };
  const at = places(positions);
  for (const mode of MODES) {
    const tally = { shown: 0, right: 0, byKind: {}, ms: [] };
    for (const { at: offset, kind } of at) {
      const prompt = sample.slice(Math.max(0, offset - 512), offset); // extension/session.ts contextBefore: max(256, 8 T)
      const t0 = process.hrtime.bigint();
      const { text } = await client.call('sample', request(mode, prompt));
      tally.ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const shown = text.trim() !== ''; // the editor shows nothing for whitespace alone
      const truth = firstWord(offset, sample.slice(offset, offset + 40)).word;
      const guess = shown ? firstWord(offset, text) : null;
      const right = guess !== null && guess.word === truth;
      const k = (tally.byKind[kind] ??= { n: 0, shown: 0, right: 0 });
      k.n += 1;
      if (shown) {
        tally.shown += 1;
        k.shown += 1;
      }
      if (right) {
        tally.right += 1;
        k.right += 1;
      }
    }
    results.modes[mode.name] = { shown: tally.shown / at.length, firstWordRight: tally.right / at.length,
      rightWhenShown: tally.shown ? tally.right / tally.shown : 0, byKind: tally.byKind, latency: percentiles(tally.ms) };
  }
  client.dispose();

  const pct = (x) => `${(100 * x).toFixed(1)}%`.padStart(7);
  console.log(`ghost text on the held-out 10% of the bundled sample, ${preset} (${(summary.parameters / 1e6).toFixed(2)}M parameters` +
    `${trained.steps ? `, trained here for ${trained.steps} steps in ${(trained.trainedMs / 1000).toFixed(0)} s` : ', trained earlier'}), ` +
    `${at.length} positions; ${cpu}`);
  console.log(`  ${'mode'.padEnd(27)} ${'shows'.padStart(7)} ${'nothing'.padStart(8)} ${'1st word right'.padStart(15)} ${'right when shown'.padStart(17)}  after a space / inside a word (right)   latency p50`);
  for (const [mode, r] of Object.entries(results.modes)) {
    const kinds = Object.values(r.byKind).map((k) => pct(k.right / k.n).trim()).join(' / ');
    console.log(`  ${mode.padEnd(27)} ${pct(r.shown)} ${pct(1 - r.shown).padStart(8)} ${pct(r.firstWordRight).padStart(15)} ${pct(r.rightWhenShown).padStart(17)}  ` +
      `${kinds.padEnd(38)} ${r.latency.p50} ms`);
  }
  const json = flag('json', path.join(__dirname, 'results', 'ghost.json'));
  fs.writeFileSync(json, JSON.stringify(results, null, 2));
}

main().then(() => exitWith(0)).catch((e) => exitWith(1, e && e.stack ? e.stack : String(e)));
