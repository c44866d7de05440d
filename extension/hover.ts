// Tokens on hover: the word (or the selection) under the mouse as coloured chunks with ids, and with a model, each
// token's probability in context, its surprise (−log₂ p: how wrong the model was) and the entropy of the model's
// prediction there (how unsure it was before seeing the token), and which model answered. One tokenization per hover: with a model whose tokenizer
// is the hover's, the engine's (tokens as the model reads them in context, with their offsets and surprise), if it
// answers within HOVER_SURPRISE_MS; otherwise the tokens alone, cut right here in the extension host, so a hover
// appears at once even while the engines are busy or stopped. An answer that comes late is kept for the next hover.
import * as vscode from 'vscode';
import { getTokenizer, tokenChunks, TOKENIZER_NAMES, type TokenLoss } from '../engine';
import type { Log } from './log';
import { escapeHtml } from './panels/html';
import { contextBefore, type Session } from './session';
import { readSettings } from './settings';

/** How long a hover waits for the engine's tokens and surprise before it shows the tokens alone. */
export const HOVER_SURPRISE_MS = 500;
/** The engine's own deadline for a hover's request: past it the engine is asked whether it is still there. */
const HOVER_ENGINE_MS = 10_000;

/** Chunk backgrounds, alternating so neighbouring tokens stay apart (translucent: readable on light and dark). */
const CHUNK_COLOURS = ['#3b82f640', '#f59e0b40', '#10b98140', '#ec489940', '#8b5cf640'];
const MAX_ROWS = 40;

/** One row of the hover: a token's text in the hovered range, its tokenizer id, and with a model its loss. */
interface Row {
  text: string;
  id: number | null; // null: a token the model never saw in training (its id is not in the model's vocabulary)
  loss?: number | null; // undefined without surprise; null for the text's first token (nothing before it)
  entropy?: number | null; // nats, as loss
}

export function registerHover(session: Session, log: Log): vscode.Disposable {
  const late = new LateAnswers();
  return vscode.languages.registerHoverProvider({ scheme: '*' }, {
    provideHover: (doc, position, token) => tokensHover(session, log, late, doc, position, token),
  });
}

/** The encoding the hover uses: the setting, or with `auto` the active model's tokenizer (o200k_base without one). */
function hoverEncoding(session: Session, chosen: string): string {
  return chosen !== 'auto' ? chosen : session.model?.tokenizer || 'o200k_base';
}

async function tokensHover(session: Session, log: Log, late: LateAnswers, doc: vscode.TextDocument, position: vscode.Position,
  token: vscode.CancellationToken): Promise<vscode.Hover | undefined> {
  const settings = readSettings().hover;
  if (!settings.enabled) return undefined;
  const selection = vscode.window.activeTextEditor?.document === doc ? vscode.window.activeTextEditor.selection : undefined;
  const range = selection && !selection.isEmpty && selection.contains(position) ? selection : doc.getWordRangeAtPosition(position);
  if (!range) return undefined;
  let text = doc.getText(range);
  const truncated = text.length > settings.maxLength;
  if (truncated) text = text.slice(0, settings.maxLength);
  const encoding = hoverEncoding(session, settings.encoding);
  const model = session.model;
  let rows: Row[] | null = null;
  if (model && model.tokenizer === encoding) {
    const key = `${doc.uri.toString()}\u0000${doc.version}\u0000${doc.offsetAt(range.start)}\u0000${text.length}\u0000${model.file ?? ''}`;
    rows = late.take(key) ?? await late.within(key, scoredRows(session, doc, range, text), HOVER_SURPRISE_MS, (e) => log.error(`hover: ${String(e)}`));
  }
  if (token.isCancellationRequested) return undefined;
  if (!rows) {
    if (!(TOKENIZER_NAMES as readonly string[]).includes(encoding)) {
      // A tokenizer learned from the training text lives in the model, in the engine, which did not answer in time.
      return new vscode.Hover(new vscode.MarkdownString(`_The model's own tokenizer (${encoding}) is in the engine, which is busy; ` +
        'hover again in a moment._'), range);
    }
    rows = tokenChunks(getTokenizer(encoding), text).map((c) => ({ text: c.text, id: c.id }));
  }
  return new vscode.Hover(render(rows, encoding, text, truncated, model ? `${model.label} model` : null), range);
}

/**
 * The hovered text's tokens as the model reads them after up to a context's worth of the text before it (the same
 * window as ghost text), with each one's surprise: one request, one tokenization, offsets from the engine.
 */
