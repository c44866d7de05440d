/** Display helpers of the embeddings view: tokens with their whitespace made visible, and numbers. */

const VISIBLE: Record<string, string> = { ' ': '·', '\n': '↵', '\t': '→', '\r': '␍' };

/** A token as people should see it: spaces as ·, newlines as ↵, tabs as →, other control characters escaped. */
export function visible(text: string): string {
  if (text.length === 0) return '∅';
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (VISIBLE[ch] !== undefined) out += VISIBLE[ch];
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

/** A coordinate or cosine with enough digits to be exact at a glance (6 significant), and a real minus sign. */
export function num(x: number, digits = 6): string {
  if (!Number.isFinite(x)) return String(x);
  return Number(x.toPrecision(digits)).toString().replace('-', '−');
}

/** A cosine in [-1, 1] with a fixed 3 decimals, for tables. */
export function cos3(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3).replace('-', '−') : '—';
}

/** "23.4%" for a fraction, or null when it is not a usable number. */
export function percent(f: number): string | null {
  return Number.isFinite(f) && f >= 0 && f <= 1.0000001 ? `${(f * 100).toFixed(1)}%` : null;
}
