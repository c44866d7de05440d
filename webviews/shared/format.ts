// How a token reads in a label, the same in every view.

/** Whitespace made visible (· space, ↵ newline, ␍ carriage return, ⇥ tab), ∅ for the empty token, cut to `max`. */
export function showToken(text: string, max: number): string {
  const v = text.replace(/ /g, '·').replace(/\r\n|\n/g, '↵').replace(/\r/g, '␍').replace(/\t/g, '⇥');
  return v === '' ? '∅' : v.length > max ? `${v.slice(0, max - 1)}…` : v;
}
