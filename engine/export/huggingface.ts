// `gpt-lab export <model> --to hf --out DIR`: a Hugging Face GPT-2 folder that GPT2LMHeadModel.from_pretrained loads.
//   config.json        GPT2Config: sizes, activation_function "gelu" (exact erf, GPT Lab's; GPT-2's own is gelu_new),
//                      layer_norm_epsilon 1e-5, tie_word_embeddings
//   model.safetensors  GPT-2's names under `transformer.`; attention and MLP weights are Conv1D's [in, out], the
//                      transpose of nn.Linear's [out, in] that GPT Lab's file holds; biases GPT Lab's model lacks are
//                      zeros (the same function); no lm_head.weight (tied to wte, as save_pretrained writes it)
//   tokenizer          for a BPE learned from the file: vocab.json + merges.txt (GPT2Tokenizer) and tokenizer.json
//                      (GPT2TokenizerFast), ids being the model's (token id + 1; 0 is <unk>). Other tokenizers have no
//                      Hugging Face form with the model's compacted ids: meta.pkl and gptlab_tokenizer.py go instead.
import * as path from 'node:path';
import { transpose2d } from '../model/gpt';
import { encodeSafeTensors, type SafeTensor } from '../io/safetensors';
import { InputError } from '../common/errors';
import { BpeTokenizer } from '../text/bpe';
import { ExportFolder } from './folder';
import { gpt2Problem } from './gpt2';
import { tokenizerMetaPickle, type ExportResult, type ExportSource } from './nanogpt';
import { TOKENIZER_SHIM } from './nanogptPython';

const HF_FILES = ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt', 'tokenizer.json', 'tokenizer_config.json',
  'special_tokens_map.json', 'meta.pkl', 'gptlab_tokenizer.py', 'gptlab_export.json'];

/** GPT-2's printable stand-ins for bytes (openai/gpt-2 encoder.py bytes_to_unicode): how vocab.json spells tokens. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table = new Array<string>(256);
  for (const b of printable) table[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (table[b] === undefined) table[b] = String.fromCharCode(256 + n++);
  return table;
}

/** The Hugging Face tokenizer files of a learned BPE, model ids being token id + 1 (0 is <unk>). */
function bpeTokenizerFiles(tok: BpeTokenizer, contextLength: number): Record<string, string> {
  const table = bytesToUnicode();
  const spell = (id: number): string => Array.from(tok.tokenBytes(id), (b) => table[b]).join('');
  const vocab: Record<string, number> = { '<unk>': 0 };
  for (let id = 0; id < tok.vocabSize; id++) vocab[spell(id)] = id + 1;
  const merges: string[] = [];
  for (let k = 0; k < tok.merges.length / 2; k++) merges.push(`${spell(tok.merges[2 * k])} ${spell(tok.merges[2 * k + 1])}`);
  const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean): object => ({ type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: trimOffsets, use_regex: true });
  const tokenizerJson = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 0, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel(false, true), // GPT-2's split pattern, then bytes as bytes_to_unicode characters
    post_processor: byteLevel(true, false),
    decoder: byteLevel(true, true),
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, vocab, merges },
  };
  return {
    'vocab.json': JSON.stringify(vocab),
    'merges.txt': `#version: 0.2\n${merges.join('\n')}\n`,
    'tokenizer.json': JSON.stringify(tokenizerJson),
    'tokenizer_config.json': JSON.stringify({ tokenizer_class: 'GPT2Tokenizer', model_max_length: contextLength, unk_token: '<unk>',
      bos_token: null, eos_token: null, pad_token: null, add_prefix_space: false, add_bos_token: false, errors: 'replace',
      clean_up_tokenization_spaces: false }, null, 2),
    'special_tokens_map.json': JSON.stringify({ unk_token: '<unk>' }, null, 2),
  };
}

