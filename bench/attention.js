// The attention panel, end to end in the webview test harness (#20 item 4): from the command to the first paint for
// 512 tokens of a model of the classic preset's shape (12 layers, 8 heads, D 256) with a 512-token context, and on to
// the whole grid. The engine process (dist's worker, as the extension runs it) computes the probe as the panel asks
// for it (extension/panels/attention.ts): the first paint's forward pass stops after the open map's layer (layer 1),
// then `attentionLayers` runs the whole pass for the other layers' thumbnails. Each payload crosses to the panel's
// bundle in headless Chromium (test/webviews/harness.ts, the page VS Code serves) and the view paints. Each repeat
// probes a new text, so the engine's kept weights never answer for it. The whole probe in one piece, as before the
// first paint was split, is timed beside it.
// Usage: node bench/attention.js [--repeats N] [--json out.json]   (run `npm run build` first; needs /usr/bin/chromium)
'use strict';
/* global window, document, requestAnimationFrame */ // in the page's function below
const fs = require('fs');
const os = require('os');
const path = require('path');
const { performance } = require('perf_hooks');
const { flag, percentiles } = require('./common');

const ROOT = path.join(__dirname, '..');
const OUT = path.join(ROOT, 'out');
const repeats = Number(flag('repeats', 8));
const CONTEXT = 512;

