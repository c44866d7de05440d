// Vocabulary compaction: the model only has rows for the tokenizer ids that occur in its training text.
// On a 940 KB Ukrainian file, o200k_base uses 4,744 of its 200,019 ids, so the embedding and the
// output layer shrink about 40x and a training step gets several times faster at the same loss.
import { tokenText, type Tokenizer } from './tokenizers';

/** Model id of the explicit unknown token: text the model never saw maps here. */
export const UNKNOWN_ID = 0;

export class Vocabulary {
  /** toTokenizer[modelId] = tokenizer id; entry 0 is null (the unknown token). */
  readonly toTokenizer: readonly (number | null)[];
  private readonly toModel: Map<number, number>;

  constructor(toTokenizer: readonly (number | null)[]) {
    if (toTokenizer.length < 1 || toTokenizer[0] !== null) throw new Error('vocabulary entry 0 must be the unknown token (null)');
    this.toTokenizer = toTokenizer;
    this.toModel = new Map();
    for (let i = 1; i < toTokenizer.length; i++) {
      const t = toTokenizer[i];
      if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) throw new Error(`vocabulary entry ${i} is not a token id`);
      if (this.toModel.has(t)) throw new Error(`vocabulary lists token ${t} twice`);
      this.toModel.set(t, i);
    }
  }

  /** The distinct ids of a tokenized text, sorted, behind the unknown token. */
  static fromTokenIds(ids: Iterable<number>): Vocabulary {
    const distinct = [...new Set(ids)].sort((a, b) => a - b);
    return new Vocabulary([null, ...distinct]);
  }

  /**
   * Every id of a tokenizer of `size` ids, behind the unknown token: for a BPE learned from the training text, whose
   * whole vocabulary belongs to that text (merges that later merges used up included), so that an exported model
   * carries a tokenizer that Hugging Face's BPE loads as it is.
   */
  static whole(size: number): Vocabulary {
    return new Vocabulary([null, ...Array.from({ length: size }, (_, i) => i)]);
  }

  get size(): number {
    return this.toTokenizer.length;
  }

  /** Tokenizer ids -> model ids; ids the model never saw become UNKNOWN_ID. */
  encode(tokenizerIds: readonly number[]): Int32Array {
    const out = new Int32Array(tokenizerIds.length);
    for (let i = 0; i < tokenizerIds.length; i++) out[i] = this.toModel.get(tokenizerIds[i]) ?? UNKNOWN_ID;
    return out;
  }

  has(tokenizerId: number): boolean {
    return this.toModel.has(tokenizerId);
  }

  modelId(tokenizerId: number): number {
    return this.toModel.get(tokenizerId) ?? UNKNOWN_ID;
  }

  /** Model ids -> tokenizer ids, dropping unknown tokens (they have no text). */
  decode(modelIds: Iterable<number>): number[] {
    const out: number[] = [];
    for (const m of modelIds) {
      const t = this.toTokenizer[m];
      if (t !== null && t !== undefined) out.push(t);
    }
    return out;
  }

  /** How a model id looks to a person: its text, or a marker for the unknown token. */
  display(tok: Tokenizer, modelId: number): string {
    const t = this.toTokenizer[modelId];
    return t === null || t === undefined ? '<unk>' : tokenText(tok, t);
  }
}