/** GPT-2's tensors, in Hugging Face's names and Conv1D layouts, from a GPT Lab model. */
export function hfTensors(src: ExportSource): Map<string, SafeTensor> {
  const c = src.model.config;
  const ours = src.model.toTensors();
  const out = new Map<string, SafeTensor>();
  const zeros = (n: number): SafeTensor => ({ shape: [n], data: new Float32Array(n) });
  const copy = (name: string): void => {
    const t = ours.get(name)!;
    out.set(name, { shape: t.shape, data: t.data });
  };
  /** nn.Linear [out, in] -> Conv1D [in, out], and its bias (zeros when the model has none). */
  const conv1d = (name: string): void => {
    const w = ours.get(`${name}.weight`)!;
    const [rows, cols] = w.shape;
    out.set(`${name}.weight`, { shape: [cols, rows], data: transpose2d(w.data, rows, cols) });
    out.set(`${name}.bias`, ours.get(`${name}.bias`) ?? zeros(rows));
  };
  const norm = (name: string): void => {
    copy(`${name}.weight`);
    out.set(`${name}.bias`, ours.get(`${name}.bias`) ?? zeros(c.dim));
  };
  copy('transformer.wte.weight');
  copy('transformer.wpe.weight');
  for (let i = 0; i < c.layers; i++) {
    const h = `transformer.h.${i}`;
    norm(`${h}.ln_1`);
    conv1d(`${h}.attn.c_attn`);
    conv1d(`${h}.attn.c_proj`);
    norm(`${h}.ln_2`);
    conv1d(`${h}.mlp.c_fc`);
    conv1d(`${h}.mlp.c_proj`);
  }
  norm('transformer.ln_f');
  return out;
}

export function exportHuggingFace(src: ExportSource, out: string): ExportResult {
  const c = src.model.config;
  const problem = gpt2Problem(c, 'hf');
  if (problem) throw new InputError(`cannot export to Hugging Face GPT-2: ${problem}`);
  const folder = ExportFolder.prepare(out, HF_FILES);
  const config = {
    architectures: ['GPT2LMHeadModel'], model_type: 'gpt2',
    vocab_size: c.vocabSize, n_positions: c.contextLength, n_ctx: c.contextLength, n_embd: c.dim, n_layer: c.layers, n_head: c.heads,
    n_inner: c.ffnMult * c.dim, activation_function: 'gelu', resid_pdrop: c.dropout, embd_pdrop: c.dropout, attn_pdrop: c.dropout,
    layer_norm_epsilon: 1e-5, initializer_range: 0.02, scale_attn_weights: true, scale_attn_by_inverse_layer_idx: false,
    reorder_and_upcast_attn: false, tie_word_embeddings: true, use_cache: true, bos_token_id: null, eos_token_id: null,
    torch_dtype: 'float32',
  };
  folder.write('config.json', JSON.stringify(config, null, 2) + '\n');
  folder.write('model.safetensors', encodeSafeTensors(hfTensors(src), { format: 'pt' }));
  const notes: string[] = [];
  const tok = src.tokenizer;
  if (tok instanceof BpeTokenizer) {
    for (const [name, text] of Object.entries(bpeTokenizerFiles(tok, c.contextLength))) folder.write(name, text);
    notes.push(`tokenizer: ${tok.name} as GPT-2's (vocab.json, merges.txt, tokenizer.json); AutoTokenizer.from_pretrained reads it`);
  } else {
    folder.write('meta.pkl', tokenizerMetaPickle(src.vocab, tok, null));
    folder.write('gptlab_tokenizer.py', TOKENIZER_SHIM);
    notes.push(`no Hugging Face tokenizer: ${tok.name}'s ids are compacted to the ${c.vocabSize} the training text used; ` +
      'encode and decode with gptlab_tokenizer.py (it reads meta.pkl)');
  }
  folder.write('gptlab_export.json', JSON.stringify({ from: path.basename(src.file), to: 'hf', tokenizer: tok.name, vocabSize: c.vocabSize,
    files: folder.written.map((f) => path.basename(f)) }, null, 2) + '\n');
  notes.push('load with transformers.GPT2LMHeadModel.from_pretrained(DIR); model ids are GPT Lab\'s model ids');
  return { files: folder.written, notes };
}
