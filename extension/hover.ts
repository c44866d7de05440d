// Tokens on hover: the word (or the selection) under the mouse as coloured chunks with ids, and with a model, each
// token's probability in context and its surprise (−log₂ p). Tokenizing runs right here in the extension host (no
// engine round trip), so a hover costs a few milliseconds even while a run keeps the engines busy.
import * as vscode from 'vscode';
import { getTokenizer, tokenChunks, TOKENIZER_NAMES, type TokenChunk, type TokenLoss } from '../engine';
import type { Log } from './log';
import { escapeHtml } from './panels/html';
import type { Session } from './session';
import { readSettings } from './settings';

/** Chunk backgrounds, alternating so neighbouring tokens stay apart (translucent: readable on light and dark). */
const CHUNK_COLOURS = ['#3b82f640', '#f59e0b40', '#10b98140', '#ec489940', '#8b5cf640'];
const MAX_ROWS = 40;

export function registerHover(session: Session, log: Log): vscode.Disposable {
  return vscode.languages.registerHoverProvider({ scheme: '*' }, {
    provideHover: (doc, position, token) => tokensHover(session, log, doc, position, token),
  });
}

/** The encoding the hover uses: the setting, or with `auto` the active model's tokenizer (o200k_base without one). */
function hoverEncoding(session: Session, chosen: string): string {
  return chosen !== 'auto' ? chosen : session.model?.tokenizer || 'o200k_base';
}

async function tokensHover(session: Session, log: Log, doc: vscode.TextDocument, position: vscode.Position,
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
  let chunks: TokenChunk[];
  try {
    chunks = await chunksFor(session, encoding, text);
  } catch (e) {
    log.error(`hover: ${String(e)}`);
    return undefined;
  }
  let surprise: (TokenLoss | undefined)[] | null = null;
  const model = session.model;
  if (model && model.tokenizer === encoding && !token.isCancellationRequested) {
    try {
      surprise = await surpriseInContext(session, doc, range, text);
    } catch (e) {
      log.error(`hover: ${String(e)}`);
    }
  }
  if (token.isCancellationRequested) return undefined;
  return new vscode.Hover(render(chunks, encoding, text, truncated, surprise, model?.label ?? null), range);
}

/**
 * The tokens of a hovered text: here for the fixed tokenizers; a tokenizer learned from the training text (bpe:N)
 * travels in the model file, so the engine that holds the model tokenizes with it.
 */
async function chunksFor(session: Session, encoding: string, text: string): Promise<TokenChunk[]> {
  if ((TOKENIZER_NAMES as readonly string[]).includes(encoding)) return cachedChunks(encoding, text);
  return (await session.probe('tokenize', { encoding, text })).tokens;
}

/** The last few hovers' tokens: moving the mouse within a word asks again for the same text. */
const recent = new Map<string, TokenChunk[]>();

function cachedChunks(encoding: string, text: string): TokenChunk[] {
  const key = `${encoding}\u0000${text}`;
  let chunks = recent.get(key);
  if (!chunks) {
    chunks = tokenChunks(getTokenizer(encoding), text);
    if (recent.size >= 64) recent.delete(recent.keys().next().value as string);
    recent.set(key, chunks);
  }
  return chunks;
}

/**
 * Surprise of the hovered text's tokens given what comes before it: the model reads up to a context's worth of the
 * preceding text too, and only the tokens that lie inside the hovered range are shown.
 */
async function surpriseInContext(session: Session, doc: vscode.TextDocument, range: vscode.Range, text: string):
  Promise<(TokenLoss | undefined)[]> {
  const model = session.model!;
  const start = doc.offsetAt(range.start);
  const before = Math.max(0, start - Math.max(64, model.contextLength * 8));
  const prefix = doc.getText(new vscode.Range(doc.positionAt(before), range.start));
  const losses = await session.probe('tokenLoss', { text: prefix + text, from: prefix.length });
  return losses.map((t) => ({ ...t, start: t.start - prefix.length, end: t.end - prefix.length }));
}

function render(chunks: TokenChunk[], encoding: string, text: string, truncated: boolean,
  surprise: (TokenLoss | undefined)[] | null, modelLabel: string | null): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.supportHtml = true;
  md.isTrusted = false;
  const chars = [...text].length;
  md.appendMarkdown(`**${chunks.length} token${chunks.length === 1 ? '' : 's'}** · ${encoding} · ${chars} character${chars === 1 ? '' : 's'}` +
    `${truncated ? ' (first part only)' : ''}\n\n`);
  md.appendMarkdown(chunks.map((c, i) =>
    `<span style="background-color:${CHUNK_COLOURS[i % CHUNK_COLOURS.length]};">${escapeHtml(visible(c.text))}</span>`).join('') + '\n\n');
  const scored = surprise && surprise.length === chunks.length ? surprise : null;
  if (surprise && !scored) md.appendMarkdown('_The model splits this text differently in context; surprise shown per model token._\n\n');
  md.appendMarkdown(scored ? '| token | id | p | surprise |\n|:--|--:|--:|--:|\n' : '| token | id |\n|:--|--:|\n');
  for (let i = 0; i < Math.min(chunks.length, MAX_ROWS); i++) {
    const c = chunks[i];
    const cell = `\`${visible(c.text).replace(/`/g, 'ˋ').replace(/\|/g, '\\|')}\``;
    if (scored) {
      const s = scored[i];
      const bits = s?.loss == null ? null : s.loss / Math.LN2;
      const p = s?.loss == null ? '—' : formatProb(Math.exp(-s.loss));
      const unseen = s?.unknown ? ' · never seen in training' : '';
      md.appendMarkdown(`| ${cell} | ${c.id} | ${p} | ${bits === null ? '— (first token)' : `${bits.toFixed(2)} bits`}${unseen} |\n`);
    } else {
      md.appendMarkdown(`| ${cell} | ${c.id} |\n`);
    }
  }
  if (chunks.length > MAX_ROWS) md.appendMarkdown(`\n_…and ${chunks.length - MAX_ROWS} more: "GPT Lab: Show tokens of selection" shows them all._\n`);
  if (surprise === null && modelLabel === null) md.appendMarkdown('\n_Train a model ("GPT Lab: Train GPT on this file") to see how surprising each token is._');
  else if (scored) md.appendMarkdown(`\n_Surprise under the model trained on ${escapeHtml(modelLabel ?? '')}: −log₂ p of each token given the text before it._`);
  return md;
}

/** Whitespace made visible: · for spaces, → for tabs, ↵ for newlines. */
function visible(s: string): string {
  return s.replace(/ /g, '·').replace(/\t/g, '→').replace(/\r?\n/g, '↵');
}

function formatProb(p: number): string {
  return p >= 0.001 ? p.toFixed(3) : p.toExponential(1);
}

