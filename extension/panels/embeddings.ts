// The embeddings panel: a 2-D PCA of the model's whole vocabulary, nearest neighbours of a text (its token, or the
// mean of its tokens), and analogies. The timeline slider replays the projection at a snapshot of the run (neighbours
// and analogies are the model's own).
import * as vscode from 'vscode';
import type { ProjectionData, ToHost } from '../../engine';
import { Command } from '../commands';
import type { Log } from '../log';
import { haveModel } from '../needsModel';
import { shortName, type Session } from '../session';
import { atSnapshot, modelTag, PanelController, timelineTag } from './panel';

const NEIGHBOURS = 12;

export class EmbeddingsPanel extends PanelController<'embeddings'> {
  constructor(extensionUri: vscode.Uri, log: Log, private readonly session: Session) {
    super('embeddings', 'GPT Lab: Embeddings', extensionUri, log, () => session.model);
    this.disposables.push(vscode.commands.registerCommand(Command.ShowEmbeddings, async () => {
      if (!haveModel(this.session, 'Embedding neighbours')) return;
      const editor = vscode.window.activeTextEditor;
      const text = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : '';
      const model = modelTag(this.session);
      await this.load(`Projecting the vocabulary of the model of ${model?.label ?? 'this session'}`, 'projection', () => this.projection(null));
      if (text && editor) {
        await this.load(`Finding the neighbours of the selection in ${shortName(editor.document)}`, 'neighbours',
          async () => ({ text, ...(await this.session.probe('neighbours', { token: text.slice(0, 1000), k: NEIGHBOURS })) }));
      }
    }));
  }

  /** The vocabulary's projection at a snapshot (null: the model itself), with the run's timeline. */
  private async projection(snapshot: number | null): Promise<ProjectionData> {
    const model = modelTag(this.session);
    const timeline = await timelineTag(this.session, snapshot);
    return { ...(await this.session.probe('projection', atSnapshot(timeline.at))), model, timeline };
  }

  protected receive(msg: ToHost<'embeddings'>): void {
    switch (msg.type) {
      case 'atSnapshot':
        void this.answer(msg, () => this.projection(msg.params.snapshot));
        break;
      case 'neighbours':
        void this.answer(msg, async () => ({ text: msg.params.token, ...(await this.session.probe('neighbours', msg.params)) }));
        break;
      case 'analogy':
        void this.answer(msg, () => this.session.probe('analogy', msg.params));
        break;
    }
  }
}
