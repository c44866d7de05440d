// The embeddings panel: a 2-D PCA of the model's whole vocabulary, nearest neighbours of a token, and analogies.
import * as vscode from 'vscode';
import type { ToHost } from '../../engine';
import { Command } from '../commands';
import type { Log } from '../log';
import { haveModel } from '../needsModel';
import type { Session } from '../session';
import { PanelController } from './panel';

export class EmbeddingsPanel extends PanelController<'embeddings'> {
  constructor(extensionUri: vscode.Uri, log: Log, private readonly session: Session) {
    super('embeddings', 'GPT Lab: Embeddings', extensionUri, log);
    this.disposables.push(vscode.commands.registerCommand(Command.ShowEmbeddings, async () => {
      if (!haveModel(this.session, 'Embedding neighbours')) return;
      const editor = vscode.window.activeTextEditor;
      const word = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : '';
      this.show(true);
      try {
        this.post('projection', await this.session.probe('projection', {}));
        if (word) this.post('neighbours', { query: word, ...(await this.session.probe('neighbours', { token: word, k: 12 })) });
      } catch (e) {
        this.postError(e);
      }
    }));
  }

  protected receive(msg: ToHost<'embeddings'>): void {
    switch (msg.type) {
      case 'neighbours':
        void this.answer(msg.id, 'neighbours', async () =>
          ({ query: msg.params.token, ...(await this.session.probe('neighbours', { token: msg.params.token, k: clampK(msg.params.k) })) }));
        break;
      case 'analogy':
        void this.answer(msg.id, 'analogy', () =>
          this.session.probe('analogy', { a: msg.params.a, b: msg.params.b, c: msg.params.c, k: clampK(msg.params.k) }));
        break;
    }
  }
}

/** The webview asks for k; anything odd becomes a sensible number. */
function clampK(k: unknown): number {
  return typeof k === 'number' && Number.isInteger(k) ? Math.min(100, Math.max(1, k)) : 10;
}
