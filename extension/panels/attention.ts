// The attention panel: every layer's and head's attention over the selection (its last T tokens), and the attention a
// chosen token gives, painted over the source in amber (never the selection's blue), the strongest keys most opaque.
// The painting and the panel agree: clicks and selections in the editor leave it (and the panel's focus) alone; an
// edit of the text, or closing the document, removes it and tells the panel, which drops its focus and says why; an
// editor of the document that comes back into view is painted again. The timeline slider replays the probe at a
// snapshot of the model's run; head roles, head ablation and the "Patch against an edit…" experiment (patchEdit.ts)
// are answered here too, each on the probed text at the snapshot shown.
import * as vscode from 'vscode';
import type { AttentionData, AttentionFocus, AttentionThumbnails, PatchData, TextToken, ToHost } from '../../engine';
import { Command } from '../commands';
import type { Log } from '../log';
import { haveModel, selectionText } from '../needsModel';
import { shortName, type Session } from '../session';
import { atSnapshot, modelTag, PanelController, timelineTag } from './panel';

const LEVELS = 10;
/** Next tokens shown before and after an ablation. */
const ABLATION_TOP = 8;
/** The painting's colour: amber, apart from the selection's blue in light, dark and high-contrast themes alike. */
const PAINT_RGB = '230, 126, 34';

interface Source {
  doc: vscode.TextDocument;
  base: number; // document offset of the probed text
  text: string; // the probed text (the engine keeps its weights for the maps and rows the view asks for)
  tokens: TextToken[];
}

export class AttentionPanel extends PanelController<'attention'> {
  private source: Source | null = null;
  private inspections = 0;
  private asked = 0; // probes asked for (inspections and replays): the rest of a first paint's layers goes to the newest only
  private focus: AttentionFocus | null = null; // painted while set
  private open = { layer: 0, head: 0 as number | 'mean' }; // the view's open map, asked for in full with the next probe
  private snapshot: number | null = null; // the run snapshot the view shows (null: the model itself)
  private readonly levels = Array.from({ length: LEVELS }, (_, i) => vscode.window.createTextEditorDecorationType({
    backgroundColor: `rgba(${PAINT_RGB}, ${(0.12 + ((i + 1) / LEVELS) * 0.58).toFixed(3)})`, borderRadius: '2px' }));
  private readonly query = vscode.window.createTextEditorDecorationType({
    border: '1px solid', borderColor: new vscode.ThemeColor('focusBorder'), borderRadius: '2px' });

