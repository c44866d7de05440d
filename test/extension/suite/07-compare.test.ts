import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import {
  type GptLabApi,
  trainingSuite,
  bytesOf,
  fastTraining,
  repr,
  sampleText,
  scratchFile,
  show,
  waitForProgress,
  whileProgressing,
} from './helpers';

/** What `gptLab.compare` resolves to (extension/compare.ts CompareCommandResult). */
interface CompareResult {
  table: { cancelled: boolean; seeds: number[]; rows: { label: string; baseline: boolean; steps: number; runs: unknown[]; valLoss: { mean: number } | null }[] } | null;
  cancelled: boolean;
  error: string | null;
  messages: string[];
}

function expectCompareResult(x: unknown): CompareResult {
  assert.ok(x && typeof x === 'object' && Array.isArray((x as CompareResult).messages), `gptLab.compare resolved with ${repr(x)}`);
  return x as CompareResult;
}

suite('compare', () => {
  let api: GptLabApi;

  trainingSuite((a) => (api = a));

  test('"Compare on this file" trains the baseline and a variant on the training engine, and keeps no model', async () => {
    await fastTraining(50);
    const uri = scratchFile('compare.txt', sampleText(6_000));
    await show(uri);
    const files = api.modelFiles(uri.toString());
    const before = { stored: bytesOf(files.stored), candidate: bytesOf(files.candidate), model: api.activeModel()?.file ?? null };
    const running = Promise.resolve(vscode.commands.executeCommand<unknown>('gptLab.compare', { variants: ['norm=rmsnorm'], steps: 4 }));
    const result = expectCompareResult(await whileProgressing(api, running, 'gptLab.compare to resolve'));
    assert.equal(result.error, null, repr(result));
    assert.equal(result.cancelled, false);
    const table = result.table!;
    assert.deepEqual(table.rows.map((r) => r.label), ['baseline (tiny)', 'norm=rmsnorm']);
    assert.ok(table.rows.every((r) => r.steps === 4 && r.runs.length === 1 && r.valLoss !== null), repr(table.rows));
    assert.deepEqual(table.seeds, [1337]);
    assert.match(result.messages.at(-1)!, /^GPT Lab: compared 2 variants on compare\.txt with 1 seed; the table is under the loss chart\./);
    // Compare runs keep no model: nothing was written for the document, and the active model is the one before.
    assert.deepEqual({ stored: bytesOf(files.stored), candidate: bytesOf(files.candidate), model: api.activeModel()?.file ?? null }, before);
    assert.equal(api.run(), null, 'the training engine is free again');
  });

  test('bad arguments to the command are one message each, and nothing trains', async () => {
    await show(scratchFile('compare-bad.txt', sampleText(3_000)));
    const cases: [unknown, RegExp][] = [
      [{ variants: [] }, /variants must be a list of 1 to 5 variants/],
      [{ variants: ['colour=blue'] }, /variant "colour=blue": unknown model switch "colour"/],
      [{ variants: ['tokenizer=bpe:3'] }, /variant "tokenizer=bpe:3": tokenizer must be one of/],
      [{ variants: ['norm=rmsnorm', ' norm=rmsnorm '] }, /a variant is given twice/],
      [{ variants: ['norm=rmsnorm'], steps: 0 }, /steps must be a whole number from 1 to 100000/],
      [{ variants: ['norm=rmsnorm'], seeds: 2.5 }, /seeds must be a whole number from 1 to 5/],
      [{ variants: ['norm=rmsnorm'], out: '/etc/passwd' }, /does not take "out"/],
      [{ variants: [7] }, /each variant must be text/],
      ['norm=rmsnorm', /takes \{ variants/],
      [null, /takes \{ variants/],
    ];
    for (const [args, message] of cases) {
      const result = expectCompareResult(await vscode.commands.executeCommand<unknown>('gptLab.compare', args));
      assert.equal(result.messages.length, 1, repr(result));
      assert.match(result.messages[0], message);
      assert.ok(!result.messages[0].includes('\n'), 'one line');
      assert.equal(result.table, null);
      assert.equal(api.run(), null, `${repr(args)} started a run`);
    }
  });

  test('"Stop training" stops a comparison: the table holds the runs that finished', async () => {
    await fastTraining(50);
    await show(scratchFile('compare-stop.txt', sampleText(6_000)));
    const running = Promise.resolve(vscode.commands.executeCommand<unknown>('gptLab.compare', { variants: ['kvHeads=1'], steps: 100_000 }));
    let settled = false;
    void running.finally(() => (settled = true));
    await waitForProgress(api, () => (api.run()?.step ?? 0) >= 3 || settled, 'the comparison to take 3 steps');
    assert.equal(settled, false, 'a comparison of 100000 steps ended by itself');
    await vscode.commands.executeCommand('gptLab.stopTraining');
    const result = expectCompareResult(await whileProgressing(api, running, 'gptLab.compare to resolve after a stop'));
    assert.equal(result.cancelled, true, repr(result));
    assert.equal(result.table?.cancelled, true);
    assert.match(result.messages.at(-1)!, /was stopped/);
    assert.equal(api.run(), null);
  });
});
