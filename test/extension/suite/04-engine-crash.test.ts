import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import {
  type GptLabApi,
  activateApi,
  configure,
  expectTrainResult,
  fastTraining,
  isAlive,
  resetConfiguration,
  sampleText,
  scratchFile,
  show,
  sleep,
  train,
  waitFor,
  withTimeout,
} from './helpers';

suite('engine process', () => {
  let api: GptLabApi;

  suiteSetup(async () => {
    api = await activateApi();
  });

  suiteTeardown(async () => {
    await vscode.commands.executeCommand('gptLab.stopTraining').then(undefined, () => undefined);
    await resetConfiguration().then(undefined, () => undefined);
  });

  test('a killed engine is reported once, its best checkpoint becomes the active model, and it restarts on the next command', async () => {
    await fastTraining(100_000);
    const editor = await show(scratchFile('crash.txt', sampleText(6_000)));
    const crashesBefore = api.crashCount();

    const running = Promise.resolve(vscode.commands.executeCommand<unknown>('gptLab.train'));
    const pid = await waitFor(() => api.enginePid(), 30_000, 'enginePid() while training');
    // Kill it once a best-validation checkpoint is on disk: were the window closed now, the next one would start with
    // it, marked partial. (Waiting on the file, not on a checkpoint event being the newest: a step event follows at
    // once, and polling missed it.)
    const restorable = await waitFor(() => (api.restorable()?.partial ? api.restorable() : undefined), 60_000,
      'a best-validation checkpoint a reload would restore');
    assert.match(restorable.file, /\.partial\.safetensors$/);
    assert.equal(restorable.tokenizer, 'char');
    process.kill(pid, 'SIGKILL');

    // The interrupted run ends (it must not hang): with undefined (the crash was reported on its own), an error or a
    // rejection, but not as a success.
    const outcome = await withTimeout(
      running.then(
        (r) => ({ result: r, rejected: null as unknown }),
        (e: unknown) => ({ result: undefined, rejected: e }),
      ),
      15_000,
      'the interrupted gptLab.train to settle after the engine was killed',
    );
    if (outcome.rejected === null && outcome.result !== undefined) {
      const r = expectTrainResult(outcome.result);
      assert.ok(r.error !== null || r.cancelled, `a killed run resolved as a success: ${JSON.stringify(r)}`);
    }

    await waitFor(() => api.crashCount() >= crashesBefore + 1, 10_000, 'crashCount() to count the crash');
    await sleep(1_500);
    assert.equal(api.crashCount(), crashesBefore + 1, 'one crash must be reported exactly once');
    assert.equal(isAlive(pid), false);

    // The checkpoint is the active model, marked partial, and it answers: a hover shows each token's surprise.
    const model = await waitFor(() => (api.activeModel()?.partial ? api.activeModel() : undefined),
      10_000, 'the partial checkpoint to become the active model');
    assert.match(String(model?.file), /\.partial\.safetensors$/);
    await configure({ 'hover.encoding': 'auto' }); // the model's own tokenizer, so surprise can be shown
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', editor.document.uri,
      new vscode.Position(1, 2));
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
    assert.match(text, /bits/, `the hover shows no surprise from the checkpoint: ${text.slice(0, 300)}`);

    await fastTraining(10);
    const result = await train();
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
