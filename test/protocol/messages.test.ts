// The host's guard on webview messages, fuzzed: 10,000 seeded random messages per view. Each is either accepted with
// parameters of the right shape or rejected; none throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidToHost, REPLY_TYPES, TO_HOST_TYPES, TO_VIEW_TYPES, VIEW_NAMES } from '../../engine/protocol';
import { Rng } from '../../engine/common/rng';

const rng = new Rng(2026);
const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];

function randomValue(depth = 0): unknown {
  switch (rng.int(depth > 2 ? 8 : 11)) {
    case 0: return null;
    case 1: return undefined;
    case 2: return rng.int(10) - 3;
    case 3: return pick([NaN, Infinity, -Infinity, 1e300, -0, 0.5, 2 ** 53, -1]);
    case 4: return pick(['', 'a', 'mean', '\u0000', 'x'.repeat(5000), '<script>', '"zz"']);
    case 5: return rng.next() < 0.5;
    case 6: return pick(['ready', 'focus', 'map', 'rows', 'bpeReplay', 'resample', 'sampleOne', 'reset', 'neighbours', 'analogy', 'constructor', '__proto__']);
    case 7: return rng.int(3);
    case 8: return Array.from({ length: rng.int(4) }, () => randomValue(depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (const key of ['type', 'id', 'params', 'token', 'layer', 'head', 'weights', 'query', 'vocabSize', 'temperature', 'topK', 'topP', 'k', 'a', 'b', 'c']) {
        if (rng.next() < 0.5) o[key] = randomValue(depth + 1);
      }
      return o;
    }
  }
}

/** Half the messages start from a real type, so the parameter checks are exercised, not just the type check. */
function randomMessage(types: readonly string[]): unknown {
  if (rng.next() < 0.3) return randomValue();
  const msg: Record<string, unknown> = { type: pick(types), params: randomValue(1) };
  if (rng.next() < 0.5) msg.id = randomValue(2);
  return msg;
}

for (const view of VIEW_NAMES) {
  test(`the ${view} view's messages: 10,000 random ones are accepted only with well-formed parameters`, () => {
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) {
      const msg = randomMessage(TO_HOST_TYPES[view]);
      let ok = false;
      assert.doesNotThrow(() => (ok = isValidToHost(view, msg)), `message ${i}: ${String(JSON.stringify(msg)).slice(0, 200)}`);
      if (!ok) continue;
      accepted += 1;
      const m = msg as { type: string; id?: unknown; params: Record<string, unknown> };
      assert.ok((TO_HOST_TYPES[view] as readonly string[]).includes(m.type));
      assert.ok(m.id === undefined || Number.isSafeInteger(m.id));
      if (m.type === 'focus') {
        assert.ok(m.params.token === null ? m.params.weights === null : Number.isInteger(m.params.token) && Array.isArray(m.params.weights));
      }
      if (m.type === 'map' || m.type === 'rows') assert.ok(Number.isInteger(m.params.layer));
      if (m.type === 'bpeReplay') assert.ok(Number.isInteger(m.params.vocabSize) && (m.params.vocabSize as number) >= 256);
      if (m.type === 'resample' || m.type === 'sampleOne') assert.ok(Number.isFinite(m.params.temperature) && (m.params.topP as number) > 0);
      if (m.type === 'neighbours') assert.equal(typeof m.params.token, 'string');
    }
    console.log(`${view}: ${accepted} of 10000 random messages accepted`);
    assert.ok(accepted > 0, 'a guard that refuses everything would pass the loop above');
  });
}

test('every request has a reply type the view accepts, and only requests have one', () => {
  for (const view of VIEW_NAMES) {
    for (const [request, reply] of Object.entries(REPLY_TYPES[view])) {
      assert.ok((TO_HOST_TYPES[view] as readonly string[]).includes(request), `${view}: ${request} is a message the view sends`);
      assert.ok((TO_VIEW_TYPES[view] as readonly string[]).includes(reply), `${view}: ${request} is answered by ${String(reply)}, which the view accepts`);
    }
    assert.ok(!('ready' in REPLY_TYPES[view]) && !('focus' in REPLY_TYPES[view]), `${view}: ready and focus expect no answer`);
  }
});

test('well-formed requests pass and near misses do not', () => {
  assert.ok(isValidToHost('attention', { type: 'focus', params: { token: 3, layer: 0, head: 'mean', weights: [0.25, 0.25, 0.25, 0.25] } }));
  assert.ok(isValidToHost('attention', { type: 'focus', params: { token: null, layer: 0, head: 'mean', weights: null } }));
  assert.ok(!isValidToHost('attention', { type: 'focus', params: { token: 3.5, layer: 0, head: 1, weights: null } }));
  assert.ok(!isValidToHost('attention', { type: 'focus', params: { token: 3, layer: 0, head: 1, weights: [1, 0] } }), 'a row of 4 keys');
  assert.ok(!isValidToHost('attention', { type: 'focus', params: { token: 1, layer: 0, head: 1, weights: [2, 0] } }), 'weights in [0, 1]');
  assert.ok(isValidToHost('attention', { type: 'map', id: 3, params: { layer: 2, head: 'mean' } }));
  assert.ok(!isValidToHost('attention', { type: 'map', id: 3, params: { layer: -1, head: 0 } }));
  assert.ok(isValidToHost('attention', { type: 'rows', id: 4, params: { layer: 0, query: 511 } }));
  assert.ok(isValidToHost('tokens', { type: 'bpeReplay', id: 1, params: { vocabSize: 1024 } }));
  assert.ok(!isValidToHost('tokens', { type: 'bpeReplay', id: 1, params: { vocabSize: 100 } }), 'a BPE has at least the 256 bytes');
  assert.ok(isValidToHost('nextToken', { type: 'resample', id: 4, params: { temperature: 0.7, topK: 0, topP: 0.9 } }));
  assert.ok(!isValidToHost('nextToken', { type: 'resample', id: 4, params: { temperature: NaN, topK: 0, topP: 0.9 } }));
  assert.ok(!isValidToHost('nextToken', { type: 'resample', id: 1.5, params: { temperature: 1, topK: 0, topP: 1 } }));
  assert.ok(isValidToHost('embeddings', { type: 'analogy', id: 9, params: { a: 'b', b: 'a', c: 'x', k: 5 } }));
  assert.ok(!isValidToHost('embeddings', { type: 'analogy', params: { a: 'b', b: '', c: 'x', k: 5 } }));
  assert.ok(!isValidToHost('loss', { type: 'focus', params: { token: 1, layer: 0, head: 0 } }), 'a type of another view');
  assert.ok(isValidToHost('loss', { type: 'ready', params: {} }));
});
