// "Show per-token surprise": paints the document (or the selection) with a heat scale of −log₂ p under the active
// model, the value on hover. "Clear per-token surprise", or any edit of the document, removes it.
import * as vscode from 'vscode';
import { Command, ContextKey } from './commands';
import { errorLine } from './engineHost';
import { haveModel } from './needsModel';
import type { Session } from './session';

/** Surprise buckets in bits: 0-1, 1-2, ... 11+, each a little more opaque. */
const BUCKETS = 12;
const MAX_CHARS = 200_000;

export function registerSurprise(session: Session): vscode.Disposable[] {
  const styles = Array.from({ length: BUCKETS }, (_, b) => vscode.window.createTextEditorDecorationType({
    backgroundColor: `rgba(239, 68, 68, ${(0.06 + (0.6 * b) / (BUCKETS - 1)).toFixed(3)})`,
    borderRadius: '2px',
  }));
  let painted: vscode.TextEditor | null = null;
  const clear = (): void => {
    if (painted) for (const s of styles) painted.setDecorations(s, []);
    painted = null;
    void vscode.commands.executeCommand('setContext', ContextKey.SurpriseShown, false);
  };
  return [
    ...styles,
    vscode.commands.registerCommand(Command.ShowSurprise, async () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor) return void vscode.window.showErrorMessage('GPT Lab: open a text file first.');
      if (!haveModel(session, 'Per-token surprise')) return;
      const doc = editor.document;
      const range = editor.selection.isEmpty ? new vscode.Range(0, 0, doc.lineCount, 0) : editor.selection;
      let text = doc.getText(range);
      const cut = text.length > MAX_CHARS;
      if (cut) text = text.slice(0, MAX_CHARS);
      try {
        const losses = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'GPT Lab: scoring tokens' },
          () => session.probe('tokenLoss', { text }));
        clear();
        const base = doc.offsetAt(range.start);
        const byBucket: vscode.DecorationOptions[][] = styles.map(() => []);
        let total = 0, n = 0;
        for (const t of losses) {
          if (t.loss === null) continue;
          const bits = t.loss / Math.LN2;
          total += bits;
          n += 1;
          const hover = new vscode.MarkdownString(`**${bits.toFixed(2)} bits** of surprise · p = ${Math.exp(-t.loss).toPrecision(3)}` +
            `${t.unknown ? ' · a token the model never saw in training' : ''}\n\ntoken \`${JSON.stringify(t.text).slice(1, -1)}\` (id ${t.id})`);
          byBucket[Math.min(BUCKETS - 1, Math.floor(bits))].push({
            range: new vscode.Range(doc.positionAt(base + t.start), doc.positionAt(base + t.end)), hoverMessage: hover });
        }
        styles.forEach((s, b) => editor.setDecorations(s, byBucket[b]));
        painted = editor;
        void vscode.commands.executeCommand('setContext', ContextKey.SurpriseShown, true);
        vscode.window.setStatusBarMessage(`GPT Lab: mean surprise ${(total / Math.max(1, n)).toFixed(2)} bits per token over ${n} tokens` +
          `${cut ? ` (first ${MAX_CHARS.toLocaleString('en-US')} characters)` : ''}`, 10_000);
      } catch (e) {
        void vscode.window.showErrorMessage(`GPT Lab: ${errorLine(e)}`);
      }
    }),
    vscode.commands.registerCommand(Command.ClearSurprise, clear),
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (painted && e.document === painted.document && e.contentChanges.length) clear();
    }),
  ];
}
