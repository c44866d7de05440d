// The two small Python files a nanoGPT export writes beside the checkpoint: a tokenizer shim that encodes and
// decodes exactly as the exported model's tokenizer does, and, for models with an output bias, the three-line patch
// that lets nanoGPT's GPT hold it. Both are tested against Debian's Python (test/engine/export.test.ts).

/** gptlab_tokenizer.py: reads meta.pkl; needs `regex` for bpe:N (as GPT-2's encoder.py) and `tiktoken` for tiktoken encodings. */
export const TOKENIZER_SHIM = String.raw`"""Encode and decode text as the GPT Lab model exported beside this file does (written by gpt-lab export).

    from gptlab_tokenizer import load
    tok = load('meta.pkl')          # the meta.pkl beside this file
    ids = tok.encode('To be, or not to be')
    text = tok.decode(ids)

Ids are the exported model's (0 is its unknown token: text it never saw in training). A char model needs nothing
else; bpe:N (learned from the training file) needs the regex package, as GPT-2's encoder.py does; the tiktoken
encodings need tiktoken. Pieces longer than 256 UTF-8 bytes are merged in 256-byte blocks, as GPT Lab does.
"""
import os
import pickle

MAX_PIECE_BYTES = 256


class Tokenizer:
    def __init__(self, meta):
        self.name = meta['gptlab_tokenizer']
        self.token_bytes = [bytes.fromhex(h) for h in meta['gptlab_token_bytes']]
        ids = meta['gptlab_tokenizer_ids']  # model id -> tokenizer id (None for the unknown token)
        self.model_id = {t: i for i, t in enumerate(ids) if t is not None}
        self.vocab_size = len(ids)
        if self.name == 'char':
            self._encode = lambda text: [ord(c) for c in text]
        elif self.name.startswith('bpe:'):
            import regex  # pip install regex
            self.pattern = regex.compile(meta['gptlab_bpe_pattern'])
            merges = meta['gptlab_bpe_merges']
            self.rank = {(merges[2 * k], merges[2 * k + 1]): 256 + k for k in range(len(merges) // 2)}
            self._encode = self._bpe
        else:
            import tiktoken  # pip install tiktoken
            enc = tiktoken.get_encoding(self.name)
            self._encode = lambda text: enc.encode(text, disallowed_special=())

    def _bpe(self, text):
        out = []
        for piece in self.pattern.findall(text):
            data = piece.encode('utf-8', errors='replace')
            for start in range(0, len(data), MAX_PIECE_BYTES):
                ids = list(data[start:start + MAX_PIECE_BYTES])
                while len(ids) > 1:  # merge the earliest-learned adjacent pair until none is left
                    best = min(range(len(ids) - 1), key=lambda k: self.rank.get((ids[k], ids[k + 1]), float('inf')))
                    merged = self.rank.get((ids[best], ids[best + 1]))
                    if merged is None:
                        break
                    ids[best:best + 2] = [merged]
                out.extend(ids)
        return out

    def encode(self, text):
        return [self.model_id.get(t, 0) for t in self._encode(text)]

    def decode(self, ids):
        return b''.join(self.token_bytes[i] for i in ids).decode('utf-8', errors='replace')


def load(path=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'meta.pkl')):
    with open(path, 'rb') as f:
        return Tokenizer(pickle.load(f))
`;

/** Lines of nanoGPT that the output-bias patch changes, and what they become. */
export const LM_HEAD_BIAS_EDITS: readonly { file: string; find: string; replace: string }[] = [
  { file: 'model.py', find: '    bias: bool = True',
    replace: '    lm_head_bias: bool = False # a bias on the output layer, as GPT Lab models with bias=true have\n    bias: bool = True' },
  { file: 'model.py', find: 'self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)',
    replace: 'self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=config.lm_head_bias)' },
  { file: 'train.py', find: "        model_args[k] = checkpoint_model_args[k]\n",
    replace: "        model_args[k] = checkpoint_model_args[k]\n    model_args['lm_head_bias'] = checkpoint_model_args.get('lm_head_bias', False)\n" },
];

/** nanogpt_lm_head_bias.py: applies LM_HEAD_BIAS_EDITS to a nanoGPT checkout, once. */
export function lmHeadBiasPatch(): string {
  return String.raw`"""Lets nanoGPT's GPT hold a bias on its output layer (written by gpt-lab export).

GPT Lab models trained with bias=true (the tiny, small and classic presets) have lm_head.bias; nanoGPT's GPT has
none. Run this once in your nanoGPT checkout before resuming from the exported ckpt.pt:

    python nanogpt_lm_head_bias.py /path/to/nanoGPT

It changes three lines: GPTConfig gets lm_head_bias (False by default, so every other checkpoint loads and trains as
before), lm_head takes it, and train.py's resume copies it from the checkpoint's model_args. Without the patch nanoGPT
refuses the checkpoint (load_state_dict: unexpected key "lm_head.bias"); it never loads it wrong.
"""
import os
import sys

EDITS = ${JSON.stringify(LM_HEAD_BIAS_EDITS.map((e) => [e.file, e.find, e.replace]), null, 4)}


def main(root):
    for name in sorted({file for file, _, _ in EDITS}):
        path = os.path.join(root, name)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        if 'lm_head_bias' in text:
            print(f'{path}: already patched')
            continue
        for file, find, replace in EDITS:
            if file != name:
                continue
            if text.count(find) != 1:
                sys.exit(f'{path}: expected the line {find.strip()!r} once; is this nanoGPT?')
            text = text.replace(find, replace)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        print(f'{path}: patched')


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else '.')
`;
}
