import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import {
  type GptLabApi,
  trainingSuite,
  configure,
  expectTrainResult,
  fastTraining,
  hoverText,
  isAlive,
  sampleText,
  scratchFile,
  show,
  train,
  waitForProgress,
  whileProgressing,
} from './helpers';

suite('engine process', () => {
  let api: GptLabApi;

  trainingSuite((a) => (api = a));

  test('a killed engine is reported once, its best checkpoint becomes the active model, and it restarts on the next command', async () => {
    await fastTraining(100_000);
    const editor = await show(scratchFile('crash.txt', sampleText(6_000)));
    const files = api.modelFiles(editor.document.uri.toString());
    const crashesBefore = api.crashCount();

    const running = Promise.resolve(vscode.commands.executeCommand<unknown>('gptLab.train'));
    const pid = await waitForProgress(api, () => api.enginePid('trainer'), 'the training engine to start');
    // Kill it once a best-validation checkpoint is on disk (waiting on the file, as long as the run makes progress).
    await waitForProgress(api, () => fs.existsSync(files.checkpoint), 'a best-validation checkpoint on disk');
    process.kill(pid, 'SIGKILL');

    // The interrupted run ends (it must not hang): with undefined (the crash was reported on its own), an error or a
    // rejection, but not as a success.
    const outcome = await whileProgressing(api, running.then(
      (r) => ({ result: r, rejected: null as unknown }),
      (e: unknown) => ({ result: undefined, rejected: e }),
    ), 'the interrupted gptLab.train to settle after the engine was killed');
    if (outcome.rejected === null && outcome.result !== undefined) {
      const r = expectTrainResult(outcome.result);
      assert.ok(r.error !== null || r.cancelled, `a killed run resolved as a success: ${JSON.stringify(r)}`);
    }

    await waitForProgress(api, () => api.crashCount() >= crashesBefore + 1, 'crashCount() to count the crash');
    assert.equal(api.crashCount(), crashesBefore + 1, 'one crash must be reported exactly once');
    assert.equal(isAlive(pid), false);

    // The document had no model: the checkpoint is its model now, marked partial, moved where no run writes, and it
    // answers: a hover shows each token's surprise.
    const model = await waitForProgress(api, () => (api.activeModel()?.partial ? api.activeModel() : undefined),
      'the partial checkpoint to become the active model');
    assert.equal(model.file, files.stored);
    assert.equal(fs.existsSync(files.checkpoint), false, 'the checkpoint was moved, so the next run cannot write over it');
    await configure({ 'hover.encoding': 'auto' }); // the model's own tokenizer, so surprise can be shown
    await waitForProgress(api, async () => /bits/.test(await hoverText(editor.document.uri, new vscode.Position(1, 2))),
      'the hover to show surprise from the checkpoint');

    await fastTraining(10);
    const result = await train(api);
    assert.equal(result.error, null, `training after the crash failed: ${result.error}`);
    assert.equal(result.cancelled, false);
    assert.ok(api.activeModel(), 'no active model after training again');
    const newPid = api.enginePid();
    if (newPid !== undefined) {
      assert.notEqual(newPid, pid, 'the engine was not restarted');
      assert.ok(isAlive(newPid));
    }
    assert.equal(api.crashCount(), crashesBefore + 1, 'the restart was counted as another crash');
  });
});
