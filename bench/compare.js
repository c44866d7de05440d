// "Compare on this file": the wall time of a four-variant comparison (the baseline and three variants, one run at a
// time) on the bundled sample, as `gpt-lab compare` runs it.
// Usage: node bench/compare.js [--steps N] [--seeds K] [--preset P] [--trainer T] [--json out.json]
//        (run `npm run build` first; without --steps the runs are sized to the text as `gpt-lab train` sizes one)
'use strict';
const { performance } = require('node:perf_hooks');
const fs = require('fs');
const os = require('os');
const path = require('path');
const OUT = path.join(__dirname, '..', 'out', 'engine');
const { flag } = require('./common');
const { selectBackend } = require(path.join(OUT, 'compute', 'tfjsBackend.js'));
const { compareOnText } = require(path.join(OUT, 'training', 'compare.js'));
const { formatCompareTable } = require(path.join(OUT, 'host', 'compareCommand.js'));

const SAMPLE = path.join(__dirname, '..', 'media', 'tinyshakespeare-sample.txt');
const VARIANTS = ['norm=rmsnorm', 'kvHeads=1', 'positions=rope,qkNorm=true'];

async function main() {
  const steps = flag('steps', null);
  const seeds = Number(flag('seeds', 1));
  const preset = flag('preset', 'tiny');
  const trainer = flag('trainer', 'auto');
  const backend = await selectBackend('auto');
  const text = fs.readFileSync(SAMPLE, 'utf8');
  console.log(`compare on the bundled sample (${(Buffer.byteLength(text) / 1024).toFixed(0)} KB), preset ${preset}, baseline + ` +
    `${VARIANTS.join(' | ')}, ${seeds} seed${seeds === 1 ? '' : 's'}; ${os.cpus()[0].model}, ${os.cpus().length} cores, ` +
    `load average ${os.loadavg()[0].toFixed(1)}, backend ${backend.name}`);
  const runs = [];
  let runStarted = 0;
  const t0 = performance.now();
  const table = await compareOnText({
    text, choices: { preset, steps: steps === null ? undefined : Number(steps) }, variants: VARIANTS, baseline: true, seeds, trainer,
    onEvent: (e) => {
      if (e.event === 'start') runStarted = performance.now();
      if (e.event === 'done') runs.push({ label: e.label, seed: e.seed, steps: e.step, seconds: (performance.now() - runStarted) / 1000 });
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  for (const r of runs) console.log(`  ${r.label}, seed ${r.seed}: ${r.steps} steps in ${r.seconds.toFixed(1)} s`);
  console.log(`four-variant comparison: ${seconds.toFixed(1)} s for ${runs.length} runs (${table.rows[0].steps} steps each, ` +
    `${table.rows[0].runs[0].trainer}); load average now ${os.loadavg()[0].toFixed(1)}`);
  console.log(formatCompareTable(table, SAMPLE).map((l) => `  ${l}`).join('\n'));
  const json = flag('json', null);
  if (json) fs.writeFileSync(json, JSON.stringify({ cpu: os.cpus()[0].model, cores: os.cpus().length, seconds, runs, table }, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
