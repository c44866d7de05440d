// "Show per-token surprise": paints the document (or the selection) with a heat scale of −log₂ p under the active
// model, the value (with the entropy of the model's prediction there) on hover, and a legend in the status bar. The
// part on screen is scored and painted first, then the rest in chunks of whole lines, each with its context before
// it, so a 50 KB file shows colour at once and a new request, "Clear per-token surprise" or an edit stops the rest.
// Leading indentation is not painted. Decorations go only to an editor that is still open (a closed one throws).
import * as vscode from 'vscode';
import type { TokenLoss } from '../engine';
import { Command, ContextKey } from './commands';
import { errorLine } from './engineHost';
import { haveModel } from './needsModel';
import { contextBefore, type Session } from './session';
import { paintedSpan } from './surpriseSpans';

/** Surprise buckets in bits: 0-1, 1-2, ... 11+, each a little more opaque. */
const BUCKETS = 12;
const MAX_CHARS = 200_000;
/** Characters scored per request after the visible part: small enough that a chunk answers in well under a second. */
const CHUNK_CHARS = 8_000;
const LEGEND = `light red: expected (under 1 bit) … dark red: surprising (${BUCKETS - 1}+ bits)`;

export function registerSurprise(session: Session): vscode.Disposable[] {
  const styles = Array.from({ length: BUCKETS }, (_, b) => vscode.window.createTextEditorDecorationType({
    backgroundColor: `rgba(239, 68, 68, ${(0.06 + (0.6 * b) / (BUCKETS - 1)).toFixed(3)})`,
    borderRadius: '2px',
  }));
  let painted: vscode.TextEditor | null = null;
  let generation = 0; // a new paint, a clear or an edit ends the chunks of the one before
  const isOpen = (editor: vscode.TextEditor): boolean => vscode.window.visibleTextEditors.includes(editor);
  const setAll = (editor: vscode.TextEditor, byBucket: vscode.DecorationOptions[][]): boolean => {
    if (!isOpen(editor)) return false;
    try {
      styles.forEach((s, b) => editor.setDecorations(s, byBucket[b]));
      return true;
    } catch {
      return false; // closed between the check and the call
    }
  };
  const clear = (): void => {
    generation += 1;
    if (painted) setAll(painted, styles.map(() => []));
    painted = null;
    void vscode.commands.executeCommand('setContext', ContextKey.SurpriseShown, false);
  };

  const show = async (): Promise<void> => {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return void vscode.window.showErrorMessage('GPT Lab: open a text file first.');
    if (!haveModel(session, 'Per-token surprise')) return;
    const model = session.model!;
    const doc = editor.document;
    const version = doc.version;
    clear();
    const mine = generation;
    const whole = editor.selection.isEmpty ? new vscode.Range(0, 0, doc.lineCount, 0) : editor.selection;
    const from = doc.offsetAt(whole.start);
    let to = doc.offsetAt(whole.end);
    const cut = to - from > MAX_CHARS;
    if (cut) to = from + MAX_CHARS;
    const byBucket: vscode.DecorationOptions[][] = styles.map(() => []);
    let total = 0, n = 0;
    const docText = doc.getText();

    const paint = (losses: TokenLoss[], base: number): void => {
      for (const t of losses) {
        if (t.loss === null) continue;
        const bits = t.loss / Math.LN2;
        total += bits;
        n += 1;
        const span = paintedSpan(docText, base + t.start, base + t.end);
        if (!span) continue;
        const entropy = t.entropy === null ? '' : ` · entropy ${(t.entropy / Math.LN2).toFixed(2)} bits`;
        const hover = new vscode.MarkdownString(`**${bits.toFixed(2)} bits** of surprise${entropy} · p = ${Math.exp(-t.loss).toPrecision(3)}` +
          `${t.unknown ? ' · a token the model never saw in training' : ''}\n\ntoken \`${JSON.stringify(t.text).slice(1, -1)}\` (id ${t.id})` +
          ` · ${LEGEND}`);
        byBucket[Math.min(BUCKETS - 1, Math.floor(bits))].push({
          range: new vscode.Range(doc.positionAt(span[0]), doc.positionAt(span[1])), hoverMessage: hover });
      }
    };
    /** Scores [a, b) of the document with the model's context before it; false when this paint has been superseded. */
    const score = async (a: number, b: number): Promise<boolean> => {
      const before = contextBefore(doc, a, model);
      const prefix = doc.getText(before);
      const start = doc.offsetAt(before.start);
      const losses = await session.probe('tokenLoss', { text: prefix + docText.slice(a, b), from: prefix.length });
      if (mine !== generation || doc.version !== version) return false;
      paint(losses, start);
      return setAll(editor, byBucket);
    };

    // The lines on screen first, then the rest in chunks of whole lines, top to bottom.
    const visible = editor.visibleRanges[0];
    const lineStartAt = (offset: number): number => doc.offsetAt(doc.positionAt(offset).with(undefined, 0));
    const first: [number, number] = visible
      ? [Math.max(from, lineStartAt(doc.offsetAt(visible.start))), Math.min(to, doc.offsetAt(new vscode.Position(visible.end.line + 1, 0)))]
      : [from, Math.min(to, from + CHUNK_CHARS)];
    const chunks: [number, number][] = first[0] < first[1] ? [first] : [];
    for (let a = from; a < to;) {
      let b = Math.min(to, a + CHUNK_CHARS);
      if (b < to) b = Math.max(a + 1, lineStartAt(b)); // whole lines, so a token is not cut at a chunk's edge
      // The visible part is already scored: what is left of [a, b) around it.
      if (chunks.length && a < first[1] && b > first[0]) {
        if (a < first[0]) chunks.push([a, first[0]]);
        if (b > first[1]) chunks.push([first[1], b]);
      } else {
        chunks.push([a, b]);
      }
      a = b;
    }
    painted = editor;
    void vscode.commands.executeCommand('setContext', ContextKey.SurpriseShown, true);
    try {
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'GPT Lab: scoring tokens' }, async (progress) => {
        for (const [i, [a, b]] of chunks.entries()) {
          if (!(await score(a, b))) return;
          progress.report({ message: `${Math.round((100 * (i + 1)) / chunks.length)}%` });
        }
        vscode.window.setStatusBarMessage(`GPT Lab: mean surprise ${(total / Math.max(1, n)).toFixed(2)} bits per token over ${n} tokens` +
          `${cut ? ` (first ${MAX_CHARS.toLocaleString('en-US')} characters)` : ''} · ${LEGEND}`, 15_000);
      });
    } catch (e) {
      if (mine === generation) void vscode.window.showErrorMessage(`GPT Lab: ${errorLine(e)}`);
    }
  };

  return [
    ...styles,
    vscode.commands.registerCommand(Command.ShowSurprise, show),
    vscode.commands.registerCommand(Command.ClearSurprise, clear),
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (painted && e.document === painted.document && e.contentChanges.length) clear();
    }),
    vscode.window.onDidChangeVisibleTextEditors((editors) => {
      if (painted && !editors.includes(painted)) clear(); // its editor closed: nothing left to paint or clear
    }),
  ];
}
