import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activateApi, extension } from './helpers';

interface ContributedCommand {
  command: string;
  title: string;
  category?: string;
}

suite('commands', () => {
  test('the extension activates and returns its API', async () => {
    await activateApi();
    assert.equal(extension().isActive, true);
  });

  test('every command in package.json contributes.commands is registered', async () => {
    const ext = extension();
    const pkg = ext.packageJSON as { contributes?: { commands?: ContributedCommand[] } };
    const contributed = pkg.contributes?.commands ?? [];
    assert.ok(contributed.length > 0, 'package.json contributes no commands');
    for (const id of ['gptLab.train', 'gptLab.stopTraining']) {
      assert.ok(
        contributed.some((c) => c.command === id),
        `package.json contributes.commands lacks ${id} (has: ${contributed.map((c) => c.command).join(', ')})`,
      );
    }
    await ext.activate();
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.map((c) => c.command).filter((id) => !registered.has(id));
    assert.ok(missing.length === 0, `contributed but not registered after activation: ${missing.join(', ')}`);
    for (const c of contributed) {
      assert.equal(c.category, 'GPT Lab', `${c.command} should be in the "GPT Lab" category`);
      assert.ok(c.title.trim().length > 0, `${c.command} has an empty title`);
    }
  });
});