async function main() {
  const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
  if (!fs.existsSync(chromium)) {
    console.log(`attention first paint: skipped (no Chromium at ${chromium}; set CHROMIUM)`);
    return;
  }
  const { ComputePlan } = require(path.join(OUT, 'engine', 'compute', 'plan.js'));
  const { PRESETS } = require(path.join(OUT, 'engine', 'model', 'config.js'));
  const { GPT } = require(path.join(OUT, 'engine', 'model', 'gpt.js'));
  const { Vocabulary } = require(path.join(OUT, 'engine', 'text', 'vocab.js'));
  const { getTokenizer } = require(path.join(OUT, 'engine', 'text', 'tokenizers.js'));
  const { saveModel } = require(path.join(OUT, 'engine', 'io', 'checkpoint.js'));
  const { EngineClient } = require(path.join(OUT, 'engine', 'host', 'client.js'));
  const { encodeForPage, openView, shutdown } = require(path.join(OUT, 'test', 'webviews', 'harness.js'));

  // A classic-shaped model with a 512-token context, o200k_base over the bundled sample (its weights do not matter
  // for the timing, so they are the initial ones).
  const plan = await ComputePlan.create({ backend: 'cpu', trainer: 'auto' });
  const text = fs.readFileSync(path.join(ROOT, 'media', 'tinyshakespeare-sample.txt'), 'utf8');
  const tokenizer = getTokenizer('o200k_base');
  const ids = tokenizer.encode(text);
  const vocab = Vocabulary.fromTokenIds(ids);
  const model = GPT.init({ ...PRESETS.classic.model, contextLength: CONTEXT, vocabSize: vocab.size }, 1);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-attention-')), 'classic-512.safetensors');
  saveModel(file, model, vocab, tokenizer, { steps: [], evals: [] });

  // Where the engine's time goes, in this process: the forward pass (the native decoder's when built) and the pooling.
  const { KVCacheSession } = require(path.join(OUT, 'engine', 'inference', 'kvCache.js'));
  const { textAttention, attentionThumbnails } = require(path.join(OUT, 'engine', 'probes', 'attention.js'));
  const decoder = new KVCacheSession(model, plan);
  const forward = decoder.path === 'native' ? (x, upTo) => decoder.attention(x, upTo) : undefined;
  const parts = { forward: [], pool: [], firstLayer: [] };
  for (let r = 0; r < 4; r++) {
    const selection = tokenizer.decode(ids.slice(500 + 1000 * r, 500 + 1000 * r + CONTEXT));
    const t0 = performance.now();
    const a = textAttention({ model, vocab, tokenizer }, selection, forward);
    const t1 = performance.now();
    attentionThumbnails(a, 64);
    const t2 = performance.now();
    textAttention({ model, vocab, tokenizer }, selection, forward, 1);
    if (r > 0) {
      parts.forward.push(t1 - t0);
      parts.pool.push(t2 - t1);
      parts.firstLayer.push(performance.now() - t2);
    }
  }
  decoder.dispose();
  model.dispose();

  const client = new EngineClient({ workerPath: path.join(ROOT, 'dist', 'engine-worker.js') });
  const view = await openView('attention', 'dark', { width: 1400, height: 900 });
  const results = { model: { ...PRESETS.classic.model, contextLength: CONTEXT, vocabSize: vocab.size }, repeats, runs: [] };
  try {
    const backend = await client.call('init', { backend: 'auto' });
    await client.call('load', { file });
    await view.waitForPosted('ready');
    const summary = { label: 'classic-512.safetensors', tokenizer: 'o200k_base', parameters: 0, partial: false };
    // Posts a message as the extension's postMessage delivers it (a window message event, structured clone included)
    // after it crossed the test driver (typed arrays as base64, revived in the page: the driver's cost, not VS Code's,
    // which transfers ArrayBuffers), and waits until the view has painted it: ms from postMessage to paint.
    const postAndPaint = (type, params, mark) => view.page.evaluate(({ type, params, mark }) => new Promise((resolve) => {
      if (mark === 'paintMs') delete document.body.dataset.paintMs;
      const message = { type, params: window.__glRevive(params) };
      const posted = performance.now();
      window.postMessage(message, '*');
      const tick = () => (document.body.dataset[mark] ? resolve(performance.now() - posted) : requestAnimationFrame(tick));
      requestAnimationFrame(tick);
    }), { type, params: encodeForPage(params), mark });
    const bytesOf = (probe) => probe.thumbnails.values.byteLength + probe.maps.reduce((n, m) => n + m.weights.byteLength, 0);
    for (let r = 0; r < repeats + 1; r++) {
      const selection = tokenizer.decode(ids.slice(1000 * r, 1000 * r + CONTEXT)); // a new text each time: no kept weights
      // As the panel asks: the first layer for the first paint, then the other layers.
      const t0 = performance.now();
      const probe = await client.call('attention', { text: selection, open: [{ layer: 0, head: 0 }], layers: 1 });
      const engineMs = performance.now() - t0;
      const viewMs = await postAndPaint('attention', { source: 'sample.txt', model: summary, probe, totalTokens: probe.tokens.length + probe.cropped }, 'paintMs');
      const firstTotalMs = performance.now() - t0;
      const t1 = performance.now();
      const rest = await client.call('attentionLayers', { text: selection, from: probe.thumbnails.count, thumbnail: probe.thumbnails.res });
      const restEngineMs = performance.now() - t1;
      const restViewMs = await postAndPaint('layers', rest, 'layersMs');
      const restTotalMs = performance.now() - t1;
      // The whole probe in one piece (a new text again), as the panel asked before the first paint was split.
      const other = tokenizer.decode(ids.slice(1000 * r + 500, 1000 * r + 500 + CONTEXT));
      const t2 = performance.now();
      const whole = await client.call('attention', { text: other, open: [{ layer: 0, head: 0 }] });
      const wholeEngineMs = performance.now() - t2;
      const wholeViewMs = await postAndPaint('attention', { source: 'sample.txt', model: summary, probe: whole, totalTokens: whole.tokens.length + whole.cropped }, 'paintMs');
      if (r > 0) {
        results.runs.push({ tokens: probe.tokens.length, engineMs, viewMs, withoutDriverMs: engineMs + viewMs,
          driverMs: firstTotalMs - engineMs - viewMs, totalMs: firstTotalMs,
          gridWithoutDriverMs: engineMs + viewMs + restEngineMs + restViewMs, restEngineMs, restViewMs,
          gridDriverMs: firstTotalMs - engineMs - viewMs + restTotalMs - restEngineMs - restViewMs,
          wholeEngineMs, wholeViewMs, wholeWithoutDriverMs: wholeEngineMs + wholeViewMs,
          bytes: bytesOf(probe), restBytes: rest.values.byteLength, wholeBytes: bytesOf(whole) });
      }
    }
    const pick = (k) => percentiles(results.runs.map((x) => x[k]));
    results.engine = pick('engineMs');
    results.view = pick('viewMs');
    results.driver = pick('driverMs');
    results.total = pick('totalMs');
    results.withoutDriver = pick('withoutDriverMs');
    results.grid = { withoutDriver: pick('gridWithoutDriverMs'), restEngine: pick('restEngineMs'), restView: pick('restViewMs'), driver: pick('gridDriverMs') };
    results.whole = { withoutDriver: pick('wholeWithoutDriverMs'), engine: pick('wholeEngineMs'), view: pick('wholeViewMs') };
    results.backend = backend.detail;
    results.inProcess = { path: decoder.path, forward: percentiles(parts.forward), pool: percentiles(parts.pool), firstLayer: percentiles(parts.firstLayer) };
    results.machine = { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, load: os.loadavg()[0] };
    const f = (p) => `p50 ${p.p50.toFixed(0)} ms, p95 ${p.p95.toFixed(0)} ms`;
    const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
    const run0 = results.runs[0];
    console.log(`attention panel, ${run0.tokens} tokens of a classic-shaped model (12 layers x 8 heads); ` +
      `${results.machine.cpu}, ${results.machine.cores} cores, load average ${results.machine.load.toFixed(1)}, engine: ${results.backend}`);
    console.log(`  command to first paint (layer 1's maps, ${mb(run0.bytes)}): ${f(results.withoutDriver)} ` +
      `(engine ${f(results.engine)}, view ${f(results.view)} from postMessage to paint); ` +
      `${f(results.total)} with the test driver carrying the payload into Chromium (${f(results.driver)})`);
    console.log(`  command to the whole grid (the other 11 layers' thumbnails, ${mb(run0.restBytes)}, after it): ${f(results.grid.withoutDriver)} ` +
      `(the whole pass ${f(results.grid.restEngine)}, view ${f(results.grid.restView)})`);
    console.log(`  the whole probe in one piece (${mb(run0.wholeBytes)}), side by side: command to paint ${f(results.whole.withoutDriver)} ` +
      `(engine ${f(results.whole.engine)}, view ${f(results.whole.view)})`);
    console.log(`  in the engine: the ${results.inProcess.path} forward pass with every layer's attention ${f(results.inProcess.forward)}, ` +
      `stopped after layer 1 ${f(results.inProcess.firstLayer)}; thumbnails of every layer ${f(results.inProcess.pool)}`);
  } finally {
    await view.close();
    await shutdown();
    client.dispose();
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
  const out = flag('json', path.join(__dirname, 'results', 'attention.json'));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(results, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
