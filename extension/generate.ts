// "Generate from selection": the active model continues the selection in a new editor, streamed a few tokens at a
// time, cancellable. The source document is never touched.
import * as vscode from 'vscode';
import { Command } from './commands';
import { errorLine } from './engineHost';
import { haveModel, selectionText } from './needsModel';
import type { Session } from './session';

const TOTAL_TOKENS = 300;
const CHUNK_TOKENS = 12;

export function registerGenerate(session: Session): vscode.Disposable {
  return vscode.commands.registerCommand(Command.Generate, async () => {
    const sel = selectionText();
    if (!sel || !haveModel(session, 'Generating')) return;
    const doc = await vscode.workspace.openTextDocument({ content: sel.text, language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: false });
    let prompt = sel.text;
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'GPT Lab: generating', cancellable: true },
      async (progress, token) => {
        for (let made = 0; made < TOTAL_TOKENS && !token.isCancellationRequested; made += CHUNK_TOKENS) {
          let text: string;
          try {
            ({ text } = await session.probe('sample', { prompt, tokens: CHUNK_TOKENS, seed: made + 1,
              sampling: { temperature: 0.8, topK: 0, topP: 1 } }));
          } catch (e) {
            void vscode.window.showErrorMessage(`GPT Lab: ${errorLine(e)}`);
            return;
          }
          if (token.isCancellationRequested || editor.document.isClosed) return;
          prompt += text;
          const end = editor.document.positionAt(editor.document.getText().length);
          await editor.edit((b) => b.insert(end, text), { undoStopBefore: false, undoStopAfter: false });
          progress.report({ message: `${Math.min(TOTAL_TOKENS, made + CHUNK_TOKENS)}/${TOTAL_TOKENS} tokens`,
            increment: (100 * CHUNK_TOKENS) / TOTAL_TOKENS });
        }
      });
  });
}
