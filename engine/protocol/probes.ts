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

/** Every weight of every layer and head, as nested arrays: what `gpt-lab probe --attention` prints. */
export interface AttentionWeights {
  tokens: TextToken[];
  cropped: number;
  layers: number[][][][]; // [N][H][T][T]: row = query position, column = key position
}

/** One head of a layer, or the mean over its heads. */
export type AttentionHead = number | 'mean';

/** One attention map, row-major: row q is the query position, column k the key position; zero where k > q (causal). */
export interface AttentionMap {
  layer: number;
  head: AttentionHead;
  weights: Float32Array; // [T * T]
}

/** What one query token gives each key in every head of a layer: a head view's lines. */
export interface AttentionRows {
  layer: number;
  query: number;
  weights: Float32Array; // [H * (query + 1)]: head h's weight on key k at h * (query + 1) + k
}

/**
 * The maps of layers from .. from + count - 1, max-pooled to res x res (a diagonal stays visible):
 * [count][H + 1][res][res], each head's map, then the layer's mean over heads.
 */
export interface AttentionThumbnails {
  res: number;
  from: number;
  count: number;
  values: Float32Array;
}

/**
 * Attention over a text (its last T tokens) as a panel first draws it: every map max-pooled to a thumbnail, and the
 * maps asked for in full. Typed arrays, about 2 MB for 12 layers x 8 heads x 512 tokens instead of 25 M numbers; any
 * other map or row comes by `attentionMap` and `attentionRows`. Asked for the first layers only, the thumbnails are of
 * those (from 0, count < layers), and `attentionLayers` gives the rest.
 */
