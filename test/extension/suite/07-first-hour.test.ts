// The first hour in the editor (issue #15 items 5 and 6, #19 §4): the active model follows the active document when
// that document has a model of its own and otherwise stays; ghost text in word mode is never whitespace alone and,
// at a threshold no token reaches, only finishes the word in progress; the hover shows surprise and entropy together
// and names the model that answered.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { type GptLabApi, activateApi, configure, fastTraining, hoverText, resetConfiguration, sampleText, scratchFile, show, train,
  waitFor } from './helpers';

type Api = GptLabApi & { ghostText(docUri: string, line: number, character: number): Promise<string | undefined> };

/** Well past session.ts's FOLLOW_DELAY_MS and a model load on a busy machine. */
const FOLLOW_MS = 60_000;

suite('first hour', () => {
  let api: Api;
  let first: vscode.Uri, second: vscode.Uri;

  suiteSetup(async () => {
    api = (await activateApi()) as Api;
    await fastTraining(20);
    first = scratchFile('first.txt', sampleText(6_000));
    second = scratchFile('second.txt', sampleText(12_000).slice(6_000));
    for (const uri of [first, second]) {
      await show(uri);
      const result = await train(api);
      assert.equal(result.error, null, `training on ${uri.path} failed: ${result.error}`);
    }
  });

  suiteTeardown(async () => {
    await configure({ 'ghostText.minProbability': undefined, 'ghostText.mode': undefined, 'hover.encoding': undefined })
      .then(undefined, () => undefined);
    await resetConfiguration().then(undefined, () => undefined);
  });

  test('the active model follows the active document when it has a model, and otherwise stays', async () => {
    await show(first);
    await waitFor(() => api.activeModel()?.label === 'first.txt', FOLLOW_MS, 'first.txt\'s model to become active');
    await show(second);
    await waitFor(() => api.activeModel()?.label === 'second.txt', FOLLOW_MS, 'second.txt\'s model to become active');
    await show(scratchFile('no-model.txt', 'a document nobody trained on\n'));
    await new Promise((r) => setTimeout(r, 2_000)); // well past the follow delay
    assert.equal(api.activeModel()?.label, 'second.txt', 'a document without a model leaves the active model as it was');
  });

  test('word-mode ghost text is never whitespace alone, and at a threshold no token reaches it only finishes the word', async () => {
    const editor = await show(first);
    await waitFor(() => api.activeModel()?.label === 'first.txt', FOLLOW_MS, 'first.txt\'s model to become active');
    await configure({ 'ghostText.mode': 'word', 'ghostText.minProbability': 0.35 });
    const doc = editor.document;
    const text = doc.getText();
    const places: { offset: number; kind: string }[] = [];
    for (let i = 200; i < text.length - 1 && places.length < 24; i += 97) {
      const kind = text[i - 1] === ' ' ? 'after a space' : text[i - 1] === '\n' ? 'at a line start' : /\w/.test(text[i - 1]) ? 'inside a word' : 'after punctuation';
      places.push({ offset: i, kind });
    }
    for (const { offset, kind } of places) {
      const at = doc.positionAt(offset);
      const suggestion = await api.ghostText(doc.uri.toString(), at.line, at.character);
      assert.ok(suggestion === undefined || suggestion === '' || suggestion.trim() !== '',
        `${kind} at ${offset}: a whitespace-only suggestion ${JSON.stringify(suggestion)}`);
    }
    await configure({ 'ghostText.minProbability': 1 });
    for (const { offset } of places.filter((p) => p.kind === 'inside a word')) {
      const at = doc.positionAt(offset);
      const suggestion = (await api.ghostText(doc.uri.toString(), at.line, at.character)) ?? '';
      assert.match(suggestion, /^[\p{L}\p{M}\p{N}_]*$/u, `inside a word at ${offset}, only the word's end: ${JSON.stringify(suggestion)}`);
    }
  });

  test('the hover shows surprise and entropy together and names the model that answered', async () => {
    await configure({ 'hover.encoding': 'auto' });
    const editor = await show(first);
    await waitFor(() => api.activeModel()?.label === 'first.txt', FOLLOW_MS, 'first.txt\'s model to become active');
    const line = editor.document.lineAt(10);
    const word = line.text.search(/\w{4}/);
    assert.ok(word >= 0, 'line 10 of the sample has a word');
    // The first hover may show the tokens alone while the engine loads; its late answer is kept for the next one.
    const text = await waitFor(async () => {
      const t = await hoverText(editor.document.uri, new vscode.Position(10, word + 1));
      return /entropy/.test(t) ? t : null;
    }, 30_000, 'a hover with surprise');
    assert.match(text, /surprise \d+\.\d\d bits · entropy \d+\.\d\d bits/);
    assert.match(text, /Answered by the first\.txt model/);
    assert.match(text, /entropy is how unsure it was/);
  });
});
