// What probes return: plain data (numbers, strings, arrays) about a model and a text, with no tensors. The
// functions that compute them are in engine/probes/.

/** One token of a text, with where it sits in the JavaScript string (UTF-16 offsets) and in the UTF-8 bytes. */
export interface TokenChunk {
  id: number;
  text: string; // display form: the decoded text, or \xNN escapes for bytes that are not whole characters
  start: number; // UTF-16 offset of the first character the token touches
  end: number; // UTF-16 offset after the last character the token touches
  byteStart: number;
  byteEnd: number;
}

export interface SamplingOptions {
  temperature: number; // 0 = greedy
  topK: number; // 0 = off
  topP: number; // 1 = off
}

export interface ProbeToken {
  id: number; // model id
  tokenizerId: number | null; // null for the unknown token
  text: string; // display form
  unknown: boolean; // the model never saw this token in training
}

/** A token of a probed text, with where it sits in that text (UTF-16 offsets), so a UI can point at it. */
export interface TextToken extends ProbeToken {
  start: number;
  end: number;
}

export interface TokenScore extends ProbeToken {
  prob: number;
  logit: number;
}

export interface NextTokenProbe {
  tokens: TextToken[]; // the context the model saw
  cropped: number; // tokens dropped from the front to fit the context length
  top: (TokenScore & { sampledProb: number })[]; // by raw probability (temperature 1, no filtering); sampledProb 0 = cut
  sampled: TokenScore[]; // the distribution a sampler with these settings draws from, top entries
  sampling: SamplingOptions;
  keptMass: number; // raw probability of the tokens the sampler can still draw
  vocabSize: number;
}

export interface AttentionProbe {
  tokens: TextToken[];
  cropped: number;
  layers: number[][][][]; // [N][H][T][T]: row = query position, column = key position
}

export interface LensProbe {
  tokens: TextToken[];
  cropped: number;
  /** [N+1][T]: layer 0 is the embeddings, layer l the residual after block l, each read through ln_f and lm_head. */
  layers: { top: TokenScore[] }[][];
}

export interface Neighbour extends ProbeToken {
  cosine: number;
}

export interface AnalogyResult {
  /** The three query tokens, each exactly one token the model knows. */
  a: ProbeToken;
  b: ProbeToken;
  c: ProbeToken;
  /** Nearest to E[a] - E[b] + E[c] by cosine, the three query tokens left out (as in word2vec). */
  nearest: Neighbour[];
}

export interface EncodingComparison {
  encoding: string; // a fixed tokenizer's name, or bpe:N for one learned from the file (or the model's)
  /** The selection's tokens, at most MAX_COMPARED_TOKENS of them. */
  tokens: TokenChunk[];
  count: number; // all of the selection's tokens
  /** For the model's own tokenizer: whether each shown token is in the model's vocabulary; else null. */
  inModel: boolean[] | null;
  fileTokens: number;
  charsPerToken: number; // over the whole file
  /** UTF-8 bytes per token over the whole file: a loss in nats per token over ln 2 times this is bits per byte. */
  bytesPerToken: number;
}

export interface TokenizerComparison {
  encodings: EncodingComparison[];
  fileChars: number;
  fileBytes: number;
  modelTokenizer: string | null;
}

export interface ProjectedToken extends ProbeToken {
  x: number;
  y: number;
}

export interface TokenLoss extends TextToken {
  loss: number | null; // cross-entropy of predicting this token from the ones before (nats); null for the first
}

export interface EvalResult {
  loss: number; // mean cross-entropy per predicted token (nats)
  perplexity: number;
  bitsPerByte: number; // total bits over the text's UTF-8 bytes: comparable across tokenizers
  tokens: number; // predicted tokens (n-1)
  unknown: number; // tokens the model never saw in training
}

/** One merge as the tokens panel replays it. */
export interface BpeReplayStep {
  id: number; // the new token's id
  left: string; // display forms (\xNN for bytes that are not whole characters)
  right: string;
  token: string;
  pairCount: number; // times the pair stood side by side in the file when it was merged
  tokensAfter: number; // the file's token count after this merge
}

/** The merges learned from a file, in order, with the file's token count after each: what the panel replays. */
export interface BpeReplay {
  name: string; // bpe:N as learned (N can fall short of the target when no pair is left that occurs twice)
  bytes: number; // the file's tokens before any merge
  characters: number;
  steps: BpeReplayStep[];
}
