"""Converts a nanoGPT checkpoint back into a GPT Lab model file (the return leg of the export round trip).

Usage: /usr/bin/python3 test/reference/nanogpt_to_gptlab.py CKPT.pt LIKE.safetensors OUT.safetensors

LIKE is the GPT Lab model the checkpoint was exported from: its tokenizer, vocabulary and merges are kept. The
config follows the checkpoint's model_args: nanoGPT's bias=True gives every bias (bias=true, qkvBias=true, and
lm_head.bias, zeros unless the patched model_args has lm_head_bias); bias=False gives none. Prints {"iter_num", "config"}.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptlab_ref import read_safetensors, write_safetensors  # noqa: E402


def main(ckpt_path, like_path, out_path):
    ckpt = torch.load(ckpt_path, map_location='cpu')
    state = {k[len('_orig_mod.'):] if k.startswith('_orig_mod.') else k: v for k, v in ckpt['model'].items()}
    args = ckpt['model_args']
    _, meta = read_safetensors(like_path)
    cfg = json.loads(meta['gptlab.config'])
    bias, head_bias = bool(args['bias']), bool(args.get('lm_head_bias', False))
    if head_bias and not bias:
        raise SystemExit('an output bias without the other biases has no GPT Lab config')
    cfg.update(vocabSize=args['vocab_size'], contextLength=args['block_size'], dim=args['n_embd'], heads=args['n_head'],
               layers=args['n_layer'], dropout=float(args['dropout']), bias=bias, qkvBias=bias, tieEmbeddings=True,
               norm='layernorm', activation='gelu', positions='learned', ffnMult=4)
    tensors = {k: v for k, v in state.items() if k != 'lm_head.weight'}  # tied: the same tensor as wte
    if not torch.equal(state['lm_head.weight'], state['transformer.wte.weight']):
        raise SystemExit('lm_head.weight differs from transformer.wte.weight: not a tied nanoGPT model')
    if bias and not head_bias:
        tensors['lm_head.bias'] = torch.zeros(args['vocab_size'])
    meta = dict(meta)
    meta['gptlab.config'] = json.dumps(cfg)
    meta['gptlab.history'] = json.dumps({'steps': [], 'evals': [], 'continuedInNanoGPT': {'iterNum': int(ckpt['iter_num'])}})
    write_safetensors(out_path, tensors, meta)
    print(json.dumps({'iter_num': int(ckpt['iter_num']), 'config': cfg}))


if __name__ == '__main__':
    main(*sys.argv[1:4])
