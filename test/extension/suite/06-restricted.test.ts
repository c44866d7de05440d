// Restricted Mode: an untrusted workspace that plants native code where an engine once looked for it (its
// native/build/Release and native/prebuilt folders, a Dawn binding, a wasm trainer's glue) and costly settings in its
// .vscode/settings.json. The e2e runner (test/e2e/run.ts) opens such a workspace untrusted and runs only this suite;
// every planted file writes GPTLAB_PLANTED_MARKER when it is loaded. Trusted sessions skip it.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { type GptLabApi, activateApi, hoverText, resetConfiguration, show, train } from './helpers';

const marker = process.env.GPTLAB_PLANTED_MARKER;

suite('Restricted Mode', () => {
  let api: GptLabApi;

  suiteSetup(async function (this: Mocha.Context) {
    if (vscode.workspace.isTrusted || !marker) this.skip();
    api = await activateApi();
  });

  suiteTeardown(async () => {
    await resetConfiguration().then(undefined, () => undefined);
  });

  test('the workspace is untrusted, and its costly settings are not read', () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const c = vscode.workspace.getConfiguration('gptLab');
    // The workspace's .vscode/settings.json asks for 5,000,000 steps and 100,000-token completions everywhere, and a
    // hover encoding, which costs nothing and so is read: the file is there, and only the restricted settings are not.
    assert.equal(c.inspect('hover.encoding')?.workspaceValue, 'cl100k_base', 'the workspace settings are read');
    for (const [name, planted] of [['steps', 5_000_000], ['ghostText.maxTokens', 100_000], ['ghostText.scope', 'allFiles']] as const) {
      assert.equal(c.inspect(name)?.workspaceValue, undefined, `${name} from the workspace`);
      assert.notEqual(c.get(name), planted, name);
    }
  });

  test('training, hovers and panels load no native code from the workspace', async () => {
    const folder = vscode.workspace.workspaceFolders![0].uri.fsPath;
    const editor = await show(vscode.Uri.file(path.join(folder, 'sample.txt')));
    await vscode.workspace.getConfiguration('gptLab').update('steps', 10, vscode.ConfigurationTarget.Global);
    const r = await train(api);
    assert.equal(r.error, null, JSON.stringify(r));
    assert.equal(r.steps, 10, 'the user\'s setting, not the workspace\'s 5,000,000');
    assert.match(await hoverText(editor.document.uri, new vscode.Position(0, 2)), /token/);
    editor.selection = new vscode.Selection(0, 0, 1, 0);
    await vscode.commands.executeCommand('gptLab.inspectAttention');
    await vscode.commands.executeCommand('gptLab.showTokens');
    for (const role of ['prober', 'trainer'] as const) {
      const pid = api.enginePid(role);
      if (pid === undefined) continue;
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      assert.ok(!(cwd + path.sep).startsWith(folder + path.sep), `${role} engine runs in the workspace (${cwd})`);
    }
    assert.equal(fs.existsSync(marker!), false, `planted native code was loaded: ${marker} exists`);
  });
});
