// Soak: trains, probes and cancels at random points through the engine process for a while (10 minutes by default),
// then reports the engine's memory and live tensors at the start and the end, and every error. Not a unit test.
// Usage: node bench/soak.js [--minutes M] [--seed S]   (run `npm run build` first)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const OUT = path.join(__dirname, '..', 'out', 'engine');
const { exitWith, flag } = require('./common');
const { EngineClient } = require(path.join(OUT, 'host', 'client.js'));

const minutes = Number(flag('minutes', 10));
let seed = Number(flag('seed', 7));
const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
const pick = (xs) => xs[Math.floor(random() * xs.length)];
const sample = fs.readFileSync(path.join(__dirname, '..', 'media', 'tinyshakespeare-sample.txt'), 'utf8');
const text = (n) => {
  const at = Math.floor(random() * (sample.length - n));
  return sample.slice(at, at + n);
};
const mb = (b) => `${(b / 1048576).toFixed(0)} MB`;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-soak-'));
  const client = new EngineClient({ workerPath: path.join(OUT, 'host', 'worker.js'), onCrash: (r) => errors.push(`crash: ${r}`) });
  const errors = [];
  const counts = {};
  const choices = { preset: 'tiny', contextLength: 32, modelOverrides: 'dim=64,layers=2', batchSize: 8, evalEvery: 20 };
  // Warm up: one model, so the probes have something to answer with, then the baseline.
  const job = (textLength, steps, name) => {
    const out = path.join(dir, `${name}.safetensors`);
    return { text: text(textLength), label: 'soak', settings: { ...choices, steps }, out, beside: `${out}.new`, checkpoint: null, inputs: [] };
  };
  await client.call('train', job(20_000, 40, 'm'));
  await client.call('nextToken', { text: 'ROMEO:', k: 5 });
  const start = await client.call('status', {});
  const until = Date.now() + minutes * 60_000;
  while (Date.now() < until) {
    const action = pick(['train-cancel', 'train-cancel', 'probe', 'probe', 'probe', 'sample', 'train-short']);
    counts[action] = (counts[action] ?? 0) + 1;
    try {
      if (action === 'train-cancel') {
        const stopAt = Math.floor(random() * 60);
        const req = client.request('train', job(8_000 + Math.floor(random() * 40_000), 100_000, 'm'), { onEvent: (e) => {
          if (e.event === 'step' && e.step === stopAt) void client.cancel(req.id);
        } });
        if (stopAt === 0) void client.cancel(req.id);
        // Probes while the run goes on are answered between its steps.
        await client.call('nextToken', { text: text(60), k: 5 });
        const r = await req.result;
        if (!r.cancelled) errors.push(`a cancelled run reported ${JSON.stringify(r)}`);
      } else if (action === 'train-short') {
        await client.call('train', job(10_000, 30, 'short'));
      } else if (action === 'probe') {
        const probe = pick(['nextToken', 'attention', 'lens', 'tokenLoss', 'projection']);
        const params = probe === 'projection' ? {} : probe === 'nextToken' || probe === 'lens' ? { text: text(80), k: 5 } : { text: text(120) };
        await client.call(probe, params);
      } else {
        await client.call('sample', { prompt: text(40), tokens: 40, seed: Math.floor(random() * 1000),
          sampling: { temperature: 0.8, topK: 0, topP: 0.95 } });
      }
    } catch (e) {
      errors.push(`${action}: ${e.message}`);
    }
  }
  const end = await client.call('status', {});
  client.dispose();
  console.log(`soak: ${minutes} min, ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}`);
  console.log(`  engine RSS ${mb(start.rssBytes)} -> ${mb(end.rssBytes)}; JS heap ${mb(start.heapUsedBytes)} -> ${mb(end.heapUsedBytes)}; ` +
    `live tensors ${start.tensors} -> ${end.tensors}`);
  console.log(`  errors: ${errors.length}${errors.length ? `\n    ${errors.slice(0, 10).join('\n    ')}` : ''}`);
  fs.writeFileSync(path.join(__dirname, 'results', 'soak.json'), JSON.stringify({ minutes, counts, start, end, errors }, null, 2));
  process.exitCode = errors.length || end.tensors !== start.tensors ? 1 : 0;
}

main().catch((e) => {
  exitWith(1, e && e.stack ? e.stack : String(e));
});
