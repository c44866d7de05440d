#!/usr/bin/env node
// Native sgemm ceiling + quick correctness check.
// Usage: node bench/sgemm.js [--json] [--check]
'use strict';
const { exitWith } = require('./common');
const path = require('path');
const fs = require('fs');

function findAddon() {
  let dir = __dirname;
  for (;;) {
    const p = path.join(dir, 'native', 'build', 'Release', 'gptlab_native.node');
    if (fs.existsSync(p)) return p;
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

function rand(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}

function naive(ta, tb, M, N, K, A, B) {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
      C[i * N + j] = s;
    }
  return C;
}

function check(addon) {
  let worst = 0;
  for (const [M, N, K] of [[1, 1, 1], [3, 17, 33], [65, 33, 17], [13, 70, 300], [100, 129, 257]])
    for (const ta of [false, true])
      for (const tb of [false, true]) {
        const A = rand(M * K, 1), B = rand(K * N, 2);
        const C = rand(M * N, 3), C0 = C.slice();
        addon.sgemm(ta, tb, M, N, K, 1.5, A, ta ? M : K, B, tb ? K : N, 0.5, C, N);
        const R = naive(ta, tb, M, N, K, A, B);
        for (let i = 0; i < M * N; i++) {
          const want = 1.5 * R[i] + 0.5 * C0[i];
          worst = Math.max(worst, Math.abs(C[i] - want) / (1 + Math.abs(want)));
        }
      }
  return worst;
}

function timeIt(fn, minMs = 300) {
  for (let i = 0; i < 3; i++) fn();
  let reps = 0;
  const t0 = process.hrtime.bigint();
  let el = 0;
  const times = [];
  while (el < minMs * 1e6 || reps < 5) {
    const s = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - s));
    reps++;
    el = Number(process.hrtime.bigint() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] / 1e9; // median seconds
}

function benchShapes(addon) {
  const shapes = [
    { name: '512x512x512', batch: 1, M: 512, N: 512, K: 512 },
    { name: '2048x128x512', batch: 1, M: 2048, N: 128, K: 512 },
    { name: '256x768x256', batch: 1, M: 256, N: 768, K: 256 },
    { name: '256x4744x256', batch: 1, M: 256, N: 4744, K: 256 },
    { name: '256x256x256 tB', batch: 1, M: 256, N: 256, K: 256, tb: true },
    { name: '256x256x256 tA', batch: 1, M: 256, N: 256, K: 256, ta: true },
    { name: '[64,32,32]x[64,32,32]', batch: 64, M: 32, N: 32, K: 32 },
    { name: '[64,32,32]x[64,32,32] tB', batch: 64, M: 32, N: 32, K: 32, tb: true },
    { name: '[64,128,32]x[64,32,128]', batch: 64, M: 128, N: 128, K: 32 },
    { name: '[64,128,128]x[64,128,32]', batch: 64, M: 128, N: 32, K: 128 },
  ];
  const out = [];
  for (const s of shapes) {
    const { batch, M, N, K } = s;
    const ta = !!s.ta, tb = !!s.tb;
    const A = rand(batch * M * K, 5), B = rand(batch * K * N, 6), C = new Float32Array(batch * M * N);
    const lda = ta ? M : K, ldb = tb ? K : N;
    const fn = batch === 1
      ? () => addon.sgemm(ta, tb, M, N, K, 1, A, lda, B, ldb, 0, C, N)
      : () => addon.sgemmBatched(ta, tb, batch, M, N, K, 1, A, 0, M * K, lda, B, 0, K * N, ldb, 0, C, 0, M * N, N);
    const row = { shape: s.name };
    const threadsList = [1, addon.info().maxThreads].filter((v, i, a) => a.indexOf(v) === i);
    for (const t of threadsList) {
      addon.setThreads(t, false);
      const sec = timeIt(fn);
      row[`gflops_${t}t`] = +(2 * batch * M * N * K / sec / 1e9).toFixed(1);
    }
    out.push(row);
  }
  addon.setThreads(addon.info().maxThreads, process.env.GPTLAB_THREADS === undefined);
  return out;
}

function main() {
  const p = findAddon();
  if (!p) {
    exitWith(0, 'native addon not built (run npm run build:native)');
  }
  const m = { exports: {} };
  process.dlopen(m, p);
  const addon = m.exports;
  const info = addon.info();
  const err = check(addon);
  const rows = benchShapes(addon);
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify({ info, maxRelErr: err, rows }));
  } else {
    console.log(`isa=${info.isa} maxThreads=${info.maxThreads} tile=${info.mr}x${info.nr} maxRelErr=${err.toExponential(2)}`);
    console.table(rows);
  }
}

if (require.main === module) main();
module.exports = { findAddon, benchShapes };
