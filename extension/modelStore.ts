// Where trained models live: the extension's global storage, one .safetensors file per document (keyed by a hash of
// its URI), with a small index in globalState so a reloaded window knows the active model without starting an engine.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { partialPath, type ModelSummary } from '../engine';

export interface StoredModel {
  file: string;
  label: string; // the document's name, or the file's for a loaded model
  docUri: string | null; // the document it was trained on (ghost text completes there by default)
  tokenizer: string;
  parameters: number;
  contextLength: number;
  partial: boolean;
  savedAt: string;
}

/** A run under way: its document and the shape of the model it trains (from its start event). */
export type RunningModel = Pick<StoredModel, 'label' | 'tokenizer' | 'parameters' | 'contextLength'> & { docUri: string };

const ACTIVE_KEY = 'gptLab.activeModel';
const RUNNING_KEY = 'gptLab.runningOn'; // the document of a run under way, cleared when it ends

export class ModelStore {
  constructor(private readonly storageDir: string, private readonly state: vscode.Memento) {}

  /** Where the model trained on a document is saved (its checkpoints go beside it, see partialPath). */
  fileFor(docUri: string): string {
    const key = crypto.createHash('sha256').update(docUri).digest('hex').slice(0, 16);
    const dir = path.join(this.storageDir, 'models');
    fs.mkdirSync(dir, { recursive: true });
    return path.join(dir, `${key}.safetensors`);
  }

  describe(summary: ModelSummary, label: string, docUri: string | null, file: string): StoredModel {
    return { file, label, docUri, tokenizer: summary.tokenizer, parameters: summary.parameters,
      contextLength: summary.config.contextLength, partial: summary.partial, savedAt: new Date().toISOString() };
  }

  async setActive(model: StoredModel | null): Promise<void> {
    await this.state.update(ACTIVE_KEY, model);
  }

  /** Remembers the run under way (and its model's shape), so a window closed mid-run finds its checkpoint next time. */
  async runStarted(run: RunningModel): Promise<void> {
    await this.state.update(RUNNING_KEY, run);
  }

  /** The best checkpoint of a run, as a model that can become active, if one was written. */
  checkpointOf(run: RunningModel): StoredModel | null {
    const file = partialPath(this.fileFor(run.docUri));
    return fs.existsSync(file) ? { ...run, file, partial: true, savedAt: fs.statSync(file).mtime.toISOString() } : null;
  }

  async runEnded(): Promise<void> {
    await this.state.update(RUNNING_KEY, undefined);
  }

  /**
   * The model to restore in a new window: the best checkpoint of a run that was under way when the window closed
   * (marked partial), else the last active model, if its file is still there.
   */
  restorable(): StoredModel | null {
    const running = this.state.get<RunningModel | undefined>(RUNNING_KEY);
    const checkpoint = running ? this.checkpointOf(running) : null;
    if (checkpoint) return checkpoint;
    const last = this.state.get<StoredModel | null>(ACTIVE_KEY, null);
    return last && fs.existsSync(last.file) ? last : null;
  }
}
