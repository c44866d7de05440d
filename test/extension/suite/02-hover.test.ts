import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activateApi, configure, scratchFile, show } from './helpers';

// js-tiktoken ships ESM-flavoured types that a CommonJS project cannot import; its small surface is declared here
// (as engine/tokenizers.ts does).
interface TiktokenLike {
  encode(text: string): number[];
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Tiktoken } = require('js-tiktoken/lite') as { Tiktoken: new (ranks: unknown) => TiktokenLike };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const o200kRanks = require('js-tiktoken/ranks/o200k_base') as { default?: unknown };

function hoverText(hovers: vscode.Hover[]): string {
  return hovers
    .flatMap((h) => h.contents)
    .map((c) => (typeof c === 'string' ? c : c.value))
    .join('\n');
}

suite('hover', () => {
  suiteSetup(async () => {
    await activateApi();
    // With "auto" the hover uses the active model's tokenizer; pin the one this test computes ids with.
    await configure({ 'hover.encoding': 'o200k_base' });
  });

  suiteTeardown(async () => {
    await configure({ 'hover.encoding': undefined }).then(undefined, () => undefined);
  });

  test('hovering a word shows its o200k_base token ids', async () => {
    const o200k = new Tiktoken(o200kRanks.default ?? o200kRanks);
    const line = 'hello world, said the tokenizer\n';
    const uri = scratchFile('hover.txt', line.repeat(3));
    const editor = await show(uri);
    const expected = o200k.encode('hello'); // "hello" starts the line, so it has no leading space
    assert.ok(expected.length > 0);

    // Providers may register a moment after activation; give the hover a few tries.
    let text = '';
    for (let i = 0; i < 20; i++) {
      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>(
        'vscode.executeHoverProvider',
        editor.document.uri,
        new vscode.Position(0, 2),
      );
      text = hoverText(hovers ?? []);
      if (text.length > 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(text.length > 0, 'no hover at all over "hello"');
    for (const id of expected) {
      assert.match(text, new RegExp(`(^|\\D)${id}(\\D|$)`), `hover over "hello" lacks o200k_base id ${id}:\n${text}`);
    }
  });
});
