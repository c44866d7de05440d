// The attention panel, end to end in the webview test harness (#20 item 4): from the command to the first paint for
// 512 tokens of a model of the classic preset's shape (12 layers, 8 heads, D 256) with a 512-token context. The engine
// process (dist's worker, as the extension runs it) computes the probe; its payload crosses to the panel's bundle in
// headless Chromium (test/webviews/harness.ts, the page VS Code serves) and the view paints. Each repeat probes a new
// text, so the engine's kept weights never answer for it.
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
  const { selectBackend } = require(path.join(OUT, 'engine', 'compute', 'tfjsBackend.js'));
  const { PRESETS } = require(path.join(OUT, 'engine', 'model', 'config.js'));
  const { GPT } = require(path.join(OUT, 'engine', 'model', 'gpt.js'));
  const { Vocabulary } = require(path.join(OUT, 'engine', 'text', 'vocab.js'));
  const { getTokenizer } = require(path.join(OUT, 'engine', 'text', 'tokenizers.js'));
  const { saveModel } = require(path.join(OUT, 'engine', 'io', 'checkpoint.js'));
  const { EngineClient } = require(path.join(OUT, 'engine', 'host', 'client.js'));
  const { encodeForPage, openView, shutdown } = require(path.join(OUT, 'test', 'webviews', 'harness.js'));

  // A classic-shaped model with a 512-token context, o200k_base over the bundled sample (its weights do not matter
  // for the timing, so they are the initial ones).
  await selectBackend('cpu');
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
  const decoder = new KVCacheSession(model);
  const parts = { forward: [], pool: [] };
  for (let r = 0; r < 4; r++) {
    const selection = tokenizer.decode(ids.slice(500 + 1000 * r, 500 + 1000 * r + CONTEXT));
    const t0 = performance.now();
    const a = textAttention({ model, vocab, tokenizer }, selection, decoder.path === 'native' ? (x) => decoder.attention(x) : undefined);
    const t1 = performance.now();
    attentionThumbnails(a, 64);
    if (r > 0) {
      parts.forward.push(t1 - t0);
      parts.pool.push(performance.now() - t1);
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
    for (let r = 0; r < repeats + 1; r++) {
      const selection = tokenizer.decode(ids.slice(1000 * r, 1000 * r + CONTEXT)); // a new text each time: no kept weights
      const t0 = performance.now();
      const probe = await client.call('attention', { text: selection, open: [{ layer: 0, head: 0 }] });
      const engineMs = performance.now() - t0;
      // The panel's message crosses the test driver (typed arrays as base64, revived in the page: the driver's cost,
      // not VS Code's, which transfers ArrayBuffers), then is posted as the extension's postMessage delivers it (a
      // window message event, structured clone included), and the view paints it.
      const paint = await view.page.evaluate((params) => new Promise((resolve) => {
        delete document.body.dataset.paintMs;
        const message = { type: 'attention', params: window.__glRevive(params) };
        const posted = performance.now();
        window.postMessage(message, '*');
        const tick = () => (document.body.dataset.paintMs ? resolve({ viewMs: performance.now() - posted }) : requestAnimationFrame(tick));
        requestAnimationFrame(tick);
      }), encodeForPage({ source: 'sample.txt', model: summary, probe, totalTokens: probe.tokens.length + probe.cropped }));
      const totalMs = performance.now() - t0;
      const bytes = probe.thumbnails.values.byteLength + probe.maps.reduce((n, m) => n + m.weights.byteLength, 0);
      if (r > 0) {
        results.runs.push({ tokens: probe.tokens.length, engineMs, viewMs: paint.viewMs, driverMs: totalMs - engineMs - paint.viewMs, totalMs,
          withoutDriverMs: engineMs + paint.viewMs, bytes });
      }
    }
    const pick = (k) => percentiles(results.runs.map((x) => x[k]));
    results.engine = pick('engineMs');
    results.view = pick('viewMs');
    results.driver = pick('driverMs');
    results.total = pick('totalMs');
    results.withoutDriver = pick('withoutDriverMs');
    results.backend = backend.detail;
    results.inProcess = { path: decoder.path, forward: percentiles(parts.forward), pool: percentiles(parts.pool) };
    results.machine = { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, load: os.loadavg()[0] };
    const f = (p) => `p50 ${p.p50.toFixed(0)} ms, p95 ${p.p95.toFixed(0)} ms`;
    const mb = (results.runs[0].bytes / 2 ** 20).toFixed(1);
    console.log(`attention panel, ${results.runs[0].tokens} tokens of a classic-shaped model (12 layers x 8 heads), command to first paint: ` +
      `${f(results.withoutDriver)} (engine ${f(results.engine)}, view ${f(results.view)} from postMessage to paint); ` +
      `${f(results.total)} with the test driver carrying the ${mb} MB payload into Chromium (${f(results.driver)}); ` +
      `${results.machine.cpu}, ${results.machine.cores} cores, load average ${results.machine.load.toFixed(1)}, engine: ${results.backend}`);
    console.log(`  in the engine: the ${results.inProcess.path} forward pass with every layer's attention ${f(results.inProcess.forward)}, ` +
      `thumbnails ${f(results.inProcess.pool)}`);
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
