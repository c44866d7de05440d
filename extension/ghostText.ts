// Inline ghost text from the active model, in process with no server: debounced, cancellation checked before and
// after every engine call, cached by prefix (typing into a suggestion reuses it), stopping at a newline by default.
// Two modes (gptLab.ghostText.mode): `word`, what a small model does well: the model's most likely tokens that finish
// the word in progress, then more only while each is at least gptLab.ghostText.minProbability likely, whole words
// only (the engine's WordModeCompletion); and `free`, raw samples. Either way nothing is shown rather than whitespace.
// A suggestion that repeats gptLab.ghostText.copyMinChars or more characters of the training file verbatim is marked
// in the status bar, with a click that opens the span it copies.
// It never blocks typing: the provider only awaits, at most GHOST_TEXT_MS; the engine works in its own process and
// draws at most gptLab.ghostText.maxTokens (clamped to its schema's 512) within its own time budget.
import * as vscode from 'vscode';
import type { Log } from './log';
import type { StoredModel } from './modelStore';
import { contextBefore, NoModelError, shortName, trainingRange, type Session } from './session';
import { readSettings, type Settings } from './settings';

/** Longest a completion is waited for: a completion later than this is of no use to someone typing. */
const GHOST_TEXT_MS = 5_000;
/** How long the "copied from" mark stays in the status bar after its suggestion. */
const COPIED_MARK_MS = 15_000;

interface Cached {
  uri: string;
  offset: number; // where the completion was asked for
  tail: string; // the text just before that offset, to check it is still there
  completion: string;
}

const TAIL = 64;

const CACHE_SIZE = 32;

/** What the completion at a place is, for the provider and for the in-host tests (testApi.ts). */
export type GhostSuggest = (doc: vscode.TextDocument, position: vscode.Position, token?: vscode.CancellationToken) => Promise<string | undefined>;

export function registerGhostText(session: Session, log: Log): { disposables: vscode.Disposable[]; suggest: GhostSuggest } {
  const cache: Cached[] = [];
  const copies = new CopyMarks(session, log);
  const suggest: GhostSuggest = async (doc, position, token) => {
    const settings = readSettings().ghostText;
    const model = session.model;
    if (!model || !appliesTo(model, doc, settings.scope)) return undefined;
    const offset = doc.offsetAt(position);
    const prefix = doc.getText(contextBefore(doc, offset, model));

    // The user typed into a suggestion: what is left of it still applies, with no engine call.
    const reused = reuse(cache, doc, offset);
    if (reused !== null) return reused;

    await sleep(settings.debounceMs);
    if (token?.isCancellationRequested) return undefined;
    try {
      const completion = showable(await complete(session, prefix, settings));
      if (token?.isCancellationRequested) return undefined;
      cache.unshift({ uri: doc.uri.toString(), offset, tail: prefix.slice(-TAIL), completion });
      cache.length = Math.min(cache.length, CACHE_SIZE);
      if (completion.length >= settings.copyMinChars) copies.check(model, completion, settings.copyMinChars);
      return completion;
    } catch (e) {
      if (!(e instanceof NoModelError)) log.error(`ghost text: ${String(e)}`);
      return undefined;
    }
  };
  const provider: vscode.InlineCompletionItemProvider = {
    async provideInlineCompletionItems(doc, position, _context, token) {
      const completion = await suggest(doc, position, token);
      return completion ? [new vscode.InlineCompletionItem(completion, new vscode.Range(position, position))] : undefined;
    },
  };
  return {
    disposables: [vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, provider), copies,
      session.onDidChangeModel(() => (cache.length = 0))],
    suggest,
  };
}

/**
 * Where the active model completes: everywhere with `allFiles`; with `trainedFile`, in the document it was trained
 * on, and a model loaded from a file (trained on no document here) in every document, as the "Load model…" message says.
 */
function appliesTo(model: StoredModel, doc: vscode.TextDocument, scope: Settings['ghostText']['scope']): boolean {
  if (scope === 'off') return false;
  return scope === 'allFiles' || model.docUri === null || model.docUri === doc.uri.toString();
}

function complete(session: Session, prompt: string, settings: Settings['ghostText']): Promise<string> {
  const stopAtNewline = settings.stopAtNewline;
  const params = settings.mode === 'word'
    ? { prompt, tokens: settings.maxTokens, seed: 0, stopAtNewline, sampling: { temperature: 0, topK: 0, topP: 1 },
      wordMode: { minProbability: settings.minProbability } }
    : { prompt, tokens: settings.maxTokens, seed: hashSeed(prompt), stopAtNewline,
      sampling: { temperature: settings.temperature, topK: 0, topP: 1 } };
  return session.probe('sample', params, GHOST_TEXT_MS).then((r) => r.text);
}

