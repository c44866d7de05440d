// One variant of "Compare on this file", as `gpt-lab compare --variant` and the editor's command take it: GPTConfig
// switches on top of the baseline, and optionally another tokenizer. Plain parsing, no tfjs: the extension checks what
// a person types with the same rules the engine applies.
import { parseModelOverrides, type ModelShape } from '../model/config';
import { isTokenizerChoice, TOKENIZER_CHOICES } from '../text/tokenizers';

/** Rows of one comparison, the baseline included: fewer says nothing, more will not fit a screen or a minute. */
export const MIN_VARIANTS = 2;
export const MAX_VARIANTS = 6;
export const MAX_SEEDS = 16;

/** One `--variant`: GPTConfig switches on top of the baseline, and optionally another tokenizer. */
export interface VariantSpec {
  label: string; // as written, trimmed
  overrides: Partial<ModelShape>;
  tokenizer: string | null;
}

/**
 * Parses `norm=rmsnorm,kvHeads=1` or `tokenizer=bpe:512,positions=rope`: the model switches of parseModelOverrides,
 * plus `tokenizer`. Throws a one-line Error naming the bad entry.
 */
export function parseVariant(text: string): VariantSpec {
  const label = text.trim();
  if (label === '') throw new Error('a variant needs at least one switch, e.g. norm=rmsnorm');
  let tokenizer: string | null = null;
  const switches: string[] = [];
  for (const entry of label.split(',')) {
    const eq = entry.indexOf('=');
    if (eq !== -1 && entry.slice(0, eq).trim() === 'tokenizer') {
      const name = entry.slice(eq + 1).trim();
      if (tokenizer !== null) throw new Error('tokenizer is set twice');
      if (!isTokenizerChoice(name)) throw new Error(`tokenizer must be one of ${TOKENIZER_CHOICES}, got "${name}"`);
      tokenizer = name;
    } else {
      switches.push(entry);
    }
  }
  return { label, overrides: parseModelOverrides(switches.join(',')), tokenizer };
}
