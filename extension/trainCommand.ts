import * as vscode from 'vscode';

/** Quote a path for a POSIX-ish shell (good enough for the hint we show). */
function shellQuote(p: string): string {
  return /^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

/**
 * `gptLab.train`: training from inside the editor arrives in a later version.
 * For now: check there is text to train on and tell the user the CLI command to run.
 */
export async function trainOnActiveEditor(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const text = editor?.document.getText() ?? '';
  if (!editor || text.trim().length === 0) {
    await vscode.window.showErrorMessage('GPT Lab: open a non-empty text file to train on.');
    return;
  }
  const doc = editor.document;
  const target = doc.isUntitled
    ? '<save this file first>'
    : shellQuote(vscode.workspace.asRelativePath(doc.uri, false));
  await vscode.window.showInformationMessage(
    `GPT Lab: training from the editor arrives in a later version. Run: gpt-lab train ${target}`,
  );
}
