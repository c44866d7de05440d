"""Loads a `gpt-lab export --to hf` folder the way Hugging Face's GPT-2 reads it, written from its documented names.

Usage: /usr/bin/python3 test/reference/hf_gpt2_check.py DIR IDS.json [TEXT_FILE]

transformers is not packaged for Debian, so this is GPT2LMHeadModel's forward pass from config.json and the names in
model.safetensors: transformer.wte/wpe, transformer.h.{i}.ln_1, attn.c_attn (Conv1D: y = x @ W + b, W is [in, out]),
attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj, transformer.ln_f, and lm_head tied to wte. The loss is over gpt-lab eval's
windows, in float64. With TEXT_FILE and a vocab.json, the text is also encoded as GPT2Tokenizer does (bytes_to_unicode,
GPT-2's split pattern with the `regex` package, then merges.txt by rank) and the ids are printed; tokenizer.json must
hold the same vocabulary and merges. Prints {"loss", "tokens", "ids"} (ids null without TEXT_FILE or regex).
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptlab_ref import read_safetensors  # noqa: E402

ACTIVATIONS = {'gelu': lambda x: F.gelu(x), 'gelu_new': lambda x: F.gelu(x, approximate='tanh'), 'relu': F.relu}


def forward(cfg, w, idx):
    T = idx.shape[0]
    D, H = cfg['n_embd'], cfg['n_head']
    hs = D // H
    eps = cfg['layer_norm_epsilon']
    act = ACTIVATIONS[cfg['activation_function']]

    def ln(x, name):
        return F.layer_norm(x, (D,), w[f'{name}.weight'], w[f'{name}.bias'], eps)

    def conv1d(x, name):
        return x @ w[f'{name}.weight'] + w[f'{name}.bias']

    h = w['transformer.wte.weight'][idx] + w['transformer.wpe.weight'][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for i in range(cfg['n_layer']):
        p = f'transformer.h.{i}'
        q, k, v = conv1d(ln(h, f'{p}.ln_1'), f'{p}.attn.c_attn').split(D, dim=-1)
        q, k, v = (t.view(T, H, hs).transpose(0, 1) for t in (q, k, v))  # (H, T, hs)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs) if cfg.get('scale_attn_weights', True) else q @ k.transpose(-2, -1)
        att = torch.softmax(att.masked_fill(~mask, float('-inf')), dim=-1)
        h = h + conv1d((att @ v).transpose(0, 1).reshape(T, D), f'{p}.attn.c_proj')
        h = h + conv1d(act(conv1d(ln(h, f'{p}.ln_2'), f'{p}.mlp.c_fc')), f'{p}.mlp.c_proj')
    return ln(h, 'transformer.ln_f') @ w['transformer.wte.weight'].T  # tie_word_embeddings


def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def gpt2_encode(folder, text):
    try:
        import regex
    except ImportError:
        return None
    with open(os.path.join(folder, 'vocab.json'), encoding='utf-8') as f:
        encoder = json.load(f)
    with open(os.path.join(folder, 'merges.txt'), encoding='utf-8') as f:
        merges = [tuple(line.split()) for line in f.read().split('\n')[1:] if line]
    with open(os.path.join(folder, 'tokenizer.json'), encoding='utf-8') as f:
        fast = json.load(f)
    assert fast['model']['vocab'] == encoder, 'tokenizer.json and vocab.json disagree'
    assert [tuple(m.split(' ')) for m in fast['model']['merges']] == merges, 'tokenizer.json and merges.txt disagree'
    ranks = {m: i for i, m in enumerate(merges)}
    byte_encoder = bytes_to_unicode()
    pat = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
    ids = []
    for piece in pat.findall(text):
        word = [byte_encoder[b] for b in piece.encode('utf-8')]
        while len(word) > 1:  # GPT2Tokenizer.bpe: merge every occurrence of the lowest-ranked pair, then again
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: ranks.get(p, float('inf')))
            if best not in ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        ids.extend(encoder.get(t, encoder['<unk>']) for t in word)
    return ids


def main(folder, ids_path, text_path=None):
    with open(os.path.join(folder, 'config.json')) as f:
        cfg = json.load(f)
    assert cfg['model_type'] == 'gpt2' and cfg['architectures'] == ['GPT2LMHeadModel'] and cfg['tie_word_embeddings']
    tensors, meta = read_safetensors(os.path.join(folder, 'model.safetensors'))
    assert meta.get('format') == 'pt', 'from_pretrained needs safetensors metadata format=pt'
    assert 'lm_head.weight' not in tensors
    w = {k: v.double() for k, v in tensors.items()}
    with open(ids_path) as f:
        x = torch.tensor(json.load(f), dtype=torch.long)
    T, n = cfg['n_positions'], x.shape[0]
    total, count, s = 0.0, 0, 0
    with torch.no_grad():
        while s + 1 < n:
            tgt = x[s + 1:s + T + 1]
            logits = forward(cfg, w, x[s:s + tgt.shape[0]])
            total += float(F.cross_entropy(logits, tgt, reduction='sum'))
            count += tgt.shape[0]
            s += T
    ids = None
    if text_path and os.path.exists(os.path.join(folder, 'vocab.json')):
        with open(text_path, encoding='utf-8') as f:
            ids = gpt2_encode(folder, f.read())
    print(json.dumps({'loss': total / count, 'tokens': count, 'ids': ids}))


if __name__ == '__main__':
    main(*sys.argv[1:4])
