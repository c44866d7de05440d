// Learning a byte-level BPE from 1 MB of text (engine/text/bpe.ts), and encoding that text with it.
// Usage: node bench/bpe.js [--text FILE] [--repeats N] [--json out.json]   (run `npm run build` first)
// Without --text it times the bundled sample (the first 300 KB of Tiny Shakespeare) repeated to 1 MiB: the same
// distinct words as the sample, at 3.5 times the counts. Give --text a 1 MB file for other text.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const OUT = path.join(__dirname, '..', 'out', 'engine');
const { flag, percentiles } = require('./common');
const { BpeTokenizer, learnBpe } = require(path.join(OUT, 'text', 'bpe.js'));

const MIB = 1 << 20;
const repeats = Number(flag('repeats', 3));

function time(fn) {
  const t0 = process.hrtime.bigint();
  const value = fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

function main() {
  const file = flag('text', null);
  const source = fs.readFileSync(file ?? path.join(__dirname, '..', 'media', 'tinyshakespeare-sample.txt'), 'utf8');
  let text = source;
  while (Buffer.byteLength(text) < MIB) text += source;
  text = Buffer.from(text).subarray(0, MIB).toString('utf8'); // 1 MiB (a character cut at the end reads as U+FFFD)
  const what = file ? `${path.basename(file)}, first 1 MiB` : 'the bundled sample repeated to 1 MiB';
  console.log(`BPE on ${what}; ${os.cpus()[0].model}, ${os.cpus().length} cores; median of ${repeats}`);
  const results = { text: what, bytes: Buffer.byteLength(text), rows: [] };
  for (const vocab of [1024, 4096, 16384]) {
    const learn = [], encode = [];
    let merges = 0, tokens = 0;
    for (let r = 0; r < repeats; r++) {
      const l = time(() => learnBpe(text, vocab));
      learn.push(l.ms);
      const tok = new BpeTokenizer(l.value.merges);
      const e = time(() => tok.encode(text).length);
      encode.push(e.ms);
      merges = l.value.merges.length / 2;
      tokens = e.value;
    }
    const row = { vocab, merges, learnMs: percentiles(learn).p50, encodeMs: percentiles(encode).p50, tokens, bytesPerToken: results.bytes / tokens };
    results.rows.push(row);
    console.log(`  bpe:${vocab}: ${merges} merges learned in ${(row.learnMs / 1000).toFixed(2)} s; encoding 1 MiB ${(row.encodeMs / 1000).toFixed(2)} s, ` +
      `${tokens.toLocaleString('en-US')} tokens (${row.bytesPerToken.toFixed(2)} bytes/token)`);
  }
  const json = flag('json', null);
  if (json) fs.writeFileSync(json, JSON.stringify(results, null, 2));
}

main();