async function scoredRows(session: Session, doc: vscode.TextDocument, range: vscode.Range, text: string): Promise<Row[]> {
  const before = contextBefore(doc, doc.offsetAt(range.start), session.model!);
  const prefix = doc.getText(before);
  const losses: TokenLoss[] = await session.probe('tokenLoss', { text: prefix + text, from: prefix.length }, HOVER_ENGINE_MS);
  return losses.map((t) => ({ text: (prefix + text).slice(t.start, t.end), id: t.tokenizerId, loss: t.loss, entropy: t.entropy }));
}

/** Engine answers a hover waited for: the one in time is used; one that comes late is kept for the next hover there. */
class LateAnswers {
  private readonly kept = new Map<string, Row[]>();

  take(key: string): Row[] | null {
    const rows = this.kept.get(key) ?? null;
    this.kept.delete(key);
    return rows;
  }

  /** The answer if it comes within `ms`, else null (and, should it come later, it is kept under `key`). */
  async within(key: string, answer: Promise<Row[]>, ms: number, onError: (e: unknown) => void): Promise<Row[] | null> {
    let timer: NodeJS.Timeout | undefined;
    let inTime = true;
    const kept = answer.then((rows) => {
      if (!inTime) {
        if (this.kept.size >= 16) this.kept.delete(this.kept.keys().next().value!);
        this.kept.set(key, rows);
      }
      return rows;
    }, (e: unknown) => {
      onError(e);
      return null;
    });
    const deadline = new Promise<null>((resolve) => (timer = setTimeout(() => {
      inTime = false;
      resolve(null);
    }, ms)));
    try {
      return await Promise.race([kept, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The hover's Markdown: `modelName` is whose model is active, e.g. "notes.md model". */
function render(rows: Row[], encoding: string, text: string, truncated: boolean, modelName: string | null): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.supportHtml = true;
  md.isTrusted = false;
  const chars = [...text].length;
  const scored = rows.some((r) => r.loss !== undefined);
  md.appendMarkdown(`**${rows.length} token${rows.length === 1 ? '' : 's'}** · ${encoding} · ${chars} character${chars === 1 ? '' : 's'}` +
    `${truncated ? ' (first part only)' : ''}\n\n`);
  md.appendMarkdown(rows.map((r, i) =>
    `<span style="background-color:${CHUNK_COLOURS[i % CHUNK_COLOURS.length]};">${escapeHtml(visible(r.text))}</span>`).join('') + '\n\n');
  md.appendMarkdown(scored ? '| token | id | p | surprise · entropy |\n|:--|--:|--:|--:|\n' : '| token | id |\n|:--|--:|\n');
  for (const r of rows.slice(0, MAX_ROWS)) {
    const cell = `\`${visible(r.text).replace(/`/g, 'ˋ').replace(/\|/g, '\\|')}\``;
    const id = r.id === null ? '—' : String(r.id);
    if (scored) {
      const p = r.loss == null ? '—' : formatProb(Math.exp(-r.loss));
      const unseen = r.id === null ? ' · never seen in training' : '';
      md.appendMarkdown(`| ${cell} | ${id} | ${p} | ${surpriseCell(r)}${unseen} |\n`);
    } else {
      md.appendMarkdown(`| ${cell} | ${id} |\n`);
    }
  }
  if (rows.length > MAX_ROWS) md.appendMarkdown(`\n_…and ${rows.length - MAX_ROWS} more: "GPT Lab: Show tokens of selection" shows them all._\n`);
  if (modelName === null) md.appendMarkdown('\n_Train a model ("GPT Lab: Train GPT on this file") to see how surprising each token is._');
  else if (scored) {
    md.appendMarkdown(`\n_Answered by the ${escapeHtml(modelName)}._ ` +
      '_Surprise is how wrong it was about the token (−log₂ p); entropy is how unsure it was before seeing it._');
  }
  return md;
}

/** "3.20 bits · entropy 1.10 bits": surprise and entropy together, in bits. */
function surpriseCell(r: Row): string {
  if (r.loss == null) return '— (first token)';
  const entropy = r.entropy == null ? '' : ` · entropy ${(r.entropy / Math.LN2).toFixed(2)} bits`;
  return `surprise ${(r.loss / Math.LN2).toFixed(2)} bits${entropy}`;
}

/** Whitespace made visible: · for spaces, → for tabs, ↵ for newlines. */
function visible(s: string): string {
  return s.replace(/ /g, '·').replace(/\t/g, '→').replace(/\r?\n/g, '↵');
}

function formatProb(p: number): string {
  return p >= 0.001 ? p.toFixed(3) : p.toExponential(1);
}