/** A completion worth showing: not whitespace alone (a character model after "Восени " once offered 32 spaces). */
export function showable(completion: string): string {
  return completion.trim() === '' ? '' : completion;
}

/**
 * The "copied from notes.md:42" mark: asks the engine for verbatim copies of the training file in a suggestion (the
 * probing engine is given the training document's text once per model), and shows the longest in the status bar,
 * clickable to open the source span.
 */
class CopyMarks implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('gptLab.copied', vscode.StatusBarAlignment.Right, 99);
  private sourceSent: { model: StoredModel; text: string; start: vscode.Position } | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly session: Session, private readonly log: Log) {
    this.item.name = 'GPT Lab: copied ghost text';
  }

  check(model: StoredModel, completion: string, minChars: number): void {
    this.find(model, completion, minChars).catch((e: unknown) => {
      if (!(e instanceof NoModelError)) this.log.error(`ghost text copies: ${String(e)}`);
    });
  }

  private async find(model: StoredModel, completion: string, minChars: number): Promise<void> {
    const source = model.docUri ? vscode.workspace.textDocuments.find((d) => d.uri.toString() === model.docUri) : undefined;
    if (!source) return this.hide(); // a loaded model, or its document is closed: nothing to check against
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.sourceSent?.model !== model) {
        // What the model learned from: the selection it was trained on, or the whole document.
        const range = trainingRange(model, source);
        const text = source.getText(range);
        await this.session.probe('copySource', { text });
        this.sourceSent = { model, text, start: range?.start ?? new vscode.Position(0, 0) };
      }
      const sent = this.sourceSent; // what the offsets of this answer are in
      const { spans, checked } = await this.session.probe('copies', { generated: completion, minChars });
      if (!checked) {
        this.sourceSent = null; // the engine restarted or reloaded the model: give it the text again
        continue;
      }
      if (this.session.model !== model) return;
      const longest = spans.reduce<(typeof spans)[number] | null>((a, s) => (!a || s.end - s.start > a.end - a.start ? s : a), null);
      if (!longest) return this.hide();
      const { line, character } = positionIn(sent, longest.sourceStart);
      const end = positionIn(sent, longest.sourceEnd);
      const chars = longest.end - longest.start;
      this.item.text = `$(copy) copied from ${shortName(source)}:${line + 1}`;
      this.item.tooltip = `GPT Lab: the ghost text repeats ${chars} characters of ${shortName(source)} verbatim (line ${line + 1}): ` +
        'the model has memorised this part of its training file. Click to see it.';
      this.item.command = { title: 'Open the copied span', command: 'vscode.open',
        arguments: [source.uri, { selection: new vscode.Range(line, character, end.line, end.character) }] };
      this.item.show();
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.hide(), COPIED_MARK_MS);
      return;
    }
  }

  private hide(): void {
    clearTimeout(this.timer);
    this.item.hide();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.item.dispose();
  }
}

/**
 * Line and character in the document of a UTF-16 offset in the text given to the engine (as the document was then),
 * which began at `start`.
 */
function positionIn(sent: { text: string; start: vscode.Position }, offset: number): { line: number; character: number } {
  let line = 0, lineStart = 0;
  for (let i = sent.text.indexOf('\n'); i !== -1 && i < offset; i = sent.text.indexOf('\n', i + 1)) {
    line += 1;
    lineStart = i + 1;
  }
  return line === 0 ? { line: sent.start.line, character: sent.start.character + offset } : { line: sent.start.line + line, character: offset - lineStart };
}

/** The rest of a cached completion when the text typed since it was offered is the start of it. */
function reuse(cache: readonly Cached[], doc: vscode.TextDocument, offset: number): string | null {
  const uri = doc.uri.toString();
  for (const c of cache) {
    if (c.uri !== uri || offset < c.offset || offset - c.offset >= c.completion.length) continue;
    const typed = doc.getText(new vscode.Range(doc.positionAt(c.offset), doc.positionAt(offset)));
    if (!c.completion.startsWith(typed)) continue;
    const tail = doc.getText(new vscode.Range(doc.positionAt(Math.max(0, c.offset - c.tail.length)), doc.positionAt(c.offset)));
    if (tail === c.tail) return showable(c.completion.slice(typed.length));
  }
  return null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The same prefix gets the same completion (FNV-1a of its last 256 characters). */
function hashSeed(s: string): number {
  let h = 0x811c9dc5;
  for (let i = Math.max(0, s.length - 256); i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
