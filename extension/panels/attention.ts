// The attention panel: every layer's and head's attention over the selection (its last T tokens), and the
// attention a clicked token gives, painted over the source with decorations whose opacity is the weight. The
// painting goes away when the panel closes or the selection changes.
import * as vscode from 'vscode';
import type { AttentionProbe } from '../../engine';
import type { AttentionFocus, ToHost } from '../../engine';
import { Command } from '../commands';
import type { Log } from '../log';
import { haveModel, selectionText } from '../needsModel';
import { shortName, type Session } from '../session';
import { PanelController } from './panel';

const LEVELS = 10;

interface Painted {
  editor: vscode.TextEditor;
  base: number; // document offset of the probed text
  probe: AttentionProbe;
}

export class AttentionPanel extends PanelController<'attention'> {
  private source: Painted | null = null;
  private painting = false;
  private readonly levels = Array.from({ length: LEVELS }, (_, i) => vscode.window.createTextEditorDecorationType({
    backgroundColor: `rgba(56, 139, 253, ${((i + 1) / LEVELS * 0.75).toFixed(3)})`, borderRadius: '2px' }));
  private readonly query = vscode.window.createTextEditorDecorationType({
    border: '1px solid', borderColor: new vscode.ThemeColor('focusBorder'), borderRadius: '2px' });

  constructor(extensionUri: vscode.Uri, log: Log, private readonly session: Session) {
    super('attention', 'GPT Lab: Attention', extensionUri, log);
    this.disposables.push(...this.levels, this.query,
      vscode.commands.registerCommand(Command.InspectAttention, () => this.inspect()),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (this.painting && e.textEditor === this.source?.editor) this.clearPainting();
      }));
  }

  private async inspect(): Promise<void> {
    const sel = selectionText();
    if (!sel || !haveModel(this.session, 'Inspecting attention')) return;
    this.clearPainting();
    this.show(true);
    try {
      const probe = await this.session.probe('attention', { text: sel.text });
      this.source = { editor: sel.editor, base: sel.editor.document.offsetAt(sel.range.start), probe };
      this.post('attention', { source: shortName(sel.editor.document), probe, totalTokens: probe.cropped + probe.tokens.length });
    } catch (e) {
      this.postError(e);
    }
  }

  protected receive(msg: ToHost<'attention'>): void {
    if (msg.type === 'focus') this.paint(msg.params);
  }

  /** The row of attention the focused token gives (one head, or the mean of the layer's heads), as decorations. */
  private paint(focus: AttentionFocus): void {
    const src = this.source;
    this.clearPainting();
    if (!src || focus.token === null) return;
    const { probe } = src;
    const T = probe.tokens.length;
    const q = focus.token;
    const layer = probe.layers[focus.layer];
    if (!Number.isInteger(q) || q < 0 || q >= T || !layer) return;
    const heads = focus.head === 'mean' ? layer : [layer[focus.head]];
    if (heads.some((h) => !h)) return;
    const row = Array.from({ length: q + 1 }, (_, k) => heads.reduce((s, h) => s + h[q][k], 0) / heads.length);
    const max = Math.max(...row) || 1;
    const doc = src.editor.document;
    const at = (t: number): vscode.Range =>
      new vscode.Range(doc.positionAt(src.base + probe.tokens[t].start), doc.positionAt(src.base + probe.tokens[t].end));
    const byLevel: vscode.DecorationOptions[][] = this.levels.map(() => []);
    const where = `layer ${focus.layer + 1}, ${focus.head === 'mean' ? 'mean of heads' : `head ${focus.head + 1}`}`;
    row.forEach((w, k) => {
      const level = Math.min(LEVELS - 1, Math.floor((w / max) * LEVELS));
      if (w / max < 0.02) return;
      byLevel[level].push({ range: at(k), hoverMessage: `attention ${w.toFixed(4)} from ${JSON.stringify(probe.tokens[q].text)} (${where})` });
    });
    this.levels.forEach((d, i) => src.editor.setDecorations(d, byLevel[i]));
    src.editor.setDecorations(this.query, [{ range: at(q), hoverMessage: `the query token (${where})` }]);
    this.painting = true;
  }

  private clearPainting(): void {
    const editor = this.source?.editor;
    if (editor) for (const d of [...this.levels, this.query]) editor.setDecorations(d, []);
    this.painting = false;
  }

  protected override onClose(): void {
    this.clearPainting();
    this.source = null;
  }
}
