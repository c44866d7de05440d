// stress: many random batched gemms with 2 threads and a tiny parallel threshold vs naive
const { findAddon } = require('./sgemm.js');
const m = { exports: {} }; process.dlopen(m, findAddon()); const a = m.exports;
a.setThreads(2, false); a.setMinParallelFlops(0);
let seed = 7; const r = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 4294967296; };
let worst = 0;
const t0 = Date.now();
let n = 0;
while (Date.now() - t0 < 15000) {
  const batch = 1 + Math.floor(r() * 4), M = 1 + Math.floor(r() * 70), N = 1 + Math.floor(r() * 70), K = 1 + Math.floor(r() * 70);
  const ta = r() < 0.5, tb = r() < 0.5, bcA = r() < 0.2, bcB = !bcA && r() < 0.2;
  const A = new Float32Array((bcA ? 1 : batch) * M * K).map(() => r() - 0.5), B = new Float32Array((bcB ? 1 : batch) * K * N).map(() => r() - 0.5);
  const C = new Float32Array(batch * M * N).fill(NaN);
  a.sgemmBatched(ta, tb, batch, M, N, K, 1, A, 0, bcA ? 0 : M * K, ta ? M : K, B, 0, bcB ? 0 : K * N, tb ? K : N, 0, C, 0, M * N, N);
  for (let q = 0; q < batch; q++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0; const ao = bcA ? 0 : q * M * K, bo = bcB ? 0 : q * K * N;
    for (let k = 0; k < K; k++) s += A[ao + (ta ? k * M + i : i * K + k)] * B[bo + (tb ? j * K + k : k * N + j)];
    const e = Math.abs(C[q * M * N + i * N + j] - s); if (!(e <= worst)) worst = e;
  }
  n++;
}
console.log('calls', n, 'worst abs err', worst, a.info());