export interface AttentionProbe {
  tokens: TextToken[];
  cropped: number;
  layers: number; // N
  heads: number; // H
  thumbnails: AttentionThumbnails;
  maps: AttentionMap[];
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

/** The nearest tokens to a text's input embedding: its one token's, or the mean of its tokens' when it has several. */
export interface TextNeighbours {
  /** The text's tokens whose embeddings were used (in order; repeats count), each a token the model knows. */
  query: ProbeToken[];
  /** Whether `query` holds several tokens and the embedding is their mean. */
  mean: boolean;
  /** Tokens of the text the model never saw in training: they have no embedding of their own and are left out. */
  unknown: number;
  /** By cosine, the query's own tokens left out. */
  nearest: Neighbour[];
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
  loss: number | null; // surprise: cross-entropy of predicting this token from the ones before (nats); null for the first
  entropy: number | null; // how unsure the model was before seeing it: entropy of its distribution there (nats); null for the first
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

// ------------------------------------------------------------------ interpretability (engine/probes: headRoles,
// attribution, ablation, patching, snapshots, memorisation)

/** One attention head: its layer and its index among the layer's query heads, both from 0. */
export interface HeadRef {
  layer: number;
  head: number;
}

/**
 * What each head does, per head [N][H], each in [0, 1]: the attention mass a head's queries give to the keys a role
 * names, averaged over the queries where that role has a key. previousToken: the key just before; firstToken: key 0
 * (a "sink"); duplicateToken: earlier keys holding the query's own token; induction: keys just after an earlier copy
 * of the query's token (the head that completes [A][B] ... [A] -> [B]).
 */
export interface HeadRoleScores {
  previousToken: number[][];
  induction: number[][];
  duplicateToken: number[][];
  firstToken: number[][];
}

/** Head roles on repeated random sequences (the standard induction test) and, when given, on a text. */
export interface HeadRolesProbe {
  random: HeadRoleScores & {
    sequences: number; // random sequences, each `length` tokens drawn from the vocabulary and then repeated once
    length: number;
    seed: number;
    /** Mean loss (nats) on the first and the repeated half: in-context copying makes the second much lower. */
    loss: { firstHalf: number; secondHalf: number };
  };
  text: { tokens: TextToken[]; cropped: number; scores: HeadRoleScores } | null;
}

/** A weight snapshot kept during training (float16), for the timeline. */
export interface SnapshotInfo {
  index: number;
  step: number; // weights after this many optimizer steps; 0 is the initialisation
  loss: number | null; // mean training loss over the steps just before it
  bytes: number; // memory it takes
}

/** Head roles (on repeated random sequences) at one step of the run, for the induction overlay on the loss chart. */
export interface TimelinePoint {
  step: number;
  loss: number | null;
  roles: HeadRoleScores;
  repeatLoss: { firstHalf: number; secondHalf: number };
  snapshot: number | null; // the index of the snapshot kept at this step, if one was
}

export interface Timeline {
  snapshots: SnapshotInfo[];
  points: TimelinePoint[];
}

/** A part of the residual stream whose direct effect on a logit attribution measures. */
export type AttributionSource =
  | { kind: 'embed' } // token embedding plus position embedding (learned or sinusoidal)
  | { kind: 'head'; layer: number; head: number } // z_h @ W_O[h]
  | { kind: 'attnBias'; layer: number } // c_proj's bias of a layer's attention
  | { kind: 'mlp'; layer: number } // a block's MLP output, its biases included
  | { kind: 'bias' }; // what no component writes: ln_f's bias and lm_head's bias

export type AttributionEntry = AttributionSource & { label: string; contribution: number };

/**
 * Direct logit attribution: one token's logit at one position split into what each component of the residual stream
 * adds through ln_f (its scale frozen at this input, as is standard) and the unembedding. sum equals logit.
 */
export interface AttributionProbe {
  tokens: TextToken[];
  cropped: number;
  position: number; // index into tokens: the prediction made after that token
  token: TokenScore; // the token whose logit is explained (by default the top one)
  logit: number; // the model's logit, from its forward pass
  sum: number; // sum of every contribution
  normScale: number; // ln_f's frozen 1/sigma (LayerNorm) or 1/rms (RMSNorm) at this position
  components: AttributionEntry[]; // in model order: embed, then per layer its heads, attention bias, MLP; bias last
}

export type AblationMode = 'zero' | 'mean';

/** A text's loss and next-token distribution with some heads switched off, beside the intact model's. */
export interface AblationProbe {
  heads: HeadRef[];
  /** zero: the heads write nothing; mean: each writes its mean output over this text's positions. */
  mode: AblationMode;
  tokens: TextToken[];
  cropped: number;
  loss: { before: number | null; after: number | null }; // mean over the predicted tokens (nats); null for one token
  perToken: { before: (number | null)[]; after: (number | null)[] }; // per token (nats), null for the first
  next: { before: TokenScore[]; after: TokenScore[] }; // after the last token
}

/** One patch of activation patching: the edited run with one activation taken from the clean run. */
export interface PatchResult {
  metric: number; // the experiment's metric in this patched run (see PatchingProbe.metric)
  /** (metric - edited) / (clean - edited): 0 changes nothing, 1 restores the clean run; null when clean = edited. */
  restored: number | null;
  top: TokenScore; // the patched run's top next token
  cleanTokenProb: number; // its probability of the clean run's top token
}

/**
 * Activation patching with a person's edit: the clean text and an edited copy run through the model; each head's
 * output (at every aligned position) and each layer's residual stream is copied from the clean run into the edited
 * one, and the prediction after the last token is measured.
 */
export interface PatchingProbe {
  clean: { tokens: TextToken[]; cropped: number; top: TokenScore[] };
  edited: { tokens: TextToken[]; cropped: number; top: TokenScore[] };
  cleanToken: ProbeToken; // the clean run's top next token, the prediction to restore
  editedToken: ProbeToken; // the edited run's
  /** logitDiff: logit(cleanToken) - logit(editedToken) when they differ; logProb: log p(cleanToken) when they agree. */
  metric: 'logitDiff' | 'logProb';
  cleanMetric: number;
  editedMetric: number;
  /** For each edited position, the clean position patched into it, or -1 (inside an edit that changed the length). */
  alignment: number[];
  firstDifference: number; // the first edited position whose token or alignment differs; before it the runs agree
  heads: PatchResult[][]; // [N][H]: one head's output at every aligned position
  residuals: PatchResult[]; // [N+1]: the whole residual stream entering block l at every aligned position (N: entering ln_f)
  /** [N+1][T]: the residual entering block l at one edited position; null before firstDifference; null unless asked. */
  residualPositions: (PatchResult | null)[][] | null;
}

/** A verbatim copy of the training text inside generated text. */
export interface CopiedSpan {
  start: number; // UTF-16 offsets in the generated text
  end: number;
  sourceStart: number; // UTF-16 offsets in the training text
  sourceEnd: number;
}
