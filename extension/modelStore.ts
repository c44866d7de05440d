// Where trained models live: the extension's global storage, per document (keyed by a hash of its URI), with a small
// index in globalState so a reloaded window knows the active model without starting an engine. Each document has:
//   <key>.safetensors            its stored model: replaced only by a better one, or when the user says so
//   <key>.partial.safetensors    the best checkpoint of a run under way (the engine writes it)
//   <key>.candidate.safetensors  a run's model that did not replace the stored one (cancelled, failed, or worse)
// Nothing here deletes a model: files are only renamed into the places above.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as vscode from 'vscode';
import { partialPath, type ModelSummary } from '../engine';

export interface StoredModel {
  /** Its file; a run whose save failed everywhere leaves a model with no file (it lives in the engine's memory). */
  file: string | null;
  label: string; // the document's name, or the file's for a loaded model
  docUri: string | null; // the document it was trained on (ghost text completes there by default)
  tokenizer: string;
  parameters: number;
  contextLength: number;
  partial: boolean;
  savedAt: string;
  /** How it was trained, for the status bar's tooltip ("native CPU (AVX2), 8 threads"), when a run in this editor made it. */
  trainedWith?: string;
  /** The document offsets [start, end) of the text it was trained on, when that was a selection (absent: the whole document). */
  trainedOn?: TextRange;
}

export interface TextRange {
  start: number;
  end: number;
}

/** A run under way: its document and the shape of the model it trains (from its start event). */
export type RunningModel = Pick<StoredModel, 'label' | 'tokenizer' | 'parameters' | 'contextLength' | 'trainedOn'> & { docUri: string };

const ACTIVE_KEY = 'gptLab.activeModel';
const BY_DOCUMENT_KEY = 'gptLab.modelsByDocument'; // docUri -> StoredModel: what a document's stored model is, without loading it
const RUNNING_KEY = 'gptLab.runningOn'; // the document of a run under way, cleared when it ends

export class ModelStore {
  constructor(private readonly storageDir: string, private readonly state: vscode.Memento) {}

  /** The folder of every stored model: nothing else may be written there ("Save model as" refuses it). */
  get folder(): string {
    return path.join(this.storageDir, 'models');
  }

  /** The document's stored model. */
  fileFor(docUri: string): string {
    const key = crypto.createHash('sha256').update(docUri).digest('hex').slice(0, 16);
    fs.mkdirSync(this.folder, { recursive: true });
    return path.join(this.folder, `${key}.safetensors`);
  }

  /** Where a run on the document keeps its best model so far. */
  checkpointFor(docUri: string): string {
    return partialPath(this.fileFor(docUri));
  }

  /** Where a run's model goes when it does not replace the stored one. */
  candidateFor(docUri: string): string {
    return this.fileFor(docUri).replace(/\.safetensors$/, '.candidate.safetensors');
  }

  /**
   * A model as the editor keeps it. `savedAt` is its file's modification time (now, for a model only in memory), so the
   * same file described again is the same model, and a model saved over it is another.
   */
  describe(summary: ModelSummary, label: string, docUri: string | null, file: string | null): StoredModel {
    return { file, label, docUri, tokenizer: summary.tokenizer, parameters: summary.parameters,
      contextLength: summary.config.contextLength, partial: summary.partial, savedAt: savedAt(file) };
  }

  async setActive(model: StoredModel | null): Promise<void> {
    await this.state.update(ACTIVE_KEY, model);
    if (model?.docUri && model.file === this.fileFor(model.docUri)) {
      const known = this.state.get<Record<string, StoredModel>>(BY_DOCUMENT_KEY, {});
      await this.state.update(BY_DOCUMENT_KEY, { ...known, [model.docUri]: model });
    }
  }

  /** The document's stored model file when it has one (a run on it kept a model, or recovered its checkpoint), else null. */
  storedFileFor(docUri: string): string | null {
    const file = this.fileFor(docUri);
    return fs.existsSync(file) ? file : null;
  }

  /** What was last known of the document's stored model (its tokenizer, how it was trained), if it is still that file's. */
  knownModel(docUri: string): StoredModel | null {
    const known = this.state.get<Record<string, StoredModel>>(BY_DOCUMENT_KEY, {})[docUri];
    if (!known?.file || !fs.existsSync(known.file)) return null;
    return fs.statSync(known.file).mtime.toISOString() <= known.savedAt ? known : null;
  }

  /** Remembers the run under way (and its model's shape), so a window closed mid-run finds its checkpoint next time. */
  async runStarted(run: RunningModel): Promise<void> {
    await this.state.update(RUNNING_KEY, run);
  }

  async runEnded(): Promise<void> {
    await this.state.update(RUNNING_KEY, undefined);
  }

  /**
   * The best checkpoint of a run that ended without saving (its engine died, or the window closed), moved where no
   * later run writes: it becomes the document's stored model when the document has none (`stored: true`), else its
   * candidate, beside the stored model it must not replace. Null when the run wrote no checkpoint.
   */
  recoverCheckpoint(run: RunningModel): { model: StoredModel; stored: boolean } | null {
    const partial = this.checkpointFor(run.docUri);
    if (!fs.existsSync(partial)) return null;
    const stored = this.fileFor(run.docUri);
    const hasStored = fs.existsSync(stored);
    const target = hasStored ? this.candidateFor(run.docUri) : stored;
    fs.renameSync(partial, target);
    return { model: { ...run, file: target, partial: true, savedAt: fs.statSync(target).mtime.toISOString() }, stored: !hasStored };
  }

  /** The user chose a candidate over the document's stored model: it takes the stored model's place. */
  adoptCandidate(docUri: string): string {
    const stored = this.fileFor(docUri);
    fs.renameSync(this.candidateFor(docUri), stored);
    return stored;
  }

  /**
   * The model a new window starts with: the best checkpoint of a run that was under way when the last window closed
   * (recovered as above; active when the document had no model), else the last active model, if its file is still
   * there. Called once, when the extension starts.
   */
  restore(): StoredModel | null {
    const running = this.state.get<RunningModel | undefined>(RUNNING_KEY);
    const recovered = running ? this.recoverCheckpoint(running) : null;
    if (recovered?.stored) return recovered.model;
    const last = this.state.get<StoredModel | null>(ACTIVE_KEY, null);
    return last?.file && fs.existsSync(last.file) ? last : null;
  }
}

function savedAt(file: string | null): string {
  try {
    if (file) return fs.statSync(file).mtime.toISOString();
  } catch {
    // gone already: described as of now
  }
  return new Date().toISOString();
}
