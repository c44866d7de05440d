// Commands that need a model say so when there is none and offer to train one.
import * as vscode from 'vscode';
import { Command } from './commands';
import type { Session } from './session';

export function haveModel(session: Session, what: string): boolean {
  if (session.model) return true;
  const train = 'Train GPT on this file';
  void vscode.window.showInformationMessage(`GPT Lab: ${what} needs a trained model, and there is none yet.`, train).then((pick) => {
    if (pick === train) void vscode.commands.executeCommand(Command.Train);
  });
  return false;
}

/** The active editor and its selection's text (the whole line under the cursor when nothing is selected). */
export function selectionText(): { editor: vscode.TextEditor; range: vscode.Range; text: string } | null {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showErrorMessage('GPT Lab: open a text file and select some text first.');
    return null;
  }
  const range = editor.selection.isEmpty ? editor.document.lineAt(editor.selection.active.line).range : editor.selection;
  const text = editor.document.getText(range);
  if (text.trim() === '') {
    void vscode.window.showErrorMessage('GPT Lab: select some text first (the line under the cursor is empty).');
    return null;
  }
  return { editor, range, text };
}
