// The tokens panel: the selection (or the whole file) under every tokenizer, which tokens the active model knows,
// characters per token on the whole file, and with a model each token's surprise.
import * as vscode from 'vscode';
import { Command } from '../commands';
import type { Log } from '../log';
import { selectionText } from '../needsModel';
import { shortName, type Session } from '../session';
import type { ToHost } from '../../engine';
import { PanelController } from './panel';

export class TokensPanel extends PanelController<'tokens'> {
  constructor(extensionUri: vscode.Uri, log: Log, private readonly session: Session) {
    super('tokens', 'GPT Lab: Tokens', extensionUri, log);
    this.disposables.push(
      vscode.commands.registerCommand(Command.ShowTokens, () => {
        const sel = selectionText();
        if (sel) return this.showFor(sel.editor.document, sel.text);
      }),
      vscode.commands.registerCommand(Command.CompareTokenizers, () => {
        const editor = vscode.window.activeTextEditor;
        if (!editor) return void vscode.window.showErrorMessage('GPT Lab: open a text file first.');
        return this.showFor(editor.document, editor.document.getText());
      }),
    );
  }

  async showFor(doc: vscode.TextDocument, selection: string): Promise<void> {
    this.show();
    try {
      const comparison = await this.session.call('compareTokenizers', { selection, file: doc.getText() });
      const surprise = this.session.model ? await this.session.probe('tokenLoss', { text: selection }).catch(() => null) : null;
      this.post('tokens', { source: shortName(doc), selection, comparison, surprise });
    } catch (e) {
      this.postError(e);
    }
  }

  protected receive(_msg: ToHost<'tokens'>): void {
    // The tokens panel only listens.
  }
}
