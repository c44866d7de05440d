// Inline ghost text from the active model, in process with no server: debounced, cancellation checked before and
// after every engine call, cached by prefix (typing into a suggestion reuses it), stopping at a newline by default.
// It never blocks typing: the provider only awaits, at most GHOST_TEXT_MS; the engine works in its own process and
// draws at most gptLab.ghostText.maxTokens (clamped to its schema's 512) within its own time budget.
import * as vscode from 'vscode';
import type { Log } from './log';
import { contextBefore, NoModelError, type Session } from './session';
import { readSettings } from './settings';

/** Longest a completion is waited for: a completion later than this is of no use to someone typing. */
const GHOST_TEXT_MS = 5_000;

interface Cached {
  uri: string;
  offset: number; // where the completion was asked for
  tail: string; // the text just before that offset, to check it is still there
  completion: string;
}

const TAIL = 64;

const CACHE_SIZE = 32;

export function registerGhostText(session: Session, log: Log): vscode.Disposable[] {
  const cache: Cached[] = [];
  const provider: vscode.InlineCompletionItemProvider = {
    async provideInlineCompletionItems(doc, position, _context, token) {
      const settings = readSettings().ghostText;
      const model = session.model;
      if (!model || settings.scope === 'off') return undefined;
      if (settings.scope === 'trainedFile' && model.docUri !== doc.uri.toString()) return undefined;
      const offset = doc.offsetAt(position);
      const prefix = doc.getText(contextBefore(doc, offset, model));
      const item = (completion: string): vscode.InlineCompletionItem[] =>
        completion ? [new vscode.InlineCompletionItem(completion, new vscode.Range(position, position))] : [];

      // The user typed into a suggestion: what is left of it still applies, with no engine call.
      const reused = reuse(cache, doc, offset);
      if (reused !== null) return item(reused);

      await sleep(settings.debounceMs);
      if (token.isCancellationRequested) return undefined;
      try {
        const { text } = await session.probe('sample', {
          prompt: prefix, tokens: settings.maxTokens, seed: hashSeed(prefix), stopAtNewline: settings.stopAtNewline,
          sampling: { temperature: settings.temperature, topK: 0, topP: 1 },
        }, GHOST_TEXT_MS);
        if (token.isCancellationRequested) return undefined;
        cache.unshift({ uri: doc.uri.toString(), offset, tail: prefix.slice(-TAIL), completion: text });
        cache.length = Math.min(cache.length, CACHE_SIZE);
        return item(text);
      } catch (e) {
        if (!(e instanceof NoModelError)) log.error(`ghost text: ${String(e)}`);
        return undefined;
      }
    },
  };
  return [vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, provider),
    session.onDidChangeModel(() => (cache.length = 0))];
}

/** The rest of a cached completion when the text typed since it was offered is the start of it. */
function reuse(cache: readonly Cached[], doc: vscode.TextDocument, offset: number): string | null {
  const uri = doc.uri.toString();
  for (const c of cache) {
    if (c.uri !== uri || offset < c.offset || offset - c.offset >= c.completion.length) continue;
    const typed = doc.getText(new vscode.Range(doc.positionAt(c.offset), doc.positionAt(offset)));
    if (!c.completion.startsWith(typed)) continue;
    const tail = doc.getText(new vscode.Range(doc.positionAt(Math.max(0, c.offset - c.tail.length)), doc.positionAt(c.offset)));
    if (tail === c.tail) return c.completion.slice(typed.length);
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
