// The first hour in the editor (issue #15 items 5 and 6, #19 §4): the active model follows the active document when
// that document has a model of its own and otherwise stays; ghost text in word mode is never whitespace alone and,
// at a threshold no token reaches, only finishes the word in progress; the hover shows surprise and entropy together
// and names the model that answered.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { type GptLabApi, activateApi, bytesOf, configure, fastTraining, hoverText, resetConfiguration, sampleText, scratchFile, show, train,
  waitFor } from './helpers';

type Api = GptLabApi & {
  ghostText(docUri: string, line: number, character: number): Promise<string | undefined>;
  validationStart(docUri: string): Promise<{ line: number; inSelection: boolean } | null>;
  panelReply(view: 'attention' | 'nextToken' | 'embeddings', request: unknown): Promise<{ type: string; id?: number; params: unknown }>;
};

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

  test('a panel answers its view only while the model it shows is active: another model\'s map is never drawn as this one\'s', async () => {
    const editor = await show(first);
    await waitFor(() => api.activeModel()?.label === 'first.txt', FOLLOW_MS, 'first.txt\'s model to become active');
    editor.selection = new vscode.Selection(0, 0, 3, 0);
    try {
      await vscode.commands.executeCommand('gptLab.inspectAttention');
      await vscode.commands.executeCommand('gptLab.showNextToken');
    } finally {
      editor.selection = new vscode.Selection(0, 0, 0, 0);
    }
    const map = { type: 'map', id: 9001, params: { layer: 0, head: 0 } };
    const resample = { type: 'resample', id: 9002, params: { temperature: 1, topK: 0, topP: 1 } };
    for (const [view, request, type] of [['attention', map, 'map'], ['nextToken', resample, 'nextToken']] as const) {
      const reply = await api.panelReply(view, request);
      assert.equal(reply.type, type, JSON.stringify(reply).slice(0, 300));
    }

    await show(second);
    await waitFor(() => api.activeModel()?.label === 'second.txt', FOLLOW_MS, 'second.txt\'s model to become active');
    for (const [view, request] of [['attention', map], ['nextToken', resample]] as const) {
      const reply = await api.panelReply(view, { ...request, id: request.id + 10 });
      assert.equal(reply.type, 'error', `${view}: ${JSON.stringify(reply).slice(0, 200)}`);
      assert.equal(reply.id, request.id + 10, 'the error answers the request');
      assert.match((reply.params as { message: string }).message,
        /this panel shows the first\.txt model's data, and the active model is now the second\.txt model: run the command again/);
    }
    // The same model again (it follows its document back): the panel answers again.
    await show(first);
    await waitFor(() => api.activeModel()?.label === 'first.txt', FOLLOW_MS, 'first.txt\'s model to become active again');
    const again = await api.panelReply('attention', { ...map, id: 9021 });
    assert.equal(again.type, 'map', JSON.stringify(again).slice(0, 300));
    await assert.rejects(api.panelReply('attention', { type: 'map', id: 9031, params: { layer: 'x' } }), /not a request of the attention view/);
  });

  test('"Patch against an edit" with an edit given: the patching of every head and layer, or one line for a bad edit', async () => {
    const editor = await show(first);
    await waitFor(() => api.activeModel()?.label === 'first.txt', FOLLOW_MS, 'first.txt\'s model to become active');
    const doc = editor.document;
    const textBefore = doc.getText();
    const stored = api.modelFiles(doc.uri.toString()).stored;
    const modelBefore = bytesOf(stored);
    assert.ok(modelBefore, 'first.txt has a stored model');
    const at = textBefore.indexOf('Citizen', 200);
    assert.ok(at > 0, 'the sample names a citizen after its first lines');
    editor.selection = new vscode.Selection(doc.positionAt(at), doc.positionAt(at + 'Citizen'.length));
    type Result = { probe: { heads: unknown[][]; residuals: unknown[]; cleanMetric: number } | null; error: string | null } | undefined;
    const patch = (args: unknown): Thenable<Result> => vscode.commands.executeCommand<Result>('gptLab.patchAgainstEdit', args);
    try {
      const result = await patch({ edit: 'Soldier' });
      assert.equal(result?.error, null, `the patch failed: ${result?.error}`);
      const layers = result.probe!.heads.length, heads = result.probe!.heads[0]?.length ?? 0;
      assert.ok(layers >= 1 && heads >= 1, `a row of heads per layer: ${layers} x ${heads}`);
      assert.ok(result.probe!.heads.every((row) => row.length === heads), 'every head of each layer');
      assert.equal(result.probe!.residuals.length, layers + 1, 'every residual stream, and the one entering ln_f');
      assert.ok(Number.isFinite(result.probe!.cleanMetric));
      for (const [args, said] of [[{ edit: 5 }, /the edit must be text/], [{ edit: 'Citizen' }, /the same as the selection/],
        [{ edit: '   ' }, /the edited text is empty/], [{ edit: 'x', colour: 'red' }, /does not take "colour"/], ['Soldier', /takes \{ edit: text \}/]] as const) {
        const bad = await patch(args);
        assert.equal(bad?.probe, null, `${JSON.stringify(args)} is refused`);
        assert.match(bad.error!, said);
      }
    } finally {
      editor.selection = new vscode.Selection(0, 0, 0, 0);
    }
    assert.equal(doc.getText(), textBefore, 'the document is unchanged');
    assert.deepEqual(bytesOf(stored), modelBefore, 'the stored model is byte for byte what it was');
    assert.equal(api.activeModel()?.label, 'first.txt', 'the active model is the one it was');
  });

  test('a model trained on a selection has its validation marker in that selection, not near the end of the file', async () => {
    const uri = scratchFile('selection.txt', sampleText(12_000));
    const editor = await show(uri);
    const doc = editor.document;
    const from = 20, to = Math.min(doc.lineCount - 40, 140);
    editor.selection = new vscode.Selection(from, 0, to, 0);
    try {
      const result = await train(api);
      assert.equal(result.error, null, `training on the selection failed: ${result.error}`);
    } finally {
      editor.selection = new vscode.Selection(0, 0, 0, 0);
    }
    const model = api.activeModel();
    assert.equal(model?.label, 'selection.txt');
    assert.deepEqual(model?.trainedOn, { start: doc.offsetAt(new vscode.Position(from, 0)), end: doc.offsetAt(new vscode.Position(to, 0)) });
    const at = await api.validationStart(uri.toString());
    assert.ok(at?.inSelection, `the split is the selection's: ${JSON.stringify(at)}`);
    // The last 10% of the selection's tokens: past four fifths of it, before its end (the file goes on for many lines).
    assert.ok(at.line > from + 0.8 * (to - from) && at.line < to, `validation starts at line ${at.line}, the selection is lines ${from}-${to}`);
  });
});
