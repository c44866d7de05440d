// The tokens panel: a text (the selection, the line under the cursor, or the whole file) under every tokenizer, which
// tokens the active model knows, characters and bytes per token on the whole file, with a model each token's
// surprise, and on request the merges of a BPE learned from the file, replayed one by one.
import * as vscode from 'vscode';
import type { ParamsOf, ToHost, TokenizerComparison } from '../../engine';
import { Command } from '../commands';
import type { Log } from '../log';
import { selectionText } from '../needsModel';
import { shortName, type Session } from '../session';
import { modelTag, PanelController } from './panel';

/** Longest text scored for surprise: a whole book would take the engine many seconds for a colouring. */
const MAX_SURPRISE_CHARS = 20_000;

export class TokensPanel extends PanelController<'tokens'> {
  /** The file and text of the last command, for the BPE replay the view asks for. */
  private last: { file: string; text: string } | null = null;

  constructor(extensionUri: vscode.Uri, log: Log, private readonly session: Session) {
    super('tokens', 'GPT Lab: Tokens', extensionUri, log);
    this.disposables.push(
      vscode.commands.registerCommand(Command.ShowTokens, () => {
        const sel = selectionText();
        if (!sel) return;
        const line = sel.editor.selection.isEmpty ? sel.range.start.line + 1 : null;
        return this.showFor(sel.editor.document, sel.text, line === null ? 'selection' : 'line', line);
      }),
      vscode.commands.registerCommand(Command.CompareTokenizers, () => {
        const editor = vscode.window.activeTextEditor;
        if (!editor) return void vscode.window.showErrorMessage('GPT Lab: open a text file first.');
        return this.showFor(editor.document, editor.document.getText(), 'file', null);
      }),
    );
  }

  async showFor(doc: vscode.TextDocument, text: string, scope: 'selection' | 'line' | 'file', line: number | null): Promise<void> {
    const source = shortName(doc);
    const file = doc.getText();
    this.last = { file, text };
    const chars = [...text].length.toLocaleString('en-US');
    const what = scope === 'file' ? `Tokenizing the whole of ${source} (${chars} characters)`
      : scope === 'line' ? `Tokenizing line ${line} of ${source}` : `Tokenizing the ${chars} characters selected in ${source}`;
    await this.load(what, 'tokens', async () => {
      const model = modelTag(this.session);
      const comparison = await this.compare({ selection: text, file });
      const surprise = model && text.length <= MAX_SURPRISE_CHARS ? await this.session.probe('tokenLoss', { text }).catch(() => null) : null;
      return { source, scope, line, text, comparison, surprise, model };
    });
  }

  /** With a model, the probing engine must hold it: its vocabulary marks which tokens the model knows. */
  private compare(params: ParamsOf<'compareTokenizers'>): Promise<TokenizerComparison> {
    return this.session.model ? this.session.probe('compareTokenizers', params) : this.session.call('compareTokenizers', params);
  }

  protected receive(msg: ToHost<'tokens'>): void {
    if (msg.type !== 'bpeReplay') return;
    void this.answer(msg, async () => {
      const last = this.last;
      if (!last) throw new Error('run “Show tokens of selection” or “Compare tokenizers on this file” again: the panel was reloaded');
      const { vocabSize } = msg.params;
      const replay = await this.session.call('bpeReplay', { text: last.file, vocabSize });
      const comparison = await this.compare({ selection: last.text, file: last.file, bpeVocabSize: vocabSize });
      return { replay, comparison };
    });
  }
}
