import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs'; // registers the gradients (tfjs-core's CommonJS build has none)
import {
  installNativeKernels, nativeKernelStats, uninstallNativeKernels,
} from '../../engine/compute/kernels/index';
import { nativeAdamWUpdate, nativeOptimizerAvailable, nativeSumSquares } from '../../engine/compute/kernels/adamw';
import { lastNativeLoadError, loadNative } from '../../engine/compute/addon';

const addon = loadNative();
const SKIP = addon ? false : `native addon unavailable: ${lastNativeLoadError() ?? 'unknown'}`;
const BACKENDS = ['wasm', 'cpu'] as const;

function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}

/** Reference batched matmul in float64 with the same broadcasting rules. */
function refMatMul(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], ta: boolean, tb: boolean): Float64Array {
  const ra = aShape.length, rb = bShape.length;
  const M = ta ? aShape[ra - 1] : aShape[ra - 2];
  const K = ta ? aShape[ra - 2] : aShape[ra - 1];
  const N = tb ? bShape[rb - 2] : bShape[rb - 1];
  const batchA = aShape.slice(0, -2).reduce((x, y) => x * y, 1);
  const batchB = bShape.slice(0, -2).reduce((x, y) => x * y, 1);
  const batch = Math.max(batchA, batchB);
  const out = new Float64Array(batch * M * N);
  for (let q = 0; q < batch; q++) {
    const ao = (batchA === 1 ? 0 : q) * M * K;
    const bo = (batchB === 1 ? 0 : q) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          s += a[ao + (ta ? k * M + i : i * K + k)] * b[bo + (tb ? j * K + k : k * N + j)];
        }
        out[q * M * N + i * N + j] = s;
      }
    }
  }
  return out;
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-4): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0, at = -1;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i]));
    if (!(err <= worst)) { worst = err; at = i; }
  }
  assert.ok(worst <= tol, `${what}: max rel error ${worst} at ${at} (got ${got[at]}, want ${want[at]})`);
}

async function useBackend(name: string): Promise<void> {
  assert.ok(await tf.setBackend(name), `backend ${name} failed to initialise`);
  await tf.ready();
}

