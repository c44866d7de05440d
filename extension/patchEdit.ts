// "Patch against an edit…": activation patching with the user's own edit. The clean text is the selection with the
// context before it; the user edits a copy of the selection (a renamed name, a changed word); the engine runs both,
// copies each head's output and each layer's residual from the clean run into the edited one, and the attention panel
// shows which heads restore the clean run's prediction. Bad input is one notification and changes nothing. Called
// with { edit } (a keybinding, a test), it patches against that edit without asking.
import * as vscode from 'vscode';
import { Command } from './commands';
import { errorLine, isCrash } from './engineHost';
import { haveModel, selectionText } from './needsModel';
import type { AttentionPanel } from './panels/attention';
import { modelTag } from './panels/panel';
import type { PatchingProbe } from '../engine';
import { contextBefore, shortName, type Session } from './session';

/** Why an edit cannot be patched against, or null when it can. */
export function patchEditProblem(selection: string, edit: string): string | null {
  if (edit.trim().length === 0) return 'the edited text is empty: change the selection into something (a renamed name, another word) to patch against it.';
  if (edit === selection) return 'the edited text is the same as the selection: change something in it to see which heads carry the difference.';
  return null;
}

/** The edit a caller gave the command ({ edit: text }), or a one-line reason it cannot be used. */
export function readPatchArgs(raw: unknown): { edit: string } | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'Patch against an edit takes { edit: text }';
  const extra = Object.keys(raw).filter((k) => k !== 'edit');
  if (extra.length) return `Patch against an edit does not take ${extra.map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}`;
  const edit = (raw as { edit?: unknown }).edit;
  return typeof edit === 'string' ? { edit } : 'the edit must be text';
}

/** What the command did: the patching it showed, or the one line it said instead (undefined: nothing asked of it). */
export type PatchCommandResult = { probe: PatchingProbe; error: null } | { probe: null; error: string } | undefined;

export function registerPatchEdit(session: Session, attention: AttentionPanel): vscode.Disposable {
  return vscode.commands.registerCommand(Command.PatchAgainstEdit, async (rawArgs?: unknown): Promise<PatchCommandResult> => {
    const fail = (problem: string): PatchCommandResult => {
      void vscode.window.showErrorMessage(`GPT Lab: ${problem}`);
      return { probe: null, error: problem };
    };
    const given = rawArgs === undefined ? undefined : readPatchArgs(rawArgs);
    if (typeof given === 'string') return fail(given);
    const sel = selectionText();
    if (!sel || !session.model || !haveModel(session, 'Patching against an edit')) return undefined;
    const doc = sel.editor.document;
    const before = doc.getText(contextBefore(doc, doc.offsetAt(sel.range.start), session.model));
    const edit = given?.edit ?? await vscode.window.showInputBox({
      title: 'GPT Lab: patch against an edit',
      prompt: 'Edit the selected text (rename a name, change a word). The model reads the text up to the selection both ways, ' +
        'and the attention panel shows which heads restore the original prediction.',
      value: sel.text,
      valueSelection: [0, sel.text.length],
    });
    if (edit === undefined) return undefined; // dismissed
    const problem = patchEditProblem(sel.text, edit);
    if (problem) return fail(problem);
    const model = modelTag(session);
    try {
      // A failure is one notification: the attention panel keeps what it shows.
      const probe = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification,
        title: 'GPT Lab: patching every head and layer against your edit' },
      () => session.probe('patch', { clean: before + sel.text, edited: before + edit }));
      attention.showPatch({ source: shortName(doc), model, selection: sel.text, edit, probe });
      return { probe, error: null };
    } catch (e) {
      if (!isCrash(e)) void vscode.window.showErrorMessage(`GPT Lab: ${errorLine(e)}`); // a crash was reported once already
      return { probe: null, error: errorLine(e) };
    }
  });
}
