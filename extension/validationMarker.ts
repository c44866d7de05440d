// The split made visible: on the document the active model was trained on, a gutter marker at the line where the
// validation text begins (the last 10% of its tokens, which training never learns from), with a hover that says so.
// A model trained on a selection has its split in that selection (as the document's offsets were when it trained).
// Asked again when the model changes, when such an editor comes into view, and a moment after the text changes.
import * as vscode from 'vscode';
import type { Log } from './log';
import { trainingRange, type Session } from './session';

const REFRESH_MS = 800;

/** Where the active model's validation text begins in its training document: a line (from 0), or null (no split). */
export interface ValidationStart {
  line: number;
  /** The model was trained on a selection: the split is the selection's. */
  inSelection: boolean;
}

/** The line of `doc` (the active model's training document) where its validation text begins. */
export async function validationStart(session: Session, doc: vscode.TextDocument): Promise<ValidationStart | null> {
  const trained = trainingRange(session.model, doc);
  const { offset } = await session.probe('validationStart', { text: doc.getText(trained) });
  if (offset === null) return null;
  const base = trained ? doc.offsetAt(trained.start) : 0;
  return { line: doc.positionAt(base + offset).line, inSelection: trained !== undefined };
}

export function registerValidationMarker(session: Session, log: Log, extensionUri: vscode.Uri): vscode.Disposable[] {
  const marker = vscode.window.createTextEditorDecorationType({
    gutterIconPath: vscode.Uri.joinPath(extensionUri, 'media', 'validation-start.svg'),
    gutterIconSize: 'contain',
    isWholeLine: true,
    borderWidth: '1px 0 0 0',
    borderStyle: 'dashed',
    borderColor: new vscode.ThemeColor('editorRuler.foreground'),
    overviewRulerColor: new vscode.ThemeColor('editorRuler.foreground'),
    overviewRulerLane: vscode.OverviewRulerLane.Left,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let generation = 0;
  let logged = ''; // the last marker position logged, so an edit that does not move it says nothing

  /** The editors showing the training document of the active model. */
  const trainingEditors = (): vscode.TextEditor[] => {
    const uri = session.model?.docUri;
    return uri ? vscode.window.visibleTextEditors.filter((e) => e.document.uri.toString() === uri) : [];
  };

  async function refresh(): Promise<void> {
    const mine = ++generation;
    const editors = trainingEditors();
    for (const e of vscode.window.visibleTextEditors) if (!editors.includes(e)) e.setDecorations(marker, []);
    if (editors.length === 0) return;
    const doc = editors[0].document;
    try {
      const start = await validationStart(session, doc);
      if (mine !== generation) return;
      const options: vscode.DecorationOptions[] = start === null ? [] : [{
        range: doc.lineAt(start.line).range,
        hoverMessage: new vscode.MarkdownString(`**GPT Lab:** validation text starts here (the last 10% of the ${start.inSelection ? 'selection’s' : 'file’s'} tokens). ` +
          `The model never trains on it: its loss there is the validation loss, so a model that only memorises the text above scores badly below.`),
      }];
      for (const e of trainingEditors()) e.setDecorations(marker, options);
      const where = start === null ? 'no validation split (the text is too short)'
        : `validation text ${start.inSelection ? 'of the selection it trained on ' : ''}starts at line ${start.line + 1}`;
      if (`${doc.uri.toString()} ${where}` !== logged) log.info(`${doc.uri.path.split('/').pop() ?? ''}: ${where}`);
      logged = `${doc.uri.toString()} ${where}`;
    } catch (e) {
      log.error(`validation marker: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  const soon = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void refresh(), REFRESH_MS);
  };

  return [
    marker,
    session.onDidChangeModel(() => void refresh()),
    vscode.window.onDidChangeVisibleTextEditors(() => void refresh()),
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.document.uri.toString() === session.model?.docUri && e.contentChanges.length > 0) soon();
    }),
    { dispose: () => clearTimeout(timer) },
  ];
}
