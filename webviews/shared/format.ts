// How tokens and numbers read in every view: one formatter per kind, no DOM and no d3, so node tests load it as is.
import type { ModelTag } from '../../engine/protocol';

export { formatDuration } from '../../engine/protocol'; // the one duration formatter, shared with the engine and the extension

const VISIBLE: Record<string, string> = { ' ': '·', '\n': '↵', '\t': '→', '\r': '␍' };

/**
 * A token as people should see it: space ·, newline ↵, tab →, carriage return ␍, other control characters \xNN,
 * ∅ for the empty token; cut to `max` characters with … when given.
 */
export function showToken(text: string, max = Infinity): string {
  if (text.length === 0) return '∅';
  let out = '';
  for (const ch of text.replace(/\r\n/g, '\n')) {
    const code = ch.codePointAt(0) ?? 0;
    if (VISIBLE[ch] !== undefined) out += VISIBLE[ch];
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  const chars = [...out];
  return chars.length > max ? `${chars.slice(0, Math.max(1, max - 1)).join('')}…` : out;
}

/** 12,345 (without Intl, whose first use costs more than a small chart). */
export function thousands(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const sign = n < 0 ? '−' : '';
  const [int, frac] = Math.abs(n).toString().split('.');
  return `${sign}${int.replace(/\B(?=(\d{3})+$)/g, ',')}${frac ? `.${frac}` : ''}`;
}

/** “1 token”, “3 tokens”: a count with its noun, the plural by an s unless given. */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${thousands(n)} ${n === 1 ? noun : plural}`;
}

/** 0.21 M, 12.3 M, 1.2 k: a parameter count at a glance. */
export function compact(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 1e10 ? 0 : 1)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 1 : 2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)} k`;
  return String(n);
}

/** The model a panel shows, in one line: “note.md · char · 0.21 M parameters · partial (training did not finish)”. */
export function modelLine(model: ModelTag | null): string {
  if (!model) return 'no model';
  return [model.label, model.tokenizer, `${compact(model.parameters)} parameters`, ...(model.partial ? ['partial (its run did not finish)'] : [])]
    .join(' · ');
}

/**
 * A formatter for axis ticks in exponent form that never gives two ticks the same label: the fewest significant
 * digits (1 to 4) that tell them apart. 0.001 and 0.0015 read 1e-3 and 1.5e-3, never 1e-3 twice.
 */
export function distinctExponentFormat(ticks: readonly number[]): (v: number) => string {
  const at = (digits: number) => (v: number): string => {
    if (v === 0) return '0';
    const [mantissa, exponent] = v.toExponential(digits - 1).split('e');
    return `${String(Number(mantissa))}e${Number(exponent)}`;
  };
  for (let digits = 1; digits <= 4; digits++) {
    const f = at(digits);
    if (new Set(ticks.map(f)).size === ticks.length) return f;
  }
  return at(4);
}
