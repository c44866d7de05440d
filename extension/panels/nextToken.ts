// The next-token panel: the model's distribution after the selection, reshaped live by temperature, top-k and
// top-p, with the logit lens; "sample" appends a drawn token to the panel's prompt. The document is never touched.
// The timeline slider replays the distribution and the lens at a snapshot of the run; "why this token?" asks the
// direct logit attribution of a token after the prompt, at the snapshot shown.
import * as vscode from 'vscode';
import type { LensProbe, SamplingOptions } from '../../engine';
import type { NextTokenData, ToHost } from '../../engine';
import { Command } from '../commands';
import type { Log } from '../log';
import { haveModel, selectionText } from '../needsModel';
import { shortName, type Session } from '../session';
import { atSnapshot, modelTag, PanelController, timelineTag } from './panel';

const TOP_K = 20;
const LENS_K = 5;
const PLAIN: SamplingOptions = { temperature: 1, topK: 0, topP: 1 };

export class NextTokenPanel extends PanelController<'nextToken'> {
  private selection = '';
  private sampled = '';
  private lens: { text: string; modelFile: string | null; snapshot: number | null; probe: LensProbe } | null = null;
  private draws = 0;
  private snapshot: number | null = null; // the run snapshot shown (null: the model itself)

  constructor(extensionUri: vscode.Uri, log: Log, private readonly session: Session) {
    super('nextToken', 'GPT Lab: Next token', extensionUri, log, () => session.model);
    this.disposables.push(vscode.commands.registerCommand(Command.ShowNextToken, async () => {
      const sel = selectionText();
      if (!sel || !haveModel(this.session, 'The next-token distribution')) return;
      this.selection = sel.text;
      this.sampled = '';
      this.snapshot = null;
      await this.load(`Asking the model what follows ${[...sel.text].length.toLocaleString('en-US')} characters of ${shortName(sel.editor.document)}`,
        'nextToken', () => this.probe(PLAIN));
    }));
  }

  private async probe(sampling: SamplingOptions): Promise<NextTokenData> {
    const prompt = this.selection + this.sampled;
    const timeline = await timelineTag(this.session, this.snapshot);
    const at = atSnapshot(timeline.at);
    const probe = await this.session.probe('nextToken', { text: prompt, k: TOP_K, sampling, ...at });
    // The lens of a prompt is the same under every sampling setting: asked again only for a new prompt, model or snapshot.
    const modelFile = this.session.model?.file ?? null;
    if (this.lens?.text !== prompt || this.lens.modelFile !== modelFile || this.lens.snapshot !== timeline.at) {
      this.lens = { text: prompt, modelFile, snapshot: timeline.at, probe: await this.session.probe('lens', { text: prompt, k: LENS_K, ...at }) };
    }
    return { prompt, sampledSoFar: this.sampled, probe, lens: this.lens.probe, model: modelTag(this.session), timeline };
  }

  protected receive(msg: ToHost<'nextToken'>): void {
    switch (msg.type) {
      case 'resample':
        void this.answer(msg, () => this.probe(msg.params));
        break;
      case 'sampleOne':
        void this.answer(msg, async () => {
          const { text } = await this.session.probe('sample', { prompt: this.selection + this.sampled, tokens: 1, sampling: msg.params,
            seed: ++this.draws });
          this.sampled += text;
          return this.probe(msg.params);
        });
        break;
      case 'reset':
        this.sampled = '';
        void this.answer(msg, () => this.probe(PLAIN));
        break;
      case 'atSnapshot':
        this.snapshot = msg.params.snapshot;
        void this.answer(msg, () => this.probe(msg.params.sampling));
        break;
      case 'attribution':
        void this.answer(msg, () => this.session.probe('attribution', { text: this.selection + this.sampled,
          ...(msg.params.token === null ? {} : { token: msg.params.token }), ...atSnapshot(this.snapshot) }));
        break;
    }
  }
}