for (const backend of BACKENDS) {
  test(`native kernels on ${backend}`, { skip: SKIP }, async (t) => {
    await useBackend(backend);
    const originalBmm = tf.getKernel(tf.BatchMatMul, backend).kernelFunc;
    const rep = installNativeKernels(backend);
    assert.equal(rep.native, true);
    assert.ok(rep.kernels.includes(tf.BatchMatMul) && rep.kernels.includes(tf._FusedMatMul) && rep.kernels.includes(tf.Sum));
    assert.ok(rep.threads >= 1 && rep.isa.length > 0);
    assert.deepEqual(installNativeKernels(backend), rep, 'idempotent');

    await t.test('all transpose combos, odd sizes', () => {
      const before = tf.memory().numTensors;
      nativeKernelStats(true);
      const sizes = [1, 3, 17, 33, 65];
      let n = 0;
      for (const M of sizes) for (const N of [1, 17, 65]) for (const K of [1, 3, 33, 65]) {
        for (const ta of [false, true]) for (const tb of [false, true]) {
          const aShape = ta ? [K, M] : [M, K];
          const bShape = tb ? [N, K] : [K, N];
          const av = rand(M * K, ++n), bv = rand(K * N, ++n);
          const got = tf.tidy(() => tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), ta, tb).dataSync());
          assertClose(got, refMatMul(av, aShape, bv, bShape, ta, tb), `${M}x${N}x${K} ta=${ta} tb=${tb}`);
        }
      }
      assert.ok((nativeKernelStats().native[tf.BatchMatMul] ?? 0) >= n / 2, 'native path was used');
      assert.equal(tf.memory().numTensors, before, 'no tensor leak');
    });

    await t.test('larger matrices and batched attention shapes', () => {
      const before = tf.memory().numTensors;
      const cases: Array<[number[], number[], boolean, boolean]> = [
        [[300, 129], [129, 257], false, false],
        [[129, 300], [257, 129], true, true],
        [[64, 32, 32], [64, 32, 32], false, true],
        [[8, 4, 33, 17], [8, 4, 33, 17], true, false],
        [[2, 65, 3], [2, 3, 65], false, false],
      ];
      let seed = 100;
      for (const [aShape, bShape, ta, tb] of cases) {
        const av = rand(tf.util.sizeFromShape(aShape), ++seed), bv = rand(tf.util.sizeFromShape(bShape), ++seed);
        const res = tf.tidy(() => {
          const r = tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), ta, tb);
          return { shape: r.shape, data: r.dataSync() };
        });
        const M = ta ? aShape[aShape.length - 1] : aShape[aShape.length - 2];
        const N = tb ? bShape[bShape.length - 2] : bShape[bShape.length - 1];
        assert.deepEqual(res.shape, [...aShape.slice(0, -2), M, N]);
        assertClose(res.data, refMatMul(av, aShape, bv, bShape, ta, tb), `${aShape.join(",")}x${bShape.join(",")} ta=${ta} tb=${tb}`);
      }
      assert.equal(tf.memory().numTensors, before, 'no tensor leak');
    });

    await t.test('batch broadcasting', () => {
      const before = tf.memory().numTensors;
      const cases: Array<[number[], number[], boolean, boolean]> = [
        [[2, 3, 17, 33], [33, 5], false, false],
        [[17, 33], [4, 33, 5], false, false],
        [[1, 33, 17], [5, 5, 33], true, true],
        [[6, 17, 33], [1, 65, 33], false, true],
      ];
      let seed = 200;
      for (const [aShape, bShape, ta, tb] of cases) {
        const av = rand(tf.util.sizeFromShape(aShape), ++seed), bv = rand(tf.util.sizeFromShape(bShape), ++seed);
        const res = tf.tidy(() => {
          const r = tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), ta, tb);
          return { shape: r.shape, data: r.dataSync() };
        });
        const outer = tf.broadcast_util.assertAndGetBroadcastShape(aShape.slice(0, -2), bShape.slice(0, -2));
        const M = ta ? aShape[aShape.length - 1] : aShape[aShape.length - 2];
        const N = tb ? bShape[bShape.length - 2] : bShape[bShape.length - 1];
        assert.deepEqual(res.shape, [...outer, M, N]);
        assertClose(res.data, refMatMul(av, aShape, bv, bShape, ta, tb), `${aShape.join(",")}x${bShape.join(",")}`);
      }
      assert.equal(tf.memory().numTensors, before, 'no tensor leak');
    });

    await t.test('fused matmul: bias and activations', () => {
      const before = tf.memory().numTensors;
      nativeKernelStats(true);
      const M = 33, K = 17, N = 65;
      const av = rand(M * K, 301), bv = rand(N * K, 302), biasv = rand(N, 303);
      const base = refMatMul(av, [M, K], bv, [N, K], false, true);
      const acts: Array<[tf.fused.Activation, (x: number) => number]> = [
        ['linear', (x) => x],
        ['relu', (x) => Math.max(0, x)],
        ['relu6', (x) => Math.min(6, Math.max(0, x))],
        ['leakyrelu', (x) => (x < 0 ? 0.1 * x : x)],
        ['sigmoid', (x) => 1 / (1 + Math.exp(-x))],
        ['elu', (x) => (x > 0 ? x : Math.expm1(x))],
      ];
      for (const [activation, f] of acts) {
        for (const biasKind of ['none', 'vector', 'scalar'] as const) {
          const got = tf.tidy(() => {
            const bias = biasKind === 'vector' ? tf.tensor1d(biasv) : biasKind === 'scalar' ? tf.tensor1d([0.25]) : undefined;
            return tf.fused.matMul({
              a: tf.tensor(av, [M, K]), b: tf.tensor(bv, [N, K]), transposeB: true,
              bias, activation, leakyreluAlpha: 0.1,
            }).dataSync();
          });
          const want = base.map((v, i) => f(v + (biasKind === 'vector' ? biasv[i % N] : biasKind === 'scalar' ? 0.25 : 0)));
          assertClose(got, want, `fused ${activation} bias=${biasKind}`);
        }
      }
      // Batched + transposeA with a [1, N] bias.
      const got = tf.tidy(() => tf.fused.matMul({
        a: tf.tensor(rand(2 * K * M, 304), [2, K, M]), b: tf.tensor(rand(K * N, 305), [K, N]), transposeA: true,
        bias: tf.tensor(biasv, [1, N]), activation: 'relu',
      }).dataSync());
      const want = refMatMul(rand(2 * K * M, 304), [2, K, M], rand(K * N, 305), [K, N], true, false)
        .map((v, i) => Math.max(0, v + biasv[i % N]));
      assertClose(got, want, 'fused batched transposeA bias [1,N] relu');
      assert.ok((nativeKernelStats().native[tf._FusedMatMul] ?? 0) > 0, 'native fused path was used');
      assert.equal(tf.memory().numTensors, before, 'no tensor leak');
    });

    await t.test('gradients through a matmul chain match the original kernels', () => {
      const before = tf.memory().numTensors;
      const x = tf.tensor(rand(2 * 17 * 33, 401), [2, 17, 33]);
      const w1 = tf.tensor(rand(65 * 33, 402), [65, 33]);
      const w2 = tf.tensor(rand(65 * 3, 403), [65, 3]);
      const bias = tf.tensor1d(rand(65, 404));
      const loss = (xi: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor): tf.Scalar => {
        const h = tf.fused.matMul({ a: tf.reshape(xi, [34, 33]), b: a, transposeB: true, bias: c, activation: 'relu' });
        const att = tf.matMul(xi, xi, false, true); // [2,17,17] batched
        const y = tf.reshape(tf.matMul(h, b), [2, 17, 3]);
        return tf.mean(tf.square(tf.matMul(att, y)));
      };
      const run = (): Float32Array[] => tf.tidy(() => {
        const g = tf.grads(loss)([x, w1, w2, bias]);
        return g.map((gi) => gi.dataSync() as Float32Array);
      });
      const nativeGrads = run();
      uninstallNativeKernels(backend);
      const refGrads = run();
      installNativeKernels(backend);
      nativeGrads.forEach((g, i) => assertClose(g, refGrads[i], `grad ${i}`, 2e-4));
      tf.dispose([x, w1, w2, bias]);
      assert.equal(tf.memory().numTensors, before, 'no tensor leak');
    });

    await t.test('sum over axis blocks', () => {
      const before = tf.memory().numTensors;
      nativeKernelStats(true);
      const shape = [3, 5, 17, 33];
      const xv = rand(tf.util.sizeFromShape(shape), 500);
      const cases: Array<[number | number[] | undefined, boolean]> = [
        [0, false], [[0, 1], true], [3, false], [-1, true], [[1, 2], false], [[0, 2], false], [undefined, false], [[0, 1, 2, 3], true],
      ];
      for (const [axis, keepDims] of cases) {
        const x = tf.tensor(xv, shape);
        const got = tf.tidy(() => tf.sum(x, axis, keepDims));
        uninstallNativeKernels(backend);
        const want = tf.tidy(() => tf.sum(x, axis, keepDims));
        installNativeKernels(backend);
        assert.deepEqual(got.shape, want.shape, `sum axis=${String(axis)} shape`);
        assertClose(got.dataSync(), want.dataSync(), `sum axis=${String(axis)} keepDims=${keepDims}`, 1e-5);
        tf.dispose([x, got, want]);
      }
      assert.ok((nativeKernelStats().native[tf.Sum] ?? 0) >= 6, 'native sum used');
      assert.ok((nativeKernelStats().delegated[tf.Sum] ?? 0) >= 1, 'non-contiguous axes delegated');
      // Exp matches the original kernel to ~1 ulp, including inf/NaN/underflow.
      const ev = Float32Array.from([...rand(1001, 501)].map((u) => u * 120), (v) => v);
      ev.set([NaN, Infinity, -Infinity, 0, 88.7, 88.73, -87.3, -104], 0);
      const ex = tf.tensor1d(ev);
      const gotExp = tf.exp(ex);
      uninstallNativeKernels(backend);
      const wantExp = tf.exp(ex);
      installNativeKernels(backend);
      const ge = gotExp.dataSync(), we = wantExp.dataSync();
      for (let i = 0; i < ev.length; i++) {
        if (Number.isNaN(we[i])) assert.ok(Number.isNaN(ge[i]), `exp(${ev[i]}) NaN`);
        else if (!Number.isFinite(we[i]) || we[i] < 1.2e-38) assert.ok(ge[i] === we[i] || Math.abs(ge[i] - we[i]) < 1.2e-38, `exp(${ev[i]}) = ${ge[i]} vs ${we[i]}`);
        else assert.ok(Math.abs(ge[i] - we[i]) <= 4e-7 * we[i], `exp(${ev[i]}) = ${ge[i]} vs ${we[i]}`);
      }
      assert.ok((nativeKernelStats().native[tf.Exp] ?? 0) >= 1, 'native exp used');
      tf.dispose([ex, gotExp, wantExp]);
      // Identity / clone shares data but stays correct.
      const a = tf.tensor(xv.slice(0, 10));
      const b = tf.clone(a);
      a.dispose();
      assertClose(b.dataSync(), xv.slice(0, 10), 'clone survives dispose of the source');
      b.dispose();
      assert.equal(tf.memory().numTensors, before, 'no tensor leak');
    });

    await t.test('uninstall restores the original kernels', () => {
      uninstallNativeKernels(backend);
      assert.equal(tf.getKernel(tf.BatchMatMul, backend).kernelFunc, originalBmm);
      const r = installNativeKernels(backend);
      assert.equal(r.native, true);
      assert.notEqual(tf.getKernel(tf.BatchMatMul, backend).kernelFunc, originalBmm);
      uninstallNativeKernels(backend);
    });
  });
}

