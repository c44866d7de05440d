// Which part of a token the surprise heat paints (pure, for extension/surprise.ts and its node test): not line
// breaks, nor a line's leading indentation, which would paint the left margin of every indented line.

/** A token's painted range: its offsets less leading line breaks and indentation; null when nothing is left to paint. */
export function paintedSpan(text: string, start: number, end: number): [number, number] | null {
  let s = start;
  while (s < end) {
    const c = text[s];
    if (c === '\n' || c === '\r') s += 1;
    else if ((c === ' ' || c === '\t') && atIndentation(text, s)) s += 1;
    else break;
  }
  return s < end ? [s, end] : null;
}

/** Whether only spaces and tabs stand between the line's start and `offset`. */
function atIndentation(text: string, offset: number): boolean {
  for (let i = offset - 1; i >= 0 && text[i] !== '\n'; i--) if (text[i] !== ' ' && text[i] !== '\t') return false;
  return true;
}