  constructor(extensionUri: vscode.Uri, log: Log, private readonly session: Session) {
    super('attention', 'GPT Lab: Attention', extensionUri, log, () => session.model);
    this.disposables.push(...this.levels, this.query,
      vscode.commands.registerCommand(Command.InspectAttention, () => this.inspect()),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (this.focus && e.document === this.source?.doc && e.contentChanges.length > 0) {
          this.unfocus('the text changed, so the painting no longer matched it');
        }
      }),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        if (doc === this.source?.doc) {
          if (this.focus) this.unfocus(`${shortName(doc)} was closed`);
          this.source = null;
        }
      }),
      // Decorations belong to an editor: one that shows the document again gets the painting again.
      vscode.window.onDidChangeVisibleTextEditors(() => this.paint()),
    );
  }

  private async inspect(): Promise<void> {
    const sel = selectionText();
    if (!sel || !haveModel(this.session, 'Inspecting attention')) return;
    this.clear();
    this.snapshot = null; // a new inspection shows the model itself
    const doc = sel.editor.document;
    const source = shortName(doc);
    const inspection = ++this.inspections;
    const asked = ++this.asked;
    let first: { thumbnails: AttentionThumbnails; layers: number } | null = null;
    await this.load(`Running the model over ${[...sel.text].length.toLocaleString('en-US')} characters of ${source}`, 'attention', async () => {
      // The first paint needs the layers up to the open map's only; the rest of the thumbnails follow.
      const data = await this.probeAt(sel.text, null, this.open.layer + 1);
      // Only the newest inspection's tokens are painted (an older one that ends later is dropped by load() too).
      if (inspection === this.inspections) {
        this.source = { doc, base: doc.offsetAt(sel.range.start), text: sel.text, tokens: data.probe.tokens };
        first = { thumbnails: data.probe.thumbnails, layers: data.probe.layers };
      }
      return { ...data, source };
    });
    if (first) await this.sendOtherLayers(sel.text, asked, first);
  }

  /** After a first paint of the first layers: the other layers' thumbnails, unless a newer probe was asked for since. */
  private async sendOtherLayers(text: string, asked: number, first: { thumbnails: AttentionThumbnails; layers: number }): Promise<void> {
    const from = first.thumbnails.from + first.thumbnails.count;
    const current = (): boolean => asked === this.asked && this.modelChanged() === null; // the same probe, of the same model
    if (from >= first.layers || !current()) return;
    try {
      const rest = await this.session.probe('attentionLayers', { text, from, thumbnail: first.thumbnails.res });
      if (current()) this.post('layers', rest);
    } catch (e) {
      if (current()) this.postError(e);
    }
  }

  /** The probe of a text at a snapshot (null: the model itself), with the run's timeline; `layers`: its first layers only. */
  private async probeAt(text: string, snapshot: number | null, layers?: number): Promise<AttentionData> {
    const model = modelTag(this.session);
    const timeline = await timelineTag(this.session, snapshot);
    const probe = await this.session.probe('attention', { text, open: [this.open], ...atSnapshot(timeline.at), ...(layers ? { layers } : {}) });
    return { source: this.source ? shortName(this.source.doc) : '', model, probe, totalTokens: probe.cropped + probe.tokens.length, timeline };
  }

  /** Shows a patching experiment (the "Patch against an edit…" command): the panel opens if it must. */
  showPatch(data: PatchData): void {
    this.show(true);
    this.post('patch', data);
  }

  protected receive(msg: ToHost<'attention'>): void {
    switch (msg.type) {
      case 'focus':
        this.open = { layer: msg.params.layer, head: msg.params.head };
        this.focus = msg.params.token === null ? null : msg.params;
        this.paint();
        break;
      case 'map':
        this.open = { layer: msg.params.layer, head: msg.params.head };
        void this.answer(msg, () => this.session.probe('attentionMap', { text: this.probedText(), ...msg.params, ...atSnapshot(this.snapshot) }));
        break;
      case 'rows':
        void this.answer(msg, () => this.session.probe('attentionRows', { text: this.probedText(), ...msg.params, ...atSnapshot(this.snapshot) }));
        break;
      case 'atSnapshot':
        // The maps and rows asked for from now on are this snapshot's; the view drops answers to older positions.
        this.snapshot = msg.params.snapshot;
        this.asked++;
        void this.answer(msg, async () => {
          const data = await this.probeAt(this.probedText(), msg.params.snapshot);
          if (this.source) this.source.tokens = data.probe.tokens;
          return data;
        });
        break;
      case 'roles':
        void this.answer(msg, () => this.session.probe('headRoles', { text: this.probedText(), ...atSnapshot(this.snapshot) }));
        break;
      case 'ablate':
        void this.answer(msg, () => this.session.probe('ablate', { text: this.probedText(), heads: msg.params.heads, mode: msg.params.mode,
          k: ABLATION_TOP, ...atSnapshot(this.snapshot) }));
        break;
    }
  }

  private probedText(): string {
    if (!this.source) throw new Error('run “Inspect attention for selection” again: the panel was reloaded or its document closed');
    return this.source.text;
  }

  /** Paints the focused token's row into every visible editor of the document (or clears them all). */
  private paint(): void {
    const src = this.source, focus = this.focus;
    const editors = src ? vscode.window.visibleTextEditors.filter((e) => e.document === src.doc) : [];
    if (!src || !focus || focus.token === null || !focus.weights || focus.token >= src.tokens.length) {
      for (const editor of editors) this.clearEditor(editor);
      return;
    }
    const q = focus.token;
    const row = focus.weights;
    const max = Math.max(...row) || 1;
    const at = (t: number): vscode.Range =>
      new vscode.Range(src.doc.positionAt(src.base + src.tokens[t].start), src.doc.positionAt(src.base + src.tokens[t].end));
    const where = `layer ${focus.layer + 1}, ${focus.head === 'mean' ? 'mean of heads' : `head ${focus.head + 1}`}`;
    const byLevel: vscode.DecorationOptions[][] = this.levels.map(() => []);
    row.forEach((w, k) => {
      if (w / max < 0.02) return;
      const level = Math.min(LEVELS - 1, Math.floor((w / max) * LEVELS));
      byLevel[level].push({ range: at(k), hoverMessage: `attention ${w.toFixed(4)} from ${JSON.stringify(src.tokens[q].text)} (${where})` });
    });
    for (const editor of editors) {
      this.levels.forEach((d, i) => editor.setDecorations(d, byLevel[i]));
      editor.setDecorations(this.query, [{ range: at(q), hoverMessage: `the query token (${where})` }]);
    }
  }

  private clearEditor(editor: vscode.TextEditor): void {
    for (const d of [...this.levels, this.query]) editor.setDecorations(d, []);
  }

  /** Removes the painting, here and in the panel's focus, with the reason. */
  private unfocus(reason: string): void {
    this.focus = null;
    this.paint();
    this.post('unfocus', { reason });
  }

  /** A new inspection starts clean. */
  private clear(): void {
    this.focus = null;
    this.paint();
  }

  protected override onClose(): void {
    this.clear();
    this.source = null;
  }
}
