import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import {
  type GptLabApi,
  trainingSuite,
  expectTrainResult,
  fastTraining,
  sampleText,
  scratchFile,
  show,
  train,
  waitForProgress,
  whileProgressing,
} from './helpers';

suite('training', () => {
  let api: GptLabApi;

  trainingSuite((a) => (api = a));

  test('"Train GPT on this file" trains a model on a small file', async () => {
    await fastTraining(30);
    const uri = scratchFile('train.txt', sampleText(6_000));
    await show(uri);
    const result = await train(api);
    assert.equal(result.error, null, `training failed: ${result.error}`);
    assert.equal(result.cancelled, false);
    assert.ok(result.steps > 0 && result.steps <= 30, `gptLab.steps=30, yet it reports ${result.steps} steps`);
    const model = api.activeModel();
    assert.ok(model, 'activeModel() is null after training');
    assert.ok(model.parameters > 0, `model has ${model.parameters} parameters`);
    assert.equal(typeof model.tokenizer, 'string');
    assert.equal(model.tokenizer, 'char', 'the tiny preset uses the char tokenizer');
  });

  test('"Stop training" cancels a run quickly', async () => {
    await fastTraining(100_000);
    await show(scratchFile('cancel.txt', sampleText(6_000)));
    const running = Promise.resolve(vscode.commands.executeCommand<unknown>('gptLab.train'));
    let settled = false;
    void running.finally(() => (settled = true));
    // Let it get going: a few steps have run.
    await waitForProgress(api, () => (api.run()?.step ?? 0) >= 5 || settled, 'the run to take 5 steps');
    assert.equal(settled, false, 'training of 100000 steps ended by itself before it was stopped');
    const stepAtStop = api.run()!.step;
    await vscode.commands.executeCommand('gptLab.stopTraining');
    const result = expectTrainResult(await whileProgressing(api, running, 'gptLab.train to resolve after gptLab.stopTraining'));
    assert.equal(result.cancelled, true, `stopped run resolved with ${JSON.stringify(result)}`);
    // A polite stop ends the run after the step under way: quickly in steps, whatever the machine's speed.
    assert.ok(result.steps >= 5 && result.steps <= stepAtStop + 2, `asked to stop at step ${stepAtStop}, it ran ${result.steps}`);
  });

  test('training leaves the file on disk and its document unchanged', async () => {
    await fastTraining(10);
    // Non-ASCII, CRLF line ends, trailing spaces and no final newline: all must survive byte for byte.
    const content = `${sampleText(3_000).replace(/\n/g, '\r\n')}\r\ncafé — naïve façade ✓   \r\n\tend`;
    const uri = scratchFile('bytes.txt', Buffer.from(content, 'utf8'));
    const before = fs.readFileSync(uri.fsPath);
    const editor = await show(uri);
    const textBefore = editor.document.getText();
    const versionBefore = editor.document.version;

    const result = await train(api);
    assert.equal(result.error, null, `training failed: ${result.error}`);

    assert.deepEqual(fs.readFileSync(uri.fsPath), before, 'the file on disk changed');
    assert.equal(editor.document.getText(), textBefore, 'the document text changed');
    assert.equal(editor.document.isDirty, false, 'the document became dirty');
    assert.equal(editor.document.version, versionBefore, 'the document was edited');
  });

  test('training an untitled document with unsaved edits leaves it as it was', async () => {
    await fastTraining(10);
    const doc = await vscode.workspace.openTextDocument({ content: sampleText(3_000), language: 'plaintext' });
    const editor = await show(doc);
    const edited = await editor.edit((e) => e.insert(doc.positionAt(doc.getText().length), '\nAn unsaved line ✓\n'));
    assert.ok(edited);
    assert.equal(doc.isDirty, true);
    const textBefore = doc.getText();
    const versionBefore = doc.version;

    const result = await train(api);
    assert.equal(result.error, null, `training failed: ${result.error}`);

    assert.equal(doc.getText(), textBefore, 'the untitled document text changed');
    assert.equal(doc.isDirty, true, 'the unsaved edits were saved or dropped');
    assert.equal(doc.isUntitled, true, 'the untitled document was saved to disk');
    assert.equal(doc.version, versionBefore, 'the document was edited');
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });
});