test('native sgemm direct API', { skip: SKIP }, () => {
  const a = addon!;
  const M = 37, N = 41, K = 29;
  const A = rand(M * K, 1), B = rand(K * N, 2), C = rand(M * N, 3), C0 = C.slice();
  a.sgemm(false, false, M, N, K, 2, A, K, B, N, 0.5, C, N);
  const R = refMatMul(A, [M, K], B, [K, N], false, false);
  assertClose(C, R.map((v, i) => 2 * v + 0.5 * C0[i]), 'alpha/beta');
  assert.throws(() => a.sgemm(false, false, M, N, K, 1, A, K, B, N, 0, new Float32Array(10), N), RangeError);
  const info = a.info();
  assert.ok(['avx512f', 'avx2+fma', 'generic'].includes(info.isa));
  assert.ok(info.threads >= 1);
});

for (const backend of BACKENDS) {
  test(`native AdamW and sum of squares on ${backend}`, { skip: SKIP }, async () => {
    await useBackend(backend);
    uninstallNativeKernels(backend);
    assert.equal(nativeOptimizerAvailable(), false, 'the optimiser follows the kernels switch');
    installNativeKernels(backend);
    assert.equal(nativeOptimizerAvailable(), true);
    const before = tf.memory().numTensors;
    const n = 1037;
    const pv = rand(n, 1), gv = rand(n, 2), mv = rand(n, 3).map((x) => x * 0.1), vv = rand(n, 4).map((x) => x * x * 0.01);
    const h = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, bc1: 1 - 0.9 ** 3, bc2Sqrt: Math.sqrt(1 - 0.95 ** 3), clip: 0.5 };
    // Variables own their memory once the initial tensors are gone (as in the engine).
    const [p, m, v] = tf.tidy(() => [tf.variable(tf.tensor1d(pv)), tf.variable(tf.tensor1d(mv), false), tf.variable(tf.tensor1d(vv), false)]);
    const g = tf.tensor1d(gv);
    // Reference in float64, PyTorch's order of operations.
    const want = { p: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n) };
    for (let i = 0; i < n; i++) {
      const gi = gv[i] * h.clip;
      const mi = mv[i] * h.beta1 + gi * (1 - h.beta1);
      const vi = vv[i] * h.beta2 + gi * gi * (1 - h.beta2);
      want.m[i] = mi; want.v[i] = vi;
      want.p[i] = pv[i] * (1 - h.lr * h.weightDecay) - (h.lr / h.bc1) * mi / (Math.sqrt(vi) / h.bc2Sqrt + h.eps);
    }
    assert.equal(nativeAdamWUpdate(p, g, m, v, h), true);
    assertClose(p.dataSync(), want.p, 'p', 1e-5);
    assertClose(m.dataSync(), want.m, 'm', 1e-5);
    assertClose(v.dataSync(), want.v, 'v', 1e-5);
    // Shared memory is never written in place.
    const alias = tf.variable(p, true, `alias_${backend}`); // shares p's data
    assert.equal(nativeAdamWUpdate(alias, g, m, v, h), false);
    let ss = 0;
    for (const x of gv) ss += x * x;
    const got = nativeSumSquares([g, g]);
    assert.ok(got !== null && Math.abs(got - 2 * ss) < 1e-6 * ss, `sumSquares ${got} vs ${2 * ss}`);
    tf.dispose([p, m, v, g, alias]);
    assert.equal(tf.memory().numTensors, before, 'no tensor leak');
  });
}
